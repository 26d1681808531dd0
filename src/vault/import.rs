//! `import`: take in the records of a verified export bundle, with their provenance.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::error::{Error, Result};
use crate::progress::Tally;
use crate::record::{Metadata, PartInfo, RecordId, SealedMeta, WitnessIdentity};
use crate::store::{self, PartPlace};

use super::{Draft, Vault, now_rfc3339};

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
    /// (source vault, signer, original intake hashes, custody excerpt). The bundle is verified
    /// completely first, against the signer `trust` says, and again while it is read; nothing
    /// is committed unless both passes succeed. Versions already here are skipped, so
    /// importing the same bundle twice changes nothing.
    ///
    /// Long on purpose: verify, decide, then write in one transaction; nothing may be written
    /// before every check has passed, and one function keeps that order visible.
    pub fn import(
        &mut self,
        bundle: &Path,
        unlock: &crate::bundle::Unlock,
        trust: &crate::bundle::SignerTrust,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportSummary> {
        use crate::bundle::{BundleError, VerifiedBundle};

        let mut tally = Tally::new(0, progress);
        let verified = VerifiedBundle::open(bundle, trust, Some(unlock), &mut tally)?;
        let report = verified.report();
        let manifest = verified
            .manifest()
            .expect("a payload that was checked has a manifest");
        let mut todo: BTreeMap<String, (u32, &crate::bundle::ManifestRecord)> = BTreeMap::new();
        let mut skipped = 0;
        for rec in &manifest.records {
            let id: RecordId = RecordId(
                hex::decode(&rec.id)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        Error::Bundle(BundleError::integrity(
                            "MANIFEST.json",
                            "a record id is malformed",
                        ))
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
                export_id: manifest.export_id.clone(),
                imported: 0,
                skipped,
                signer: report.fingerprint.clone(),
                signer_trusted: report.signer_trusted,
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
        // The same open file again, each file checked against the signed listing and the
        // whole payload against its signed hash; until this returns, nothing is committed.
        if let Err(e) = verified.read_files(unlock, &mut visit, &mut tally) {
            return Err(failure.unwrap_or_else(|| e.into()));
        }

        let now = now_rfc3339();
        let mut drafts = Vec::new();
        let bad = |what: &str| Error::Bundle(BundleError::integrity("records", what));
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
                        "signer_trust": trust.as_str(),
                    })),
            );
        }
        let imported = drafts.len();
        s.refresh_digest(&tx, drafts.iter().filter_map(|d| d.record))?;
        let cp = s.append(&tx, drafts)?;
        tx.commit()?;
        s.write_anchor(&cp)?;
        Ok(ImportSummary {
            export_id: manifest.export_id.clone(),
            imported,
            skipped,
            signer: report.fingerprint.clone(),
            signer_trusted: report.signer_trusted,
        })
    }
}
