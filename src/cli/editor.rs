//! `add --editor`: the statement written in the user's `$VISUAL` or `$EDITOR`. The editor
//! needs a file, so tvault makes one only on a RAM-backed filesystem (tmpfs or ramfs:
//! `$XDG_RUNTIME_DIR`, else `/dev/shm`), in a new private folder; anywhere else it refuses.
//!
//! Editors leave side files beside the file they edit: vim's `.statement.txt.swp` and
//! `statement.txt~`, Emacs's `#statement.txt#` autosave and `.#statement.txt` lock link, nano's
//! `statement.txt.save`, LibreOffice's `.~lock.statement.txt#`. So the editor gets the folder
//! to itself, with `TMPDIR` pointing into it (for the temporary files of filters and plugins),
//! and when it returns, whatever happens, every file in the folder is overwritten with zeros
//! and the whole folder removed, links removed without being followed.
//!
//! Decision: vim and Neovim (an editor named `vim`, `vim.*`, `vimx` or `nvim`) are also told
//! to keep no swap file, backup, undo file or viminfo/ShaDa (`-n -i NONE` and `set nobackup
//! nowritebackup noundofile noswapfile` after the user's vimrc): viminfo and ShaDa keep
//! registers, that is copied statement text, in the home folder. Other editors are run as
//! configured; what they write outside the folder (Emacs's `backup-directory-alist`, nano's
//! `backupdir`) is theirs, and SECURITY.md says so.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use zeroize::Zeroizing;

use super::error::{CliError, Exit};

/// `statfs` magic numbers of filesystems that keep files in memory only.
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Where the editor's file may go: the first RAM-backed candidate.
fn ram_dir() -> Result<PathBuf, CliError> {
    let candidates: Vec<PathBuf> = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .into_iter()
        .chain([PathBuf::from("/dev/shm")])
        .collect();
    if let Some(dir) = candidates.into_iter().find(|d| ram_backed(d)) {
        return Ok(dir);
    }
    Err(CliError::new(
        Exit::Failure,
        "no RAM-backed folder for the editor's file: the statement would touch the disk",
    )
    .hint("type the statement instead: run `tvault add` on a terminal without --editor")
    .hint("or set XDG_RUNTIME_DIR to a tmpfs folder (it usually is /run/user/$UID)"))
}

pub fn ram_backed(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|fs| {
        // `f_type`'s width differs between platforms.
        #[allow(clippy::unnecessary_cast)]
        let magic = fs.f_type as i64;
        matches!(magic, TMPFS_MAGIC | RAMFS_MAGIC)
    })
}

/// Removes the folder, the statement file and every side file the editor left, on every path
/// out, each file overwritten with zeros first.
struct Scratch {
    dir: PathBuf,
    file: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = tvault::fs::remove_dir_overwritten(&self.dir);
    }
}

/// The options that keep vim or Neovim from writing anything but the file: no swap file
/// (`-n`), no viminfo or ShaDa (`-i NONE`), and, after the user's vimrc, no backup, undo or
/// swap file for the buffer. `None` for other editors.
fn quiet_options(editor: &str) -> Option<&'static str> {
    let program = editor.split_whitespace().next()?;
    let name = Path::new(program).file_name()?.to_str()?;
    let vim = matches!(name, "vim" | "nvim" | "vimx") || name.starts_with("vim.");
    vim.then_some("-n -i NONE -c 'set nobackup nowritebackup noundofile' -c 'setlocal noswapfile'")
}

/// Runs the editor on an empty file in RAM and returns what was saved (at most `limit` bytes).
pub fn edit(limit: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let editor = ["VISUAL", "EDITOR"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .ok_or_else(|| {
            CliError::usage("--editor needs $VISUAL or $EDITOR to name an editor")
                .hint("for example: EDITOR=nano tvault add --editor")
        })?;
    let base = ram_dir()?;
    let dir = base.join(format!(
        "tvault-edit-{}",
        hex::encode(tvault::crypto::random_array::<8>())
    ));
    tvault::fs::create_private_dir(&dir).map_err(|e| {
        CliError::new(Exit::Io, "cannot make a private folder for the editor").with_source(&e)
    })?;
    let scratch = Scratch {
        file: dir.join("statement.txt"),
        dir,
    };
    tvault::fs::create_new_file(&scratch.file)
        .map_err(|e| CliError::new(Exit::Io, "cannot make the editor's file").with_source(&e))?;
    let options = quiet_options(&editor).unwrap_or_default();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} {options} \"$1\""))
        .arg("tvault-editor")
        .arg(&scratch.file)
        .env("TMPDIR", &scratch.dir)
        .status()
        .map_err(|e| CliError::new(Exit::Failure, "cannot start the editor").with_source(&e))?;
    if !status.success() {
        return Err(CliError::new(
            Exit::Failure,
            format!("the editor did not finish cleanly ({status}); nothing was stored"),
        ));
    }
    read_limited(&scratch.file, limit)
}

fn read_limited(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let fail = |e: std::io::Error| {
        CliError::new(Exit::Io, "cannot read back the editor's file").with_source(&e)
    };
    let f = std::fs::File::open(path).map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    if len > limit {
        return Err(CliError::new(
            Exit::Failure,
            format!("the statement is longer than {} MiB", limit >> 20),
        ));
    }
    let mut text = Zeroizing::new(Vec::with_capacity(len as usize + 1));
    f.take(limit).read_to_end(&mut text).map_err(fail)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vim_and_neovim_get_their_side_files_turned_off() {
        for editor in [
            "vim",
            "/usr/bin/vim.basic",
            "nvim -u NONE",
            "vimx",
            "vim.tiny",
        ] {
            assert!(quiet_options(editor).is_some(), "{editor}");
        }
        // `vi` may be nvi or busybox, which know none of these options.
        for editor in [
            "nano",
            "emacs -nw",
            "vi",
            "nvim-qt",
            "code --wait",
            "/opt/vim/ed",
            "",
        ] {
            assert!(quiet_options(editor).is_none(), "{editor}");
        }
    }

    #[test]
    fn only_tmpfs_and_ramfs_count_as_ram() {
        // The source tree is on a disk; /proc is neither tmpfs nor ramfs.
        assert!(!ram_backed(Path::new(env!("CARGO_MANIFEST_DIR"))));
        assert!(!ram_backed(Path::new("/proc")));
        assert!(!ram_backed(Path::new("/no/such/folder")));
        if Path::new("/dev/shm").is_dir() {
            assert!(
                ram_backed(Path::new("/dev/shm")),
                "/dev/shm is a tmpfs on Linux"
            );
        }
    }
}
