//! `backup`: a consistent copy of the vault file, logged in both.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::audit::Action;
use crate::crypto;
use crate::error::{Error, Integrity, Result};
use crate::store::{self, Store};

use super::{Draft, Vault, anchor_path};

/// What `backup` wrote.
#[derive(Debug, Serialize)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub size: u64,
    /// Events in the copy's custody log (its last is the backup itself).
    pub events: u64,
}

impl Vault {
    /// Writes a consistent copy of the still-encrypted vault to `output` (SQLite's online
    /// backup), logged first so the copy holds its own event, then checked: it must open as a
    /// vault, pass SQLite's integrity check, and carry this vault's id and checkpoint. The copy
    /// appears at `output` only once checked, and never over an existing file.
    pub fn backup(&mut self, output: &Path) -> Result<BackupSummary> {
        if output.exists() {
            return Err(Error::Io {
                path: output.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        self.record(vec![Draft::new(Action::BackupMade)])?;
        let expected = store::checkpoint(self.store.conn())?
            .ok_or_else(|| Integrity::Log("no checkpoint".into()))?;
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".tvault-backup-{}.tmp",
            hex::encode(crypto::random_array::<8>())
        ));
        let made = (|| -> Result<()> {
            crate::fs::create_new_file(&tmp).map_err(|e| Error::Io {
                path: tmp.clone(),
                source: e,
            })?;
            self.store.conn().backup(rusqlite::MAIN_DB, &tmp, None)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::Io {
                    path: tmp.clone(),
                    source: e,
                })?;
            let copy = Store::open(&tmp)?;
            if let Some(problem) = store::integrity_check(copy.conn())? {
                return Err(Integrity::Log(format!(
                    "the backup copy failed SQLite's check: {problem}"
                ))
                .into());
            }
            let (id, _) = store::header(copy.conn())?;
            let theirs = store::checkpoint(copy.conn())?;
            if id != self.s.vault_id || theirs.map(|c| c.note) != Some(expected.note.clone()) {
                return Err(Integrity::Log("the backup copy differs from the vault".into()).into());
            }
            drop(copy);
            // Published under its name only once checked, never over an existing file.
            crate::fs::publish(&tmp, output).map_err(|e| Error::Io {
                path: output.to_owned(),
                source: e,
            })
        })();
        let _ = std::fs::remove_file(&tmp);
        made?;
        // The copy gets its own anchor beside this vault's, so it opens where it lies.
        if let Some(dir) = self.s.anchor.as_deref().and_then(Path::parent)
            && let Some(anchor) = anchor_path(Some(dir), &self.s.vault_id, output)
        {
            crate::fs::replace_private(&anchor, expected.note.as_bytes()).map_err(|e| match e {
                Error::Io { source, .. } => Error::Anchor {
                    path: anchor.clone(),
                    source,
                },
                other => other,
            })?;
        }
        Ok(BackupSummary {
            path: output.to_owned(),
            size: std::fs::metadata(output).map(|m| m.len()).unwrap_or(0),
            events: expected.size,
        })
    }
}
