//! Writing a bundle in one pass: the inner tar into the age encryptor, the outer tar around it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::audit;
use crate::record::Metadata;

use super::approvals::approval_files;
use super::{
    INNER_NAMESPACE, Manifest, OUTER_NAMESPACE, PRINCIPAL, Receipt, ReportInput, header,
    report_html, ssh_sign, sums_text, verify_text,
};

/// Writes the inner tar into any writer (the age encryptor), keeping the SHA-256 of each
/// file for the inner `SHA256SUMS`.
pub struct InnerWriter<W: Write> {
    tar: tar::Builder<W>,
    sums: BTreeMap<String, [u8; 32]>,
    /// Each file's size and SHA-256, for `REPORT.html`.
    files: BTreeMap<String, (u64, [u8; 32])>,
}

impl<W: Write> InnerWriter<W> {
    pub fn new(out: W) -> Self {
        InnerWriter {
            tar: tar::Builder::new(out),
            sums: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    pub fn add_bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.tar.append(&header(path, data.len() as u64)?, data)?;
        let sha256: [u8; 32] = Sha256::digest(data).into();
        self.sums.insert(path.to_owned(), sha256);
        self.files
            .insert(path.to_owned(), (data.len() as u64, sha256));
        Ok(())
    }

    /// Adds a file streamed from `data`, which yields exactly `size` bytes whose SHA-256 is
    /// already known (and checked by the reader).
    pub fn add_stream(
        &mut self,
        path: &str,
        size: u64,
        sha256: [u8; 32],
        data: impl Read,
    ) -> io::Result<()> {
        self.tar.append(&header(path, size)?, data)?;
        self.sums.insert(path.to_owned(), sha256);
        self.files.insert(path.to_owned(), (size, sha256));
        Ok(())
    }

    /// Adds `REPORT.html`, the manifest, the operators' signatures over it (`approvals`
    /// holds the keys of `manifest.approvals`, in order), the signed `SHA256SUMS`, and ends
    /// the tar. `custody` holds each exported record's events and `metadata` its metadata,
    /// as their files in the payload do.
    pub fn finish(
        mut self,
        manifest: &Manifest,
        custody: &BTreeMap<String, Vec<audit::Event>>,
        metadata: &BTreeMap<String, Metadata>,
        key: &SigningKey,
        approvals: &[&SigningKey],
    ) -> io::Result<W> {
        let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(key.verifying_key().to_bytes()),
        ));
        let fingerprint = public.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        let report = report_html(&ReportInput {
            manifest,
            custody,
            metadata,
            files: &self.files,
            fingerprint: &fingerprint,
        });
        self.add_bytes("REPORT.html", report.as_bytes())?;
        let manifest_json = serde_json::to_vec_pretty(manifest).expect("manifests serialise");
        self.add_bytes("MANIFEST.json", &manifest_json)?;
        for (name, text) in approval_files(&manifest_json, &manifest.approvals, approvals) {
            self.add_bytes(&name, text.as_bytes())?;
        }
        let sums = sums_text(&self.sums);
        let sig = ssh_sign(key, INNER_NAMESPACE, sums.as_bytes());
        self.tar
            .append(&header("SHA256SUMS", sums.len() as u64)?, sums.as_bytes())?;
        self.tar
            .append(&header("SHA256SUMS.sig", sig.len() as u64)?, sig.as_bytes())?;
        self.tar.into_inner()
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W: Write> {
    pub inner: W,
    pub hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer whose bytes are written by a thread of its own: the inner tar is formatted on the
/// caller's thread while the age encryption, the bundle's hashing and its file writes run on
/// another (on two cores, an export of many small records is bound by the one thread that
/// does both). Bytes travel in batches that are zeroized once written.
pub struct ThreadedWriter<W: Write + Send + 'static> {
    batch: zeroize::Zeroizing<Vec<u8>>,
    send: Option<std::sync::mpsc::SyncSender<zeroize::Zeroizing<Vec<u8>>>>,
    worker: Option<std::thread::JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ThreadedWriter<W> {
    const BATCH: usize = 256 * 1024;

    pub fn new(mut out: W) -> Self {
        let (send, receive) = std::sync::mpsc::sync_channel::<zeroize::Zeroizing<Vec<u8>>>(4);
        let worker = std::thread::spawn(move || {
            for batch in receive {
                out.write_all(&batch)?;
            }
            Ok(out)
        });
        ThreadedWriter {
            batch: zeroize::Zeroizing::new(Vec::with_capacity(Self::BATCH)),
            send: Some(send),
            worker: Some(worker),
        }
    }

    fn send_batch(&mut self) -> io::Result<()> {
        let batch = std::mem::replace(
            &mut self.batch,
            zeroize::Zeroizing::new(Vec::with_capacity(Self::BATCH)),
        );
        let sent = self.send.as_ref().map(|send| send.send(batch).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        // The worker stopped: it failed, and its error says why.
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the bundle's writer stopped")),
        }
    }

    /// Waits for the worker to write everything sent, and returns its writer.
    fn join(&mut self) -> io::Result<W> {
        self.send = None;
        let worker = self
            .worker
            .take()
            .ok_or_else(|| io::Error::other("the bundle's writer stopped"))?;
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Writes what is left and returns the writer, once every byte is written to it.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.batch.is_empty() {
            self.send_batch()?;
        }
        self.join()
    }
}

impl<W: Write + Send + 'static> Write for ThreadedWriter<W> {
    /// Takes what fits in the batch, so that the batch never grows past the capacity it was
    /// made with: a reallocation would leave a copy of the plaintext in freed memory,
    /// unwiped.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(Self::BATCH - self.batch.len());
        self.batch.extend_from_slice(&buf[..n]);
        if self.batch.len() >= Self::BATCH {
            self.send_batch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for ThreadedWriter<W> {
    /// Unfinished: the worker stops, and its writer is dropped before this returns (a
    /// [`BundleWriter`] then removes its partial file).
    fn drop(&mut self) {
        self.send = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The small outer files.
pub struct OuterFiles {
    pub checkpoint: String,
    pub receipt: Receipt,
    pub signer_line: String,
    pub export_id: String,
    /// What opens the payload, for `VERIFY.txt`.
    pub seal: super::SealKind,
    /// The roles of the operators who signed the manifest, for `VERIFY.txt`.
    pub approvals: Vec<String>,
    /// The trusted timestamps of a checkpoint at or before the receipt's, if any.
    pub timestamps: Option<super::TimestampFiles>,
}

/// Writes a bundle in one pass. The payload streams straight into the outer tar's first
/// entry, `payload.age`; its tar header, which holds its size, is written last, into the 512
/// bytes kept for it at the start of the file. So the bundle's ciphertext is written once and
/// never to a temporary file.
pub struct BundleWriter {
    file: File,
    /// The payload goes to the disk while it is written.
    write_out: crate::fs::WriteOut,
    payload_len: u64,
    hasher: crate::crypto::ParallelSha256,
    /// Where the bundle is written ([`crate::fs::partial_path`]), and its final name.
    partial: Partial,
    path: PathBuf,
}

/// A file being written under a temporary name: removed when dropped (once published, that
/// name is gone or a second link to the finished file).
pub(super) struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl BundleWriter {
    /// Starts a bundle that will appear at `path` once finished: until then it is written
    /// under a hidden partial name beside it, which is removed if the bundle is not finished
    /// (a killed process leaves only that).
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.exists() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let partial = Partial(crate::fs::partial_path(path));
        let mut file = crate::fs::create_new_file(&partial.0)?;
        file.write_all(&[0u8; 512])?;
        Ok(BundleWriter {
            file,
            write_out: crate::fs::WriteOut::default(),
            payload_len: 0,
            hasher: crate::crypto::ParallelSha256::new(),
            partial,
            path: path.to_owned(),
        })
    }

    /// Ends the payload, adds the other outer files, writes the payload's header, syncs the
    /// file, gives it its name, and returns the SHA-256 of the whole bundle (read back from
    /// the file).
    pub fn finish(self, files: &OuterFiles, key: &SigningKey) -> io::Result<[u8; 32]> {
        let BundleWriter {
            file,
            mut write_out,
            payload_len,
            hasher,
            partial,
            path,
        } = self;
        write_out.wait()?;
        let sha256 = Self::complete(file, payload_len, hasher, files, key)?;
        crate::fs::publish(&partial.0, &path)?;
        Ok(sha256)
    }

    fn complete(
        mut file: File,
        payload_len: u64,
        hasher: crate::crypto::ParallelSha256,
        files: &OuterFiles,
        key: &SigningKey,
    ) -> io::Result<[u8; 32]> {
        let padding = (512 - payload_len % 512) % 512;
        file.write_all(&vec![0u8; padding as usize])?;
        let payload_sha256 = hasher.finish();
        let mut file = write_outer_rest(file, payload_sha256, files, key)?;
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(header("payload.age", payload_len)?.as_bytes())?;
        // Hash the finished file while it is synced to the disk.
        let syncing = file.try_clone()?;
        let synced = std::thread::spawn(move || syncing.sync_all());
        file.seek(io::SeekFrom::Start(0))?;
        // Read in large pieces: `io::copy`'s 8 KiB buffer costs a system call per 8 KiB.
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let hashed = loop {
            match file.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        synced
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        hashed?;
        Ok(hasher.finalize().into())
    }
}

impl Write for BundleWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.write_out.wrote(&self.file, n)?;
        self.hasher.update(&buf[..n]);
        self.payload_len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The outer files after `payload.age`, their signed `SHA256SUMS`, and the end of the tar.
pub(super) fn write_outer_rest<W: Write>(
    out: W,
    payload_sha256: [u8; 32],
    files: &OuterFiles,
    key: &SigningKey,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let mut sums = BTreeMap::new();
    sums.insert("payload.age".to_owned(), payload_sha256);
    let receipt = serde_json::to_string_pretty(&files.receipt).expect("receipts serialise") + "\n";
    let allowed = format!(
        "{PRINCIPAL} namespaces=\"{OUTER_NAMESPACE},{INNER_NAMESPACE}\" {}\n",
        files.signer_line
    );
    let small: [(&str, String); 5] = [
        ("checkpoint.txt", files.checkpoint.clone()),
        (
            "checkpoint.txt.sig",
            ssh_sign(key, OUTER_NAMESPACE, files.checkpoint.as_bytes()),
        ),
        ("receipt.json", receipt),
        ("allowed_signers", allowed),
        (
            "VERIFY.txt",
            verify_text(
                &files.export_id,
                files.seal,
                &files.approvals,
                files.timestamps.as_ref(),
            ),
        ),
    ];
    for (name, text) in &small {
        tar.append(&header(name, text.len() as u64)?, text.as_bytes())?;
        sums.insert((*name).to_owned(), Sha256::digest(text.as_bytes()).into());
    }
    for (name, data) in files.timestamps.iter().flat_map(|t| t.entries()) {
        tar.append(&header(&name, data.len() as u64)?, data.as_slice())?;
        sums.insert(name, Sha256::digest(&data).into());
    }
    let sums = sums_text(&sums);
    let sig = ssh_sign(key, OUTER_NAMESPACE, sums.as_bytes());
    tar.append(&header("SHA256SUMS", sums.len() as u64)?, sums.as_bytes())?;
    tar.append(&header("SHA256SUMS.sig", sig.len() as u64)?, sig.as_bytes())?;
    tar.into_inner()
}
