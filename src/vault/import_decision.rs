//! What an import may do with each record of a bundle, given what this vault holds of it
//! (SECURITY.md, "Import: what a bundle may change here"); and when a bundle imported before
//! is still all held here ("Import memos").

use std::collections::BTreeMap;

use crate::error::{Error, ImportRefusal, Integrity, Result};
use crate::record::RecordId;
use crate::store;

use super::Session;
use super::import::{ImportOptions, ImportSummary};
use super::import_memo::Memo;

/// Whether a bundle's version of a record is already held, or may be added.
pub(super) enum Decision {
    /// This vault holds that version: held if its intake hashes are the bundle's (see
    /// [`same_as_held`]), which the caller checks on a thread of its own.
    Compare(store::VersionRow),
    Add,
}

/// Decides what a bundle's version of a record may do here, from the record's head (the
/// log's word) and the provenance of the versions held:
///
/// - a version held here already is skipped when it is the same (every intake hash the
///   bundle lists is the held version's), and refused when it differs;
/// - a new record is added, and the bundle's source (vault id, signer) is pinned for it,
///   being the origin of its first imported version;
/// - a new version of a record held here must be the next one, and must come from the
///   pinned source; a record recorded here has no pinned source, and takes versions only
///   with `trust_source`; a shredded record takes none;
/// - its consent may not widen the consent held here unless `accept_consent_change`.
pub(super) fn import_decision(
    s: &Session,
    conn: &rusqlite::Connection,
    heads: &mut BTreeMap<u8, crate::heads::Bucket>,
    id: &RecordId,
    rec: &crate::bundle::ManifestRecord,
    (source_vault, signer): (&str, &str),
    options: ImportOptions,
) -> Result<Decision> {
    let refuse = |why| Error::ImportRefused { record: *id, why };
    if rec.version == 0 {
        return Err(Error::Bundle(crate::bundle::BundleError::integrity(
            "MANIFEST.json",
            "a record has version 0",
        )));
    }
    let current = match holding(s, conn, heads, id)? {
        Holding::Nothing => return Ok(Decision::Add),
        Holding::Shredded => return Err(refuse(ImportRefusal::Shredded)),
        Holding::Current(row) => row,
    };
    // The version offered is most often the current one (the same bundle again).
    if rec.version == current.version {
        return Ok(Decision::Compare(current));
    }
    if let Some(row) = store::version(conn, id, rec.version)? {
        return Ok(Decision::Compare(row));
    }
    if rec.version != current.version + 1 {
        return Err(refuse(ImportRefusal::NotContiguous {
            offered: rec.version,
            next: current.version + 1,
        }));
    }
    match pin(s, conn, id)? {
        Some((vault, key)) if vault == source_vault && key == signer => {}
        Some(_) => return Err(refuse(ImportRefusal::OtherSource)),
        None if options.trust_source => {}
        None => return Err(refuse(ImportRefusal::NotTrusted)),
    }
    if s.open_meta(&current)?.meta.consent.widened_by(&rec.consent)
        && !options.accept_consent_change
    {
        return Err(refuse(ImportRefusal::ConsentWidened));
    }
    Ok(Decision::Add)
}

/// What this vault holds of a record.
enum Holding {
    Nothing,
    Shredded,
    /// Its newest version, the one its head (the log's word) names.
    Current(store::VersionRow),
}

/// What this vault holds of record `id`, its head checked against the newest version stored
/// (`Session::check_version`, with the head in hand): a record stored without a head, or
/// whose newest version is not the head's, is an integrity failure. Each bucket of heads is
/// opened once, into `heads`.
fn holding(
    s: &Session,
    conn: &rusqlite::Connection,
    heads: &mut BTreeMap<u8, crate::heads::Bucket>,
    id: &RecordId,
) -> Result<Holding> {
    let bucket = crate::heads::bucket_of(id);
    let head = match heads.entry(bucket) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => e.insert(s.heads_bucket(conn, bucket)?),
    }
    .get(id)
    .copied();
    let Some(head) = head else {
        if store::current_version(conn, id)?.is_some() {
            return Err(Integrity::LogDisagrees(*id).into());
        }
        return Ok(Holding::Nothing);
    };
    if head.shredded {
        return Ok(Holding::Shredded);
    }
    let current = store::current_version(conn, id)?.ok_or(Integrity::LogDisagrees(*id))?;
    if current.version != head.version {
        return Err(Integrity::LogDisagrees(*id).into());
    }
    Ok(Holding::Current(current))
}

/// The summary of importing again a bundle whose memo is `memo` (its payload confirmed to be
/// the signed one): `None` unless every version it holds is still held here, and, with no
/// signer named, its source is pinned here. Versions are never changed once stored, so a
/// version held now is the one compared or added when the memo was written; only `shred`
/// removes versions, and it deletes every memo.
pub(super) fn held_already(
    s: &Session,
    conn: &rusqlite::Connection,
    memo: &Memo,
    report: &crate::bundle::BundleReport,
    trust: &crate::bundle::SignerTrust,
) -> Result<Option<ImportSummary>> {
    let Some(export_id) = report.export_id.clone() else {
        return Ok(None);
    };
    let signer_trusted = match trust {
        crate::bundle::SignerTrust::Pinned => {
            let ids = memo.records.iter().map(|(id, _)| *id);
            if !pinned_for_one(s, conn, ids, (&memo.source_vault, &report.fingerprint))? {
                return Ok(None);
            }
            true
        }
        _ => report.signer_trusted,
    };
    let mut heads = BTreeMap::new();
    for (id, version) in &memo.records {
        let held = match holding(s, conn, &mut heads, id)? {
            Holding::Current(row) => {
                row.version == *version || store::has_version(conn, id, *version)?
            }
            Holding::Nothing | Holding::Shredded => false,
        };
        if !held {
            return Ok(None);
        }
    }
    Ok(Some(ImportSummary {
        export_id,
        imported: 0,
        skipped: memo.records.len(),
        signer: report.fingerprint.clone(),
        signer_trusted,
    }))
}

/// Whether `source` (vault id, signer fingerprint) is the source pinned here for one of the
/// records `ids`.
pub(super) fn pinned_for_one(
    s: &Session,
    conn: &rusqlite::Connection,
    ids: impl IntoIterator<Item = RecordId>,
    (vault, signer): (&str, &str),
) -> Result<bool> {
    for id in ids {
        if let Some((v, k)) = pin(s, conn, &id)?
            && v == vault
            && k == signer
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the bundle's version `rec` is the version `row` this vault holds: skipped when it
/// is, refused when it differs. Only the held version's intake hashes are read (an imported
/// version's custody excerpt is skipped, not parsed).
pub(super) fn same_as_held(
    s: &Session,
    row: &store::VersionRow,
    rec: &crate::bundle::ManifestRecord,
) -> Result<()> {
    let held_hashes = s.open_intake_hashes(row)?;
    // A bundle lists the hashes of the parts it carries as recorded (format v3; v2 listed
    // every part): each must be the held version's. One that carries none (statement
    // redacted, nothing else) adds nothing either way: skipped.
    let same = rec
        .intake_sha256
        .iter()
        .all(|(part, sha)| held_hashes.get(part) == Some(sha));
    if same {
        Ok(())
    } else {
        Err(Error::ImportRefused {
            record: row.record,
            why: ImportRefusal::DifferentVersion(rec.version),
        })
    }
}

/// The source pinned for a record: the source vault and signer of its first imported
/// version, if any was imported.
fn pin(
    s: &Session,
    conn: &rusqlite::Connection,
    id: &RecordId,
) -> Result<Option<(String, String)>> {
    for row in store::versions(conn, Some(id))? {
        if let Some(origin) = s.open_meta(&row)?.imported.as_ref() {
            return Ok(Some((
                origin.source_vault.clone(),
                origin.signer_fingerprint.clone(),
            )));
        }
    }
    Ok(None)
}
