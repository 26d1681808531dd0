//! Files tvault creates: private (0600, folders 0700), never over an existing file.
//!
//! The process also runs with umask 077, so files SQLite creates beside the vault (its rollback
//! journal) are private too.

// The one module allowed to open files for writing directly (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, IoResultExt, Result};

/// Creates `path` as a new, empty file readable only by its owner, and its missing parent
/// folders as 0700. Fails with [`Error::VaultExists`] if anything is already there.
pub fn create_new_private(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir_all(parent)?;
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::VaultExists {
                path: path.to_owned(),
            },
            _ => Error::Io {
                path: path.to_owned(),
                source: e,
            },
        })
}

/// Creates a folder and its missing parents, each new one 0700.
pub fn create_private_dir_all(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .at(path)
}

/// Creates one new private folder (0700); fails if anything is already there.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o700).create(path)
}

/// Creates a new private file (0600), open for writing and reading back; fails if anything is
/// already there.
pub fn create_new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// A hidden name beside `path` for a file that is being written and is not done yet:
/// `.NAME.<random>.partial`.
pub fn partial_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce: [u8; 6] = crate::crypto::random_array();
    path.with_file_name(format!(".{name}.{}.partial", hex::encode(nonce)))
}

/// Gives a finished file its final name, never replacing a file there: a hard link where the
/// filesystem has them (atomic), else a rename after checking the name is free (FAT and
/// exFAT drives have no hard links). The temporary name is removed.
pub fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if path.exists() => Err(io::ErrorKind::AlreadyExists.into()),
        Err(_) => std::fs::rename(tmp, path),
    }
}

/// Removes a file tvault created, ignoring one that is already gone.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// Overwrites an existing file with zeros over its whole length and syncs them to disk, so
/// that removing it afterwards frees blocks that hold zeros (on filesystems that write in place:
/// see SECURITY.md, "Shredding"). A symbolic link is refused, never followed, and so is
/// anything but a regular file. Returns the length overwritten.
pub fn overwrite_with_zeros(path: &Path) -> io::Result<u64> {
    use std::io::Write;
    // O_NONBLOCK: a FIFO put in the file's place must not hang the process; it has no effect
    // on a regular file.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut file = OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let zeros = vec![0u8; 1 << 20];
    let mut left = meta.len();
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    Ok(meta.len())
}

/// Removes a folder and everything in it, overwriting each regular file with zeros first
/// ([`overwrite_with_zeros`]). Symbolic links are removed, never followed. Goes on past a
/// failure and returns the first one.
pub fn remove_dir_overwritten(dir: &Path) -> io::Result<()> {
    let mut first = None;
    let mut note = |r: io::Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = match entry {
                    Ok(entry) => entry.path(),
                    Err(e) => {
                        note(Err(e));
                        continue;
                    }
                };
                let kind = match std::fs::symlink_metadata(&path) {
                    Ok(meta) => meta.file_type(),
                    Err(e) => {
                        note(Err(e));
                        continue;
                    }
                };
                if kind.is_dir() {
                    note(remove_dir_overwritten(&path));
                } else {
                    if kind.is_file() {
                        note(overwrite_with_zeros(&path).map(drop));
                    }
                    note(std::fs::remove_file(&path));
                }
            }
        }
        Err(e) => note(Err(e)),
    }
    note(std::fs::remove_dir(dir));
    first.map_or(Ok(()), Err)
}

/// Replaces `path` with `data` atomically: a new private temporary file in the same folder,
/// written and synced, then renamed over the old one, then the folder synced. A crash leaves
/// the old file or the new one, never a mix.
pub fn replace_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: [u8; 8] = crate::crypto::random_array();
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.at(path)
}

/// Has the disk write out a large file while it is still being written: once `SYNC_EVERY`
/// bytes have been written since the last request, a thread of its own asks the kernel to
/// write out what the file holds so far (`fdatasync`), unless the previous request is still
/// running. The disk then works while more is decrypted or encrypted, where otherwise the
/// whole file would wait in memory for the final sync. It changes when the bytes reach the
/// disk, never which bytes.
#[derive(Default)]
pub struct WriteOut {
    since: u64,
    syncing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// How much is written between requests to write out.
const SYNC_EVERY: u64 = 8 << 20;

impl WriteOut {
    /// Notes that `n` more bytes were written to `file`, asking for them to be written out
    /// when it is time.
    pub fn wrote(&mut self, file: &File, n: usize) -> io::Result<()> {
        self.since += n as u64;
        if self.since >= SYNC_EVERY && self.syncing.as_ref().is_none_or(|s| s.is_finished()) {
            self.wait()?;
            let file = file.try_clone()?;
            self.syncing = Some(std::thread::spawn(move || file.sync_data()));
            self.since = 0;
        }
        Ok(())
    }

    /// Waits for the request in flight, if any; its failure is the writer's.
    pub fn wait(&mut self) -> io::Result<()> {
        match self.syncing.take() {
            Some(syncing) => syncing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }
}

impl Drop for WriteOut {
    /// Given up on (the writer failed, and removes the file), it still waits for its request,
    /// so that no thread outlives it.
    fn drop(&mut self) {
        let _ = self.wait();
    }
}

/// A new file written through [`WriteOut`]; [`SyncingWriter::finish`] syncs the rest.
pub struct SyncingWriter {
    file: File,
    out: WriteOut,
}

impl SyncingWriter {
    pub fn new(file: File) -> Self {
        SyncingWriter {
            file,
            out: WriteOut::default(),
        }
    }

    /// Syncs everything written, data and metadata.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.wait()?;
        self.file.sync_all()
    }
}

impl io::Write for SyncingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = io::Write::write(&mut self.file, buf)?;
        self.out.wrote(&self.file, n)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes, or fewer at the end of `input`.
pub fn read_full(input: &mut dyn io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Copies `data` to `out` through `buf`, writing only whole buffers (but the last): a file is
/// written in a few large calls, where `io::copy` makes one every 8 KiB.
pub fn copy_in_pieces(
    data: &mut dyn io::Read,
    out: &mut dyn io::Write,
    buf: &mut [u8],
) -> io::Result<u64> {
    let mut copied = 0u64;
    loop {
        let filled = read_full(data, buf)?;
        if filled == 0 {
            return Ok(copied);
        }
        out.write_all(&buf[..filled])?;
        copied += filled as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A file larger than several write-out requests, written in pieces of odd sizes, reads
    /// back byte for byte; and a piece that fills the buffer exactly ends nothing early.
    #[test]
    fn a_syncing_writer_keeps_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 * SYNC_EVERY + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        for piece in [4096, 1 << 20, 12_345] {
            let path = dir.path().join(format!("out-{piece}"));
            let mut out = SyncingWriter::new(create_new_file(&path).unwrap());
            let mut buf = vec![0u8; piece];
            let copied = copy_in_pieces(&mut data.as_slice(), &mut out, &mut buf).unwrap();
            out.flush().unwrap();
            out.finish().unwrap();
            assert_eq!(copied, data.len() as u64);
            assert!(std::fs::read(&path).unwrap() == data, "piece {piece}");
        }
    }
}
