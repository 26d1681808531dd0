//! The field kit's side: what a kit knows of headquarters, sealing what it records to it,
//! and `list`, `verify`, `kit send` and `kit confirm` on a kit.
//!
//! A kit holds no key that opens what it records: every part, every metadata and identity
//! blob is an age file to headquarters' X25519 recipient. Its own keys (unlocked by the kit
//! passphrase) seal its log and sign it. So the kit's log never holds a plaintext hash
//! either: events name each record's sealed files (length and SHA-256 of the ciphertext),
//! since a hash of a known file would let whoever coerces the passphrase confirm that the
//! kit recorded it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{self, Action, Event};
use crate::bundle::kit::{
    KIT_MANIFEST_ENTRY, KitBundleWriter, KitManifest, RECEIPT_FORMAT, SealedFile, SealedPart,
    SealedRecord, Signed,
};
use crate::crypto;
use crate::error::{Error, Integrity, Result};
use crate::record::{PartInfo, RecordId};
use crate::store::{self, PartPlace, PartReader, VersionRow};

use super::{Draft, Session, Tombstone, Vault, VerifyReport, from_store_io, now_rfc3339};

/// What a kit knows of headquarters, sealed under the kit's K_meta in its vault row.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct KitSide {
    pub(super) name: String,
    pub(super) hq_vault_id: String,
    /// Headquarters' Ed25519 signing key (hex), which signs receipts.
    pub(super) hq_signing_public: String,
    /// The age X25519 recipient every record is sealed to.
    pub(super) hq_recipient: String,
    pub(super) created_at: String,
}

/// A kit's side, parsed.
pub(super) struct FieldKit {
    pub(super) side: KitSide,
    pub(super) recipient: age::x25519::Recipient,
    pub(super) hq_key: VerifyingKey,
    pub(super) hq_vault_id: [u8; 16],
}

impl FieldKit {
    pub(super) fn new(side: &KitSide) -> Result<Self> {
        let bad = || Error::from(Integrity::Corrupt);
        let key: [u8; 32] = hex::decode(&side.hq_signing_public)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        Ok(FieldKit {
            side: side.clone(),
            recipient: side.hq_recipient.parse().map_err(|_| bad())?,
            hq_key: VerifyingKey::from_bytes(&key).map_err(|_| bad())?,
            hq_vault_id: hex::decode(&side.hq_vault_id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)?,
        })
    }
}

/// One record as `list` shows it on a kit: all a kit can know.
#[derive(Debug, Serialize)]
pub struct KitRecord {
    pub id: String,
    /// When it was recorded, by the kit's clock.
    pub recorded_at: String,
    /// Bytes stored: every sealed file of it, padded.
    pub stored_size: u64,
    /// Whether a bundle holding it was made (it stays until a receipt confirms it).
    pub sent: bool,
}

/// What `kit send` wrote.
#[derive(Debug, Serialize)]
pub struct KitSendSummary {
    pub path: PathBuf,
    pub records: usize,
    pub bytes: u64,
}

/// What `kit confirm` did.
#[derive(Debug, Default, Serialize)]
pub struct KitConfirmSummary {
    /// Records deleted from the kit: headquarters holds them.
    pub deleted: Vec<String>,
    /// Records the receipt names that were deleted before.
    pub already_deleted: usize,
    /// Records the receipt names whose sealed files differ from what the kit holds, or that
    /// the kit never held: kept.
    pub not_matched: Vec<String>,
    /// The kit held nothing more, so it deleted its log and began a new one.
    pub log_restarted: bool,
}

/// The kit's log, read for what it says of each record.
pub(super) struct KitLog {
    events: Vec<(Event, Zeroizing<Vec<u8>>)>,
    /// Each record's intake event: time and sealed files.
    pub(super) added: BTreeMap<String, (String, SealedRecord)>,
    sent: BTreeSet<String>,
}

impl Session {
    fn kit_side_aad(&self) -> Vec<u8> {
        crypto::aad("tvault kit v1", &[&self.vault_id])
    }

    pub(super) fn seal_kit_side(&self, side: &KitSide) -> Vec<u8> {
        let json = serde_json::to_vec(side).expect("a kit side serialises");
        crypto::seal_padded(&self.keys.meta, &self.kit_side_aad(), &json)
    }

    pub(super) fn open_kit_side(&self, sealed: &[u8]) -> Result<KitSide> {
        let json = crypto::open_padded(&self.keys.meta, &self.kit_side_aad(), sealed)
            .ok_or(Integrity::HeaderMac)?;
        serde_json::from_slice(&json).map_err(|_| Integrity::HeaderMac.into())
    }

    /// The kit, or the refusal every reading command gives on one.
    pub(super) fn readable(&self) -> Result<()> {
        match self.kit {
            Some(_) => Err(Error::FieldKit),
            None => Ok(()),
        }
    }

    fn field_kit(&self) -> Result<&FieldKit> {
        self.kit.as_deref().ok_or(Error::NotAFieldKit)
    }

    /// Seals a small document (metadata, identity) to headquarters: padded with spaces (valid
    /// JSON whitespace) so its length shows only its size class.
    pub(super) fn seal_to_hq(kit: &FieldKit, json: &[u8]) -> Vec<u8> {
        let mut padded = Zeroizing::new(Vec::with_capacity(json.len()));
        padded.extend_from_slice(json);
        padded.resize(crypto::padded_len(json.len() as u64) as usize, b' ');
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&kit.recipient as &dyn age::Recipient))
                .expect("one recipient is a valid recipient set");
        let mut out = Vec::with_capacity(padded.len() + 256);
        let mut writer = encryptor
            .wrap_output(&mut out)
            .expect("writing to memory cannot fail");
        writer
            .write_all(&padded)
            .and_then(|()| writer.finish().map(drop))
            .expect("writing to memory cannot fail");
        out
    }

    /// What a kit logs of a record it took in: its sealed files.
    pub(super) fn sealed_record(row: &VersionRow, parts: &[&PartInfo]) -> SealedRecord {
        let file = |bytes: &[u8]| SealedFile {
            len: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        };
        SealedRecord {
            id: row.record.to_string(),
            version: row.version,
            meta: file(&row.meta),
            identity: file(&row.identity),
            parts: parts
                .iter()
                .map(|p| SealedPart {
                    part: p.part,
                    len: p.stored_len,
                    sha256: p.stored_sha256.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The kit's log, checked against its signed checkpoint.
    pub(super) fn kit_log(&self, conn: &rusqlite::Connection) -> Result<KitLog> {
        self.checked_events(conn)?;
        let mut events = Vec::new();
        for row in store::events(conn)? {
            events.push(self.open_event_json(row.seq, &row.leaf_hash, &row.sealed)?);
        }
        let mut added = BTreeMap::new();
        let mut sent = BTreeSet::new();
        for (e, _) in &events {
            match e.action {
                Action::RecordAdded => {
                    let sealed = e
                        .detail
                        .as_ref()
                        .and_then(|d| d.get("sealed"))
                        .and_then(|s| serde_json::from_value::<SealedRecord>(s.clone()).ok())
                        .ok_or_else(|| {
                            Integrity::Log(format!(
                                "event {} does not name its sealed files",
                                e.seq
                            ))
                        })?;
                    added.insert(sealed.id.clone(), (e.time.clone(), sealed));
                }
                Action::KitSent => {
                    let ids = e.detail.as_ref().and_then(|d| d.get("records"));
                    for id in ids.and_then(|v| v.as_array()).into_iter().flatten() {
                        sent.insert(id.as_str().unwrap_or_default().to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(KitLog {
            events,
            added,
            sent,
        })
    }
}

impl Session {
    /// On a kit whose log was restarted, whether the anchor holds the checkpoint of the log
    /// the restart replaced: the restart was committed and the process stopped before the
    /// anchor was rewritten, so the new log holds that one event. The anchor is rewritten at
    /// the next change.
    pub(super) fn restarted_from_anchor(&self, conn: &rusqlite::Connection, anchor: &Path) -> bool {
        let Some(first) = self.kit.as_ref().and_then(|_| {
            let rows = store::events(conn).ok()?;
            let [row] = rows.as_slice() else {
                return None;
            };
            self.open_event(row.seq, &row.leaf_hash, &row.sealed).ok()
        }) else {
            return false;
        };
        let Ok(text) = std::fs::read(anchor) else {
            return false;
        };
        first.action == Action::KitLogRestarted
            && first
                .detail
                .as_ref()
                .and_then(|d| d.get("previous_checkpoint_sha256"))
                .and_then(|v| v.as_str())
                == Some(hex::encode(Sha256::digest(&text)).as_str())
    }
}

/// Whether the file at `path` is a field kit; reads its plaintext only.
pub fn is_field_kit(path: &Path) -> Result<bool> {
    let store = store::Store::open(path)?;
    Ok(store::kit_column(store.conn())?.is_some())
}

/// Hashes and counts what passes through it.
pub(super) struct Hashing<R> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
    pub(super) len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

impl Vault {
    /// Whether this is a field kit.
    pub fn is_kit(&self) -> bool {
        self.s.kit.is_some()
    }

    /// On a kit: the kit's name and headquarters' signing key fingerprint.
    pub fn kit_description(&self) -> Option<(String, String)> {
        self.s.kit.as_ref().map(|k| {
            (
                k.side.name.clone(),
                super::ssh_public_key(&k.hq_vault_id, &k.hq_key).1,
            )
        })
    }

    /// On a kit: every record it holds, with what the kit can know of it; logged.
    pub fn kit_records(&mut self) -> Result<Vec<KitRecord>> {
        self.s.field_kit()?;
        let conn = self.store.conn();
        let log = self.s.kit_log(conn)?;
        self.s.check_all(conn)?;
        let mut out = Vec::new();
        for row in store::current_versions(conn)? {
            let id = row.record.to_string();
            let (recorded_at, _) = log
                .added
                .get(&id)
                .ok_or(Integrity::LogDisagrees(row.record))?;
            let parts: u64 = store::stored_lengths(conn, &row.record, row.version)?
                .iter()
                .map(|(_, len)| len)
                .sum();
            out.push(KitRecord {
                sent: log.sent.contains(&id),
                recorded_at: recorded_at.clone(),
                stored_size: parts + row.meta.len() as u64 + row.identity.len() as u64,
                id,
            });
        }
        out.sort_by(|a, b| a.recorded_at.cmp(&b.recorded_at).then(a.id.cmp(&b.id)));
        self.record(vec![
            Draft::new(Action::RecordsListed).detail(serde_json::json!({ "records": out.len() })),
        ])?;
        Ok(out)
    }

    /// On a kit: every check that needs no key to the content. The log against its signed
    /// checkpoint, the records against the log, and every sealed file against the length and
    /// hash logged at intake. Content cannot be checked here: it is sealed to headquarters.
    pub fn verify_kit(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
        self.s.field_kit()?;
        let conn = self.store.conn();
        let mut report = VerifyReport::default();
        if let Some(problem) = store::integrity_check(conn)? {
            report
                .failures
                .push(format!("SQLite integrity check: {problem}"));
        }
        let log = match self.s.kit_log(conn) {
            Ok(log) => log,
            Err(e) => {
                report.failures.push(e.to_string());
                return Ok(report);
            }
        };
        report.events = log.events.len() as u64;
        if let Err(e) = self.s.check_all(conn) {
            report.failures.push(e.to_string());
        }
        let rows = store::current_versions(conn)?;
        for (i, row) in rows.iter().enumerate() {
            progress(i as u64, rows.len() as u64);
            report.records += 1;
            report.versions += 1;
            let id = row.record.to_string();
            let Some((_, logged)) = log.added.get(&id) else {
                report
                    .failures
                    .push(Integrity::LogDisagrees(row.record).to_string());
                continue;
            };
            if let Err(e) = self.check_sealed(conn, row, logged, &mut report) {
                report.failures.push(e.to_string());
            }
        }
        progress(rows.len() as u64, rows.len() as u64);
        report.notes.push(
            "this is a field kit: what it recorded is sealed to headquarters, so only the sealed files were checked (their lengths and hashes against the kit's log), not the content"
                .into(),
        );
        self.record(vec![Draft::new(Action::Verified).detail(
            serde_json::json!({
                "failures": report.failures.len(),
                "records": report.records,
                "field_kit": true,
            }),
        )])?;
        Ok(report)
    }

    /// Checks one record's stored sealed files against what the log says of them.
    fn check_sealed(
        &self,
        conn: &rusqlite::Connection,
        row: &VersionRow,
        logged: &SealedRecord,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let here = Session::sealed_record(row, &[]);
        if here.meta != logged.meta {
            report
                .failures
                .push(Integrity::Metadata(row.record).to_string());
        }
        if here.identity != logged.identity {
            report
                .failures
                .push(Integrity::Identity(row.record).to_string());
        }
        let stored = store::stored_lengths(conn, &row.record, row.version)?;
        let numbers: Vec<u32> = stored.iter().map(|(p, _)| *p).collect();
        let expected: Vec<u32> = logged.parts.iter().map(|p| p.part).collect();
        if numbers != expected {
            report.failures.push(format!(
                "record {}: its parts differ from its intake event",
                row.record
            ));
            return Ok(());
        }
        for part in &logged.parts {
            report.parts += 1;
            let (len, sha256) = self.hash_stored_part(conn, row.record, row.version, part.part)?;
            report.bytes += len;
            if len != part.len || sha256 != part.sha256 {
                report.failures.push(
                    Integrity::PartHash {
                        record: row.record,
                        part: part.part,
                    }
                    .to_string(),
                );
            }
        }
        Ok(())
    }

    fn hash_stored_part(
        &self,
        conn: &rusqlite::Connection,
        record: RecordId,
        version: u32,
        part: u32,
    ) -> Result<(u64, String)> {
        let place = PartPlace {
            record,
            version,
            part,
        };
        let stored =
            store::stored_part(conn, &place)?.ok_or(Integrity::PartMissing { record, part })?;
        let mut reader = Hashing {
            inner: PartReader::new(conn, stored),
            hasher: Sha256::new(),
            len: 0,
        };
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| from_store_io(e, self.store.path()))?;
        Ok((reader.len, hex::encode(reader.hasher.finalize())))
    }

    /// On a kit: writes a bundle of every record not yet confirmed, for headquarters. The
    /// send is logged first, so the bundle's checkpoint covers it; a send that does not
    /// finish leaves no bundle and loses nothing (records stay until a receipt confirms them).
    /// Every sealed file is checked against the log as it is copied.
    pub fn kit_send(&mut self, out: &Path) -> Result<KitSendSummary> {
        let kit_id = self.s.vault_id;
        let hq = hex::encode(self.s.field_kit()?.hq_vault_id);
        if out.exists() {
            return Err(Error::Io {
                path: out.to_owned(),
                source: std::io::ErrorKind::AlreadyExists.into(),
            });
        }
        let rows = store::current_versions(self.store.conn())?;
        if rows.is_empty() {
            return Err(Error::NothingToSend);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.record.to_string()).collect();
        self.s.check_all(self.store.conn())?;
        self.record(vec![Draft::new(Action::KitSent).detail(
            serde_json::json!({
                "records": ids,
            }),
        )])?;

        let conn = self.store.conn();
        let log = self.s.kit_log(conn)?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let (_, sealed) = log
                .added
                .get(&row.record.to_string())
                .ok_or(Integrity::LogDisagrees(row.record))?;
            records.push(sealed.clone());
        }
        let checkpoint = store::checkpoint(conn)?
            .ok_or_else(|| Integrity::Log("the custody log has no checkpoint".into()))?;
        let manifest = KitManifest {
            format: crate::bundle::kit::KIT_FORMAT.trim_end().to_owned(),
            kit_id: hex::encode(kit_id),
            hq_vault_id: hq,
            sent_at: now_rfc3339(),
            checkpoint: checkpoint.note,
            events: log
                .events
                .iter()
                .map(|(_, json)| String::from_utf8_lossy(json).into_owned())
                .collect(),
            records,
        };
        let signed = Signed::sign_manifest(&manifest, &self.s.signing).to_json();
        let kit = self.s.field_kit()?;
        let sealed_manifest = Session::seal_to_hq(kit, signed.as_bytes());

        let io = |e: std::io::Error| Error::Io {
            path: out.to_owned(),
            source: e,
        };
        let mut writer = KitBundleWriter::create(out).map_err(io)?;
        writer
            .add(
                KIT_MANIFEST_ENTRY,
                sealed_manifest.len() as u64,
                sealed_manifest.as_slice(),
            )
            .map_err(io)?;
        let mut bytes = 0u64;
        for (row, sealed) in rows.iter().zip(&manifest.records) {
            let files = sealed.files();
            writer
                .add(&files[0].0, row.meta.len() as u64, row.meta.as_slice())
                .map_err(io)?;
            writer
                .add(
                    &files[1].0,
                    row.identity.len() as u64,
                    row.identity.as_slice(),
                )
                .map_err(io)?;
            if Session::sealed_record(row, &[]).meta != sealed.meta
                || Session::sealed_record(row, &[]).identity != sealed.identity
            {
                return Err(Integrity::Metadata(row.record).into());
            }
            for (part, (name, len, sha256)) in sealed.parts.iter().zip(&files[2..]) {
                let place = PartPlace {
                    record: row.record,
                    version: row.version,
                    part: part.part,
                };
                let broken = Integrity::PartHash {
                    record: row.record,
                    part: part.part,
                };
                let stored = store::stored_part(conn, &place)?.ok_or(broken.clone())?;
                if !stored.contiguous || stored.header.len() as u64 + stored.payload_len != *len {
                    return Err(broken.into());
                }
                let mut reader = Hashing {
                    inner: PartReader::new(conn, stored),
                    hasher: Sha256::new(),
                    len: 0,
                };
                writer
                    .add(name, *len, &mut reader)
                    .map_err(|e| from_store_io(e, out))?;
                if reader.len != *len || hex::encode(reader.hasher.finalize()) != *sha256 {
                    return Err(broken.into());
                }
                bytes += len;
            }
        }
        writer.finish().map_err(io)?;
        Ok(KitSendSummary {
            path: out.to_owned(),
            records: rows.len(),
            bytes,
        })
    }

    /// On a kit: checks a receipt against headquarters' key (pinned at `kit create`, or a key
    /// it signed over to), then deletes each record it names whose sealed files are exactly
    /// the ones this kit logged, in one transaction, leaving a tombstone of its id and
    /// hashes. A receipt that does not verify deletes nothing.
    pub fn kit_confirm(&mut self, receipt: &[u8]) -> Result<KitConfirmSummary> {
        let kit = self.s.field_kit()?;
        let bad = |why: &str| Error::KitCheck {
            what: "the receipt",
            why: why.to_owned(),
        };
        let signed: Signed =
            serde_json::from_slice(receipt).map_err(|_| bad("it is not a tvault kit receipt"))?;
        let rotations = hex::decode(&signed.rotations)
            .ok()
            .and_then(|b| audit::Rotation::parse_all(&b))
            .ok_or_else(|| bad("its key rotations cannot be read"))?;
        // Only the newest key the chain leads to may sign: a key headquarters rotated away
        // from (perhaps because it leaked) signs nothing the kit accepts once the kit has seen
        // the rotation, and the kit pins the newest key it has seen.
        let newest = *audit::keys_from(&kit.hq_key, &rotations)
            .last()
            .expect("the chain starts at the pinned key");
        let body = signed
            .receipt(&newest)
            .ok_or_else(|| bad("it is not signed by the headquarters this kit was made for"))?;
        if body.format != RECEIPT_FORMAT
            || body.kit_id != hex::encode(self.s.vault_id)
            || body.hq_vault_id != hex::encode(kit.hq_vault_id)
        {
            return Err(bad("it is for another kit"));
        }
        let receipt_sha256 = hex::encode(Sha256::digest(receipt));
        let repin = (newest != kit.hq_key).then(|| KitSide {
            hq_signing_public: hex::encode(newest.as_bytes()),
            ..kit.side.clone()
        });
        let tx = self.store.write()?;
        if let Some(side) = &repin {
            store::set_kit_column(&tx, &self.s.seal_kit_side(side))?;
        }
        let log = self.s.kit_log(&tx)?;
        // The log the receipt names must be this kit's own (a prefix of its log).
        let mut receipt_root = [0u8; 32];
        hex::decode_to_slice(&body.kit_log_root, &mut receipt_root)
            .map_err(|_| bad("its log root cannot be read"))?;
        let leaves = store::leaf_hashes(&tx, body.kit_log_size)?;
        if leaves.len() as u64 != body.kit_log_size || audit::root(&leaves) != receipt_root {
            return Err(bad(
                "it names a log this kit does not have (a receipt for another copy of the kit, or for an earlier log it has since restarted)",
            ));
        }
        let mut summary = KitConfirmSummary::default();
        let mut drafts = Vec::new();
        let tombstones: BTreeSet<RecordId> = store::tombstones(&tx)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for held in &body.records {
            let Some((_, logged)) = log.added.get(&held.id) else {
                summary.not_matched.push(held.id.clone());
                continue;
            };
            let id = hex::decode(&held.id)
                .ok()
                .and_then(|b| b.try_into().ok())
                .map(RecordId)
                .ok_or_else(|| bad("a record id is malformed"))?;
            let Some(row) = store::current_version(&tx, &id)? else {
                if tombstones.contains(&id) && logged == held {
                    summary.already_deleted += 1;
                } else {
                    summary.not_matched.push(held.id.clone());
                }
                continue;
            };
            if logged != held || row.version != held.version {
                summary.not_matched.push(held.id.clone());
                continue;
            }
            self.s.check_version(&tx, &row)?;
            let tombstone = Tombstone {
                record: held.id.clone(),
                shredded_at: now_rfc3339(),
                operator: self.s.operator.clone(),
                reason: format!("delivered to headquarters (receipt {receipt_sha256})"),
                versions: Vec::new(),
                sealed: Some(held.clone()),
            };
            let json =
                Zeroizing::new(serde_json::to_vec(&tombstone).expect("tombstones serialise"));
            store::delete_record(&tx, &id)?;
            store::insert_tombstone(
                &tx,
                &id,
                &crypto::seal_padded(&self.s.keys.meta, &self.s.tombstone_aad(&id), &json),
            )?;
            drafts.push(
                Draft::new(Action::RecordDelivered)
                    .on(id, row.version)
                    .detail(serde_json::json!({ "receipt_sha256": receipt_sha256 })),
            );
            summary.deleted.push(held.id.clone());
        }
        drafts.push(Draft::new(Action::KitConfirmed).detail(serde_json::json!({
            "receipt_sha256": receipt_sha256,
            "hq_key_now_pinned": repin.as_ref().map(|s| s.hq_signing_public.clone()),
            "deleted": summary.deleted.len(),
            "already_deleted": summary.already_deleted,
            "not_matched": summary.not_matched,
            "hq_issued_at": body.issued_at,
        })));
        // Headquarters holds everything this kit recorded: the log, tombstones and heads go
        // too, so that a coerced passphrase shows nothing of what was recorded before. The new
        // log begins by naming the one it continues, for headquarters alone to recognise.
        if !store::has_records(&tx)? {
            let previous = store::checkpoint(&tx)?
                .map(|cp| hex::encode(Sha256::digest(cp.note.as_bytes())))
                .unwrap_or_default();
            store::clear_log(&tx)?;
            store::clear_tombstones(&tx)?;
            store::clear_heads(&tx)?;
            summary.log_restarted = true;
            drafts =
                vec![Draft::new(Action::KitLogRestarted).detail(serde_json::json!({
                "continues": crate::bundle::kit::continuation(body.kit_log_size, &receipt_root),
                // For the anchor, should the process stop before it is rewritten.
                "previous_checkpoint_sha256": previous,
            }))];
        }
        let cp = self.s.append(&tx, drafts)?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        if let Some(side) = &repin {
            self.s.kit = Some(Box::new(FieldKit::new(side)?));
        }
        Ok(summary)
    }
}
