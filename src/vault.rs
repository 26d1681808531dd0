//! The facade: create and unlock a vault, take in and amend testimony, read it, and keep the
//! custody log.
//!
//! Every command that reads or writes appends its events to the log, signs a new checkpoint
//! and commits, all in one transaction, before any testimony is shown; the checkpoint is then
//! copied to the anchor file outside the vault. Content is decrypted only in
//! [`Session::open_part`], metadata only in [`Session::open_meta`] and
//! [`Session::open_identity`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rusqlite::Connection;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{self, Action, Checkpoint, Event, Frontier, PartHashes};
use crate::crypto::part::{self, EncryptFailure, PartBinding, PartKey};
use crate::crypto::{self, KdfParams, Key, Keyslot, Passphrase, SlotKeys, SlotKind, VaultKeys};
use crate::digest::{self, Summary, SummaryEntry, Text, TextEntry};
use crate::error::{Error, Integrity, Result};
use crate::progress::{Counted, Tally};
use crate::record::{
    IdentityLevel, InterviewDate, MediaConsent, Metadata, PartInfo, Purpose, RecordId,
    RecordIdPrefix, SealedMeta, WitnessIdentity,
};
use crate::store::{self, PartPlace, PartReader, PartWriter, Store, StoredCheckpoint, VersionRow};

/// The label of the recovery keyslot; events caused through it name this operator.
pub const RECOVERY_LABEL: &str = "recovery";

/// Parts stored in at most this many bytes are read with one query, not one per chunk.
const SMALL_PART: u64 = 256 * 1024;

/// The most a statement may hold: it is text, read whole for `show` and `search`.
pub const STATEMENT_LIMIT: u64 = 64 * 1024 * 1024;

/// An unlocked vault.
pub struct Vault {
    store: Store,
    s: Session,
}

/// What an unlocked vault knows: its keys, who unlocked it, and where its anchor is.
struct Session {
    vault_id: [u8; 16],
    keys: VaultKeys,
    operator: String,
    /// The keyslot that unlocked the vault, and the key its secret derived.
    slot_id: [u8; 16],
    kek: Key,
    signing: SigningKey,
    /// The anchor file, when the caller keeps one.
    anchor: Option<PathBuf>,
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
}

/// A keyslot that survives a rekey: the slot, the key its secret derived, its operator.
struct KeptSlot {
    slot: Keyslot,
    kek: Key,
    label: String,
}

/// What a rekey will do (see [`Vault::plan_rekey`]).
pub struct RekeyPlan {
    kept: Vec<KeptSlot>,
    /// The keyslots the rekey removes.
    pub dropped: Vec<DroppedSlot>,
}

/// A keyslot a rekey removes: its operator's name, or the recovery slot.
pub struct DroppedSlot {
    pub name: String,
    pub recovery: bool,
}

/// What a rekey did.
#[derive(Debug, Serialize)]
pub struct RekeySummary {
    pub kept: Vec<String>,
    pub dropped: Vec<String>,
    pub versions: u64,
    /// Stored parts rewrapped or re-encrypted.
    pub parts: u64,
    pub reencrypted: bool,
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
    /// Number of events in the custody log.
    pub log_size: u64,
    /// The anchor file, when one exists.
    pub anchor: Option<PathBuf>,
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
}

/// One testimony to take in.
pub struct Intake<'a> {
    pub meta: Metadata,
    pub identity: WitnessIdentity,
    pub statement: Option<Box<dyn Read + 'a>>,
    pub attachments: Vec<Attachment<'a>>,
}

pub struct Attachment<'a> {
    /// The original file name; made unique within the record.
    pub name: String,
    pub reader: Box<dyn Read + 'a>,
}

/// Changes to metadata: each field given replaces the old value.
#[derive(Default)]
pub struct MetaEdit {
    pub witness: Option<String>,
    pub title: Option<String>,
    pub interviewer: Option<String>,
    pub date: Option<InterviewDate>,
    pub location: Option<String>,
    pub language: Option<String>,
    /// Replaces all tags.
    pub tags: Option<Vec<String>>,
    pub purposes: Option<BTreeSet<Purpose>>,
    pub identity_level: Option<IdentityLevel>,
    pub media: Option<MediaConsent>,
}

impl MetaEdit {
    fn apply(self, meta: &mut Metadata) {
        let MetaEdit {
            witness,
            title,
            interviewer,
            date,
            location,
            language,
            tags,
            purposes,
            identity_level,
            media,
        } = self;
        if let Some(v) = witness {
            meta.witness = v;
        }
        meta.title = title.or(meta.title.take());
        meta.interviewer = interviewer.or(meta.interviewer.take());
        meta.date = date.or(meta.date.take());
        meta.location = location.or(meta.location.take());
        meta.language = language.or(meta.language.take());
        if let Some(v) = tags {
            meta.tags = v;
        }
        if let Some(v) = purposes {
            meta.consent.purposes = v;
        }
        if let Some(v) = identity_level {
            meta.consent.identity_level = v;
        }
        if let Some(v) = media {
            meta.consent.media = v;
        }
    }
}

/// A new version of a record: what changes. Parts not named are carried over unchanged.
pub struct Amendment<'a> {
    pub meta: MetaEdit,
    pub witness_name: Option<String>,
    pub witness_contact: Option<String>,
    /// Replaces the statement.
    pub statement: Option<Box<dyn Read + 'a>>,
    /// Added; one with the name of an existing attachment replaces it.
    pub attachments: Vec<Attachment<'a>>,
    /// Names of attachments to leave out of the new version (earlier versions keep them).
    pub remove: Vec<String>,
}

/// A record's current version, as `list` and `search` see it.
pub struct RecordSummary {
    pub id: RecordId,
    pub version: u32,
    pub summary: Summary,
    order: OrderKey,
}

impl RecordSummary {
    fn new(entry: SummaryEntry) -> Self {
        let mut r = RecordSummary {
            id: entry.id,
            version: entry.version,
            summary: entry.summary,
            order: OrderKey::default(),
        };
        r.order = OrderKey::of(&r);
        r
    }
}

/// A record version with its whole manifest, as `history` sees it.
pub struct VersionSummary {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
}

/// A statement's text. Zeroized on drop.
pub struct Statement(Zeroizing<String>);

impl Statement {
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// A record as `show` presents it.
pub struct RecordView {
    pub id: RecordId,
    pub version: u32,
    pub sealed: SealedMeta,
    pub statement: Option<Statement>,
    /// Present only when asked for and stored.
    pub identity: Option<WitnessIdentity>,
}

/// Which records `list` shows.
#[derive(Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub witness: Option<String>,
    pub since: Option<InterviewDate>,
    pub until: Option<InterviewDate>,
}

/// A record that matched a search, with where and a short excerpt.
pub struct SearchHit {
    pub record: RecordSummary,
    pub field: &'static str,
    pub snippet: Zeroizing<String>,
}

/// Which records an export takes.
pub enum Selection {
    Ids(Vec<RecordIdPrefix>),
    Tag(String),
    Witness(String),
    All,
}

/// How an export's payload is sealed.
pub enum Seal {
    /// age X25519 (`age1…`) or OpenSSH `ssh-ed25519` public keys.
    Recipients(Vec<String>),
    /// age's scrypt passphrase recipient.
    Passphrase(age::secrecy::SecretString),
}

/// What to export, for what, and how.
pub struct ExportRequest<'a> {
    pub purpose: Purpose,
    pub reason: Option<String>,
    pub selection: Selection,
    pub include_identity: bool,
    pub include_media: bool,
    /// Include records whose consent does not list the purpose; needs a reason.
    pub override_consent: bool,
    pub seal: Seal,
    pub output: &'a Path,
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub export_id: String,
    pub path: PathBuf,
    pub records: usize,
    pub withheld: Vec<crate::export::Withheld>,
    pub consent_overridden: Vec<String>,
    pub bundle_sha256: String,
    pub signer_fingerprint: String,
}

/// The kind of media an attachment's file name says it is, for consent.
fn media_kind(name: &str) -> Option<(&'static str, bool, bool)> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    // (kind, shows a voice, shows a face)
    match ext.as_str() {
        "mp3" | "m4a" | "wav" | "ogg" | "oga" | "opus" | "flac" | "aac" | "amr" | "wma" => {
            Some(("audio", true, false))
        }
        "mp4" | "mov" | "mkv" | "avi" | "webm" | "m4v" | "3gp" | "wmv" | "mpg" | "mpeg" => {
            Some(("video", true, true))
        }
        "jpg" | "jpeg" | "png" | "heic" | "heif" | "gif" | "webp" | "tif" | "tiff" | "bmp" => {
            Some(("photo", false, true))
        }
        _ => None,
    }
}

/// Replaces the witness's real name in `text` with their pseudonym, case-insensitively: the
/// whole name wherever it occurs, then each part of it of three or more letters (a given name,
/// a family name) as a whole word. Returns whether anything changed.
fn redact(text: &str, name: &str, pseudonym: &str) -> (String, bool) {
    let mut patterns = vec![regex::escape(name.trim())];
    patterns.extend(
        name.split_whitespace()
            .filter(|part| part.chars().count() >= 3)
            .map(|part| format!(r"\b{}\b", regex::escape(part))),
    );
    let mut out = text.to_owned();
    for pattern in patterns.iter().filter(|p| !p.is_empty()) {
        let re = regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .expect("an escaped literal is a valid pattern");
        out = re
            .replace_all(&out, regex::NoExpand(pseudonym))
            .into_owned();
    }
    let changed = out != text;
    (out, changed)
}

/// An operator, as `operator list` shows them.
#[derive(Debug, Serialize)]
pub struct Operator {
    pub name: String,
    pub kind: &'static str,
    pub kdf_memory_mib: u64,
    pub kdf_iterations: u32,
    pub weak: bool,
    /// The operator whose passphrase unlocked the vault now.
    pub current: bool,
}

/// What remains of a shredded record.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Tombstone {
    pub record: String,
    pub shredded_at: String,
    pub operator: String,
    pub reason: String,
    pub versions: Vec<ShreddedVersion>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ShreddedVersion {
    pub version: u32,
    pub parts: Vec<PartHashes>,
}

/// What `backup` wrote.
#[derive(Debug, Serialize)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub size: u64,
    /// Events in the copy's custody log (its last is the backup itself).
    pub events: u64,
}

/// What `import` took in.
#[derive(Debug, Serialize)]
pub struct ImportSummary {
    pub export_id: String,
    /// Record versions added to this vault.
    pub imported: usize,
    /// Record versions this vault already held.
    pub skipped: usize,
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// Each failure, naming the place; empty when the vault is sound.
    pub failures: Vec<String>,
    pub records: u64,
    pub versions: u64,
    pub parts: u64,
    /// Bytes of content decrypted and hashed (0 with `quick`).
    pub bytes: u64,
    pub events: u64,
    pub quick: bool,
    /// Things worth knowing that are not failures: exports logged as started but never
    /// completed (a crash or an error while writing).
    pub notes: Vec<String>,
}

/// An event about to be appended.
struct Draft {
    action: Action,
    record: Option<RecordId>,
    version: Option<u32>,
    parts: Vec<PartHashes>,
    detail: Option<serde_json::Value>,
}

impl Draft {
    fn new(action: Action) -> Self {
        Draft {
            action,
            record: None,
            version: None,
            parts: Vec::new(),
            detail: None,
        }
    }

    fn on(mut self, record: RecordId, version: u32) -> Self {
        self.record = Some(record);
        self.version = Some(version);
        self
    }

    fn parts<'p>(mut self, parts: impl IntoIterator<Item = &'p PartInfo>) -> Self {
        self.parts = parts.into_iter().map(part_hashes).collect();
        self
    }

    fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

fn part_hashes(p: &PartInfo) -> PartHashes {
    PartHashes {
        part: p.part,
        sha256: p.sha256.clone(),
        stored_sha256: p.stored_sha256.clone(),
    }
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

/// Compares the vault's log with the checkpoint in the anchor file. `Ok(Some(..))` describes a
/// log that is shorter than the anchor or does not extend it; `Ok(None)` is consistent (or
/// there is no anchor yet).
fn anchor_mismatch(
    conn: &Connection,
    vault_id: &[u8; 16],
    key: Option<&VerifyingKey>,
    anchor: &Path,
) -> Result<Option<Error>> {
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
    // An anchor exists, so the vault had a signing key when it was written.
    let Some(key) = key else {
        return Ok(Some(rollback()));
    };
    let theirs = Checkpoint::verify(&text, key)
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
        options.kdf.check_bounds()?;
        if path.exists() {
            return Err(Error::VaultExists {
                path: path.to_owned(),
            });
        }
        let vault_id: [u8; 16] = crypto::random_array();
        let keys = VaultKeys::derive(Key::random(), &vault_id);
        let (slot, kek) = Keyslot::create_keyed(
            &vault_id,
            SlotKind::Passphrase,
            options.kdf,
            options.weak_kdf,
            passphrase,
            &keys,
            options.operator,
        )?;
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
        let mac = crypto::header_mac(&keys, &vault_id, &slots);
        let s = Session {
            vault_id,
            keys,
            operator: options.operator.to_owned(),
            slot_id: slot.slot_id,
            kek,
            signing: SigningKey::generate(&mut rand::rngs::OsRng),
            anchor: None,
        };
        let mut checkpoint = None;
        let store = Store::create(path, |conn| {
            store::insert_header(conn, &vault_id, &mac)?;
            for slot in &slots {
                store::insert_keyslot(conn, slot)?;
            }
            s.store_signing_key(conn)?;
            let drafts = vec![
                Draft::new(Action::VaultCreated).detail(serde_json::json!({
                    "kdf": { "memory_mib": options.kdf.memory_mib(), "iterations": options.kdf.t,
                             "parallelism": options.kdf.p },
                    "recovery_code": options.recovery.is_some(),
                })),
                Draft::new(Action::SigningKeyCreated).detail(serde_json::json!({
                    "fingerprint": s.fingerprint(),
                })),
            ];
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

    fn open_slots(
        path: &Path,
        passphrase: &Passphrase,
        kind: SlotKind,
        options: &OpenOptions<'_>,
    ) -> Result<Self> {
        let store = Store::open(path)?;
        let (vault_id, mac) = store::header(store.conn())?;
        let slots = store::keyslots(store.conn())?;
        let mut unlocked = None;
        for slot in slots.iter().filter(|s| s.kind == kind) {
            let Some(SlotKeys { vmk, kek }) = slot.unlock(&vault_id, passphrase)? else {
                continue;
            };
            let keys = VaultKeys::derive(vmk, &vault_id);
            if !crypto::verify_header_mac(&keys, &vault_id, &slots, &mac) {
                return Err(Integrity::HeaderMac.into());
            }
            let label = slot.label(&vault_id, &keys).ok_or(Integrity::HeaderMac)?;
            if options.operator.is_some_and(|op| op != label) {
                continue;
            }
            unlocked = Some((keys, kek, label, slot.slot_id));
            break;
        }
        let (keys, kek, operator, slot_id) = unlocked.ok_or(Error::WrongPassphrase)?;

        let columns = store::signing_key(store.conn())?;
        let mut drafts = Vec::new();
        let mut upgraded = false;
        let signing = match (columns.public, columns.sealed_secret) {
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
                signing
            }
            (None, None) => {
                drafts.push(Draft::new(Action::SigningKeyCreated));
                upgraded = true;
                SigningKey::generate(&mut rand::rngs::OsRng)
            }
            _ => return Err(Integrity::SigningKey.into()),
        };
        let mut vault = Vault {
            store,
            s: Session {
                vault_id,
                keys,
                operator,
                slot_id,
                kek,
                signing,
                anchor: anchor_path(options.anchor_dir, &vault_id, path),
            },
        };
        if upgraded {
            // A vault made before the custody log: its log starts with an inventory of what
            // it already holds, so verify can hold every version to a logged hash.
            for row in store::versions(vault.store.conn(), None)? {
                let sealed = vault.s.open_meta(&row)?;
                drafts.push(
                    Draft::new(Action::RecordInventoried)
                        .on(row.record, row.version)
                        .parts(sealed.statement.iter().chain(&sealed.attachments)),
                );
            }
        }
        if let Some(anchor) = vault.s.anchor.clone() {
            let key = public_key(vault.store.conn())?;
            if let Some(rollback) =
                anchor_mismatch(vault.store.conn(), &vault_id, key.as_ref(), &anchor)?
            {
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
            let new_key = drafts.iter().any(|d| d.action == Action::SigningKeyCreated);
            let tx = vault.store.write()?;
            if new_key {
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

    /// Reads what is stored in plaintext, and checks the log against the anchor. Needs no
    /// passphrase, and records nothing.
    pub fn status(path: &Path, anchor_dir: Option<&Path>) -> Result<Status> {
        let store = Store::open(path)?;
        let conn = store.conn();
        let (vault_id, _) = store::header(conn)?;
        let key = public_key(conn)?;
        let anchor = anchor_path(anchor_dir, &vault_id, path);
        if let Some(anchor) = &anchor
            && let Some(rollback) = anchor_mismatch(conn, &vault_id, key.as_ref(), anchor)?
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
            })
            .collect();
        let ssh = key.map(|k| ssh_public_key(&vault_id, &k));
        Ok(Status {
            path: path.to_owned(),
            format_version: store::FORMAT_VERSION,
            vault_id: hex::encode(vault_id),
            records: store::record_count(conn)?,
            file_size: store.file_size()?,
            keyslots,
            signing_key: ssh.as_ref().map(|(line, _)| line.clone()),
            signing_key_fingerprint: ssh.map(|(_, fp)| fp),
            log_size: store::event_count(conn)?,
            anchor: anchor.filter(|a| a.exists()),
        })
    }

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
        let (current, leaves, key) = Self::checked_log(path, anchor_dir, true)?;
        let old = Checkpoint::verify(old_note, &key)
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
        })
    }

    /// The stored checkpoint, its signature checked against the vault's public key (also
    /// returned), and, when `with_leaves`, the leaf hashes it commits to.
    fn checked_log(
        path: &Path,
        anchor_dir: Option<&Path>,
        with_leaves: bool,
    ) -> Result<(Checkpoint, Vec<audit::Hash>, VerifyingKey)> {
        let store = Store::open(path)?;
        let conn = store.conn();
        let (vault_id, _) = store::header(conn)?;
        let key = public_key(conn)?.ok_or_else(|| {
            Integrity::Log("this vault has no signing key yet: unlock it once (for example with `tvault list`)".into())
        })?;
        if let Some(anchor) = anchor_path(anchor_dir, &vault_id, path)
            && let Some(rollback) = anchor_mismatch(conn, &vault_id, Some(&key), &anchor)?
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
        Ok((cp, leaves, key))
    }

    pub fn id(&self) -> String {
        hex::encode(self.s.vault_id)
    }

    /// The operator whose keyslot unlocked the vault.
    pub fn operator(&self) -> &str {
        &self.s.operator
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

    /// Takes in one testimony in a single transaction: the statement and every attachment
    /// are streamed through age into the store, then the sealed manifest and the intake event
    /// are written.
    pub fn add(&mut self, intake: Intake<'_>) -> Result<RecordId> {
        let ids = self.add_many(std::iter::once(intake))?;
        Ok(ids[0])
    }

    /// Stores many new records in one transaction, with one checkpoint: for bulk intake,
    /// where a commit (and its fsync) per record would dominate. Nothing is stored unless
    /// every record is.
    pub fn add_many<'a>(
        &mut self,
        intakes: impl IntoIterator<Item = Intake<'a>>,
    ) -> Result<Vec<RecordId>> {
        let path = self.store.path().to_owned();
        let tx = self.store.write()?;
        let mut ids = Vec::new();
        let mut drafts = Vec::new();
        for intake in intakes {
            let Intake {
                meta,
                identity,
                statement,
                attachments,
            } = intake;
            let record = RecordId::random();
            let version = 1;
            let (statement, parts) =
                self.s
                    .store_content(&tx, &path, record, version, statement, attachments)?;
            let sealed = SealedMeta {
                v: SealedMeta::VERSION,
                meta,
                created_at: now_rfc3339(),
                operator: self.s.operator.clone(),
                statement,
                attachments: parts,
                has_identity: !identity.is_empty(),
                imported: None,
            };
            store::insert_version(
                &tx,
                &self.s.seal_version(record, version, &sealed, &identity),
            )?;
            drafts.push(
                Draft::new(Action::RecordAdded)
                    .on(record, version)
                    .parts(sealed.statement.iter().chain(&sealed.attachments)),
            );
            ids.push(record);
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        self.s.refresh_digest(&tx, ids.iter().copied())?;
        let cp = self.s.append(&tx, drafts)?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(ids)
    }

    /// Creates the next version of a record. Earlier versions stay as they are.
    pub fn amend(
        &mut self,
        prefix: &RecordIdPrefix,
        change: Amendment<'_>,
    ) -> Result<(RecordId, u32)> {
        let id = self.resolve(prefix)?;
        let path = self.store.path().to_owned();
        let tx = self.store.write()?;
        let old_row =
            store::current_version(&tx, &id)?.ok_or(Error::RecordNotFound(prefix.clone()))?;
        let old = self.s.open_meta(&old_row)?;
        let mut identity = self.s.open_identity(&old_row)?.unwrap_or_default();
        let version = old_row.version + 1;
        let Amendment {
            meta: edit,
            witness_name,
            witness_contact,
            statement,
            attachments,
            remove,
        } = change;

        // Carried-over parts keep pointing at the version that stores them.
        let carry = |p: &PartInfo| {
            let mut carried = p.clone();
            carried.stored_at = Some(p.stored_at.unwrap_or(old_row.version));
            carried
        };
        let replaced: BTreeSet<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
        for name in &remove {
            if !old
                .attachments
                .iter()
                .any(|a| a.name.as_deref() == Some(name.as_str()))
            {
                return Err(Error::AttachmentNotFound(id));
            }
        }
        let kept: Vec<PartInfo> = old
            .attachments
            .iter()
            .filter(|a| {
                let name = a.name.as_deref().unwrap_or_default();
                !replaced.contains(name) && !remove.iter().any(|r| r == name)
            })
            .map(carry)
            .collect();
        let had_statement = statement.is_some();
        let (new_statement, new_parts) =
            self.s
                .store_content(&tx, &path, id, version, statement, attachments)?;
        let mut meta = old.meta.clone();
        edit.apply(&mut meta);
        if let Some(name) = witness_name {
            identity.name = Some(name);
        }
        if let Some(contact) = witness_contact {
            identity.contact = Some(contact);
        }
        let sealed = SealedMeta {
            v: SealedMeta::VERSION,
            meta,
            created_at: now_rfc3339(),
            operator: self.s.operator.clone(),
            statement: if had_statement {
                new_statement
            } else {
                old.statement.as_ref().map(carry)
            },
            attachments: kept.into_iter().chain(new_parts).collect(),
            has_identity: !identity.is_empty(),
            imported: None,
        };
        store::insert_version(&tx, &self.s.seal_version(id, version, &sealed, &identity))?;
        self.s.refresh_digest(&tx, [id])?;
        let event = Draft::new(Action::RecordAmended)
            .on(id, version)
            .parts(sealed.statement.iter().chain(&sealed.attachments));
        let cp = self.s.append(&tx, vec![event])?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok((id, version))
    }

    /// The latest version of every record that passes `filter`, by interview date.
    pub fn list(&mut self, filter: &Filter) -> Result<Vec<RecordSummary>> {
        let (records, out) = self.scan_digest(
            false,
            |_, _, entry, _| {
                Ok(filter
                    .matches(&entry.summary.meta)
                    .then(|| RecordSummary::new(entry)))
            },
            by_date,
        )?;
        self.record(vec![Draft::new(Action::RecordsListed).detail(
            serde_json::json!({
                "records": records,
                "shown": out.len(),
            }),
        )])?;
        Ok(out)
    }

    /// Visits the current version of every record through the listing digest
    /// ([`crate::digest`]), with its statement text when `texts`, on every core: each thread
    /// takes its share of the buckets through a connection of its own, and the shared lock
    /// this connection holds meanwhile keeps any write from committing, so all threads see
    /// one state. A bucket that is missing, does not open or lists other versions than the
    /// records table is rebuilt from the records, and stored again afterwards. Returns how
    /// many records were visited and what `visit` kept, sorted by `order` (each thread sorts
    /// its share, then the shares are merged).
    fn scan_digest<T: Send>(
        &mut self,
        texts: bool,
        visit: impl Fn(&Session, &Connection, SummaryEntry, Option<TextEntry>) -> Result<Option<T>>
        + Sync,
        order: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
    ) -> Result<(u64, Vec<T>)> {
        struct Rebuilt {
            bucket: u8,
            from: Vec<(RecordId, u32)>,
            sums: Vec<SummaryEntry>,
            txts: Vec<TextEntry>,
        }
        struct Share<T> {
            seen: u64,
            kept: Vec<T>,
            rebuilt: Vec<Rebuilt>,
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(8);
        let path = self.store.path().to_owned();
        let s = &self.s;
        let run = |conn: &Connection, first: usize| {
            let mut share = Share {
                seen: 0,
                kept: Vec::new(),
                rebuilt: Vec::new(),
            };
            for bucket in (first..digest::BUCKETS).step_by(threads) {
                let bucket = bucket as u8;
                let expected = store::bucket_versions(conn, bucket)?;
                let sums = s.stored_summaries(conn, bucket)?;
                let sums_current = sums.as_ref().is_some_and(|e| {
                    e.iter()
                        .map(|e| (e.id, e.version))
                        .eq(expected.iter().copied())
                });
                let txts = if texts || !sums_current {
                    s.stored_texts(conn, bucket)?
                } else {
                    None
                };
                let txts_current = txts.as_ref().is_some_and(|e| {
                    e.iter()
                        .map(|e| (e.id, e.version))
                        .eq(expected.iter().copied())
                });
                let (sums, txts) = if sums_current && (txts_current || !texts) {
                    (sums.unwrap_or_default(), txts.unwrap_or_default())
                } else {
                    let (sums, txts) = s.build_bucket(
                        conn,
                        &expected,
                        sums.unwrap_or_default(),
                        txts.unwrap_or_default(),
                    )?;
                    share.rebuilt.push(Rebuilt {
                        bucket,
                        from: expected,
                        sums: sums.clone(),
                        txts: txts.clone(),
                    });
                    (sums, txts)
                };
                let mut txts = txts.into_iter().filter(|_| texts);
                share.kept.reserve(sums.len());
                for entry in sums {
                    share.seen += 1;
                    share.kept.extend(visit(s, conn, entry, txts.next())?);
                }
            }
            share.kept.sort_unstable_by(&order);
            Ok::<_, Error>(share)
        };
        let snapshot = self.store.read()?;
        let shares: Vec<Share<T>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads)
                .map(|first| {
                    let (run, path) = (&run, &path);
                    scope.spawn(move || {
                        let store = Store::open(path)?;
                        let tx = store.read()?;
                        run(&tx, first)
                    })
                })
                .collect();
            let mut shares = vec![run(&snapshot, 0)?];
            for worker in workers {
                shares.push(
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                );
            }
            Ok::<_, Error>(shares)
        })?;
        drop(snapshot);
        let (mut seen, mut kept, mut rebuilt) = (0, Vec::new(), Vec::new());
        for share in shares {
            seen += share.seen;
            kept = merge_sorted(kept, share.kept, &order);
            rebuilt.extend(share.rebuilt);
        }
        if !rebuilt.is_empty() {
            // Stored only where the records are still as they were read.
            let tx = self.store.write()?;
            for r in rebuilt {
                if store::bucket_versions(&tx, r.bucket)? == r.from {
                    self.s.write_bucket(&tx, r.bucket, &r.sums, &r.txts)?;
                }
            }
            tx.commit()?;
        }
        Ok((seen, kept))
    }

    /// Resolves an id or unique prefix to a record.
    pub fn resolve(&self, prefix: &RecordIdPrefix) -> Result<RecordId> {
        match store::find_records(self.store.conn(), prefix, 2)?.as_slice() {
            [] => Err(Error::RecordNotFound(prefix.clone())),
            [one] => Ok(*one),
            _ => Err(Error::AmbiguousId(prefix.clone())),
        }
    }

    /// A version of a record (the latest unless `version` is given).
    fn version_row(&self, prefix: &RecordIdPrefix, version: Option<u32>) -> Result<VersionRow> {
        let id = self.resolve(prefix)?;
        let row = match version {
            None => store::current_version(self.store.conn(), &id)?,
            Some(v) => store::version(self.store.conn(), &id, v)?,
        };
        row.ok_or_else(|| match version {
            Some(v) => Error::VersionNotFound {
                record: id,
                version: v,
            },
            None => Error::RecordNotFound(prefix.clone()),
        })
    }

    /// A record's metadata, consent, statement, and the witness's identity when
    /// `with_identity`; the latest version unless `version` is given.
    pub fn show(
        &mut self,
        prefix: &RecordIdPrefix,
        version: Option<u32>,
        with_identity: bool,
    ) -> Result<RecordView> {
        let row = self.version_row(prefix, version)?;
        let id = row.record;
        let sealed = self.s.open_meta(&row)?;
        self.record(vec![
            Draft::new(Action::RecordShown)
                .on(id, row.version)
                .parts(sealed.statement.iter())
                .detail(serde_json::json!({ "identity": with_identity })),
        ])?;
        let tx = self.store.read()?;
        let statement = match &sealed.statement {
            Some(info) => Some(self.s.read_statement(&tx, &row, info)?),
            None => None,
        };
        let identity = if with_identity {
            self.s.open_identity(&row)?
        } else {
            None
        };
        Ok(RecordView {
            id,
            version: row.version,
            sealed,
            statement,
            identity,
        })
    }

    /// Streams one attachment's plaintext to `out` (from the latest version unless `version`
    /// is given), after logging the read. Nothing is written
    /// before the stored length is checked, and each chunk only once it authenticates.
    pub fn cat(
        &mut self,
        prefix: &RecordIdPrefix,
        version: Option<u32>,
        name: &str,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let row = self.version_row(prefix, version)?;
        let id = row.record;
        let sealed = self.s.open_meta(&row)?;
        let info = sealed
            .attachments
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
            .ok_or(Error::AttachmentNotFound(id))?;
        self.record(vec![
            Draft::new(Action::AttachmentRead)
                .on(id, row.version)
                .parts([info]),
        ])?;
        let tx = self.store.read()?;
        self.s.read_part(&tx, &row, info, out)?;
        Ok(info.size)
    }

    /// Case-insensitive search over every record's statement and metadata (never the
    /// witness's identity). Returns one hit per matching record.
    pub fn search(&mut self, query: &str) -> Result<Vec<SearchHit>> {
        let needle = Zeroizing::new(query.to_lowercase());
        let records = store::record_count(self.store.conn())?;
        self.record(vec![Draft::new(Action::Searched).detail(
            serde_json::json!({
                "records": records,
            }),
        )])?;
        let (_, hits) = self.scan_digest(
            true,
            |s, conn, entry, text| {
                let m = &entry.summary.meta;
                let fields: [(&'static str, Option<&str>); 6] = [
                    ("witness", Some(m.witness.as_str())),
                    ("title", m.title.as_deref()),
                    ("interviewer", m.interviewer.as_deref()),
                    ("location", m.location.as_deref()),
                    ("language", m.language.as_deref()),
                    ("date", m.date.as_ref().map(InterviewDate::as_str)),
                ];
                let tags = m.tags.iter().map(|t| ("tag", Some(t.as_str())));
                let mut found = fields
                    .into_iter()
                    .chain(tags)
                    .find_map(|(field, text)| Some((field, snippet(text?, &needle)?)));
                if found.is_none() {
                    found = match text.map(|t| t.text) {
                        Some(Text::Inline(text)) => snippet(&text, &needle),
                        Some(Text::Large) => {
                            let row = store::version(conn, &entry.id, entry.version)?
                                .ok_or(Integrity::Corrupt)?;
                            let sealed = s.open_meta(&row)?;
                            match &sealed.statement {
                                Some(info) => {
                                    let text = s.read_statement(conn, &row, info)?;
                                    snippet(text.expose_secret(), &needle)
                                }
                                None => None,
                            }
                        }
                        Some(Text::None) | None => None,
                    }
                    .map(|s| ("statement", s));
                }
                Ok(found.map(|(field, snippet)| SearchHit {
                    record: RecordSummary::new(entry),
                    field,
                    snippet,
                }))
            },
            |a, b| by_date(&a.record, &b.record),
        )?;
        Ok(hits)
    }

    /// Every version of a record, oldest first.
    pub fn history(&mut self, prefix: &RecordIdPrefix) -> Result<Vec<VersionSummary>> {
        let id = self.resolve(prefix)?;
        let rows = store::versions(self.store.conn(), Some(&id))?;
        self.record(vec![
            Draft::new(Action::HistoryRead).on(id, rows.len() as u32),
        ])?;
        rows.iter()
            .map(|row| {
                Ok(VersionSummary {
                    id,
                    version: row.version,
                    sealed: self.s.open_meta(row)?,
                })
            })
            .collect()
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

    /// Writes an export bundle (docs/export-format.md). Refuses records outside their
    /// consent unless overridden with a reason, withholds identities and identifying media
    /// unless asked for and consented to, and logs an intent event (whose receipt the bundle
    /// carries) before writing and a completion event with the bundle's SHA-256 after.
    /// `progress` hears (done, total) bytes of content.
    pub fn export(
        &mut self,
        req: ExportRequest<'_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportSummary> {
        use crate::export::{InnerWriter, Manifest, ManifestRecord, OuterFiles, Receipt, Withheld};

        if req.output.exists() {
            return Err(Error::Io {
                path: req.output.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        // Recipients first: a typo must fail before anything is logged.
        let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
        let mut fingerprints = Vec::new();
        match &req.seal {
            Seal::Recipients(keys) => {
                for k in keys {
                    let k = k.trim();
                    if k.starts_with("age1") {
                        let r: age::x25519::Recipient = k
                            .parse()
                            .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                        fingerprints.push(k.to_owned());
                        recipients.push(Box::new(r));
                    } else {
                        let r: age::ssh::Recipient = k
                            .parse()
                            .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                        let public = ssh_key::PublicKey::from_openssh(k)
                            .map_err(|_| Error::InvalidRecipient(k.to_owned()))?;
                        if public.key_data().ed25519().is_none() {
                            return Err(Error::InvalidRecipient(k.to_owned()));
                        }
                        fingerprints.push(public.fingerprint(ssh_key::HashAlg::Sha256).to_string());
                        recipients.push(Box::new(r));
                    }
                }
                if recipients.is_empty() {
                    return Err(Error::InvalidRecipient("(none given)".into()));
                }
            }
            Seal::Passphrase(p) => {
                fingerprints.push("scrypt passphrase".into());
                recipients.push(Box::new(age::scrypt::Recipient::new(p.clone())));
            }
        }

        // Select the records, at their latest versions.
        let conn = self.store.conn();
        let rows: Vec<VersionRow> = match &req.selection {
            Selection::Ids(prefixes) => {
                let mut rows = Vec::new();
                for p in prefixes {
                    let id = self.resolve(p)?;
                    if !rows.iter().any(|r: &VersionRow| r.record == id) {
                        rows.push(
                            store::current_version(conn, &id)?
                                .ok_or(Error::RecordNotFound(p.clone()))?,
                        );
                    }
                }
                rows
            }
            _ => store::current_versions(conn)?,
        };
        let mut chosen = Vec::new();
        for row in rows {
            let sealed = self.s.open_meta(&row)?;
            let m = &sealed.meta;
            let keep = match &req.selection {
                Selection::Tag(t) => m.tags.iter().any(|x| x.to_lowercase() == t.to_lowercase()),
                Selection::Witness(w) => m.witness.to_lowercase() == w.to_lowercase(),
                _ => true,
            };
            if keep {
                chosen.push((row, sealed));
            }
        }
        if chosen.is_empty() {
            return Err(Error::NothingToExport);
        }

        // Consent.
        let refused: Vec<&RecordId> = chosen
            .iter()
            .filter(|(_, s)| !s.meta.consent.purposes.contains(&req.purpose))
            .map(|(r, _)| &r.record)
            .collect();
        if !refused.is_empty() && !req.override_consent {
            return Err(Error::ConsentRefused(
                refused
                    .iter()
                    .map(|id| {
                        format!(
                            "  record {id}: consent does not include {}",
                            req.purpose.as_str()
                        )
                    })
                    .collect(),
            ));
        }
        let overridden: Vec<String> = refused.iter().map(|id| id.to_string()).collect();

        // What leaves and what is withheld.
        let mut withheld = Vec::new();
        let mut plans = Vec::new();
        for (row, sealed) in &chosen {
            let consent = &sealed.meta.consent;
            let identity = self.s.open_identity(row)?;
            let identity_included = identity.is_some()
                && req.include_identity
                && consent.identity_level == IdentityLevel::Named;
            if identity.is_some() && !identity_included {
                withheld.push(Withheld {
                    record: row.record.to_string(),
                    what: "identity".into(),
                    name: None,
                    why: if !req.include_identity {
                        "identity not requested (--include-identity)".into()
                    } else {
                        format!(
                            "consent identity level is {}",
                            consent.identity_level.as_str()
                        )
                    },
                });
            }
            let mut attachments = Vec::new();
            for a in &sealed.attachments {
                let name = a.name.clone().unwrap_or_default();
                match media_kind(&name) {
                    Some((kind, voice, face)) => {
                        let consented =
                            (!voice || consent.media.voice) && (!face || consent.media.face);
                        if req.include_media && consented {
                            attachments.push(a.clone());
                        } else {
                            withheld.push(Withheld {
                                record: row.record.to_string(),
                                what: "attachment".into(),
                                name: Some(name),
                                why: if !req.include_media {
                                    format!("{kind} not requested (--include-media)")
                                } else {
                                    format!("media consent does not cover this {kind}")
                                },
                            });
                        }
                    }
                    None => attachments.push(a.clone()),
                }
            }
            plans.push((identity_included.then_some(identity).flatten(), attachments));
        }

        // Log the intent; its receipt goes into the bundle.
        let export_id = hex::encode(crypto::random_array::<16>());
        let intent = Draft::new(Action::ExportIntent).detail(serde_json::json!({
            "export_id": export_id,
            "purpose": req.purpose.as_str(),
            "reason": req.reason,
            "recipients": fingerprints,
            "records": chosen.iter().map(|(r, _)| format!("{}@{}", r.record, r.version)).collect::<Vec<_>>(),
            "include_identity": req.include_identity,
            "include_media": req.include_media,
            "consent_overridden": overridden,
            "withheld": withheld.len(),
        }));
        self.record(vec![intent])?;
        let conn = self.store.conn();
        let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
        let index = leaves.len() - 1;
        let intent_row = store::events(conn)?
            .pop()
            .ok_or_else(|| Integrity::Log("the intent event vanished".into()))?;
        let intent_json = crypto::open_padded(
            &self.s.keys.meta,
            &self.s.event_aad(intent_row.seq),
            &intent_row.sealed,
        )
        .ok_or_else(|| Integrity::Log("the intent event does not authenticate".into()))?;
        let checkpoint =
            store::checkpoint(conn)?.ok_or_else(|| Integrity::Log("no checkpoint".into()))?;
        use base64::Engine;
        let intent_event = String::from_utf8(intent_json.to_vec())
            .map_err(|_| Integrity::Log("the intent event is not text".into()))?;
        let receipt = Receipt {
            format: Receipt::FORMAT.into(),
            event: None,
            leaf_hash: Some(
                base64::engine::general_purpose::STANDARD
                    .encode(audit::leaf_hash(intent_event.as_bytes())),
            ),
            export_id: Some(export_id.clone()),
            index: index as u64,
            tree_size: leaves.len() as u64,
            proof: audit::inclusion_proof(index, &leaves)
                .iter()
                .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
                .collect(),
        };
        let all_events: Vec<Event> = store::events(conn)?
            .iter()
            .map(|r| self.s.open_event(r.seq, &r.leaf_hash, &r.sealed))
            .collect::<Result<_>>()?;

        // The payload streams straight into the bundle (see `BundleWriter`). Only a file
        // made here is removed on failure.
        let (public_line, fingerprint) = self.signing_key();
        let out = req.output;
        let io_at = |p: &Path| {
            let p = p.to_owned();
            move |e: std::io::Error| Error::Io {
                path: p.clone(),
                source: e,
            }
        };
        let content: u64 = chosen
            .iter()
            .zip(&plans)
            .map(|((_, sealed), (_, attachments))| {
                sealed.statement.as_ref().map_or(0, |s| s.size)
                    + attachments.iter().map(|a| a.size).sum::<u64>()
            })
            .sum();
        let mut tally = Tally::new(content, progress);
        let bundle = crate::export::BundleWriter::create(out).map_err(io_at(out))?;
        let result = (|| -> Result<[u8; 32]> {
            let encryptor = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| Error::InvalidRecipient(e.to_string()))?;
            let stream = encryptor.wrap_output(bundle).map_err(io_at(out))?;
            let mut inner = InnerWriter::new(stream);
            let mut manifest_records = Vec::new();
            let mut custody_by_record = BTreeMap::new();
            let tx = self.store.read()?;
            for ((row, sealed), (identity, attachments)) in chosen.iter().zip(&plans) {
                let base = format!("records/{}", row.record);
                let m = &sealed.meta;
                let metadata = serde_json::json!({
                    "id": row.record, "version": row.version, "metadata": m,
                    "created_at": sealed.created_at, "operator": sealed.operator,
                });
                let metadata = Zeroizing::new(
                    serde_json::to_vec_pretty(&metadata).expect("metadata serialises"),
                );
                inner
                    .add_bytes(&format!("{base}/metadata.json"), &metadata)
                    .map_err(io_at(out))?;
                if let Some(identity) = identity {
                    let json = Zeroizing::new(
                        serde_json::to_vec_pretty(identity).expect("identity serialises"),
                    );
                    inner
                        .add_bytes(&format!("{base}/identity.json"), &json)
                        .map_err(io_at(out))?;
                }
                let mut redacted = false;
                if let Some(info) = &sealed.statement {
                    let text = self.s.read_statement(&tx, row, info)?;
                    let real_name = self.s.open_identity(row)?.and_then(|i| i.name.clone());
                    let text = match (&real_name, identity.is_some()) {
                        (Some(name), false) => {
                            let (t, changed) = redact(text.expose_secret(), name, &m.witness);
                            redacted = changed;
                            Zeroizing::new(t)
                        }
                        _ => Zeroizing::new(text.expose_secret().to_owned()),
                    };
                    inner
                        .add_bytes(&format!("{base}/statement.txt"), text.as_bytes())
                        .map_err(io_at(out))?;
                    tally.add(info.size);
                }
                let events: Vec<Event> = all_events
                    .iter()
                    .filter(|e| e.record.as_deref() == Some(row.record.to_string().as_str()))
                    .cloned()
                    .collect();
                let custody = serde_json::to_vec_pretty(&events).expect("events serialise");
                custody_by_record.insert(row.record.to_string(), events);
                inner
                    .add_bytes(&format!("{base}/custody.json"), &custody)
                    .map_err(io_at(out))?;
                for a in attachments {
                    let name = a.name.clone().unwrap_or_default();
                    let mut sha = [0u8; 32];
                    hex::decode_to_slice(&a.sha256, &mut sha)
                        .map_err(|_| Integrity::Metadata(row.record))?;
                    let reader = Counted {
                        inner: self.s.open_part(&tx, row, a)?,
                        tally: &mut tally,
                    };
                    inner
                        .add_stream(&format!("{base}/attachments/{name}"), a.size, sha, reader)
                        .map_err(|e| self.s.part_error(e, row, a, out))?;
                }
                manifest_records.push(ManifestRecord {
                    id: row.record.to_string(),
                    version: row.version,
                    witness: m.witness.clone(),
                    consent: m.consent.clone(),
                    consent_overridden: overridden.contains(&row.record.to_string()),
                    intake_sha256: sealed
                        .statement
                        .iter()
                        .chain(&sealed.attachments)
                        .map(|p| (p.part, p.sha256.clone()))
                        .collect(),
                    statement_redacted: redacted,
                    identity_included: identity.is_some(),
                    attachments: attachments.iter().filter_map(|a| a.name.clone()).collect(),
                });
            }
            drop(tx);
            let manifest = Manifest {
                format: crate::export::FORMAT.into(),
                export_id: export_id.clone(),
                vault_id: self.id(),
                purpose: req.purpose.as_str().into(),
                reason: req.reason.clone(),
                operator: self.s.operator.clone(),
                time: now_rfc3339(),
                records: manifest_records,
                withheld: withheld.clone(),
                intent_event: Some(intent_event.clone()),
            };
            let stream = inner
                .finish(&manifest, &custody_by_record, &self.s.signing)
                .map_err(io_at(out))?;
            let bundle = stream.finish().map_err(io_at(out))?;
            let files = OuterFiles {
                checkpoint: checkpoint.note.clone(),
                receipt: receipt.clone(),
                signer_line: public_line.clone(),
                fingerprint: fingerprint.clone(),
                export_id: export_id.clone(),
            };
            bundle.finish(&files, &self.s.signing).map_err(io_at(out))
        })();
        // On failure the partial bundle is gone (`BundleWriter`); the output was never made.
        let bundle_sha256 = hex::encode(result?);
        self.record(vec![Draft::new(Action::ExportComplete).detail(
            serde_json::json!({
                "export_id": export_id,
                "bundle_sha256": bundle_sha256,
            }),
        )])?;
        Ok(ExportSummary {
            export_id,
            path: req.output.to_owned(),
            records: chosen.len(),
            withheld,
            consent_overridden: overridden,
            bundle_sha256,
            signer_fingerprint: fingerprint,
        })
    }

    /// Takes in the records of an export bundle, keeping their ids, versions and provenance
    /// (source vault, signer, original intake hashes, custody excerpt). The bundle is verified
    /// completely first, and again while it is read; versions already here are skipped, so
    /// importing the same bundle twice changes nothing.
    pub fn import(
        &mut self,
        bundle: &Path,
        unlock: &crate::export::Unlock,
        expected_signer: Option<&str>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportSummary> {
        use crate::export::{self as bundle_fmt, BundleError};

        let mut tally = Tally::new(0, progress);
        let (report, manifest) = bundle_fmt::verify_bundle_counted(
            bundle,
            expected_signer,
            Some(unlock),
            None,
            &mut tally,
        )
        .map_err(Error::Bundle)?;
        let manifest = manifest.expect("a payload that was checked has a manifest");
        let key = report
            .signer_key
            .expect("a verified bundle names its signer");
        let mut todo: BTreeMap<String, (u32, &crate::export::ManifestRecord)> = BTreeMap::new();
        let mut skipped = 0;
        for rec in &manifest.records {
            let id: RecordId = RecordId(
                hex::decode(&rec.id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        Error::Bundle(BundleError {
                            step: "MANIFEST.json",
                            detail: "a record id is malformed".into(),
                        })
                    })?,
            );
            if store::version(self.store.conn(), &id, rec.version)?.is_some() {
                skipped += 1;
            } else {
                todo.insert(rec.id.clone(), (rec.version, rec));
            }
        }
        if todo.is_empty() {
            return Ok(ImportSummary {
                export_id: manifest.export_id,
                imported: 0,
                skipped,
            });
        }

        #[derive(Default)]
        struct Pending {
            meta: Option<serde_json::Value>,
            identity: Option<WitnessIdentity>,
            statement: Option<PartInfo>,
            attachments: Vec<PartInfo>,
            custody: serde_json::Value,
        }
        let path = self.store.path().to_owned();
        let s = &self.s;
        let tx = self.store.write()?;
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        let mut failure: Option<Error> = None;
        let read_small = |data: &mut dyn Read| -> std::io::Result<Zeroizing<Vec<u8>>> {
            let mut buf = Zeroizing::new(Vec::new());
            data.take(16 * 1024 * 1024).read_to_end(&mut buf)?;
            Ok(buf)
        };
        let mut visit = |rel: &Path, data: &mut dyn Read| -> std::io::Result<()> {
            let parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let (id, file) = match parts.as_slice() {
                [r, id, rest @ ..] if r == "records" && !rest.is_empty() => {
                    (id.clone(), rest.to_vec())
                }
                _ => return Ok(()),
            };
            let Some((version, _)) = todo.get(&id) else {
                return Ok(());
            };
            let record = RecordId(
                hex::decode(&id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| std::io::Error::other("a record folder is not a record id"))?,
            );
            let entry = pending.entry(id.clone()).or_default();
            let mut store_part = |part: u32, data: &mut dyn Read| {
                s.write_part(
                    &tx,
                    &path,
                    PartPlace {
                        record,
                        version: *version,
                        part,
                    },
                    data,
                )
                .map_err(|e| {
                    let msg = e.to_string();
                    failure = Some(e);
                    std::io::Error::other(msg)
                })
            };
            match file
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["metadata.json"] => {
                    entry.meta = Some(
                        serde_json::from_slice(&read_small(data)?)
                            .map_err(std::io::Error::other)?,
                    );
                }
                ["identity.json"] => {
                    entry.identity = Some(
                        serde_json::from_slice(&read_small(data)?)
                            .map_err(std::io::Error::other)?,
                    );
                }
                ["custody.json"] => {
                    entry.custody = serde_json::from_slice(&read_small(data)?)
                        .map_err(std::io::Error::other)?;
                }
                ["statement.txt"] => entry.statement = Some(store_part(0, data)?),
                ["attachments", name] => {
                    let mut info = store_part(entry.attachments.len() as u32 + 1, data)?;
                    info.name = Some((*name).to_owned());
                    entry.attachments.push(info);
                }
                _ => {
                    return Err(std::io::Error::other(format!(
                        "unexpected file {}",
                        rel.display()
                    )));
                }
            }
            Ok(())
        };
        tally.grow(std::fs::metadata(bundle).map_or(0, |m| m.len()));
        if let Err(e) = bundle_fmt::read_inner(bundle, unlock, &key, &mut visit, &mut tally) {
            return Err(failure.unwrap_or(Error::Bundle(e)));
        }

        let now = now_rfc3339();
        let mut drafts = Vec::new();
        let bad = |what: &str| {
            Error::Bundle(BundleError {
                step: "records",
                detail: what.to_owned(),
            })
        };
        for (id, p) in pending {
            let (version, rec) = todo[&id];
            let record = RecordId(
                hex::decode(&id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad("a record id is malformed"))?,
            );
            let meta_doc = p.meta.ok_or_else(|| bad("a record has no metadata.json"))?;
            let meta: Metadata = serde_json::from_value(meta_doc["metadata"].clone())
                .map_err(|_| bad("metadata.json is malformed"))?;
            let identity = p.identity.unwrap_or_default();
            let sealed = SealedMeta {
                v: SealedMeta::VERSION,
                meta,
                created_at: meta_doc["created_at"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                operator: meta_doc["operator"].as_str().unwrap_or_default().to_owned(),
                statement: p.statement,
                attachments: p.attachments,
                has_identity: !identity.is_empty(),
                imported: Some(crate::record::ImportOrigin {
                    export_id: manifest.export_id.clone(),
                    source_vault: manifest.vault_id.clone(),
                    signer_fingerprint: report.fingerprint.clone(),
                    purpose: manifest.purpose.clone(),
                    intake_sha256: rec.intake_sha256.clone(),
                    statement_redacted: rec.statement_redacted,
                    custody: p.custody,
                    imported_at: now.clone(),
                    imported_by: s.operator.clone(),
                }),
            };
            store::insert_version(&tx, &s.seal_version(record, version, &sealed, &identity))?;
            drafts.push(
                Draft::new(Action::RecordImported)
                    .on(record, version)
                    .parts(sealed.statement.iter().chain(&sealed.attachments))
                    .detail(serde_json::json!({
                        "export_id": manifest.export_id,
                        "source_vault": manifest.vault_id,
                        "signer": report.fingerprint,
                    })),
            );
        }
        let imported = drafts.len();
        s.refresh_digest(&tx, drafts.iter().filter_map(|d| d.record))?;
        let cp = s.append(&tx, drafts)?;
        tx.commit()?;
        s.write_anchor(&cp)?;
        Ok(ImportSummary {
            export_id: manifest.export_id,
            imported,
            skipped,
        })
    }

    /// The operators: every keyslot with its operator's name and KDF cost.
    pub fn operators(&mut self) -> Result<Vec<Operator>> {
        self.record(vec![Draft::new(Action::OperatorsListed)])?;
        let slots = store::keyslots(self.store.conn())?;
        slots
            .iter()
            .map(|slot| {
                Ok(Operator {
                    name: slot
                        .label(&self.s.vault_id, &self.s.keys)
                        .ok_or(Integrity::HeaderMac)?,
                    kind: slot.kind.as_str(),
                    kdf_memory_mib: slot.kdf.memory_mib(),
                    kdf_iterations: slot.kdf.t,
                    weak: slot.kdf.is_weak(),
                    current: slot.slot_id == self.s.slot_id,
                })
            })
            .collect()
    }

    /// Adds an operator with their own passphrase, at the same KDF cost as the keyslot that
    /// unlocked the vault. Runs the KDF once.
    pub fn add_operator(&mut self, name: &str, passphrase: &Passphrase) -> Result<()> {
        let slots = store::keyslots(self.store.conn())?;
        if slots
            .iter()
            .any(|s| s.label(&self.s.vault_id, &self.s.keys).as_deref() == Some(name))
        {
            return Err(Error::OperatorExists(name.to_owned()));
        }
        let mine = slots
            .iter()
            .find(|s| s.slot_id == self.s.slot_id)
            .ok_or(Integrity::HeaderMac)?;
        let slot = Keyslot::create(
            &self.s.vault_id,
            SlotKind::Passphrase,
            mine.kdf,
            mine.weak_kdf,
            passphrase,
            &self.s.keys,
            name,
        )?;
        let tx = self.store.write()?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![Draft::new(Action::OperatorAdded).detail(serde_json::json!({ "operator": name }))],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)
    }

    /// Removes an operator's keyslot. Refuses to remove the last way into the vault.
    pub fn remove_operator(&mut self, name: &str) -> Result<()> {
        let slots = store::keyslots(self.store.conn())?;
        let slot = slots
            .iter()
            .find(|s| s.label(&self.s.vault_id, &self.s.keys).as_deref() == Some(name))
            .ok_or_else(|| Error::OperatorNotFound(name.to_owned()))?;
        if slots.len() == 1 {
            return Err(Error::LastKeyslot);
        }
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &slot.slot_id)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::OperatorRemoved).detail(serde_json::json!({ "operator": name })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)
    }

    /// Sets a new passphrase for `operator` (needed when several operators exist), after an
    /// unlock with the recovery code.
    pub fn recover_operator(
        &mut self,
        operator: Option<&str>,
        passphrase: &Passphrase,
    ) -> Result<String> {
        let slots = store::keyslots(self.store.conn())?;
        let named: Vec<(&Keyslot, String)> = slots
            .iter()
            .filter(|s| s.kind == SlotKind::Passphrase)
            .map(|s| {
                Ok((
                    s,
                    s.label(&self.s.vault_id, &self.s.keys)
                        .ok_or(Integrity::HeaderMac)?,
                ))
            })
            .collect::<Result<_>>()?;
        let (old, name) = match operator {
            Some(op) => named
                .into_iter()
                .find(|(_, n)| n == op)
                .ok_or_else(|| Error::OperatorNotFound(op.to_owned()))?,
            None if named.len() == 1 => named.into_iter().next().expect("one operator"),
            None => return Err(Error::OperatorNeeded),
        };
        let slot = Keyslot::create(
            &self.s.vault_id,
            SlotKind::Passphrase,
            old.kdf,
            old.weak_kdf,
            passphrase,
            &self.s.keys,
            &name,
        )?;
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &old.slot_id)?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::PassphraseChanged)
                    .detail(serde_json::json!({ "operator": name })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(name)
    }

    /// Makes the vault undecryptable in place (every keyslot, the header MAC and the signing
    /// key overwritten with random bytes, in one transaction, pages overwritten on disk), then
    /// removes the file, its journal and its anchor. Copies made earlier are not affected.
    pub fn destroy(self) -> Result<()> {
        let Vault { mut store, s } = self;
        let path = store.path().to_owned();
        let tx = store.write()?;
        store::scramble_keys(&tx)?;
        tx.commit()?;
        drop(store);
        crate::fs::remove_if_exists(&path)?;
        let mut journal = path.clone().into_os_string();
        journal.push("-journal");
        crate::fs::remove_if_exists(Path::new(&journal))?;
        if let Some(anchor) = &s.anchor {
            crate::fs::remove_if_exists(anchor)?;
        }
        Ok(())
    }

    /// Gives the operator who unlocked the vault a new passphrase: their keyslot is replaced,
    /// with a new salt, in one transaction. Copies of the vault made earlier still open with
    /// the old passphrase.
    pub fn change_passphrase(&mut self, passphrase: &Passphrase) -> Result<()> {
        let slots = store::keyslots(self.store.conn())?;
        let mine = slots
            .iter()
            .find(|s| s.slot_id == self.s.slot_id)
            .ok_or(Integrity::HeaderMac)?;
        let (slot, kek) = Keyslot::create_keyed(
            &self.s.vault_id,
            mine.kind,
            mine.kdf,
            mine.weak_kdf,
            passphrase,
            &self.s.keys,
            &self.s.operator,
        )?;
        let tx = self.store.write()?;
        store::delete_keyslot(&tx, &mine.slot_id)?;
        store::insert_keyslot(&tx, &slot)?;
        self.s.update_header_mac(&tx)?;
        let cp = self
            .s
            .append(&tx, vec![Draft::new(Action::PassphraseChanged)])?;
        tx.commit()?;
        self.s.slot_id = slot.slot_id;
        self.s.kek = kek;
        self.s.write_anchor(&cp)
    }

    /// Matches secrets to keyslots for [`Vault::rekey`]. The keyslot that unlocked the vault
    /// is always kept; each passphrase must open one other operator's keyslot, and the
    /// recovery code the recovery keyslot, or nothing is planned (wrong passphrase). Keyslots
    /// no secret opened are to be dropped. Runs the KDF once per secret and slot tried.
    pub fn plan_rekey(
        &self,
        passphrases: &[Passphrase],
        recovery: Option<&crypto::RecoveryCode>,
    ) -> Result<RekeyPlan> {
        let vault_id = &self.s.vault_id;
        let label = |slot: &Keyslot| -> Result<String> {
            Ok(slot
                .label(vault_id, &self.s.keys)
                .ok_or(Integrity::HeaderMac)?)
        };
        let (mine, mut rest): (Vec<Keyslot>, Vec<Keyslot>) = store::keyslots(self.store.conn())?
            .into_iter()
            .partition(|s| s.slot_id == self.s.slot_id);
        let mine = mine.into_iter().next().ok_or(Integrity::HeaderMac)?;
        let mut kept = vec![KeptSlot {
            kek: self.s.kek.clone(),
            label: self.s.operator.clone(),
            slot: mine,
        }];
        let code = recovery.map(|c| c.as_passphrase());
        let secrets = passphrases
            .iter()
            .map(|p| (SlotKind::Passphrase, p))
            .chain(code.as_ref().map(|c| (SlotKind::Recovery, c)));
        for (kind, secret) in secrets {
            let mut opened = None;
            for (i, slot) in rest.iter().enumerate().filter(|(_, s)| s.kind == kind) {
                if let Some(SlotKeys { vmk, kek }) = slot.unlock(vault_id, secret)? {
                    use subtle::ConstantTimeEq;
                    if !bool::from(vmk.expose_secret().ct_eq(self.s.keys.vmk.expose_secret())) {
                        return Err(Integrity::HeaderMac.into());
                    }
                    opened = Some((i, kek));
                    break;
                }
            }
            let (i, kek) = opened.ok_or(Error::WrongPassphrase)?;
            let slot = rest.remove(i);
            kept.push(KeptSlot {
                kek,
                label: label(&slot)?,
                slot,
            });
        }
        let dropped = rest
            .iter()
            .map(|slot| {
                Ok(DroppedSlot {
                    name: label(slot)?,
                    recovery: slot.kind == SlotKind::Recovery,
                })
            })
            .collect::<Result<_>>()?;
        Ok(RekeyPlan { kept, dropped })
    }

    /// Gives the vault a new master key, in one transaction: the planned keyslots are sealed
    /// anew (the others are gone), and so is everything under the old key's subkeys (the
    /// signing key, every version's metadata and identity, tombstones, events). Each part's
    /// header is rewrapped for the new K_wrap; with `reencrypt`, each part is decrypted,
    /// checked against its intake hash, and encrypted again with a new file key. The log gets
    /// a `vault-rekeyed` event and a `record-rekeyed` event per version with its new stored
    /// hashes. A crash at any point leaves the old vault or the new one (SQLite's rollback
    /// journal). `progress` hears (done, total) versions.
    pub fn rekey(
        &mut self,
        plan: RekeyPlan,
        reencrypt: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RekeySummary> {
        let vault_id = self.s.vault_id;
        let next = Session {
            vault_id,
            keys: VaultKeys::derive(Key::random(), &vault_id),
            operator: self.s.operator.clone(),
            slot_id: self.s.slot_id,
            kek: self.s.kek.clone(),
            signing: self.s.signing.clone(),
            anchor: self.s.anchor.clone(),
        };
        let slots: Vec<Keyslot> = plan
            .kept
            .iter()
            .map(|k| k.slot.rewrap(&vault_id, &k.kek, &next.keys, &k.label))
            .collect();
        let path = self.store.path().to_owned();
        let old = &self.s;
        let tx = self.store.write()?;
        store::replace_keyslots(&tx, &slots)?;
        store::set_header_mac(&tx, &crypto::header_mac(&next.keys, &vault_id, &slots))?;
        next.store_signing_key(&tx)?;
        // Sealed under the old K_meta: rebuilt by the next `list` or `search`.
        store::clear_digest(&tx)?;

        let rows = store::versions(&tx, None)?;
        let mut drafts = Vec::with_capacity(rows.len() + 1);
        // Carried-over parts share the stored file of the version they were carried from,
        // which comes first in (record, version) order.
        let mut done: BTreeMap<(RecordId, u32, u32), (u64, String)> = BTreeMap::new();
        let mut parts = 0u64;
        for (i, row) in rows.iter().enumerate() {
            progress(i as u64, rows.len() as u64);
            let mut sealed = old.open_meta(row)?;
            let identity = old.open_identity(row)?.unwrap_or_default();
            for info in sealed.statement.iter_mut().chain(&mut sealed.attachments) {
                let place = Session::place(row, info);
                let key = (place.record, place.version, place.part);
                let (len, sha256) = match done.get(&key) {
                    Some(stored) => stored.clone(),
                    None if info.stored_at.is_some() => {
                        return Err(Integrity::PartMissing {
                            record: row.record,
                            part: info.part,
                        }
                        .into());
                    }
                    None => {
                        parts += 1;
                        let stored = if reencrypt {
                            old.reencrypt_part(&next, &tx, &path, row, info)?
                        } else {
                            old.rewrap_part(&next, &tx, &path, row, info)?
                        };
                        done.insert(key, stored.clone());
                        stored
                    }
                };
                info.stored_len = len;
                info.stored_sha256 = Some(sha256);
            }
            store::update_version(
                &tx,
                &next.seal_version(row.record, row.version, &sealed, &identity),
            )?;
            drafts.push(
                Draft::new(Action::RecordRekeyed)
                    .on(row.record, row.version)
                    .parts(sealed.statement.iter().chain(&sealed.attachments)),
            );
        }
        progress(rows.len() as u64, rows.len() as u64);
        for (id, sealed) in store::tombstones(&tx)? {
            let aad = old.tombstone_aad(&id);
            let json = crypto::open_padded(&old.keys.meta, &aad, &sealed)
                .ok_or(Integrity::Metadata(id))?;
            store::set_tombstone(&tx, &id, &crypto::seal_padded(&next.keys.meta, &aad, &json))?;
        }
        for row in store::events(&tx)? {
            old.open_event(row.seq, &row.leaf_hash, &row.sealed)?;
            let aad = old.event_aad(row.seq);
            let leaf = crypto::open_padded(&old.keys.meta, &aad, &row.sealed).ok_or_else(|| {
                Integrity::Log(format!("event {} does not authenticate", row.seq))
            })?;
            store::set_event_sealed(
                &tx,
                row.seq,
                &crypto::seal_padded(&next.keys.meta, &aad, &leaf),
            )?;
        }

        let summary = RekeySummary {
            kept: plan.kept.iter().map(|k| k.label.clone()).collect(),
            dropped: plan.dropped.into_iter().map(|d| d.name).collect(),
            versions: rows.len() as u64,
            parts,
            reencrypted: reencrypt,
        };
        drafts.insert(
            0,
            Draft::new(Action::VaultRekeyed).detail(serde_json::json!({
                "reencrypted": reencrypt,
                "kept": summary.kept,
                "dropped": summary.dropped,
                "versions": summary.versions,
                "parts": parts,
            })),
        );
        let cp = next.append(&tx, drafts)?;
        tx.commit()?;
        self.s = next;
        self.s.write_anchor(&cp)?;
        Ok(summary)
    }

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
        Ok(BackupSummary {
            path: output.to_owned(),
            size: std::fs::metadata(output).map(|m| m.len()).unwrap_or(0),
            events: expected.size,
        })
    }

    /// Crypto-shreds a record (consent withdrawn, or a risk to the witness): every version's
    /// metadata, identity, wrapped keys and content are deleted and their pages overwritten,
    /// in one transaction. A sealed tombstone keeps the intake hashes, the time, the operator
    /// and the reason, never the content; so does the log.
    pub fn shred(&mut self, prefix: &RecordIdPrefix, reason: &str) -> Result<Tombstone> {
        let id = self.resolve(prefix)?;
        let rows = store::versions(self.store.conn(), Some(&id))?;
        let mut versions = Vec::new();
        for row in &rows {
            let sealed = self.s.open_meta(row)?;
            versions.push(ShreddedVersion {
                version: row.version,
                parts: sealed
                    .statement
                    .iter()
                    .chain(&sealed.attachments)
                    .map(part_hashes)
                    .collect(),
            });
        }
        let tombstone = Tombstone {
            record: id.to_string(),
            shredded_at: now_rfc3339(),
            operator: self.s.operator.clone(),
            reason: reason.to_owned(),
            versions,
        };
        let json = Zeroizing::new(serde_json::to_vec(&tombstone).expect("tombstones serialise"));
        let sealed = crypto::seal_padded(&self.s.keys.meta, &self.s.tombstone_aad(&id), &json);
        let tx = self.store.write()?;
        store::delete_record(&tx, &id)?;
        store::insert_tombstone(&tx, &id, &sealed)?;
        self.s.refresh_digest(&tx, [id])?;
        let mut event = Draft::new(Action::RecordShredded).detail(serde_json::json!({
            "reason": reason,
            "versions": tombstone.versions,
        }));
        event.record = Some(id);
        let cp = self.s.append(&tx, vec![event])?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(tombstone)
    }

    /// The tombstones of shredded records.
    pub fn tombstones(&self) -> Result<Vec<Tombstone>> {
        store::tombstones(self.store.conn())?
            .iter()
            .map(|(id, sealed)| self.s.open_tombstone(id, sealed))
            .collect()
    }

    /// Checks everything: SQLite's own integrity check, every event against the signed
    /// checkpoint and the anchor, every version against the log, and (unless `quick`) every
    /// part decrypted and compared with its intake hash. `progress` hears (done, total) parts.
    pub fn verify(
        &mut self,
        quick: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport> {
        let mut report = VerifyReport {
            quick,
            ..VerifyReport::default()
        };
        let conn = self.store.conn();
        if let Some(problem) = store::integrity_check(conn)? {
            report
                .failures
                .push(format!("SQLite integrity check: {problem}"));
        }

        // The log: every event authenticates, hashes to its leaf, and the leaves give the
        // signed root.
        let mut logged: BTreeMap<(String, u32), Vec<PartHashes>> = BTreeMap::new();
        let mut exports: BTreeMap<String, bool> = BTreeMap::new();
        let mut leaves = Vec::new();
        for row in store::events(conn)? {
            let (seq, leaf) = (row.seq, &row.leaf_hash);
            if seq != leaves.len() as u64 {
                report.failures.push(format!(
                    "the custody log: event {} is missing",
                    leaves.len()
                ));
            }
            match self.s.open_event(seq, leaf, &row.sealed) {
                Ok(event) => {
                    let export_id = event
                        .detail
                        .as_ref()
                        .and_then(|d| d["export_id"].as_str())
                        .map(str::to_owned);
                    match (event.action, export_id) {
                        (Action::ExportIntent, Some(id)) => {
                            exports.entry(id).or_insert(false);
                        }
                        (Action::ExportComplete, Some(id)) => {
                            exports.insert(id, true);
                        }
                        _ => {}
                    }
                    if matches!(
                        event.action,
                        Action::RecordAdded
                            | Action::RecordAmended
                            | Action::RecordInventoried
                            | Action::RecordImported
                            | Action::RecordRekeyed
                    ) && let (Some(r), Some(v)) = (&event.record, event.version)
                    {
                        logged.insert((r.clone(), v), event.parts.clone());
                    }
                }
                Err(e) => report.failures.push(e.to_string()),
            }
            leaves.push(<[u8; 32]>::try_from(leaf.as_slice()).unwrap_or([0u8; 32]));
        }
        report.events = leaves.len() as u64;
        for (id, _) in exports.iter().filter(|(_, done)| !**done) {
            report.notes.push(format!(
                "export {id} was logged as started but never completed (interrupted, or it failed while writing)"
            ));
        }
        match store::checkpoint(conn)? {
            None => report
                .failures
                .push("the custody log has no checkpoint".into()),
            Some(stored) => {
                match Checkpoint::verify(&stored.note, &self.s.signing.verifying_key()) {
                    Err(e) => report.failures.push(format!("the vault's checkpoint: {e}")),
                    Ok(cp) => {
                        if cp.size != leaves.len() as u64 || cp.root != audit::root(&leaves) {
                            report.failures.push(format!(
                                "the custody log does not match its signed checkpoint ({} events signed, {} present)",
                                cp.size,
                                leaves.len()
                            ));
                        }
                    }
                }
                let frontier_ok =
                    Frontier::from_bytes(stored.size, &stored.frontier).is_some_and(|f| {
                        f.size == leaves.len() as u64 && f.root() == audit::root(&leaves)
                    });
                if !frontier_ok {
                    report.failures.push(
                        "the custody log's stored tree edge does not match its events".into(),
                    );
                }
            }
        }
        if let Some(anchor) = &self.s.anchor {
            match anchor_mismatch(
                conn,
                &self.s.vault_id,
                Some(&self.s.signing.verifying_key()),
                anchor,
            ) {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => report.failures.push(e.to_string()),
            }
        }

        // Record the verification before decrypting any content (the log checks above
        // read no testimony). A log too damaged to append to
        // is itself a finding, and the checks still run.
        if let Err(e) = self.record(vec![
            Draft::new(Action::Verified).detail(serde_json::json!({ "quick": quick })),
        ]) {
            match e {
                Error::Integrity(i) => report
                    .failures
                    .push(format!("cannot append to the log: {i}")),
                other => return Err(other),
            }
        }
        let conn = self.store.conn();
        // Shredded records: their tombstones open, and their logged versions are accounted for.
        for (id, sealed) in store::tombstones(conn)? {
            match self.s.open_tombstone(&id, &sealed) {
                Ok(t) => {
                    logged.retain(|(record, _), _| *record != t.record);
                    report.notes.push(format!(
                        "record {} was shredded {} by {}: {}",
                        t.record, t.shredded_at, t.operator, t.reason
                    ));
                }
                Err(e) => report.failures.push(e.to_string()),
            }
        }

        // The records: each version matches the log, and each part decrypts to its hash.
        let rows = store::versions(conn, None)?;
        let total_parts = rows.len() as u64;
        let mut seen_records = BTreeSet::new();
        for (i, row) in rows.iter().enumerate() {
            progress(i as u64, total_parts);
            seen_records.insert(row.record);
            report.versions += 1;
            let key = (row.record.to_string(), row.version);
            let sealed = match self.s.open_meta(row) {
                Ok(s) => s,
                Err(e) => {
                    report.failures.push(e.to_string());
                    logged.remove(&key);
                    continue;
                }
            };
            if let Err(e) = self.s.open_identity(row) {
                report.failures.push(e.to_string());
            }
            let parts: Vec<&PartInfo> =
                sealed.statement.iter().chain(&sealed.attachments).collect();
            match logged.remove(&key) {
                None => report.failures.push(format!(
                    "record {} version {} has no intake event in the custody log",
                    row.record, row.version
                )),
                Some(hashes) => {
                    let ours: Vec<PartHashes> = parts.iter().map(|p| part_hashes(p)).collect();
                    if hashes != ours {
                        report.failures.push(format!(
                            "record {} version {} does not match the hashes in its intake event",
                            row.record, row.version
                        ));
                    }
                }
            }
            for info in parts.into_iter().filter(|p| p.stored_at.is_none()) {
                report.parts += 1;
                let checked = if quick {
                    self.s.check_part_length(conn, row, info)
                } else {
                    self.s.read_part(conn, row, info, &mut std::io::sink())
                };
                match checked {
                    Ok(()) => report.bytes += if quick { 0 } else { info.size },
                    Err(e @ Error::Integrity(_)) => report.failures.push(e.to_string()),
                    Err(e) => return Err(e),
                }
            }
        }
        progress(total_parts, total_parts);
        for (record, version) in logged.keys() {
            report.failures.push(format!(
                "record {record} version {version} is in the custody log but missing from the vault"
            ));
        }
        report.records = seen_records.len() as u64;
        Ok(report)
    }
}

fn signing_aad(vault_id: &[u8; 16]) -> Vec<u8> {
    crypto::aad("tvault signing key v1", &[vault_id])
}

impl Session {
    fn tombstone_aad(&self, id: &RecordId) -> Vec<u8> {
        crypto::aad("tvault tombstone v1", &[&self.vault_id, id.as_bytes()])
    }

    fn open_tombstone(&self, id: &RecordId, sealed: &[u8]) -> Result<Tombstone> {
        let json = crypto::open_padded(&self.keys.meta, &self.tombstone_aad(id), sealed)
            .ok_or(Integrity::Metadata(*id))?;
        serde_json::from_slice(&json).map_err(|_| Integrity::Metadata(*id).into())
    }

    /// Re-signs the header and keyslot table after a keyslot changed.
    fn update_header_mac(&self, conn: &Connection) -> Result<()> {
        let slots = store::keyslots(conn)?;
        store::set_header_mac(
            conn,
            &crypto::header_mac(&self.keys, &self.vault_id, &slots),
        )
    }

    fn fingerprint(&self) -> String {
        ssh_public_key(&self.vault_id, &self.signing.verifying_key()).1
    }

    fn store_signing_key(&self, conn: &Connection) -> Result<()> {
        let secret = Zeroizing::new(self.signing.to_bytes());
        store::set_signing_key(
            conn,
            self.signing.verifying_key().as_bytes(),
            &crypto::seal(
                &self.keys.meta,
                &signing_aad(&self.vault_id),
                secret.as_ref(),
            ),
        )
    }

    fn event_aad(&self, seq: u64) -> Vec<u8> {
        crypto::aad("tvault event v1", &[&self.vault_id, &seq.to_be_bytes()])
    }

    /// Appends events to the log inside the caller's transaction and signs the new
    /// checkpoint. The stored tree edge must cover exactly the stored events.
    fn append(&self, conn: &Connection, drafts: Vec<Draft>) -> Result<Checkpoint> {
        let count = store::event_count(conn)?;
        let mut frontier = match store::checkpoint(conn)? {
            Some(cp) => {
                // Never extend a log whose last checkpoint is not ours, or does not match the
                // tree edge it was stored with: a new signature would hide the damage.
                let signed = Checkpoint::verify(&cp.note, &self.signing.verifying_key())
                    .map_err(|e| Integrity::Log(format!("the vault's checkpoint: {e}")))?;
                Frontier::from_bytes(cp.size, &cp.frontier)
                    .filter(|f| f.size == signed.size && f.root() == signed.root)
                    .ok_or_else(|| {
                        Integrity::Log(
                            "the stored tree edge does not match the signed checkpoint".into(),
                        )
                    })?
            }
            None => Frontier::default(),
        };
        if frontier.size != count {
            return Err(Integrity::Log(format!(
                "the checkpoint covers {} events but {count} are stored",
                frontier.size
            ))
            .into());
        }
        let time = now_rfc3339();
        for draft in drafts {
            let seq = frontier.size;
            let event = Event {
                seq,
                time: time.clone(),
                operator: self.operator.clone(),
                action: draft.action,
                record: draft.record.map(|r| r.to_string()),
                version: draft.version,
                parts: draft.parts,
                detail: draft.detail,
                salt: hex::encode(crypto::random_array::<16>()),
            };
            let leaf = event.leaf();
            let hash = audit::leaf_hash(&leaf);
            store::insert_event(
                conn,
                seq,
                &hash,
                &crypto::seal_padded(&self.keys.meta, &self.event_aad(seq), &leaf),
            )?;
            frontier.append(hash);
        }
        let origin = audit::origin(&self.vault_id);
        let cp = Checkpoint::sign(&origin, frontier.size, &frontier.root(), &self.signing);
        store::set_checkpoint(
            conn,
            &StoredCheckpoint {
                size: frontier.size,
                frontier: frontier.to_bytes(),
                note: cp.note.clone(),
            },
        )?;
        Ok(cp)
    }

    /// Copies a committed checkpoint to the anchor file.
    fn write_anchor(&self, cp: &Checkpoint) -> Result<()> {
        let Some(path) = &self.anchor else {
            return Ok(());
        };
        crate::fs::replace_private(path, cp.note.as_bytes()).map_err(|e| match e {
            Error::Io { source, .. } => Error::Anchor {
                path: path.clone(),
                source,
            },
            other => other,
        })
    }

    /// Opens one stored event and checks it against its leaf hash and place.
    fn open_event(&self, seq: u64, leaf: &[u8], sealed: &[u8]) -> Result<Event> {
        let bad = |what: &str| Error::Integrity(Integrity::Log(format!("event {seq} {what}")));
        let json = crypto::open_padded(&self.keys.meta, &self.event_aad(seq), sealed)
            .ok_or_else(|| bad("does not authenticate"))?;
        if audit::leaf_hash(&json).as_slice() != leaf {
            return Err(bad("does not match its leaf hash"));
        }
        let event: Event = serde_json::from_slice(&json).map_err(|_| bad("cannot be read"))?;
        if event.seq != seq {
            return Err(bad("is out of place"));
        }
        Ok(event)
    }

    /// Encrypts one part from `reader` into the store.
    fn write_part(
        &self,
        tx: &Connection,
        path: &Path,
        place: PartPlace,
        reader: &mut dyn Read,
    ) -> Result<PartInfo> {
        let part = place.part;
        let (sealed, writer) =
            part::encrypt(&self.part_key(place), reader, PartWriter::new(tx, place)).map_err(
                |e| match e {
                    EncryptFailure::Read(e) if part == 0 => Error::ReadStatement(e),
                    EncryptFailure::Read(source) => Error::ReadAttachment {
                        index: part as usize,
                        source,
                    },
                    EncryptFailure::Write(e) => from_store_io(e, path),
                },
            )?;
        let (stored_len, stored_sha256) = writer.finish()?;
        Ok(PartInfo {
            part,
            name: None,
            size: sealed.size,
            sha256: hex::encode(sealed.sha256),
            padded_size: sealed.padded_size,
            stored_len,
            stored_sha256: Some(hex::encode(stored_sha256)),
            stored_at: None,
        })
    }

    /// Stores the statement (part 0) and attachments (parts 1…) of one version.
    fn store_content(
        &self,
        tx: &Connection,
        path: &Path,
        record: RecordId,
        version: u32,
        statement: Option<Box<dyn Read + '_>>,
        attachments: Vec<Attachment<'_>>,
    ) -> Result<(Option<PartInfo>, Vec<PartInfo>)> {
        let write_part = |part: u32, reader: &mut dyn Read| {
            self.write_part(
                tx,
                path,
                PartPlace {
                    record,
                    version,
                    part,
                },
                reader,
            )
        };
        let statement = match statement {
            Some(mut reader) => {
                // Read it whole first: it must be UTF-8 text, and it is bounded.
                let text = read_statement_input(&mut reader)?;
                if std::str::from_utf8(&text).is_err() {
                    return Err(Error::StatementNotUtf8);
                }
                Some(write_part(0, &mut text.as_slice())?)
            }
            None => None,
        };
        let names: Vec<String> = attachments.iter().map(|a| a.name.clone()).collect();
        let names = crate::record::unique_names(&names);
        let mut parts = Vec::with_capacity(attachments.len());
        for ((i, mut attachment), name) in attachments.into_iter().enumerate().zip(names) {
            let mut info = write_part(i as u32 + 1, &mut attachment.reader)?;
            info.name = Some(name);
            parts.push(info);
        }
        Ok((statement, parts))
    }

    /// Seals a version's manifest and identity (the identity even when empty, so the file
    /// does not tell which records name a witness).
    fn seal_version(
        &self,
        record: RecordId,
        version: u32,
        sealed: &SealedMeta,
        identity: &WitnessIdentity,
    ) -> VersionRow {
        let meta_json = Zeroizing::new(serde_json::to_vec(sealed).expect("metadata serialises"));
        let identity_json =
            Zeroizing::new(serde_json::to_vec(identity).expect("identity serialises"));
        VersionRow {
            record,
            version,
            meta: crypto::seal_padded(
                &self.keys.meta,
                &crypto::record_aad("tvault meta v1", &self.vault_id, &record, version),
                &meta_json,
            ),
            identity: crypto::seal_padded(
                &self.keys.meta,
                &crypto::record_aad("tvault identity v1", &self.vault_id, &record, version),
                &identity_json,
            ),
        }
    }

    /// Opens a version's sealed metadata and manifest.
    fn open_meta(&self, row: &VersionRow) -> Result<SealedMeta> {
        let aad = crypto::record_aad("tvault meta v1", &self.vault_id, &row.record, row.version);
        let json = crypto::open_padded(&self.keys.meta, &aad, &row.meta)
            .ok_or(Integrity::Metadata(row.record))?;
        let sealed: SealedMeta =
            serde_json::from_slice(&json).map_err(|_| Integrity::Metadata(row.record))?;
        if sealed.v != SealedMeta::VERSION {
            return Err(Integrity::Metadata(row.record).into());
        }
        Ok(sealed)
    }

    fn digest_aad(&self, bucket: u8, kind: digest::Kind) -> Vec<u8> {
        crypto::aad(
            "tvault digest v1",
            &[&self.vault_id, &[bucket], &[kind as u8]],
        )
    }

    /// Opens a stored digest blob; `None` when there is none or it does not open.
    fn stored_digest(
        &self,
        conn: &Connection,
        bucket: u8,
        kind: digest::Kind,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(store::digest(conn, bucket, kind as u8)?.and_then(|sealed| {
            crypto::open_padded(&self.keys.meta, &self.digest_aad(bucket, kind), &sealed)
        }))
    }

    fn stored_summaries(&self, conn: &Connection, bucket: u8) -> Result<Option<Vec<SummaryEntry>>> {
        Ok(self
            .stored_digest(conn, bucket, digest::Kind::Summaries)?
            .and_then(|bytes| digest::decode_summaries(&bytes)))
    }

    fn stored_texts(&self, conn: &Connection, bucket: u8) -> Result<Option<Vec<TextEntry>>> {
        Ok(self
            .stored_digest(conn, bucket, digest::Kind::Texts)?
            .and_then(|bytes| digest::decode_texts(&bytes)))
    }

    /// A digest bucket for the records `expected` (id order), taking what is still current
    /// from `old_summaries` and `old_texts` and the rest from the records.
    fn build_bucket(
        &self,
        conn: &Connection,
        expected: &[(RecordId, u32)],
        old_summaries: Vec<SummaryEntry>,
        old_texts: Vec<TextEntry>,
    ) -> Result<(Vec<SummaryEntry>, Vec<TextEntry>)> {
        let mut old_summaries: HashMap<_, _> = old_summaries
            .into_iter()
            .map(|e| ((e.id, e.version), e))
            .collect();
        let mut old_texts: HashMap<_, _> = old_texts
            .into_iter()
            .map(|e| ((e.id, e.version), e))
            .collect();
        let (mut sums, mut texts) = (Vec::new(), Vec::new());
        for key in expected {
            if let (Some(s), Some(t)) = (old_summaries.remove(key), old_texts.remove(key)) {
                sums.push(s);
                texts.push(t);
                continue;
            }
            let (id, version) = *key;
            let row = store::version(conn, &id, version)?.ok_or(Integrity::Corrupt)?;
            let sealed = self.open_meta(&row)?;
            let text = match &sealed.statement {
                None => Text::None,
                Some(info) if info.size > digest::TEXT_MAX => Text::Large,
                Some(info) => Text::Inline(self.read_statement(conn, &row, info)?.0),
            };
            sums.push(SummaryEntry {
                id,
                version,
                summary: Summary::of(&sealed),
            });
            texts.push(TextEntry { id, version, text });
        }
        Ok((sums, texts))
    }

    /// Seals and stores a digest bucket; an empty one is deleted.
    fn write_bucket(
        &self,
        conn: &Connection,
        bucket: u8,
        sums: &[SummaryEntry],
        texts: &[TextEntry],
    ) -> Result<()> {
        let (sums, texts) = if sums.is_empty() {
            (None, None)
        } else {
            let seal = |kind, bytes: &[u8]| {
                crypto::seal_padded(&self.keys.meta, &self.digest_aad(bucket, kind), bytes)
            };
            (
                Some(seal(
                    digest::Kind::Summaries,
                    &digest::encode_summaries(sums),
                )),
                Some(seal(digest::Kind::Texts, &digest::encode_texts(texts))),
            )
        };
        store::set_digest(conn, bucket, digest::Kind::Summaries as u8, sums.as_deref())?;
        store::set_digest(conn, bucket, digest::Kind::Texts as u8, texts.as_deref())
    }

    /// Brings the digest buckets of `records` up to date, in the caller's transaction.
    fn refresh_digest(
        &self,
        conn: &Connection,
        records: impl IntoIterator<Item = RecordId>,
    ) -> Result<()> {
        let buckets: BTreeSet<u8> = records.into_iter().map(|r| digest::bucket(&r)).collect();
        for bucket in buckets {
            let expected = store::bucket_versions(conn, bucket)?;
            let old_sums = self.stored_summaries(conn, bucket)?.unwrap_or_default();
            let old_texts = self.stored_texts(conn, bucket)?.unwrap_or_default();
            let (sums, texts) = self.build_bucket(conn, &expected, old_sums, old_texts)?;
            self.write_bucket(conn, bucket, &sums, &texts)?;
        }
        Ok(())
    }

    /// Opens a version's sealed witness identity; `None` when none was given.
    fn open_identity(&self, row: &VersionRow) -> Result<Option<WitnessIdentity>> {
        let aad = crypto::record_aad(
            "tvault identity v1",
            &self.vault_id,
            &row.record,
            row.version,
        );
        let json = crypto::open_padded(&self.keys.meta, &aad, &row.identity)
            .ok_or(Integrity::Identity(row.record))?;
        let identity: WitnessIdentity =
            serde_json::from_slice(&json).map_err(|_| Integrity::Identity(row.record))?;
        Ok((!identity.is_empty()).then_some(identity))
    }

    fn read_statement(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<Statement> {
        let mut buf = Zeroizing::new(Vec::with_capacity(info.size as usize));
        self.read_part(conn, row, info, &mut *buf)?;
        let text =
            String::from_utf8(std::mem::take(&mut *buf)).map_err(|_| Integrity::PartHash {
                record: row.record,
                part: info.part,
            })?;
        Ok(Statement(Zeroizing::new(text)))
    }

    /// K_wrap bound to a part's place.
    fn part_key(&self, place: PartPlace) -> PartKey<'_> {
        PartKey {
            key: &self.keys.wrap,
            binding: PartBinding {
                vault_id: self.vault_id,
                record: place.record,
                version: place.version,
                part: place.part,
            },
        }
    }

    /// Rekey without re-encryption: gives a part a header that `next` opens, keeping its file
    /// key and payload. Returns the stored file's new length and SHA-256.
    fn rewrap_part(
        &self,
        next: &Session,
        conn: &Connection,
        path: &Path,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<(u64, String)> {
        let place = Self::place(row, info);
        let stored = self.stored_part(conn, row, info)?;
        let header = part::rewrap_header(
            &self.part_key(place),
            &next.part_key(place),
            PartReader::new(conn, stored.clone()),
        )
        .map_err(|e| self.part_error(e, row, info, path))?;
        store::set_part_header(conn, &stored, &header)?;
        let stored = stored.with_header(header);
        let len = stored.header.len() as u64 + stored.payload_len;
        let mut hasher = Sha256::new();
        std::io::copy(&mut PartReader::new(conn, stored), &mut hasher)
            .map_err(|e| from_store_io(e, path))?;
        Ok((len, hex::encode(hasher.finalize())))
    }

    /// Rekey with re-encryption: decrypts a part (checking it against its intake hash) into a
    /// new age file under `next`, with a new file key, and deletes the old one. Returns the
    /// stored file's new length and SHA-256.
    fn reencrypt_part(
        &self,
        next: &Session,
        conn: &Connection,
        path: &Path,
        row: &VersionRow,
        info: &mut PartInfo,
    ) -> Result<(u64, String)> {
        let place = Self::place(row, info);
        let old = self.stored_part(conn, row, info)?;
        let mut plain = self.open_part(conn, row, info)?;
        store::set_part_aside(conn, &old)?;
        let (sealed, writer) = part::encrypt(
            &next.part_key(place),
            &mut plain,
            PartWriter::new(conn, place),
        )
        .map_err(|e| match e {
            EncryptFailure::Read(e) => self.part_error(e, row, info, path),
            EncryptFailure::Write(e) => from_store_io(e, path),
        })?;
        let (len, sha256) = writer.finish()?;
        drop(plain);
        store::delete_part(conn, &old)?;
        if sealed.size != info.size || hex::encode(sealed.sha256) != info.sha256 {
            return Err(Integrity::PartHash {
                record: row.record,
                part: info.part,
            }
            .into());
        }
        info.padded_size = sealed.padded_size;
        Ok((len, hex::encode(sha256)))
    }

    /// Where a part is stored: its own version, or the earlier one it was carried from.
    fn place(row: &VersionRow, info: &PartInfo) -> PartPlace {
        PartPlace {
            record: row.record,
            version: info.stored_at.unwrap_or(row.version),
            part: info.part,
        }
    }

    /// Checks a part's stored length and chunk sequence against the sealed manifest.
    fn stored_part(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<store::StoredPart> {
        let place = Self::place(row, info);
        let stored = if info.stored_len <= SMALL_PART {
            store::load_part(conn, &place)?
        } else {
            store::stored_part(conn, &place)?
        };
        let stored = stored.ok_or(Integrity::PartMissing {
            record: row.record,
            part: info.part,
        })?;
        if !stored.contiguous || stored.header.len() as u64 + stored.payload_len != info.stored_len
        {
            return Err(Integrity::PartLength {
                record: row.record,
                part: info.part,
            }
            .into());
        }
        Ok(stored)
    }

    fn check_part_length(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<()> {
        self.stored_part(conn, row, info).map(|_| ())
    }

    /// The one place content parts are decrypted: a reader of the plaintext. The stored
    /// length is checked against the sealed manifest first, so a truncated part releases
    /// nothing; each chunk is released only once it authenticates (see
    /// [`part::PlainReader`]).
    fn open_part<'c>(
        &self,
        conn: &'c Connection,
        row: &VersionRow,
        info: &PartInfo,
    ) -> Result<part::PlainReader<PartReader<'c>>> {
        let stored = self.stored_part(conn, row, info)?;
        let key = self.part_key(Self::place(row, info));
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&info.sha256, &mut sha256)
            .map_err(|_| Integrity::Metadata(row.record))?;
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        part::open(
            &key,
            PartReader::new(conn, stored),
            info.size,
            info.padded_size,
            &sha256,
        )
        .map_err(|e| self.part_error(e, row, info, &path))
    }

    /// What an I/O error from a part's reader means.
    fn part_error(
        &self,
        e: std::io::Error,
        row: &VersionRow,
        info: &PartInfo,
        path: &Path,
    ) -> Error {
        if e.get_ref().is_some_and(|i| i.is::<part::MismatchError>()) {
            Integrity::PartHash {
                record: row.record,
                part: info.part,
            }
            .into()
        } else if store::is_store_error(&e) {
            from_store_io(e, path)
        } else if e.kind() == std::io::ErrorKind::InvalidData
            || e.kind() == std::io::ErrorKind::UnexpectedEof
        {
            Integrity::Part {
                record: row.record,
                part: info.part,
            }
            .into()
        } else {
            Error::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    }

    /// Decrypts a part into `out` (see [`Session::open_part`]).
    fn read_part(
        &self,
        conn: &Connection,
        row: &VersionRow,
        info: &PartInfo,
        out: &mut dyn Write,
    ) -> Result<()> {
        let mut reader = self.open_part(conn, row, info)?;
        let path = conn.path().map(PathBuf::from).unwrap_or_default();
        let mut buf = Zeroizing::new(vec![0u8; (info.size as usize).clamp(1, 64 * 1024)]);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.part_error(e, row, info, &path)),
            };
            out.write_all(&buf[..n]).map_err(Error::Output)?;
        }
    }
}

impl Filter {
    fn matches(&self, meta: &Metadata) -> bool {
        let eq = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        if let Some(tag) = &self.tag
            && !meta.tags.iter().any(|t| eq(t, tag))
        {
            return false;
        }
        if let Some(w) = &self.witness
            && !eq(&meta.witness, w)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(date) = &meta.date else {
                return false;
            };
            if self.since.as_ref().is_some_and(|s| date < s)
                || self.until.as_ref().is_some_and(|u| date > u)
            {
                return false;
            }
        }
        true
    }
}

/// Listing order: by interview date (intake date when there is none), then intake time, then
/// id. The keys end with the record id, so they are unique: an unstable sort is exact.
fn by_date(a: &RecordSummary, b: &RecordSummary) -> std::cmp::Ordering {
    a.order.cmp(&b.order, || sort_key(a).cmp(&sort_key(b)))
}

/// [`sort_key`] packed into integers, so that sorting 100,000 records compares registers
/// rather than strings spread over the heap: the date and intake time, cut or padded with zero
/// bytes to 10 and 22 bytes (which keeps their order wherever the packed bytes differ), and
/// the id. Where a date or time was cut, records whose packed bytes are equal are compared
/// in full.
#[derive(Default)]
struct OrderKey {
    when: (u128, u128),
    id: u128,
    exact: bool,
}

impl OrderKey {
    fn of(r: &RecordSummary) -> Self {
        let (date, created, id) = sort_key(r);
        let mut packed = [0u8; 32];
        packed[..date.len().min(10)].copy_from_slice(&date.as_bytes()[..date.len().min(10)]);
        packed[10..10 + created.len().min(22)]
            .copy_from_slice(&created.as_bytes()[..created.len().min(22)]);
        let (hi, lo) = packed.split_at(16);
        OrderKey {
            when: (
                u128::from_be_bytes(hi.try_into().expect("16 bytes")),
                u128::from_be_bytes(lo.try_into().expect("16 bytes")),
            ),
            id: u128::from_be_bytes(id.0),
            exact: date.len() <= 10 && created.len() <= 22,
        }
    }

    fn cmp(
        &self,
        other: &Self,
        in_full: impl FnOnce() -> std::cmp::Ordering,
    ) -> std::cmp::Ordering {
        self.when.cmp(&other.when).then_with(|| {
            if self.exact && other.exact {
                self.id.cmp(&other.id)
            } else {
                in_full()
            }
        })
    }
}

/// Merges two vectors each sorted by `order`.
fn merge_sorted<T>(a: Vec<T>, b: Vec<T>, order: impl Fn(&T, &T) -> std::cmp::Ordering) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        let next = if order(x, y).is_le() {
            a.next()
        } else {
            b.next()
        };
        out.extend(next);
    }
    out.extend(a);
    out.extend(b);
    out
}

fn sort_key(r: &RecordSummary) -> (&str, &str, RecordId) {
    let created = r.summary.created_at.as_str();
    let date = r.summary.meta.date.as_ref().map_or_else(
        || created.get(..10).unwrap_or(created),
        InterviewDate::as_str,
    );
    (date, created, r.id)
}

/// The first case-insensitive match of `needle` (already lowercase) in `text`, with about
/// forty characters on each side, on one line.
fn snippet(text: &str, needle: &str) -> Option<Zeroizing<String>> {
    if needle.is_empty() {
        return None;
    }
    let lower = Zeroizing::new(text.to_lowercase());
    let at = lower.find(needle)?;
    // Lowercasing can change lengths; count characters to find the place in the original.
    let first = lower[..at].chars().count();
    let len = needle.chars().count();
    let total = text.chars().count();
    let start = first.saturating_sub(40).min(total);
    let end = (first + len + 40).min(total);
    let mut out = Zeroizing::new(String::new());
    if start > 0 {
        out.push('…');
    }
    let excerpt: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .skip(start)
            .take(end - start)
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect(),
    );
    out.push_str(excerpt.trim());
    if end < total {
        out.push('…');
    }
    Some(out)
}

/// Reads a statement of at most [`STATEMENT_LIMIT`] bytes. The buffer grows by copying into a
/// larger zeroizing one, so no reallocation leaves a copy of the text in freed memory.
fn read_statement_input(reader: &mut dyn Read) -> Result<Zeroizing<Vec<u8>>> {
    let mut text = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(text),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::ReadStatement(e)),
        };
        if (text.len() + n) as u64 > STATEMENT_LIMIT {
            return Err(Error::StatementTooLarge {
                limit: STATEMENT_LIMIT,
            });
        }
        if text.len() + n > text.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity((text.len() + n) * 2));
            bigger.extend_from_slice(&text);
            text = bigger;
        }
        text.extend_from_slice(&buf[..n]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_name_and_its_parts_are_replaced() {
        let (out, changed) = redact(
            "I am Aygul Tursunova. AYGUL is my name; Tursunova my family. Aygulnur is my cousin. Al",
            "Aygul Tursunova",
            "Nightingale",
        );
        assert!(changed);
        assert_eq!(
            out,
            "I am Nightingale. Nightingale is my name; Nightingale my family. Aygulnur is my cousin. Al"
        );
        let (same, changed) = redact("nothing here", "Aygul Tursunova", "N");
        assert!(!changed);
        assert_eq!(same, "nothing here");
    }

    #[test]
    fn media_is_recognised_by_extension() {
        assert_eq!(media_kind("a.M4A"), Some(("audio", true, false)));
        assert_eq!(media_kind("clip.mp4"), Some(("video", true, true)));
        assert_eq!(media_kind("face.jpeg"), Some(("photo", false, true)));
        assert_eq!(media_kind("letter.pdf"), None);
        assert_eq!(media_kind("noextension"), None);
    }

    fn scratch_vault(dir: &Path) -> Vault {
        let passphrase =
            Passphrase::from_bytes(Zeroizing::new(b"scratch vault passphrase".to_vec())).unwrap();
        Vault::create(
            &dir.join("v.tvault"),
            &passphrase,
            &CreateOptions {
                kdf: KdfParams {
                    m_kib: 64,
                    t: 1,
                    p: 1,
                },
                weak_kdf: true,
                operator: "tester",
                anchor_dir: None,
                recovery: None,
            },
        )
        .unwrap()
    }

    fn intake(witness: &str, statement: &'static [u8]) -> Intake<'static> {
        let mut meta = Metadata::default();
        meta.witness = witness.into();
        Intake {
            meta,
            identity: WitnessIdentity::default(),
            statement: Some(Box::new(statement)),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn a_batch_is_stored_whole_or_not_at_all_and_scans_find_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = scratch_vault(dir.path());
        let events = |v: &Vault| store::event_count(v.store.conn()).unwrap();
        let before = events(&vault);
        let err = vault.add_many([intake("A", b"fine"), intake("B", b"\xff\xfe not text")]);
        assert!(matches!(err, Err(Error::StatementNotUtf8)));
        assert_eq!(store::record_count(vault.store.conn()).unwrap(), 0);
        assert_eq!(events(&vault), before);

        let n = 300;
        let ids = vault
            .add_many((0..n).map(|i| intake(&format!("W{i}"), b"the lighthouse keeper")))
            .unwrap();
        assert_eq!(ids.len(), n);
        assert_eq!(
            events(&vault),
            before + n as u64,
            "one event each, one checkpoint"
        );
        // Every record is seen once, whatever share of the table it lies in.
        let listed = vault.list(&Filter::default()).unwrap();
        let mut seen: Vec<RecordId> = listed.iter().map(|r| r.id).collect();
        seen.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(seen, expected);
        assert_eq!(vault.search("LIGHTHOUSE").unwrap().len(), n);
        assert_eq!(vault.search("w299").unwrap().len(), 1);
    }

    #[test]
    fn the_digest_follows_every_write_and_is_rebuilt_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = scratch_vault(dir.path());
        let big: &'static [u8] = Box::leak(
            format!(
                "{} needle-in-a-big-one",
                "x".repeat(digest::TEXT_MAX as usize)
            )
            .into_boxed_str(),
        )
        .as_bytes();
        let mut ids = vault
            .add_many((0..40).map(|i| intake(&format!("W{i}"), b"the lighthouse keeper")))
            .unwrap();
        ids.push(vault.add(intake("Large", big)).unwrap());
        let stored = |v: &Vault| {
            (0..=255u8)
                .filter(|b| store::digest(v.store.conn(), *b, 0).unwrap().is_some())
                .count()
        };
        let buckets: BTreeSet<u8> = ids.iter().map(digest::bucket).collect();
        assert_eq!(stored(&vault), buckets.len(), "writers fill the digest");
        let found = |v: &mut Vault, q: &str| -> Vec<(RecordId, u32)> {
            let mut hits: Vec<_> = v
                .search(q)
                .unwrap()
                .iter()
                .map(|h| (h.record.id, h.record.version))
                .collect();
            hits.sort();
            hits
        };
        assert_eq!(
            found(&mut vault, "needle-in-a-big").len(),
            1,
            "large statements too"
        );

        // An amendment replaces the entry; the old text is no longer found.
        let older = store::digest(vault.store.conn(), digest::bucket(&ids[0]), 1).unwrap();
        let prefix: RecordIdPrefix = ids[0].to_string().parse().unwrap();
        let change = Amendment {
            meta: MetaEdit::default(),
            witness_name: None,
            witness_contact: None,
            statement: Some(Box::new(&b"the harbour master"[..])),
            attachments: Vec::new(),
            remove: Vec::new(),
        };
        vault.amend(&prefix, change).unwrap();
        assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);
        assert_eq!(found(&mut vault, "lighthouse").len(), 39);

        // A shredded record leaves the digest in the same transaction.
        let prefix: RecordIdPrefix = ids[1].to_string().parse().unwrap();
        vault.shred(&prefix, "consent withdrawn").unwrap();
        assert_eq!(found(&mut vault, "lighthouse").len(), 38);
        assert_eq!(vault.list(&Filter::default()).unwrap().len(), 40);

        // Damaged, swapped, missing or outdated buckets are rebuilt from the records, and
        // stored again.
        let expected_list = |v: &mut Vault| {
            let mut l: Vec<_> = v
                .list(&Filter::default())
                .unwrap()
                .iter()
                .map(|r| (r.id, r.version, r.summary.meta.witness.clone()))
                .collect();
            l.sort();
            l
        };
        let before = expected_list(&mut vault);
        let live: BTreeSet<u8> = before.iter().map(|(id, _, _)| digest::bucket(id)).collect();
        let mut b = live.iter().copied();
        let (b1, b2, b3) = (b.next().unwrap(), b.next().unwrap(), b.next().unwrap());
        let conn = vault.store.conn();
        let blob = store::digest(conn, b1, 0).unwrap().unwrap();
        let mut flipped = blob.clone();
        flipped[40] ^= 1;
        store::set_digest(conn, b1, 0, Some(&flipped)).unwrap();
        store::set_digest(conn, b2, 0, Some(&blob)).unwrap();
        store::set_digest(conn, b3, 1, None).unwrap();
        assert_eq!(expected_list(&mut vault), before);
        assert_eq!(found(&mut vault, "lighthouse").len(), 38);
        assert_eq!(stored(&vault), live.len());
        let conn = vault.store.conn();
        assert_ne!(store::digest(conn, b1, 0).unwrap().unwrap(), flipped);
        assert!(store::digest(conn, b3, 1).unwrap().is_some());
        // A bucket's older blob (from before the amendment) opens, but is not current.
        let b0 = digest::bucket(&ids[0]);
        store::set_digest(vault.store.conn(), b0, 1, older.as_deref()).unwrap();
        assert_eq!(found(&mut vault, "lighthouse").len(), 38);
        assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);

        // A rekey clears the digest (sealed under the old key); the next reader rebuilds it.
        let plan = vault.plan_rekey(&[], None).unwrap();
        vault.rekey(plan, false, &mut |_, _| {}).unwrap();
        assert_eq!(stored(&vault), 0);
        assert_eq!(expected_list(&mut vault), before);
        assert_eq!(stored(&vault), live.len());
        assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);
    }

    #[test]
    fn snippets_find_case_insensitively_and_stay_on_one_line() {
        let text = "First line.\nThe SOLDIERS came at night and took him away to the camp.";
        let s = snippet(text, "soldiers").unwrap();
        assert!(s.contains("SOLDIERS came"), "{}", s.as_str());
        assert!(!s.contains('\n'));
        assert!(snippet(text, "tanks").is_none());
        assert!(snippet("İstanbul", "i̇stanbul").is_some());
    }
}
