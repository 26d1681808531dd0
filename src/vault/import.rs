//! `import`: take in the records of a verified export bundle, with their provenance.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::digest::{Summary, Text};
use crate::error::{Error, Result};
use crate::progress::Tally;
use crate::record::{Metadata, PartInfo, RecordId, SealedMeta, WitnessIdentity};
use crate::store::{self, PartPlace};

use super::import_decision::{
    Decision, held_already, import_decision, pinned_for_one, same_as_held,
};
use super::import_statements::{Statements, StoredStatement};

use super::{Draft, STATEMENT_LIMIT, Vault, now_rfc3339};

/// What an import may change beyond adding new records, each a choice the operator makes and
/// the log records.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportOptions {
    /// Let this bundle's source (vault and signer) add versions to records that were recorded
    /// here, and pin it for them.
    pub trust_source: bool,
    /// Accept versions whose consent allows more than the consent held here.
    pub accept_consent_change: bool,
}

/// What `import` took in.
#[derive(Debug, Serialize)]
pub struct ImportSummary {
    pub export_id: String,
    /// Record versions added to this vault.
    pub imported: usize,
    /// Record versions this vault already held.
    pub skipped: usize,
    /// The fingerprint of the key that signed the bundle.
    pub signer: String,
    /// Whether that key was checked against one the operator named. When false, nothing
    /// vouches for the sender.
    pub signer_trusted: bool,
}

impl Vault {
    /// Takes in the records of an export bundle, keeping their ids, versions and provenance
    /// (source vault, signer, original intake hashes, custody excerpt). The bundle is read
    /// once: each record's files are stored in a write transaction as they are decrypted, the
    /// bundle is verified completely against the signer `trust` says, and only then are the
    /// rules below applied; nothing is committed unless all of it succeeds. Versions already
    /// here are only read through, and skipped (when they are the same), so importing the same
    /// bundle twice changes nothing. An import that commits leaves a memo of what the bundle
    /// held (`import_memo`): importing the same bundle again, all of it still held here, then
    /// checks the outer files and the payload's hash and header without decrypting it.
    ///
    /// A bundle never replaces or widens what is held here: a version for a record this vault
    /// holds must be the next one, must come from the source (vault id and signer) first
    /// trusted for that record (`import_decision`), and must not widen its consent unless the
    /// options say so. Every statement and attachment is checked against the manifest's
    /// intake hashes and tvault's intake rules before anything is committed.
    ///
    /// Long on purpose: stage and verify, decide, then write the versions, in one transaction
    /// that nothing commits before every check has passed; one function keeps that order
    /// visible.
    pub fn import(
        &mut self,
        bundle: &Path,
        unlock: &crate::bundle::Unlock,
        trust: &crate::bundle::SignerTrust,
        options: ImportOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportSummary> {
        self.s.readable()?;
        use crate::bundle::{BundleError, VerifiedBundle};

        let mut tally = Tally::new(0, progress);
        let outer = VerifiedBundle::open_outer(bundle, trust, &mut tally)?;
        let contents = outer.contents_sha256();
        let path = self.store.path().to_owned();
        let s = &self.s;
        let tx = self.store.write()?;
        // A bundle with these contents was imported in full before: when it is still all
        // held here, the payload need only be the signed one, for this key.
        if let Some(memo) = s.import_memo(&tx, &contents)? {
            outer.confirm_payload(unlock, &mut tally)?;
            // Anything else (a version no longer held, a source not pinned, an error) is
            // left to the full import, which says what it finds.
            if let Ok(Some(summary)) = held_already(s, &tx, &memo, outer.report(), trust) {
                return Ok(summary);
            }
        }
        // One pass over the bundle: its files are staged in this transaction as they are
        // decrypted, and the bundle is verified to its end before anything is decided; nothing
        // is committed unless the pass and every decision succeed.
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        // Statements are read whole (they are bounded), encrypted in batches on a thread of
        // their own while the pass goes on, and stored in this transaction.
        let verified = std::thread::scope(|scope| -> Result<VerifiedBundle> {
            let mut statements = Statements::start(scope, s, &tx, &path);
            let mut failure: Option<Error> = None;
            // The first record with a file before its metadata.json, if any.
            let mut early: Option<String> = None;
            // Read whole into a buffer of the size the archive gives (so that no copy of the
            // plaintext is left behind by growing it).
            let read_whole = |limit: u64, size: u64, data: &mut dyn Read| {
                let mut buf = Zeroizing::new(Vec::with_capacity(size.min(limit) as usize));
                data.take(limit).read_to_end(&mut buf)?;
                Ok::<_, std::io::Error>(buf)
            };
            let read_small =
                |size: u64, data: &mut dyn Read| read_whole(16 * 1024 * 1024, size, data);
            let mut visit = |rel: &Path, size: u64, data: &mut dyn Read| -> std::io::Result<()> {
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
                let record = RecordId(
                    hex::decode(&id)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(|| {
                            std::io::Error::other("a record folder is not a record id")
                        })?,
                );
                // A record's metadata.json comes first (tvault writes it so): its version says
                // where the files go, and whether this vault holds that version already, when
                // they are only read through.
                if file == ["metadata.json"] {
                    /// What is read of a metadata.json before it is known to be needed.
                    #[derive(serde::Deserialize)]
                    struct Versioned {
                        version: u32,
                    }
                    let bytes = read_small(size, data)?;
                    let version = serde_json::from_slice::<Versioned>(&bytes)
                        .ok()
                        .map(|v| v.version)
                        .filter(|v| *v > 0)
                        .ok_or_else(|| std::io::Error::other("a metadata.json has no version"))?;
                    let held = store::has_version(&tx, &record, version).map_err(|e| {
                        let msg = e.to_string();
                        failure = Some(e);
                        std::io::Error::other(msg)
                    })?;
                    let entry = pending.entry(id).or_default();
                    if entry.version.is_some() {
                        return Err(std::io::Error::other("a record has two metadata.json"));
                    }
                    entry.version = Some(version);
                    entry.staged = !held;
                    if !held {
                        // Parsed once the bundle has verified, on every core.
                        entry.meta = Some(bytes);
                    }
                    return Ok(());
                }
                let Some(entry) = pending.get_mut(&id).filter(|e| e.version.is_some()) else {
                    // Refused once the pass is over, unless the pass finds worse (an unsigned
                    // file, say) and says that.
                    early.get_or_insert(id);
                    std::io::copy(data, &mut std::io::sink())?;
                    return Ok(());
                };
                if !entry.staged {
                    std::io::copy(data, &mut std::io::sink())?;
                    return Ok(());
                }
                let version = &entry.version.expect("checked above");
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
                    // Parsed once the bundle has verified, on every core.
                    ["identity.json"] => entry.identity = Some(read_small(size, data)?),
                    ["custody.json"] => entry.custody = Some(read_small(size, data)?),
                    ["statement.txt"] => {
                        // Held to the intake rules: text, at most STATEMENT_LIMIT bytes.
                        let text = read_whole(STATEMENT_LIMIT + 1, size, data)?;
                        if text.len() as u64 > STATEMENT_LIMIT
                            || std::str::from_utf8(&text).is_err()
                        {
                            return Err(std::io::Error::other(
                                "a statement is not UTF-8 text within the size limit",
                            ));
                        }
                        std::io::copy(data, &mut std::io::sink())?;
                        let place = PartPlace {
                            record,
                            version: *version,
                            part: 0,
                        };
                        if statements.add(id, place, text) {
                            let stored = statements.send().map_err(|e| {
                                let msg = e.to_string();
                                failure = Some(e);
                                std::io::Error::other(msg)
                            })?;
                            give_statements(&mut pending, stored);
                        }
                    }
                    ["attachments", name] => {
                        let part = (entry.attachments.len() + entry.derived.len()) as u32 + 1;
                        let mut info = store_part(part, data)?;
                        info.name = Some((*name).to_owned());
                        entry.attachments.push(info);
                    }
                    [crate::bundle::DERIVED_DIR, name] => {
                        let part = (entry.attachments.len() + entry.derived.len()) as u32 + 1;
                        let mut info = store_part(part, data)?;
                        info.name = Some((*name).to_owned());
                        entry.derived.push(info);
                    }
                    [crate::bundle::LINEAGE_FILE] => {
                        entry.lineage = Some(
                            serde_json::from_slice(&read_small(size, data)?)
                                .map_err(std::io::Error::other)?,
                        );
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
            let verified = match outer.check_payload(unlock, Some(&mut visit), &mut tally) {
                Ok(verified) => verified,
                Err(e) => return Err(failure.unwrap_or_else(|| e.into())),
            };
            if let Some(id) = early {
                return Err(Error::Bundle(BundleError::integrity(
                    "records",
                    format!("records/{id}: a file comes before the record's metadata.json"),
                )));
            }
            give_statements(&mut pending, statements.finish()?);
            Ok(verified)
        })?;
        let bad = |what: &str| Error::Bundle(BundleError::integrity("records", what));
        let report = verified.report();
        let manifest = verified
            .manifest()
            .expect("a payload that was checked has a manifest");
        // No signer named: the bundle's source and signer must be pinned here already.
        let signer_trusted = match trust {
            crate::bundle::SignerTrust::Pinned => {
                let ids = manifest.records.iter().filter_map(|r| parse_id(&r.id));
                if !pinned_for_one(s, &tx, ids, (&manifest.vault_id, &report.fingerprint))? {
                    return Err(Error::SignerNotPinned);
                }
                true
            }
            _ => report.signer_trusted,
        };
        // Each bucket of heads is opened once for all the decisions. The versions held
        // already are compared on a thread of their own as they are found, in order: the
        // refusal reported is still the first a serial pass would meet.
        let mut heads = BTreeMap::new();
        let mut todo: BTreeMap<String, (u32, &crate::bundle::ManifestRecord)> = BTreeMap::new();
        let (compared, refused, skipped) = std::thread::scope(|scope| {
            let (held_tx, held_rx) = std::sync::mpsc::channel::<(store::VersionRow, &_)>();
            let comparing = scope.spawn(move || {
                held_rx
                    .into_iter()
                    .try_for_each(|(row, rec)| same_as_held(s, &row, rec))
            });
            let mut skipped = 0;
            let mut refused = None;
            for rec in &manifest.records {
                let decided = parse_id(&rec.id)
                    .ok_or_else(|| {
                        Error::Bundle(BundleError::integrity(
                            "MANIFEST.json",
                            "a record id is malformed",
                        ))
                    })
                    .and_then(|id| {
                        import_decision(
                            s,
                            &tx,
                            &mut heads,
                            &id,
                            rec,
                            (&manifest.vault_id, &report.fingerprint),
                            options,
                        )
                    });
                match decided {
                    Ok(Decision::Compare(row)) => {
                        skipped += 1;
                        // The comparing thread stops at its first refusal, reported below.
                        if held_tx.send((row, rec)).is_err() {
                            break;
                        }
                    }
                    Ok(Decision::Add) => {
                        todo.insert(rec.id.clone(), (rec.version, rec));
                    }
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            drop(held_tx);
            let compared = comparing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (compared, refused, skipped)
        });
        compared?;
        if let Some(refused) = refused {
            return Err(refused);
        }
        // What was staged is exactly what is added: a version is staged only when this vault
        // does not hold it, and a version not held is added or refused.
        pending.retain(|_, p| p.staged);
        if !pending.keys().eq(todo.keys()) {
            return Err(bad("the records staged are not the ones the manifest adds"));
        }
        let memo = super::import_memo::Memo {
            source_vault: manifest.vault_id.clone(),
            records: manifest
                .records
                .iter()
                .filter_map(|r| Some((parse_id(&r.id)?, r.version)))
                .collect(),
        };
        if todo.is_empty() {
            // Nothing was staged: only the memo is written.
            s.write_import_memo(&tx, &contents, &memo)?;
            tx.commit()?;
            return Ok(ImportSummary {
                export_id: manifest.export_id.clone(),
                imported: 0,
                skipped,
                signer: report.fingerprint.clone(),
                signer_trusted,
            });
        }

        let now = now_rfc3339();
        let mut staged = Vec::with_capacity(pending.len());
        for (id, p) in pending {
            let (version, rec) = todo[&id];
            let record = parse_id(&id).ok_or_else(|| bad("a record id is malformed"))?;
            staged.push((record, version, rec, p, self_consent(s, &tx, &record)?));
        }
        // Each staged record is checked against the manifest, given its provenance, sealed
        // and logged on every core (in order: the first refusal is the one a serial pass
        // would meet), then stored in order.
        let import_detail = |consent_change: Option<serde_json::Value>| {
            serde_json::json!({
                "export_id": manifest.export_id,
                "source_vault": manifest.vault_id,
                "signer": report.fingerprint,
                "signer_trust": trust.as_str(),
                "trust_source": options.trust_source,
                "consent_change": consent_change,
            })
        };
        let built = super::cores::map_in_order(staged, 64, |(record, version, rec, p, held)| {
            let origin = crate::record::ImportOrigin {
                export_id: manifest.export_id.clone(),
                source_vault: manifest.vault_id.clone(),
                signer_fingerprint: report.fingerprint.clone(),
                purpose: manifest.purpose.clone(),
                intake_sha256: rec.intake_sha256.clone(),
                statement_redacted: rec.statement_redacted,
                custody: serde_json::Value::Null,
                imported_at: now.clone(),
                imported_by: s.operator.clone(),
            };
            let staged = stage_version(version, rec, p, held, origin).map_err(bad)?;
            let row = s.seal_version(record, version, &staged.sealed, &staged.identity);
            let sealed = &staged.sealed;
            // The listing digest takes the version as written, without reading it back.
            let text = match &sealed.statement {
                None => Some(Text::None),
                Some(info) if info.size > crate::digest::TEXT_MAX => Some(Text::Large),
                Some(_) => staged.text.map(Text::Inline),
            };
            let draft = Draft::new(Action::RecordImported)
                .on(record, version)
                .parts(sealed.parts())
                .detail(import_detail(staged.consent_change));
            Ok::<_, Error>((row, Summary::of(sealed), text, draft))
        });
        let mut drafts = Vec::with_capacity(built.len());
        let mut rows = Vec::with_capacity(built.len());
        let mut known = super::listing::Known::new();
        for built in built {
            let (row, summary, text, draft) = built?;
            if let Some(text) = text {
                known.insert((row.record, row.version), (summary, text));
            }
            rows.push(row);
            drafts.push(draft);
        }
        // The log's events are signed and sealed on the other cores while the versions and
        // the listing digest are stored.
        let first = store::event_count(&tx)?;
        let cp = std::thread::scope(|scope| {
            let events = scope.spawn(|| s.seal_events(first, &drafts));
            store::insert_versions(&tx, &rows)?;
            drop(rows);
            s.refresh_digest_known(&tx, drafts.iter().filter_map(|d| d.record), &mut known)?;
            let events = events
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            s.append_sealed(&tx, &drafts, events)
        })?;
        let imported = drafts.len();
        s.write_import_memo(&tx, &contents, &memo)?;
        tx.commit()?;
        s.write_anchor(&cp)?;
        Ok(ImportSummary {
            export_id: manifest.export_id.clone(),
            imported,
            skipped,
            signer: report.fingerprint.clone(),
            signer_trusted,
        })
    }
}

/// What an import has read of one record so far.
#[derive(Default)]
struct Pending {
    /// The version its metadata.json gives.
    version: Option<u32>,
    /// Whether its files are stored: this vault does not hold that version.
    staged: bool,
    /// Its metadata.json, parsed once the bundle has verified ([`MetadataDoc`]).
    meta: Option<Zeroizing<Vec<u8>>>,
    /// Its identity.json and custody.json, parsed as `meta` is.
    identity: Option<Zeroizing<Vec<u8>>>,
    custody: Option<Zeroizing<Vec<u8>>>,
    statement: Option<PartInfo>,
    attachments: Vec<PartInfo>,
    derived: Vec<PartInfo>,
    lineage: Option<Vec<crate::bundle::LineageNode>>,
    /// The statement as stored, for the listing digest (see [`Statements`]).
    text: Option<Zeroizing<String>>,
}

/// A record's metadata.json, as an export writes it. `created_at` and `operator` are taken
/// as given, empty when they are not text.
#[derive(serde::Deserialize)]
struct MetadataDoc {
    version: u32,
    metadata: Metadata,
    #[serde(default, deserialize_with = "text_or_empty")]
    created_at: String,
    #[serde(default, deserialize_with = "text_or_empty")]
    operator: String,
}

fn text_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    use serde::Deserialize;
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => text,
        _ => String::new(),
    })
}

/// A staged record made ready to store: its sealed metadata and identity, the statement kept
/// for the listing digest, and how its consent widened the consent held here, if it did.
struct Staged {
    sealed: SealedMeta,
    identity: WitnessIdentity,
    text: Option<Zeroizing<String>>,
    consent_change: Option<serde_json::Value>,
}

/// Checks a staged record against its manifest entry (metadata, intake hashes, derived
/// items, recorded names) and gives it its provenance: `origin`, with the record's own
/// custody excerpt. `held` is the consent of the record's current version here, if any.
fn stage_version(
    version: u32,
    rec: &crate::bundle::ManifestRecord,
    mut p: Pending,
    held: Option<crate::record::Consent>,
    mut origin: crate::record::ImportOrigin,
) -> std::result::Result<Staged, &'static str> {
    let doc: MetadataDoc =
        serde_json::from_slice(p.meta.as_deref().ok_or("a record has no metadata.json")?)
            .map_err(|_| "metadata.json is malformed")?;
    let meta = doc.metadata;
    if meta.consent != rec.consent || doc.version != rec.version {
        return Err("metadata.json disagrees with the manifest");
    }
    check_intake_hashes(rec, p.statement.as_ref(), &p.attachments)?;
    super::import_lineage::check_derived_hashes(rec, &p.derived, p.lineage.as_deref())?;
    restore_recorded_names(rec, &mut p.attachments)?;
    let mut derived = super::import_lineage::derived_items(
        rec,
        p.statement.as_ref(),
        &p.attachments,
        std::mem::take(&mut p.derived),
        version,
    )?;
    super::import_lineage::restore_derived_names(rec, &p.attachments, &mut derived)?;
    let consent_change = held
        .filter(|old| old.widened_by(&meta.consent))
        .map(|old| serde_json::json!({ "old": old, "new": meta.consent }));
    let identity = match &p.identity {
        Some(json) => serde_json::from_slice(json).map_err(|_| "identity.json is malformed")?,
        None => WitnessIdentity::default(),
    };
    if let Some(json) = &p.custody {
        origin.custody = serde_json::from_slice(json).map_err(|_| "custody.json is malformed")?;
    }
    let sealed = SealedMeta {
        v: SealedMeta::VERSION,
        meta,
        created_at: doc.created_at,
        operator: doc.operator,
        statement: p.statement.take(),
        attachments: std::mem::take(&mut p.attachments),
        has_identity: !identity.is_empty(),
        imported: Some(origin),
        kit: None,
        derived,
    };
    Ok(Staged {
        sealed,
        identity,
        text: p.text.take(),
        consent_change,
    })
}

/// Gives each record its statement's part as stored, and the text kept for the digest.
fn give_statements(pending: &mut BTreeMap<String, Pending>, stored: Vec<StoredStatement>) {
    for (id, part, text) in stored {
        let entry = pending.entry(id).or_default();
        entry.statement = Some(part);
        entry.text = text;
    }
}

pub(super) fn parse_id(hex_id: &str) -> Option<RecordId> {
    Some(RecordId(hex::decode(hex_id).ok()?.try_into().ok()?))
}

/// The consent of a record's current version here, if it has one.
fn self_consent(
    s: &super::Session,
    conn: &rusqlite::Connection,
    id: &RecordId,
) -> Result<Option<crate::record::Consent>> {
    match store::current_version(conn, id)? {
        Some(row) => Ok(Some(s.open_meta(&row)?.meta.consent.clone())),
        None => Ok(None),
    }
}

/// Gives each attachment back the name it was recorded under, where the bundle carried it
/// under a safer one (`recorded_names`): a plain name (no `/`, no NUL, at most 255 bytes),
/// unique in the record, for an attachment the bundle delivered.
pub(super) fn plain_recorded_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains(['/', '\0'])
        && name != "."
        && name != ".."
}

fn restore_recorded_names(
    rec: &crate::bundle::ManifestRecord,
    attachments: &mut [PartInfo],
) -> std::result::Result<(), &'static str> {
    let mut seen = std::collections::BTreeSet::new();
    for (delivered, recorded) in &rec.recorded_names {
        if !plain_recorded_name(recorded) {
            return Err("a recorded attachment name is not a plain file name");
        }
        let a = attachments
            .iter_mut()
            .find(|a| a.name.as_deref() == Some(delivered.as_str()))
            .ok_or("a recorded attachment name is for an attachment the bundle lacks")?;
        a.name = Some(recorded.clone());
    }
    for a in attachments.iter() {
        if !seen.insert(a.name.clone()) {
            return Err("two attachments have the same recorded name");
        }
    }
    Ok(())
}

/// Each delivered part against the manifest's intake hashes: the statement against part 0
/// (unless the export replaced the real name in it, which changes its hash; the signed inner
/// sums still cover it), and each attachment against one of the record's intake hashes (but a
/// text attachment the export redacted); and the attachments are exactly the ones the
/// manifest names.
fn check_intake_hashes(
    rec: &crate::bundle::ManifestRecord,
    statement: Option<&PartInfo>,
    attachments: &[PartInfo],
) -> std::result::Result<(), &'static str> {
    if let Some(st) = statement
        && !rec.statement_redacted
        && rec.intake_sha256.get(&0) != Some(&st.sha256)
    {
        return Err("a statement does not match its intake hash");
    }
    let names: Vec<&str> = attachments
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    if names
        != rec
            .attachments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    {
        return Err("the attachments differ from the manifest's list");
    }
    // A text attachment whose names were replaced leaves without its intake hash; the signed
    // inner sums cover it.
    let redacted = |name: Option<&str>| {
        rec.redaction.as_ref().is_some_and(|r| {
            name.is_some_and(|n| {
                r.changed
                    .iter()
                    .any(|c| c.strip_prefix("attachments/") == Some(n))
            })
        })
    };
    for a in attachments {
        if redacted(a.name.as_deref()) {
            continue;
        }
        if !rec
            .intake_sha256
            .iter()
            .any(|(part, sha)| *part != 0 && *sha == a.sha256)
        {
            return Err("an attachment does not match any intake hash");
        }
    }
    Ok(())
}
