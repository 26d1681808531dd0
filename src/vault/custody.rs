//! The custody log seen from outside a session: checkpoints, proofs, the log itself.

use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::audit::{self, Action, Checkpoint, Event};
use crate::error::{Integrity, Result};
use crate::record::RecordIdPrefix;
use crate::store::{self, Store};

use super::{Draft, Vault, anchor_mismatch, anchor_path, signing_keys};

/// Every key the vault has had (the current one last), and the rotations between them.
type SigningKeys = (Vec<VerifyingKey>, Vec<audit::Rotation>);

impl Vault {
    /// The current signed checkpoint, checked against the vault's public key and its anchor.
    /// Needs no passphrase.
    pub fn checkpoint(path: &Path, anchor_dir: Option<&Path>) -> Result<Checkpoint> {
        let (checkpoint, _, _) = Self::checked_log(path, anchor_dir, false)?;
        Ok(checkpoint)
    }

    /// A consistency proof from an older checkpoint of this vault (a signed note) to the
    /// current one. Needs no passphrase.
    pub fn prove(
        path: &Path,
        anchor_dir: Option<&Path>,
        old_note: &str,
    ) -> Result<audit::ConsistencyProof> {
        let (current, leaves, (keys, rotations)) = Self::checked_log(path, anchor_dir, true)?;
        // Signed by the key of its time: the current one, or one rotated away since.
        let old = keys
            .iter()
            .rev()
            .map(|k| Checkpoint::verify(old_note, k))
            .find(Result::is_ok)
            .unwrap_or_else(|| Checkpoint::verify(old_note, keys.last().expect("a key")))
            .map_err(|e| Integrity::Log(format!("the older checkpoint: {e}")))?;
        if old.origin != current.origin {
            return Err(
                Integrity::Log("the older checkpoint belongs to another vault".into()).into(),
            );
        }
        if old.size == 0 || old.size > current.size {
            return Err(Integrity::Log(format!(
                "the older checkpoint has {} events and the vault {}: the vault was rolled back",
                old.size, current.size
            ))
            .into());
        }
        if audit::root(&leaves[..old.size as usize]) != old.root {
            return Err(Integrity::Log(
                "the vault's log does not extend the older checkpoint: it was rewritten".into(),
            )
            .into());
        }
        let proof = audit::consistency_proof(old.size as usize, &leaves);
        use base64::Engine;
        Ok(audit::ConsistencyProof {
            format: audit::ConsistencyProof::FORMAT.into(),
            old_checkpoint: old.note,
            new_checkpoint: current.note,
            proof: proof
                .iter()
                .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
                .collect(),
            rotations,
        })
    }

    /// The stored checkpoint, its signature checked against the vault's public key (also
    /// returned), and, when `with_leaves`, the leaf hashes it commits to.
    fn checked_log(
        path: &Path,
        anchor_dir: Option<&Path>,
        with_leaves: bool,
    ) -> Result<(Checkpoint, Vec<audit::Hash>, SigningKeys)> {
        let store = Store::open(path)?;
        let conn = store.conn();
        let (vault_id, _) = store::header(conn)?;
        let (keys, rotations) = signing_keys(conn)?;
        let key = *keys.last().ok_or_else(|| {
            Integrity::Log("this vault has no signing key yet: unlock it once (for example with `tvault list`)".into())
        })?;
        if let Some(anchor) = anchor_path(anchor_dir, &vault_id, path)
            && let Some(rollback) = anchor_mismatch(conn, &vault_id, &anchor)?
        {
            return Err(rollback);
        }
        let stored =
            store::checkpoint(conn)?.ok_or_else(|| Integrity::Log("no checkpoint".into()))?;
        let cp = Checkpoint::verify(&stored.note, &key)
            .map_err(|e| Integrity::Log(format!("the vault's checkpoint: {e}")))?;
        let leaves = if with_leaves {
            let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
            if leaves.len() as u64 != cp.size || audit::root(&leaves) != cp.root {
                return Err(
                    Integrity::Log("the checkpoint does not match the events".into()).into(),
                );
            }
            leaves
        } else {
            Vec::new()
        };
        Ok((cp, leaves, (keys, rotations)))
    }

    /// The custody log, oldest first; with a record, only its events. Each event is checked
    /// against its stored leaf hash.
    pub fn log(&mut self, record: Option<&RecordIdPrefix>) -> Result<Vec<Event>> {
        let id = record.map(|p| self.resolve(p)).transpose()?;
        let mut draft = Draft::new(Action::LogRead);
        draft.record = id;
        self.record(vec![draft])?;
        let mut events = Vec::new();
        for row in store::events(self.store.conn())? {
            let event = self.s.open_event(row.seq, &row.leaf_hash, &row.sealed)?;
            if id.is_none_or(|id| event.record.as_deref() == Some(id.to_string().as_str())) {
                events.push(event);
            }
        }
        Ok(events)
    }
}
