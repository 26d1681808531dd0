//! `import` of a field kit's bundle at headquarters, and the receipt that answers it.
//!
//! Trust comes from what headquarters pinned at `kit create`, never from the bundle: the
//! manifest must open with one of this vault's kit identities, be signed by that kit's key,
//! carry the kit's whole log under a checkpoint signed by the same key, and that log must
//! extend the one imported from the kit before. Each record's sealed files must be the ones
//! the kit logged at intake, and its content must match the hashes sealed with it. Nothing is
//! committed unless all of it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{self, Action, Checkpoint, Event};
use crate::bundle::kit::{
    KIT_FORMAT, KIT_FORMAT_ENTRY, KIT_MANIFEST_ENTRY, KitManifest, KitReceipt, MANIFEST_LIMIT,
    RECEIPT_FORMAT, SMALL_SEALED_LIMIT, SealedRecord, Signed,
};
use crate::crypto::part;
use crate::error::{Error, ImportRefusal, Result};
use crate::progress::{Counted, Tally};
use crate::record::{KitOrigin, PartInfo, RecordId, SealedMeta, WitnessIdentity};
use crate::store::{self, PartPlace};

use super::field::Hashing;
use super::kit::{ImportMark, KitRow};
use super::{Draft, Vault, now_rfc3339, read_statement_input, ssh_public_key};

/// What an import of a kit bundle may accept beyond the rules.
#[derive(Debug, Default, Clone, Copy)]
pub struct KitImportOptions<'a> {
    /// Accept a bundle from a revoked kit, logging this reason.
    pub accept_revoked: Option<&'a str>,
}

/// What an import of a kit bundle took in, and the receipt for the kit.
#[derive(Debug, Serialize)]
pub struct KitImportSummary {
    pub kit: String,
    pub kit_id: String,
    /// Records added to this vault.
    pub imported: Vec<String>,
    /// Records of the bundle already here (an earlier import), or shredded here since.
    pub held: usize,
    /// The size of the kit's log the bundle carried.
    pub kit_log_size: u64,
    /// The receipt, signed by this vault, for `kit confirm` on the kit.
    #[serde(skip)]
    pub receipt: String,
}

fn refused(why: impl Into<String>) -> Error {
    Error::KitCheck {
        what: "the kit bundle",
        why: why.into(),
    }
}

/// The next entry of the bundle, which must be a regular file named `name`.
fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    name: &str,
    end: &mut u64,
) -> Result<tar::Entry<'a, R>> {
    let entry = entries
        .next()
        .ok_or_else(|| refused(format!("it ends before {name}")))?
        .map_err(|e| refused(format!("its tar cannot be read: {e}")))?;
    if entry.header().entry_type() != tar::EntryType::Regular
        || entry.path_bytes().as_ref() != name.as_bytes()
    {
        return Err(refused(format!("{name} is not where it should be")));
    }
    *end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
    Ok(entry)
}

/// Reads a small entry whole, refusing one over `limit`.
fn read_small(entry: &mut impl Read, size: u64, limit: u64, name: &str) -> Result<Vec<u8>> {
    if size > limit {
        return Err(refused(format!("{name} is too large")));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry
        .read_to_end(&mut data)
        .map_err(|e| refused(format!("{name} cannot be read: {e}")))?;
    Ok(data)
}

/// Opens a small age file with a kit's identity.
fn open_small(identity: &age::x25519::Identity, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let decryptor = age::Decryptor::new_buffered(sealed).ok()?;
    let reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .ok()?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut out)
        .ok()
        .map(|_| out)
}

/// A sealed file's bytes checked against the manifest's length and hash.
fn check_file(data: &[u8], len: u64, sha256: &str, name: &str) -> Result<()> {
    if data.len() as u64 != len || hex::encode(Sha256::digest(data)) != sha256 {
        return Err(refused(format!("{name} is not the file the kit logged")));
    }
    Ok(())
}

/// What the kit's signed log says, checked.
struct CheckedLog {
    size: u64,
    root: [u8; 32],
    /// Each record's intake event (operator, time, sealed files).
    added: BTreeMap<String, (Event, SealedRecord)>,
    delivered: BTreeSet<String>,
}

fn check_log(
    manifest: &KitManifest,
    kit_id: &[u8; 16],
    key: &ed25519_dalek::VerifyingKey,
    last: Option<&ImportMark>,
    continuations: &[String],
) -> Result<CheckedLog> {
    let leaves: Vec<audit::Hash> = manifest
        .events
        .iter()
        .map(|e| audit::leaf_hash(e.as_bytes()))
        .collect();
    let cp = Checkpoint::verify(&manifest.checkpoint, key)
        .map_err(|e| refused(format!("its checkpoint: {e}")))?;
    let root = audit::root(&leaves);
    if cp.origin != audit::origin(kit_id) || cp.size != leaves.len() as u64 || cp.root != root {
        return Err(refused("its log does not give its signed checkpoint"));
    }
    // A kit that restarted its log (`kit confirm` left it empty) names the log it continues:
    // one imported here before.
    let restarted = manifest
        .events
        .first()
        .and_then(|e| serde_json::from_str::<Event>(e).ok())
        .filter(|e| e.action == Action::KitLogRestarted)
        .map(|e| {
            e.detail
                .as_ref()
                .and_then(|d| d.get("continues"))
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_owned()
        });
    if let Some(continues) = &restarted {
        if !continuations.contains(continues) {
            return Err(refused(
                "its log restarts from one never imported here: a kit restored from another copy, or not this vault's",
            ));
        }
    } else if let Some(mark) = last {
        if cp.size < mark.log_size {
            return Err(refused(format!(
                "its log ({} events) is older than the one already imported from this kit ({} events): a replayed bundle, or a kit restored from an older copy",
                cp.size, mark.log_size
            )));
        }
        if hex::encode(audit::root(&leaves[..mark.log_size as usize])) != mark.log_root {
            return Err(refused(
                "its log does not extend the one imported from this kit before: the kit was rewound or replaced",
            ));
        }
    }
    let mut added = BTreeMap::new();
    let mut delivered = BTreeSet::new();
    for (seq, text) in manifest.events.iter().enumerate() {
        let event: Event = serde_json::from_str(text)
            .map_err(|_| refused(format!("event {seq} of its log cannot be read")))?;
        if event.seq != seq as u64 {
            return Err(refused(format!("event {seq} of its log is out of place")));
        }
        match event.action {
            Action::RecordAdded => {
                let sealed = event
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("sealed"))
                    .and_then(|s| serde_json::from_value::<SealedRecord>(s.clone()).ok())
                    .ok_or_else(|| refused(format!("event {seq} names no sealed files")))?;
                added.insert(sealed.id.clone(), (event, sealed));
            }
            Action::RecordDelivered => {
                delivered.insert(event.record.clone().unwrap_or_default());
            }
            _ => {}
        }
    }
    Ok(CheckedLog {
        size: cp.size,
        root,
        added,
        delivered,
    })
}

pub(super) enum Decision {
    Add,
    Held,
}

impl Vault {
    /// Takes in a field kit's bundle (see the module documentation for the checks), and
    /// returns a receipt signed by this vault naming every record of the bundle held here.
    /// Records already imported from the kit are not imported again; a record id held here
    /// that did not come from this kit is refused.
    ///
    /// Long on purpose: identify, check, decide, then write in one transaction; nothing may
    /// be written before every check has passed, and one function keeps that order visible.
    pub fn import_kit(
        &mut self,
        bundle: &Path,
        options: KitImportOptions<'_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<KitImportSummary> {
        self.s.readable()?;
        let io = |e: std::io::Error| Error::Io {
            path: bundle.to_owned(),
            source: e,
        };
        let file = std::fs::File::open(bundle).map_err(io)?;
        let total = file.metadata().map_err(io)?.len();
        // The same open file, to check its end once every entry was read.
        let tail = file.try_clone().map_err(io)?;
        let mut end = 0u64;
        let mut tally = Tally::new(total, progress);
        let mut archive = tar::Archive::new(BufReader::with_capacity(
            1 << 20,
            Counted {
                inner: file,
                tally: &mut tally,
            },
        ));
        let mut entries = archive
            .entries()
            .map_err(|e| refused(format!("its tar cannot be read: {e}")))?;
        let mut format = next_entry(&mut entries, KIT_FORMAT_ENTRY, &mut end)?;
        let size = format.size();
        if read_small(&mut format, size, 64, KIT_FORMAT_ENTRY)? != KIT_FORMAT.as_bytes() {
            return Err(refused("it is not a tvault kit bundle of a known version"));
        }
        drop(format);
        let mut entry = next_entry(&mut entries, KIT_MANIFEST_ENTRY, &mut end)?;
        let size = entry.size();
        let sealed_manifest = read_small(&mut entry, size, MANIFEST_LIMIT, KIT_MANIFEST_ENTRY)?;
        drop(entry);

        // Which kit: the one whose identity opens the manifest.
        let conn = self.store.conn();
        let (kit_id, row, opened) = self
            .s
            .kit_rows(conn)?
            .into_iter()
            .find_map(|(id, row)| {
                let identity = row.age_identity().ok()?;
                let opened = open_small(&identity, &sealed_manifest)?;
                Some((id, row, opened))
            })
            .ok_or(Error::KitUnknown)?;
        if let Some(revoked) = &row.revoked
            && options.accept_revoked.is_none()
        {
            return Err(Error::KitRevoked {
                revoked_at: revoked.at.clone(),
            });
        }
        let kit_key = row.signing_key()?;
        let signed: Signed =
            serde_json::from_slice(&opened).map_err(|_| refused("its manifest cannot be read"))?;
        let manifest = signed.manifest(&kit_key).ok_or_else(|| {
            refused("its manifest is not signed by the key this kit was given at `kit create`")
        })?;
        if manifest.format != KIT_FORMAT.trim_end()
            || manifest.kit_id != hex::encode(kit_id)
            || manifest.hq_vault_id != hex::encode(self.s.vault_id)
        {
            return Err(refused("its manifest names another kit or another vault"));
        }
        let log = check_log(
            &manifest,
            &kit_id,
            &kit_key,
            row.last_import.as_ref(),
            &row.continuations,
        )?;

        // Every record: logged at intake on the kit exactly as sent, once, and not delivered.
        let mut seen = BTreeSet::new();
        let mut decisions = Vec::with_capacity(manifest.records.len());
        for rec in &manifest.records {
            let logged = log.added.get(&rec.id).map(|(_, s)| s);
            if logged != Some(rec)
                || rec.version != 1
                || !seen.insert(rec.id.clone())
                || log.delivered.contains(&rec.id)
            {
                return Err(refused(format!(
                    "record {} is not as the kit's log says",
                    rec.id
                )));
            }
            let id = RecordId(
                hex::decode(&rec.id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| refused("a record id is malformed"))?,
            );
            decisions.push((id, self.kit_decision(&id, &kit_id, rec)?));
        }

        let path = self.store.path().to_owned();
        let identity = row.age_identity()?;
        let kit_fingerprint = ssh_public_key(&kit_id, &kit_key).1;
        let now = now_rfc3339();
        let s = &self.s;
        let tx = self.store.write()?;
        let mut drafts = Vec::new();
        let mut imported = Vec::new();
        for (rec, (id, decision)) in manifest.records.iter().zip(&decisions) {
            let files = rec.files();
            if matches!(decision, Decision::Held) {
                // Not taken in again, but the bundle must still be whole.
                for (name, len, sha256) in &files {
                    let mut entry = next_entry(&mut entries, name, &mut end)?;
                    let mut hasher = Sha256::new();
                    let n = std::io::copy(&mut entry, &mut hasher)
                        .map_err(|e| refused(format!("{name} cannot be read: {e}")))?;
                    if n != *len || hex::encode(hasher.finalize()) != *sha256 {
                        return Err(refused(format!("{name} is not the file the kit logged")));
                    }
                }
                continue;
            }
            let (event, _) = &log.added[&rec.id];
            let mut small = |i: usize| -> Result<Zeroizing<Vec<u8>>> {
                let (name, len, sha256) = &files[i];
                let mut entry = next_entry(&mut entries, name, &mut end)?;
                let size = entry.size();
                let data = read_small(&mut entry, size, SMALL_SEALED_LIMIT, name)?;
                check_file(&data, *len, sha256, name)?;
                open_small(&identity, &data)
                    .ok_or_else(|| refused(format!("{name} does not open with the kit's key")))
            };
            let kit_meta: SealedMeta = serde_json::from_slice(&small(0)?)
                .map_err(|_| refused(format!("record {}: its metadata cannot be read", rec.id)))?;
            let witness: WitnessIdentity = serde_json::from_slice(&small(1)?)
                .map_err(|_| refused(format!("record {}: its identity cannot be read", rec.id)))?;
            let kit_parts: Vec<&PartInfo> = kit_meta
                .statement
                .iter()
                .chain(&kit_meta.attachments)
                .collect();
            // A kit cannot derive (it cannot read what it recorded): no derived items.
            let numbers_ok = kit_meta.derived.is_empty()
                && kit_meta.statement.as_ref().is_none_or(|p| p.part == 0)
                && kit_meta
                    .attachments
                    .iter()
                    .enumerate()
                    .all(|(i, p)| p.part == i as u32 + 1);
            let matches_log = kit_parts.len() == rec.parts.len()
                && kit_parts.iter().zip(&rec.parts).all(|(p, s)| {
                    p.part == s.part
                        && p.stored_len == s.len
                        && p.stored_sha256.as_deref() == Some(s.sha256.as_str())
                });
            if kit_meta.v != SealedMeta::VERSION || !numbers_ok || !matches_log {
                return Err(refused(format!(
                    "record {}: its metadata does not match its sealed parts",
                    rec.id
                )));
            }
            let mut statement = None;
            let mut attachments = Vec::new();
            for (info, (name, len, sha256)) in kit_parts.iter().zip(&files[2..]) {
                let mut entry = next_entry(&mut entries, name, &mut end)?;
                let mut hashing = Hashing {
                    inner: &mut entry,
                    hasher: Sha256::new(),
                    len: 0,
                };
                let mut want = [0u8; 32];
                hex::decode_to_slice(&info.sha256, &mut want)
                    .map_err(|_| refused(format!("{name}: its intake hash is malformed")))?;
                let broken = || {
                    refused(format!(
                        "{name} does not open, or does not match its hashes"
                    ))
                };
                let mut plain = part::open(
                    &identity,
                    BufReader::new(&mut hashing),
                    info.size,
                    info.padded_size,
                    &want,
                )
                .map_err(|_| broken())?;
                let place = PartPlace {
                    record: *id,
                    version: 1,
                    part: info.part,
                };
                let mut stored = if info.part == 0 {
                    let text = read_statement_input(&mut plain).map_err(|_| broken())?;
                    if std::str::from_utf8(&text).is_err() {
                        return Err(refused(format!("{name}: the statement is not UTF-8 text")));
                    }
                    s.write_part(&tx, &path, place, &mut text.as_slice())?
                } else {
                    s.write_part(&tx, &path, place, &mut plain)
                        .map_err(|e| match e {
                            Error::ReadAttachment { .. } => broken(),
                            other => other,
                        })?
                };
                drop(plain);
                std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|_| broken())?;
                if hashing.len != *len
                    || hex::encode(hashing.hasher.finalize()) != *sha256
                    || stored.size != info.size
                    || stored.sha256 != info.sha256
                {
                    return Err(broken());
                }
                stored.name = info.name.clone();
                if info.part == 0 {
                    statement = Some(stored);
                } else {
                    attachments.push(stored);
                }
            }
            let origin = KitOrigin {
                kit: row.name.clone(),
                kit_id: hex::encode(kit_id),
                kit_fingerprint: kit_fingerprint.clone(),
                kit_operator: event.operator.clone(),
                recorded_at: event.time.clone(),
                sealed_meta_sha256: rec.meta.sha256.clone(),
                imported_at: now.clone(),
                imported_by: s.operator.clone(),
            };
            let sealed = SealedMeta {
                v: SealedMeta::VERSION,
                meta: kit_meta.meta.clone(),
                created_at: event.time.clone(),
                operator: event.operator.clone(),
                statement,
                attachments,
                has_identity: !witness.is_empty(),
                imported: None,
                kit: Some(origin),
                derived: Vec::new(),
            };
            store::insert_version(&tx, &s.seal_version(*id, 1, &sealed, &witness))?;
            drafts.push(
                Draft::new(Action::RecordImported)
                    .on(*id, 1)
                    .parts(sealed.statement.iter().chain(&sealed.attachments))
                    .detail(serde_json::json!({
                        "kit": row.name,
                        "kit_id": hex::encode(kit_id),
                        "kit_fingerprint": kit_fingerprint,
                        "kit_operator": event.operator,
                        "recorded_at": event.time,
                        // Not the other sealed files: an export's custody excerpt carries this
                        // event, and says nothing of parts it withholds, not even their sizes.
                        "sealed_meta_sha256": rec.meta.sha256,
                    })),
            );
            imported.push(rec.id.clone());
        }
        match entries.next() {
            None => {}
            Some(Ok(_)) => return Err(refused("it holds more than its manifest lists")),
            Some(Err(e)) => return Err(refused(format!("its tar cannot be read: {e}"))),
        }
        // A bundle cut short just after an entry reads like a whole one up to here (a `kit
        // send` killed before it ended its tar leaves such a partial file): its end-of-archive
        // marker says it is whole.
        crate::bundle::check_end_of_archive(&tail, end).map_err(|e| refused(e.detail))?;

        let mut updated: KitRow = s.open_kit_row(
            &kit_id,
            &store::field_kits(&tx)?
                .into_iter()
                .find(|(id, _)| *id == kit_id)
                .map(|(_, sealed)| sealed)
                .ok_or(Error::KitUnknown)?,
        )?;
        updated.last_import = Some(ImportMark {
            at: now.clone(),
            log_size: log.size,
            log_root: hex::encode(log.root),
        });
        updated.records_imported += imported.len() as u64;
        let continuation = crate::bundle::kit::continuation(log.size, &log.root);
        if !updated.continuations.contains(&continuation) {
            updated.continuations.push(continuation);
        }
        store::set_field_kit(&tx, &kit_id, &s.seal_kit_row(&kit_id, &updated))?;
        let held = manifest.records.len() - imported.len();
        if let Some(reason) = options.accept_revoked.filter(|_| row.revoked.is_some()) {
            drafts.insert(
                0,
                Draft::new(Action::KitRevokedAccepted).detail(serde_json::json!({
                    "kit": row.name,
                    "kit_id": hex::encode(kit_id),
                    "reason": reason,
                })),
            );
        }
        drafts.push(Draft::new(Action::KitImported).detail(serde_json::json!({
            "kit": row.name,
            "kit_id": hex::encode(kit_id),
            "kit_log_size": log.size,
            "imported": imported.len(),
            "held": held,
        })));
        s.refresh_digest(&tx, decisions.iter().map(|(id, _)| *id))?;
        let cp = s.append(&tx, drafts)?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;

        let receipt = KitReceipt {
            format: RECEIPT_FORMAT.to_owned(),
            kit_id: hex::encode(kit_id),
            hq_vault_id: hex::encode(self.s.vault_id),
            kit_log_size: log.size,
            kit_log_root: hex::encode(log.root),
            issued_at: now,
            records: manifest.records.clone(),
        };
        let rotations = store::signing_rotations(self.store.conn())?;
        Ok(KitImportSummary {
            kit: row.name.clone(),
            kit_id: hex::encode(kit_id),
            imported,
            held,
            kit_log_size: log.size,
            receipt: Signed::sign_receipt(&receipt, &self.s.signing, &rotations).to_json(),
        })
    }

    /// Whether a kit's record is new here, or already held (imported from this same kit
    /// before, or shredded here since). Anything else with its id is refused.
    pub(super) fn kit_decision(
        &self,
        id: &RecordId,
        kit_id: &[u8; 16],
        rec: &SealedRecord,
    ) -> Result<Decision> {
        let conn = self.store.conn();
        let Some(head) = self.s.head(conn, id)? else {
            return Ok(Decision::Add);
        };
        if head.shredded {
            return Ok(Decision::Held);
        }
        let row = store::version(conn, id, 1)?.ok_or(Error::ImportRefused {
            record: *id,
            why: ImportRefusal::OtherSource,
        })?;
        let first = self.s.open_meta(&row)?;
        let ours = first.kit.as_ref().is_some_and(|k| {
            k.kit_id == hex::encode(kit_id) && k.sealed_meta_sha256 == rec.meta.sha256
        });
        if !ours {
            return Err(Error::ImportRefused {
                record: *id,
                why: ImportRefusal::OtherSource,
            });
        }
        Ok(Decision::Held)
    }
}
