//! The unlocked keys of a vault: sealing and opening metadata, identities and events, and
//! appending to the custody log with a signed checkpoint and its anchor.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::audit::{self, Action, Checkpoint, Event, Frontier, PartHashes};
use crate::crypto::{self, Key, VaultKeys};
use crate::error::{Error, Integrity, Result};
use crate::record::{PartInfo, RecordId, SealedMeta, WitnessIdentity};
use crate::store::{self, StoredCheckpoint, VersionRow};

use super::{Tombstone, now_rfc3339, ssh_public_key};

/// What an unlocked vault knows: its keys, who unlocked it, and where its anchor is.
pub(super) struct Session {
    pub(super) vault_id: [u8; 16],
    pub(super) keys: VaultKeys,
    pub(super) operator: String,
    /// The keyslot that unlocked the vault, and the key its secret derived.
    pub(super) slot_id: [u8; 16],
    pub(super) kek: std::sync::Arc<Key>,
    pub(super) signing: SigningKey,
    /// The personal key of the operator who unlocked (never of another operator): it signs
    /// every event this session appends. `None` for the recovery code and custodians.
    pub(super) operator_signing: Option<SigningKey>,
    /// The anchor file, when the caller keeps one.
    pub(super) anchor: Option<PathBuf>,
    /// On a field kit: headquarters' recipient and key. Content and metadata are then
    /// sealed to headquarters, and nothing that was recorded can be opened.
    pub(super) kit: Option<Box<super::field::FieldKit>>,
}

/// Events signed, hashed and sealed ([`Session::seal_events`]), numbered from `first`, not
/// stored yet.
pub(super) struct SealedEvents {
    first: u64,
    events: Vec<(u64, audit::Hash, Vec<u8>)>,
}

/// An event about to be appended.
pub(super) struct Draft {
    pub(super) action: Action,
    pub(super) record: Option<RecordId>,
    pub(super) version: Option<u32>,
    pub(super) parts: Vec<PartHashes>,
    pub(super) detail: Option<serde_json::Value>,
}

impl Draft {
    pub(super) fn new(action: Action) -> Self {
        Draft {
            action,
            record: None,
            version: None,
            parts: Vec::new(),
            detail: None,
        }
    }

    pub(super) fn on(mut self, record: RecordId, version: u32) -> Self {
        self.record = Some(record);
        self.version = Some(version);
        self
    }

    pub(super) fn parts<'p>(mut self, parts: impl IntoIterator<Item = &'p PartInfo>) -> Self {
        self.parts = parts.into_iter().map(part_hashes).collect();
        self
    }

    pub(super) fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

pub(super) fn part_hashes(p: &PartInfo) -> PartHashes {
    PartHashes {
        part: p.part,
        sha256: p.sha256.clone(),
        stored_sha256: p.stored_sha256.clone(),
    }
}

/// An operator's personal public key as an OpenSSH line (comment `tvault-operator`: names
/// are people's names and stay sealed) and its SHA-256 fingerprint.
pub fn operator_ssh_key(public: &[u8; 32]) -> (String, String) {
    let key = ssh_key::PublicKey::new(
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(*public)),
        "tvault-operator",
    );
    (
        key.to_openssh().expect("an Ed25519 key encodes as OpenSSH"),
        key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
    )
}

pub(super) fn signing_aad(vault_id: &[u8; 16]) -> Vec<u8> {
    crypto::aad("tvault signing key v1", &[vault_id])
}

impl Session {
    pub(super) fn tombstone_aad(&self, id: &RecordId) -> Vec<u8> {
        crypto::aad("tvault tombstone v1", &[&self.vault_id, id.as_bytes()])
    }

    pub(super) fn open_tombstone(&self, id: &RecordId, sealed: &[u8]) -> Result<Tombstone> {
        let json = crypto::open_padded(&self.keys.meta, &self.tombstone_aad(id), sealed)
            .ok_or(Integrity::Metadata(*id))?;
        serde_json::from_slice(&json).map_err(|_| Integrity::Metadata(*id).into())
    }

    /// The operator's personal key as an OpenSSH line and its fingerprint, if they have one.
    pub(super) fn operator_public(&self) -> Option<(String, String)> {
        self.operator_signing
            .as_ref()
            .map(|k| operator_ssh_key(&k.verifying_key().to_bytes()))
    }

    pub(super) fn fingerprint(&self) -> String {
        ssh_public_key(&self.vault_id, &self.signing.verifying_key()).1
    }

    pub(super) fn store_signing_key(&self, conn: &Connection) -> Result<()> {
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

    pub(super) fn event_aad(&self, seq: u64) -> Vec<u8> {
        crypto::aad("tvault event v1", &[&self.vault_id, &seq.to_be_bytes()])
    }

    /// Appends events to the log inside the caller's transaction, raises or ends the heads
    /// they change, signs the new checkpoint and re-signs the header. The stored tree edge
    /// must cover exactly the stored events.
    pub(super) fn append(&self, conn: &Connection, drafts: Vec<Draft>) -> Result<Checkpoint> {
        self.append_after(conn, drafts, &self.signing.verifying_key())
    }

    /// [`Session::append`], where the stored checkpoint was signed by `prior` (the key before
    /// a rotation; otherwise the session's own).
    pub(super) fn append_after(
        &self,
        conn: &Connection,
        drafts: Vec<Draft>,
        prior: &ed25519_dalek::VerifyingKey,
    ) -> Result<Checkpoint> {
        let events = self.seal_events(store::event_count(conn)?, &drafts);
        self.append_sealed_after(conn, &drafts, events, prior)
    }

    /// The events of `drafts`, numbered from `first` and stamped now: each signed, hashed and
    /// sealed, on every core (an import logs one per record). For
    /// [`Session::append_sealed`], which checks that they are numbered where the log ends.
    pub(super) fn seal_events(&self, first: u64, drafts: &[Draft]) -> SealedEvents {
        let time = now_rfc3339();
        let drafts: Vec<(u64, &Draft)> = (first..).zip(drafts).collect();
        let events = super::cores::map_in_order(drafts, 64, |(seq, draft)| {
            let mut event = Event {
                seq,
                time: time.clone(),
                operator: self.operator.clone(),
                action: draft.action,
                record: draft.record.map(|r| r.to_string()),
                version: draft.version,
                parts: draft.parts.clone(),
                detail: draft.detail.clone(),
                salt: hex::encode(crypto::random_array::<16>()),
                operator_sig: None,
            };
            if let Some(key) = &self.operator_signing {
                event.sign_operator(&self.vault_id, key);
            }
            let leaf = event.leaf();
            let sealed = crypto::seal_padded(&self.keys.meta, &self.event_aad(seq), &leaf);
            (seq, audit::leaf_hash(&leaf), sealed)
        });
        SealedEvents { first, events }
    }

    /// [`Session::append`] of events [`Session::seal_events`] made of `drafts`.
    pub(super) fn append_sealed(
        &self,
        conn: &Connection,
        drafts: &[Draft],
        events: SealedEvents,
    ) -> Result<Checkpoint> {
        self.append_sealed_after(conn, drafts, events, &self.signing.verifying_key())
    }

    fn append_sealed_after(
        &self,
        conn: &Connection,
        drafts: &[Draft],
        events: SealedEvents,
        prior: &ed25519_dalek::VerifyingKey,
    ) -> Result<Checkpoint> {
        let count = store::event_count(conn)?;
        let mut frontier = match store::checkpoint(conn)? {
            Some(cp) => {
                // Never extend a log whose last checkpoint is not ours, or does not match the
                // tree edge it was stored with: a new signature would hide the damage.
                let signed = Checkpoint::verify(&cp.note, prior)
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
        // Numbered where the log ends (nothing was logged since they were sealed in this
        // transaction), one for each draft.
        if events.first != count || events.events.len() != drafts.len() {
            return Err(
                Integrity::Log("events were sealed for another place in the log".into()).into(),
            );
        }
        self.apply_heads(conn, drafts)?;
        for (seq, hash, sealed) in events.events {
            store::insert_event(conn, seq, &hash, &sealed)?;
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
        // From the first anchor on, a missing anchor stops the vault from opening.
        if self.anchor.is_some() && !store::anchored(conn)? {
            store::set_anchored(conn)?;
        }
        self.update_header_mac(conn)?;
        Ok(cp)
    }

    /// Copies a committed checkpoint to the anchor file.
    pub(super) fn write_anchor(&self, cp: &Checkpoint) -> Result<()> {
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
    pub(super) fn open_event(&self, seq: u64, leaf: &[u8], sealed: &[u8]) -> Result<Event> {
        self.open_event_json(seq, leaf, sealed)
            .map(|(event, _)| event)
    }

    /// [`Session::open_event`], with the exact bytes that were hashed into its leaf.
    pub(super) fn open_event_json(
        &self,
        seq: u64,
        leaf: &[u8],
        sealed: &[u8],
    ) -> Result<(Event, Zeroizing<Vec<u8>>)> {
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
        Ok((event, json))
    }

    /// Seals a version's manifest and identity (the identity even when empty, so the file
    /// does not tell which records name a witness).
    pub(super) fn seal_version(
        &self,
        record: RecordId,
        version: u32,
        sealed: &SealedMeta,
        identity: &WitnessIdentity,
    ) -> VersionRow {
        let meta_json = Zeroizing::new(serde_json::to_vec(sealed).expect("metadata serialises"));
        let identity_json =
            Zeroizing::new(serde_json::to_vec(identity).expect("identity serialises"));
        // On a field kit, both are sealed to headquarters; the kit cannot open them again.
        if let Some(kit) = &self.kit {
            return VersionRow {
                record,
                version,
                meta: Session::seal_to_hq(kit, &meta_json),
                identity: Session::seal_to_hq(kit, &identity_json),
            };
        }
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
    pub(super) fn open_meta(&self, row: &VersionRow) -> Result<SealedMeta> {
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

    /// A version's intake hashes ([`crate::record::SealedHashes::intake_hashes`]), from its sealed metadata
    /// authenticated as [`Session::open_meta`] does, without parsing the rest.
    pub(super) fn open_intake_hashes(
        &self,
        row: &VersionRow,
    ) -> Result<std::collections::BTreeMap<u32, String>> {
        let aad = crypto::record_aad("tvault meta v1", &self.vault_id, &row.record, row.version);
        let json = crypto::open_padded(&self.keys.meta, &aad, &row.meta)
            .ok_or(Integrity::Metadata(row.record))?;
        let sealed: crate::record::SealedHashes =
            serde_json::from_slice(&json).map_err(|_| Integrity::Metadata(row.record))?;
        if sealed.layout() != SealedMeta::VERSION {
            return Err(Integrity::Metadata(row.record).into());
        }
        Ok(sealed.intake_hashes())
    }

    /// Opens a version's sealed witness identity; `None` when none was given.
    pub(super) fn open_identity(&self, row: &VersionRow) -> Result<Option<WitnessIdentity>> {
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
}
