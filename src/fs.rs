//! Files tvault creates: private (0600, folders 0700), never over an existing file.
//!
//! The process also runs with umask 077, so files SQLite creates beside the vault (its rollback
//! journal) are private too.

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

/// Removes a file tvault created, ignoring one that is already gone.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}
