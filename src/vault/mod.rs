//! The facade: create and unlock a vault, take in and amend testimony, read it, and keep the
//! custody log.
//!
//! Every command that reads or writes appends its events to the log, signs a new checkpoint
//! and commits, all in one transaction, before any testimony is shown; the checkpoint is then
//! copied to the anchor file outside the vault. Content is decrypted only in
//! [`Session::open_part`] (and, for large parts read whole, its parallel twin
//! `Session::read_part_in_parallel`), metadata only in [`Session::open_meta`] and
//! [`Session::open_identity`].

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::Connection;
use serde::Serialize;
use sha2::Digest;

use crate::audit::{self, Action, Checkpoint};
use crate::crypto::{self, KdfParams, Key, Keyslot, Passphrase, SlotKeys, SlotKind, VaultKeys};
use crate::error::{Error, Integrity, Result};
use crate::store::{self, Store};

mod ahead;
mod approvals;
mod backup;
mod cores;
mod custodians;
mod custody;
mod derive;
mod export;
mod export_derived;
mod export_seal;
mod field;
mod heads;
mod import;
mod import_decision;
mod import_lineage;
mod import_memo;
mod import_statements;
mod intake;
mod keys;
mod kit;
mod kit_import;
#[cfg(test)]
mod kit_tests;
mod list;
mod listing;
mod order;
mod parts;
mod read;
mod redaction;
mod session;
mod shred;
mod snippet;
#[cfg(test)]
mod snippet_tests;
#[cfg(test)]
mod tests;
mod timestamps;
mod verify;

pub use approvals::{Approver, MAX_APPROVALS, PolicyChange};
pub use backup::BackupSummary;
pub use custodians::{CUSTODIANS_LABEL, SplitSummary, read_share};
pub use derive::{
    Derivation, DerivedSummary, MASK, MaskHit, REDACT_METHOD, RedactRequest, default_name,
    plain_name,
};
pub use export::{ExportRequest, ExportSummary, RecordRedaction, Seal, Selection};
pub use field::{KitConfirmSummary, KitRecord, KitSendSummary, is_field_kit};
pub use import::{ImportOptions, ImportSummary};
pub use intake::{Amendment, Attachment, Intake, MetaEdit};
pub use keys::{DroppedSlot, Operator, RekeyPlan, RekeySummary};
pub use kit::{KitCreated, KitOptions, KitSummary, Revocation};
pub use kit_import::{KitImportOptions, KitImportSummary};
pub use list::Filter;
pub use read::{RecordSummary, RecordView, SearchHit, Statement, VersionSummary};
pub use shred::{ShreddedVersion, Tombstone};
pub use timestamps::{Timestamp, TimestampRequest};
pub use verify::VerifyReport;

use intake::read_statement_input;
use session::{Draft, Session, part_hashes, signing_aad};

/// The label of the recovery keyslot; events caused through it name this operator.
pub const RECOVERY_LABEL: &str = "recovery";

/// The most a statement may hold: it is text, read whole for `show` and `search`.
pub const STATEMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// An unlocked vault.
pub struct Vault {
    store: Store,
    s: Session,
}

/// How `init` sets up the vault.
pub struct CreateOptions<'a> {
    pub kdf: KdfParams,
    /// The caller accepted parameters below the floor.
    pub weak_kdf: bool,
    /// The first operator's name.
    pub operator: &'a str,
    /// The folder that keeps anchor checkpoints, outside the vault's folder.
    pub anchor_dir: Option<&'a Path>,
    /// A recovery code for a second keyslot, if one is wanted.
    pub recovery: Option<&'a crypto::RecoveryCode>,
}

/// How to open a vault.
#[derive(Default)]
pub struct OpenOptions<'a> {
    /// Accept only this operator's keyslot.
    pub operator: Option<&'a str>,
    /// The folder that keeps anchor checkpoints.
    pub anchor_dir: Option<&'a Path>,
    /// Open a vault whose log does not extend its anchor, and log that this was done.
    pub accept_rollback: bool,
    /// Open a vault whose anchor was written once and is now missing, and log that this was
    /// done (the vault was moved to another machine, or the anchor folder was lost).
    pub accept_missing_anchor: bool,
    /// Start a new custody log on a vault that holds records without one, logging this
    /// reason (`tvault audit restart-log`).
    pub restart_log: Option<&'a str>,
}

/// What can be said about a vault without unlocking it.
#[derive(Debug, Serialize)]
pub struct Status {
    pub path: PathBuf,
    pub format_version: i64,
    pub vault_id: String,
    pub records: u64,
    pub file_size: u64,
    pub keyslots: Vec<SlotStatus>,
    /// The signing key, as an OpenSSH public key line; `None` before the first unlock of a
    /// vault made by an older tvault.
    pub signing_key: Option<String>,
    pub signing_key_fingerprint: Option<String>,
    /// The fingerprints of the keys that signed before, oldest first (each rotated away at a
    /// rekey, signing the next over).
    pub previous_signing_keys: Vec<String>,
    /// Number of events in the custody log.
    pub log_size: u64,
    /// The anchor file, when one exists.
    pub anchor: Option<PathBuf>,
    /// A field kit: it records testimony sealed to headquarters and cannot read it.
    pub field_kit: bool,
    /// How many operators must sign an export (`policy set export-approvals`); checked
    /// against the header MAC at every unlock, not here.
    pub export_approvals: u8,
}

#[derive(Debug, Serialize)]
pub struct SlotStatus {
    pub kind: &'static str,
    pub kdf_memory_mib: u64,
    pub kdf_iterations: u32,
    pub kdf_parallelism: u32,
    /// Below the floor of 256 MiB and 768 MiB × passes.
    pub weak: bool,
    /// Created with `--allow-weak-kdf`.
    pub weak_allowed: bool,
    /// A custodians keyslot: how many of how many shares open it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custodians: Option<SplitStatus>,
    /// The operator's personal signing key (an OpenSSH line) and its fingerprint, once they
    /// have one. Their name stays sealed: `operator list` pairs keys with names.
    pub operator_key: Option<String>,
    pub operator_key_fingerprint: Option<String>,
}

/// K of N, as `status` shows a custodians keyslot.
#[derive(Debug, Serialize)]
pub struct SplitStatus {
    pub threshold: u8,
    pub shares: u8,
}

/// The signing key's public half as an OpenSSH line, and its SHA-256 fingerprint.
pub fn ssh_public_key(vault_id: &[u8; 16], key: &VerifyingKey) -> (String, String) {
    let public = ssh_key::PublicKey::new(
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(key.to_bytes())),
        audit::origin(vault_id),
    );
    let line = public
        .to_openssh()
        .expect("an Ed25519 key encodes as OpenSSH");
    let fingerprint = public.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    (line, fingerprint)
}

/// The anchor file of the vault file at `vault_path`: one per vault and place, so a backup
/// copy elsewhere keeps its own anchor, while a file replaced in place is compared with the
/// anchor of the one it replaced.
fn anchor_path(dir: Option<&Path>, vault_id: &[u8; 16], vault_path: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let place = vault_path
        .canonicalize()
        .unwrap_or_else(|_| vault_path.to_owned());
    let place = sha2::Sha256::digest(place.as_os_str().as_bytes());
    dir.map(|d| {
        d.join(format!(
            "{}-{}.checkpoint",
            hex::encode(vault_id),
            hex::encode(&place[..8])
        ))
    })
}

/// The vault's public signing key, from its plaintext column.
fn public_key(conn: &Connection) -> Result<Option<VerifyingKey>> {
    store::signing_key(conn)?
        .public
        .map(|p| {
            let bytes: [u8; 32] = p.try_into().map_err(|_| Integrity::SigningKey)?;
            VerifyingKey::from_bytes(&bytes).map_err(|_| Integrity::SigningKey.into())
        })
        .transpose()
}

/// The vault's signing keys as its plaintext columns give them: every key it has had, oldest
/// first and the current one last, and the rotations between them. The rotations must chain,
/// each signed by the key before, and end at the current key.
fn signing_keys(conn: &Connection) -> Result<(Vec<VerifyingKey>, Vec<audit::Rotation>)> {
    let Some(current) = public_key(conn)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let rotations = audit::Rotation::parse_all(&store::signing_rotations(conn)?)
        .ok_or(Integrity::SigningKey)?;
    let Some(first) = rotations.first() else {
        return Ok((vec![current], rotations));
    };
    let (first_key, _) = first.verify().ok_or(Integrity::SigningKey)?;
    let keys = audit::keys_from(&first_key, &rotations);
    if keys.len() != rotations.len() + 1 || keys.last() != Some(&current) {
        return Err(Integrity::SigningKey.into());
    }
    Ok((keys, rotations))
}

/// Compares the vault's log with the checkpoint in the anchor file. `Ok(Some(..))` describes a
/// log that is shorter than the anchor or does not extend it; `Ok(None)` is consistent (or
/// there is no anchor yet).
fn anchor_mismatch(conn: &Connection, vault_id: &[u8; 16], anchor: &Path) -> Result<Option<Error>> {
    let text = match std::fs::read_to_string(anchor) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                path: anchor.to_owned(),
                source: e,
            });
        }
    };
    let stored = store::checkpoint(conn)?;
    let rollback = || Error::Rollback {
        anchor_path: anchor.display().to_string(),
        anchor: text.clone(),
        vault: stored
            .as_ref()
            .map_or_else(|| "(no checkpoint)\n".to_owned(), |c| c.note.clone()),
    };
    // An anchor exists, so the vault had a signing key when it was written: the current one,
    // or (written before a rekey finished) an earlier one.
    let (keys, _) = signing_keys(conn)?;
    let Some(current) = keys.last() else {
        return Ok(Some(rollback()));
    };
    let theirs = keys
        .iter()
        .rev()
        .map(|k| Checkpoint::verify(&text, k))
        .find(Result::is_ok)
        .unwrap_or_else(|| Checkpoint::verify(&text, current))
        .map_err(|e| Integrity::Log(format!("the anchor file {}: {e}", anchor.display())))?;
    if theirs.origin != audit::origin(vault_id) {
        return Err(Integrity::Log(format!(
            "the anchor file {} belongs to another vault",
            anchor.display()
        ))
        .into());
    }
    let Some(stored_cp) = &stored else {
        return Ok(Some(rollback()));
    };
    if theirs.size > stored_cp.size {
        return Ok(Some(rollback()));
    }
    // Fast path: the same checkpoint. Otherwise recompute the older tree from the leaves.
    if theirs.size == stored_cp.size && theirs.note == stored_cp.note {
        return Ok(None);
    }
    let leaves = store::leaf_hashes(conn, theirs.size)?;
    if leaves.len() as u64 != theirs.size || audit::root(&leaves) != theirs.root {
        return Ok(Some(rollback()));
    }
    Ok(None)
}

impl Vault {
    /// Creates a vault at `path` with one passphrase keyslot and a signing key, and starts its
    /// custody log. Runs the KDF once.
    pub fn create(
        path: &Path,
        passphrase: &Passphrase,
        options: &CreateOptions<'_>,
    ) -> Result<Self> {
        Self::create_with(
            path,
            passphrase,
            options,
            crypto::random_array(),
            SigningKey::generate(&mut rand::rngs::OsRng),
            None,
        )
    }

    /// [`Vault::create`] with a given id and signing key; with `kit`, a field kit that seals
    /// what it records to headquarters (`kit create`).
    fn create_with(
        path: &Path,
        passphrase: &Passphrase,
        options: &CreateOptions<'_>,
        vault_id: [u8; 16],
        signing: SigningKey,
        kit: Option<&field::KitSide>,
    ) -> Result<Self> {
        options.kdf.check_bounds()?;
        if path.exists() {
            return Err(Error::VaultExists {
                path: path.to_owned(),
            });
        }
        let keys = VaultKeys::derive(Key::random(), &vault_id);
        let (mut slot, kek) = Keyslot::create_keyed(
            &vault_id,
            SlotKind::Passphrase,
            options.kdf,
            options.weak_kdf,
            passphrase,
            &keys,
            options.operator,
        )?;
        let operator_signing = SigningKey::generate(&mut rand::rngs::OsRng);
        slot.set_operator_key(&vault_id, &kek, &operator_signing);
        let operator_key = hex::encode(operator_signing.verifying_key().as_bytes());
        let mut slots = vec![slot.clone()];
        if let Some(code) = options.recovery {
            slots.push(Keyslot::create(
                &vault_id,
                SlotKind::Recovery,
                options.kdf,
                options.weak_kdf,
                &code.as_passphrase(),
                &keys,
                RECOVERY_LABEL,
            )?);
        }
        let s = Session {
            vault_id,
            keys,
            operator: options.operator.to_owned(),
            slot_id: slot.slot_id,
            kek: std::sync::Arc::new(kek),
            signing,
            operator_signing: Some(operator_signing),
            anchor: None,
            kit: kit.map(field::FieldKit::new).transpose()?.map(Box::new),
        };
        let mut checkpoint = None;
        let store = Store::create(path, |conn| {
            // The header MAC is written by the first append below, which covers the log too.
            store::insert_header(conn, &vault_id, &[0u8; 32])?;
            if options.anchor_dir.is_some() {
                store::set_anchored(conn)?;
            }
            for slot in &slots {
                store::insert_keyslot(conn, slot)?;
            }
            s.store_signing_key(conn)?;
            if let Some(side) = kit {
                store::set_kit_column(conn, &s.seal_kit_side(side))?;
            }
            let mut drafts = vec![
                Draft::new(Action::VaultCreated).detail(serde_json::json!({
                    "kdf": { "memory_mib": options.kdf.memory_mib(), "iterations": options.kdf.t,
                             "parallelism": options.kdf.p },
                    "recovery_code": options.recovery.is_some(),
                    "operator_key": operator_key,
                })),
                Draft::new(Action::SigningKeyCreated).detail(serde_json::json!({
                    "fingerprint": s.fingerprint(),
                })),
            ];
            if let Some(kit) = &s.kit {
                drafts.push(Draft::new(Action::KitCreated).detail(serde_json::json!({
                    "kit": kit.side.name,
                    "hq_vault_id": kit.side.hq_vault_id,
                    "hq_fingerprint": ssh_public_key(&kit.hq_vault_id, &kit.hq_key).1,
                })));
            }
            checkpoint = Some(s.append(conn, drafts)?);
            Ok(())
        })?;
        let mut s = s;
        s.anchor = anchor_path(options.anchor_dir, &vault_id, path);
        s.write_anchor(&checkpoint.expect("create appended events"))?;
        Ok(Vault { store, s })
    }

    /// Unlocks the vault at `path`, checks its log against the anchor, and gives a vault made
    /// by an older tvault its signing key.
    pub fn open(path: &Path, passphrase: &Passphrase, options: &OpenOptions<'_>) -> Result<Self> {
        Self::open_slots(path, passphrase, SlotKind::Passphrase, options)
    }

    /// Unlocks with the recovery code: only the recovery keyslot is tried, and events name
    /// the operator `recovery`.
    pub fn open_with_recovery(
        path: &Path,
        code: &crypto::RecoveryCode,
        options: &OpenOptions<'_>,
    ) -> Result<Self> {
        let options = OpenOptions {
            operator: None,
            ..*options
        };
        let mut vault =
            Self::open_slots(path, &code.as_passphrase(), SlotKind::Recovery, &options)?;
        vault.record(vec![Draft::new(Action::RecoveryCodeUsed)])?;
        Ok(vault)
    }

    /// Unlocks with the first keyslot of `kind` that `passphrase` opens, then checks the header
    /// MAC (which, from format 5 on, covers the custody log's state and the heads), the
    /// signing key, and the anchor. A vault whose header MAC is of version 1 (written by an
    /// older tvault) is upgraded here, and only when its tables agree with its log; one that
    /// holds records without any log opens only to start a new log, with a reason.
    fn open_slots(
        path: &Path,
        passphrase: &Passphrase,
        kind: SlotKind,
        options: &OpenOptions<'_>,
    ) -> Result<Self> {
        let store = Store::open(path)?;
        let conn = store.conn();
        // Everything the header MAC covers, read in one transaction: one consistent state,
        // never half of it from before another process's commit and half from after.
        let snapshot = store.read()?;
        let (vault_id, mac) = store::header(&snapshot)?;
        let slots = store::keyslots(&snapshot)?;
        let columns = store::signing_key(&snapshot)?;
        let checkpoint = store::checkpoint(&snapshot)?;
        let head_rows = store::heads(&snapshot)?;
        let rotations = store::signing_rotations(&snapshot)?;
        let anchored = store::anchored(&snapshot)?;
        let kit_column = store::kit_column(&snapshot)?;
        let kit_rows = store::field_kits(&snapshot)?;
        let export_approvals = store::export_approvals(&snapshot)?;
        drop(snapshot);
        let state = match (&columns.public, &checkpoint) {
            (Some(public), Some(cp)) => Some(crypto::HeaderState {
                signing_public: public,
                signing_rotations: &rotations,
                checkpoint: &cp.note,
                anchored,
                heads_root: crate::heads::root(head_rows.iter().map(|(b, s)| (*b, s.as_slice()))),
                kit: kit_column.as_deref(),
                kits_root: kit::kits_root(&kit_rows),
                export_approvals,
            }),
            _ => None,
        };
        let mut unlocked = None;
        for slot in slots.iter().filter(|s| s.kind == kind) {
            let Some(SlotKeys { vmk, kek }) = slot.unlock(&vault_id, passphrase)? else {
                continue;
            };
            let keys = VaultKeys::derive(vmk, &vault_id);
            let current = state.as_ref().is_some_and(|state| {
                crypto::verify_header_mac(&keys, &vault_id, &slots, Some(state), &mac)
            });
            if !current && !crypto::verify_header_mac(&keys, &vault_id, &slots, None, &mac) {
                return Err(Integrity::HeaderMac.into());
            }
            let label = slot.label(&vault_id, &keys).ok_or(Integrity::HeaderMac)?;
            if options.operator.is_some_and(|op| op != label) {
                continue;
            }
            unlocked = Some((keys, kek, label, slot, current));
            break;
        }
        let (keys, kek, operator, slot, current) = unlocked.ok_or(Error::WrongPassphrase)?;
        let slot_id = slot.slot_id;

        let mut drafts = Vec::new();
        // The operator's personal key: opened with their own passphrase's key, or (an older
        // vault, at this operator's first unlock since) made now and logged. Recovery and
        // custodians slots belong to no operator and have none.
        let mut new_operator_key = None;
        let operator_signing = match kind {
            SlotKind::Passphrase => match slot
                .operator_key(&vault_id, &kek)
                .ok_or(Integrity::HeaderMac)?
            {
                Some(key) => Some(key),
                None => {
                    let key = SigningKey::generate(&mut rand::rngs::OsRng);
                    let mut keyed = slot.clone();
                    keyed.set_operator_key(&vault_id, &kek, &key);
                    drafts.push(Draft::new(Action::OperatorKeyCreated).detail(
                        serde_json::json!({ "operator_key": hex::encode(key.verifying_key().as_bytes()) }),
                    ));
                    new_operator_key = keyed.operator_key;
                    Some(key)
                }
            },
            _ => None,
        };
        let (signing, fresh_log) = match (columns.public, columns.sealed_secret) {
            (Some(public), Some(sealed)) => {
                let secret = crypto::open(&keys.meta, &signing_aad(&vault_id), &sealed)
                    .ok_or(Integrity::SigningKey)?;
                let bytes: [u8; 32] = secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| Integrity::SigningKey)?;
                let signing = SigningKey::from_bytes(&bytes);
                if signing.verifying_key().as_bytes().as_slice() != public.as_slice() {
                    return Err(Integrity::SigningKey.into());
                }
                (signing, false)
            }
            // No log yet: a vault made before the custody log. Never under a current header
            // (it covers the signing key), and never over events or a checkpoint.
            (None, None) if !current && checkpoint.is_none() && store::event_count(conn)? == 0 => {
                drafts.push(Draft::new(Action::SigningKeyCreated));
                (SigningKey::generate(&mut rand::rngs::OsRng), true)
            }
            _ => return Err(Integrity::SigningKey.into()),
        };
        if !fresh_log && options.restart_log.is_some() {
            return Err(Error::LogPresent);
        }
        let has_records = store::has_records(conn)?;
        if fresh_log && has_records && options.restart_log.is_none() {
            return Err(Error::LogMissing);
        }
        let mut vault = Vault {
            store,
            s: Session {
                vault_id,
                keys,
                operator,
                slot_id,
                kek: std::sync::Arc::new(kek),
                signing,
                operator_signing,
                anchor: anchor_path(options.anchor_dir, &vault_id, path),
                kit: None,
            },
        };
        if let Some(sealed) = &kit_column {
            let side = vault.s.open_kit_side(sealed)?;
            vault.s.kit = Some(Box::new(field::FieldKit::new(&side)?));
        }
        if fresh_log {
            // What the vault holds is inventoried, so verify can hold every version to a
            // logged hash; the new log says loudly that nothing before it is in any log.
            if let Some(reason) = options.restart_log {
                drafts.push(
                    Draft::new(Action::LogRestarted).detail(serde_json::json!({
                        "reason": reason,
                        "records": store::record_count(vault.store.conn())?,
                        "lost": "every event before this one: reads, exports, consent overrides and shreds are in no log",
                    })),
                );
            }
            for row in store::versions(vault.store.conn(), None)? {
                let sealed = vault.s.open_meta(&row)?;
                drafts.push(
                    Draft::new(Action::RecordInventoried)
                        .on(row.record, row.version)
                        .parts(sealed.parts()),
                );
            }
        } else if !current {
            vault.upgrade_header()?;
        }
        if let Some(anchor) = vault.s.anchor.clone() {
            let conn = vault.store.conn();
            if !anchor.exists() && store::anchored(conn)? {
                if !options.accept_missing_anchor {
                    return Err(Error::AnchorMissing { path: anchor });
                }
                drafts.push(
                    Draft::new(Action::AnchorMissingAccepted)
                        .detail(serde_json::json!({ "anchor": anchor.display().to_string() })),
                );
            }
            let mismatch = anchor_mismatch(conn, &vault_id, &anchor)?
                .filter(|_| !vault.s.restarted_from_anchor(conn, &anchor));
            if let Some(rollback) = mismatch {
                if !options.accept_rollback {
                    return Err(rollback);
                }
                let Error::Rollback {
                    anchor,
                    vault: ours,
                    ..
                } = &rollback
                else {
                    unreachable!("anchor_mismatch describes a rollback");
                };
                drafts.push(
                    Draft::new(Action::RollbackAccepted).detail(serde_json::json!({
                        "anchor_checkpoint": anchor,
                        "vault_checkpoint": ours,
                    })),
                );
            }
        }
        if !drafts.is_empty() {
            let tx = vault.store.write()?;
            if let Some(key) = &new_operator_key {
                store::set_operator_key(&tx, &slot_id, key)?;
            }
            if fresh_log {
                vault.s.store_signing_key(&tx)?;
                let fingerprint = vault.s.fingerprint();
                for d in drafts
                    .iter_mut()
                    .filter(|d| d.action == Action::SigningKeyCreated)
                {
                    d.detail = Some(serde_json::json!({ "fingerprint": fingerprint }));
                }
            }
            let cp = vault.s.append(&tx, drafts)?;
            tx.commit()?;
            vault.s.write_anchor(&cp)?;
        }
        Ok(vault)
    }

    /// Upgrades a vault whose header MAC is of version 1 (it covers the keyslots only): its
    /// log must verify against its signed checkpoint, and the heads that log gives must agree
    /// with the records table and the tombstones; then the heads are stored and the header
    /// signed as version 2. A vault whose tables disagree with its log is not upgraded.
    fn upgrade_header(&mut self) -> Result<()> {
        let conn = self.store.conn();
        let events = self.s.checked_events(conn)?;
        let buckets = heads::from_log(&events)?;
        for bucket in 0..=u8::MAX {
            let empty = crate::heads::Bucket::new();
            let logged = buckets.get(&bucket).unwrap_or(&empty);
            let stored = store::bucket_versions(conn, bucket)?;
            let live: Vec<(crate::RecordId, u32)> = logged
                .iter()
                .filter(|(_, h)| !h.shredded)
                .map(|(id, h)| (*id, h.version))
                .collect();
            if live != stored {
                let id = live
                    .iter()
                    .zip(&stored)
                    .find(|(a, b)| a != b)
                    .map(|(a, _)| a.0)
                    .or_else(|| live.get(stored.len()).map(|a| a.0))
                    .or_else(|| stored.get(live.len()).map(|s| s.0))
                    .expect("two different lists differ somewhere");
                return Err(Integrity::LogDisagrees(id).into());
            }
        }
        let tx = self.store.write()?;
        store::clear_heads(&tx)?;
        for (bucket, heads) in &buckets {
            self.s.write_heads_bucket(&tx, *bucket, heads)?;
        }
        self.s.update_header_mac(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Reads what is stored in plaintext, and checks the log against the anchor. Needs no
    /// passphrase, and records nothing.
    pub fn status(path: &Path, anchor_dir: Option<&Path>) -> Result<Status> {
        let store = Store::open(path)?;
        let conn = store.conn();
        let (vault_id, _) = store::header(conn)?;
        let key = public_key(conn)?;
        let anchor = anchor_path(anchor_dir, &vault_id, path);
        if let Some(anchor) = &anchor
            && let Some(rollback) = anchor_mismatch(conn, &vault_id, anchor)?
        {
            return Err(rollback);
        }
        let keyslots = store::keyslots(conn)?
            .iter()
            .map(|s| SlotStatus {
                kind: s.kind.as_str(),
                kdf_memory_mib: s.kdf.memory_mib(),
                kdf_iterations: s.kdf.t,
                kdf_parallelism: s.kdf.p,
                weak: s.kdf.is_weak(),
                weak_allowed: s.weak_kdf,
                custodians: s.split.map(|s| SplitStatus {
                    threshold: s.threshold,
                    shares: s.shares,
                }),
                operator_key: s
                    .operator_key
                    .as_ref()
                    .map(|k| session::operator_ssh_key(&k.public).0),
                operator_key_fingerprint: s
                    .operator_key
                    .as_ref()
                    .map(|k| session::operator_ssh_key(&k.public).1),
            })
            .collect();
        let ssh = key.map(|k| ssh_public_key(&vault_id, &k));
        let (keys, _) = signing_keys(conn)?;
        let previous_signing_keys = keys
            .iter()
            .take(keys.len().saturating_sub(1))
            .map(|k| ssh_public_key(&vault_id, k).1)
            .collect();
        Ok(Status {
            path: path.to_owned(),
            format_version: store::FORMAT_VERSION,
            vault_id: hex::encode(vault_id),
            records: store::record_tally(conn)?,
            file_size: store.file_size()?,
            keyslots,
            signing_key: ssh.as_ref().map(|(line, _)| line.clone()),
            signing_key_fingerprint: ssh.map(|(_, fp)| fp),
            previous_signing_keys,
            log_size: store::event_count(conn)?,
            anchor: anchor.filter(|a| a.exists()),
            field_kit: store::kit_column(conn)?.is_some(),
            export_approvals: store::export_approvals(conn)?.unwrap_or(1),
        })
    }

    pub fn id(&self) -> String {
        hex::encode(self.s.vault_id)
    }

    /// The operator whose keyslot unlocked the vault.
    pub fn operator(&self) -> &str {
        &self.s.operator
    }

    /// The personal key of the operator who unlocked, as an OpenSSH line and its fingerprint.
    pub fn operator_key(&self) -> Option<(String, String)> {
        self.s.operator_public()
    }

    /// The signing key as an OpenSSH public key line, and its fingerprint.
    pub fn signing_key(&self) -> (String, String) {
        ssh_public_key(&self.s.vault_id, &self.s.signing.verifying_key())
    }

    /// Appends events, signs the new checkpoint and commits, then updates the anchor.
    fn record(&mut self, drafts: Vec<Draft>) -> Result<()> {
        let tx = self.store.write()?;
        let cp = self.s.append(&tx, drafts)?;
        tx.commit()?;
        self.s.write_anchor(&cp)
    }
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// An `io::Error` raised inside the store's reader or writer: a SQLite error carried through
/// the age stream, or the operating system's.
fn from_store_io(e: std::io::Error, path: &Path) -> Error {
    match e.downcast::<rusqlite::Error>() {
        Ok(sql) => sql.into(),
        Err(e) => Error::Io {
            path: path.to_owned(),
            source: e,
        },
    }
}
