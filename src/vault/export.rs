//! `export`: select records, ask [`crate::disclosure`] what leaves, log the intent, write the
//! bundle.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::audit::{Action, Event};
use crate::crypto;
use crate::disclosure::{self, Candidate, Content, DerivedCandidate, Plan, Redactor};
use crate::error::{Error, Integrity, Result};
use crate::progress::{Counted, Tally};
use crate::record::{PartInfo, Purpose, RecordIdPrefix, SealedMeta, WitnessIdentity};
use crate::store::{self, VersionRow};

use super::approvals::{Guarded, Signer};
use super::export_derived::{derived_candidates, lineage, sniff_derived};
use super::export_seal::{intent_receipt, recipients, seal_kind};
use super::redaction::{attachment_names, redact_metadata, redactor};
use super::{Draft, Vault, now_rfc3339};

/// Which records an export takes.
pub enum Selection {
    Ids(Vec<RecordIdPrefix>),
    Tag(String),
    Witness(String),
    All,
}

impl Selection {
    /// How the log names a selection: the records' ids as given, or the kind of filter (a
    /// tag or pseudonym is the operator's text, and stays out of a refusal's event).
    fn describe(&self) -> serde_json::Value {
        match self {
            Selection::Ids(ids) => {
                serde_json::json!({ "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>() })
            }
            Selection::Tag(_) => serde_json::json!("tag"),
            Selection::Witness(_) => serde_json::json!("witness"),
            Selection::All => serde_json::json!("all"),
        }
    }
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
    /// Include PDF and office documents of records whose texts are redacted, unredacted.
    pub include_documents: bool,
    /// Include records whose consent does not list the purpose; needs a reason.
    pub override_consent: bool,
    /// Leave out, and list, records whose consent does not list the purpose.
    pub only_consented: bool,
    /// The kinds of derived items to release (a redaction in place of a source whose names
    /// consent withholds).
    pub prefer: Vec<crate::record::DerivedKind>,
    pub seal: Seal,
    pub output: &'a Path,
    /// The other operators who approve, when the vault's rule asks for more than one.
    pub approvers: Vec<super::Approver>,
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub export_id: String,
    pub path: PathBuf,
    pub records: usize,
    pub withheld: Vec<crate::bundle::Withheld>,
    pub consent_overridden: Vec<String>,
    /// Records left out for lack of consent (`only_consented`), with why.
    pub skipped: Vec<crate::bundle::Withheld>,
    /// The records whose texts were redacted automatically, and which of their files changed:
    /// none of it reviewed, so the operator should check the bundle before it leaves.
    pub redacted: Vec<RecordRedaction>,
    pub bundle_sha256: String,
    pub signer_fingerprint: String,
    /// The operators whose personal keys signed the manifest, the exporter first.
    pub approvals: Vec<crate::bundle::Approval>,
}

/// One record's automatic redaction, as an export reports it.
#[derive(Debug, Serialize)]
pub struct RecordRedaction {
    pub record: String,
    #[serde(flatten)]
    pub redaction: crate::bundle::Redaction,
}

impl Vault {
    /// Writes an export bundle (docs/export-format.md). Refuses records outside their
    /// consent unless overridden with a reason, withholds identities and identifying media
    /// unless asked for and consented to, and logs an intent event (whose receipt the bundle
    /// carries) before writing and a completion event with the bundle's SHA-256 after.
    /// `progress` hears (done, total) bytes of content.
    ///
    /// Long on purpose: everything that writes the bundle sits in one closure, so that any
    /// failure removes the partial file (`BundleWriter`) before the error is returned.
    pub fn export(
        &mut self,
        req: ExportRequest<'_>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportSummary> {
        self.s.readable()?;
        use crate::bundle::{InnerWriter, Manifest, ManifestRecord, OuterFiles};

        if req.output.exists() {
            return Err(Error::Io {
                path: req.output.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        // Recipients first: a typo must fail before anything is logged.
        let (recipients, fingerprints) = recipients(&req.seal)?;
        // Then the two-person rule: a refusal is logged, and nothing else happens.
        let required = self.export_approvals()?;
        let signers = self.approve(
            Guarded::Export,
            &req.approvers,
            &serde_json::json!({
                "purpose": req.purpose.as_str(),
                "selection": req.selection.describe(),
                "recipients": fingerprints,
            }),
        )?;
        let approvals = Signer::approvals(&signers);

        // Select the records, at their latest versions.
        let chosen = self.select(&req.selection)?;

        // What leaves and what is withheld: the policy in `disclosure`.
        let identities: Vec<Option<WitnessIdentity>> = chosen
            .iter()
            .map(|(row, _)| self.s.open_identity(row))
            .collect::<Result<_>>()?;
        let policy = disclosure::Request {
            purpose: req.purpose,
            include_identity: req.include_identity,
            include_media: req.include_media,
            include_documents: req.include_documents,
            override_consent: req.override_consent,
            only_consented: req.only_consented,
            prefer: req.prefer.clone(),
        };
        // Which records leave does not depend on what their attachments are: a refused export
        // or a skipped record has nothing of it decrypted. Then the attachments of the records
        // that leave are sniffed, and the plan made again with what they are.
        let unknown = derived_candidates(&chosen, &[]);
        let first = disclosure::plan(&policy, &candidates(&chosen, &identities, &[], &unknown))?;
        let (contents, derived_contents) = {
            let tx = self.store.read()?;
            let contents: Vec<Vec<Content>> = chosen
                .iter()
                .zip(&first.records)
                .map(|((row, sealed), plan)| {
                    if !plan.leaves {
                        return Ok(Vec::new());
                    }
                    sealed
                        .attachments
                        .iter()
                        .map(|a| self.s.sniff_attachment(&tx, row, a))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?;
            (
                contents,
                sniff_derived(&self.s, &tx, &chosen, &first, &policy)?,
            )
        };
        drop(unknown);
        let derived = derived_candidates(&chosen, &derived_contents);
        let Plan {
            records: plans,
            mut withheld,
            overridden,
            skipped,
        } = disclosure::plan(
            &policy,
            &candidates(&chosen, &identities, &contents, &derived),
        )?;
        drop(derived);
        // Only the records that leave go on (`only_consented` lists the others).
        let (mut kept_chosen, mut kept_identities, mut kept_plans) =
            (Vec::new(), Vec::new(), Vec::new());
        for ((c, i), p) in chosen.into_iter().zip(identities).zip(plans) {
            if p.leaves {
                kept_chosen.push(c);
                kept_identities.push(i);
                kept_plans.push(p);
            }
        }
        let (chosen, identities, plans) = (kept_chosen, kept_identities, kept_plans);
        if chosen.is_empty() {
            return Err(Error::NothingToExport);
        }
        // The witness's names, wherever a record's texts and attachment names may hold them:
        // one redactor per record whose plan says so. Attachment names are redacted wherever
        // they appear, the withheld list included.
        let redactors: Vec<Option<Redactor>> = chosen
            .iter()
            .zip(&plans)
            .zip(&identities)
            .map(|(((_, sealed), plan), identity)| {
                let shown = plan.label.as_deref().unwrap_or(&sealed.meta.witness);
                redactor(plan, identity.as_ref(), &sealed.meta.witness, shown)
            })
            .collect();
        let (shown_names, recorded_names): (Vec<_>, Vec<_>) = chosen
            .iter()
            .zip(&redactors)
            .map(|((_, sealed), r)| attachment_names(&sealed.attachments, r.as_ref()))
            .unzip();
        // Derived items' names, by the same rules, in their own folder.
        let (derived_names, derived_recorded): (Vec<_>, Vec<_>) = chosen
            .iter()
            .zip(&redactors)
            .map(|((_, sealed), r)| {
                let parts: Vec<PartInfo> = sealed.derived.iter().map(|d| d.part.clone()).collect();
                attachment_names(&parts, r.as_ref())
            })
            .unzip();
        let place: HashMap<String, usize> = chosen
            .iter()
            .enumerate()
            .map(|(i, (row, _))| (row.record.to_string(), i))
            .collect();
        for w in withheld
            .iter_mut()
            .filter(|w| w.what == "attachment" || w.what == "derived")
        {
            let Some(&i) = place.get(&w.record) else {
                continue;
            };
            let sealed = &chosen[i].1;
            let (part, names) = if w.what == "attachment" {
                let part = sealed.attachments.iter().find(|a| a.name == w.name);
                (part.map(|a| a.part), &shown_names[i])
            } else {
                let part = sealed.derived.iter().find(|d| d.part.name == w.name);
                (part.map(|d| d.part.part), &derived_names[i])
            };
            if let Some(name) = part.and_then(|p| names.get(&p)) {
                w.name = Some(name.clone());
            }
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
            "include_documents": req.include_documents,
            "prefer": req.prefer,
            "consent_overridden": overridden,
            "skipped": skipped.iter().map(|s| &s.record).collect::<Vec<_>>(),
            "withheld": withheld.len(),
            "approvals": approvals,
            "approvals_required": required,
        }));
        // The intent, its receipt and the events the bundle carries come from one write
        // transaction: another process's event can never land between them and be proved in
        // the intent's place.
        let (receipt, intent_event, checkpoint, events_by_record, timestamps) = {
            let tx = self.store.write()?;
            let cp = self.s.append(&tx, vec![intent])?;
            let (receipt, intent_event, checkpoint) = intent_receipt(&self.s, &tx, &export_id)?;
            let timestamps = self.s.export_timestamps(&tx, &checkpoint.note, &receipt)?;
            // Each record's events, in log order, found once rather than per record.
            let mut events_by_record: BTreeMap<String, Vec<Event>> = BTreeMap::new();
            let s = &self.s;
            let events = super::cores::map_in_order(store::events(&tx)?, 256, |r| {
                s.open_event(r.seq, &r.leaf_hash, &r.sealed)
            });
            for event in events {
                let event = event?;
                if let Some(record) = event.record.clone() {
                    events_by_record.entry(record).or_default().push(event);
                }
            }
            tx.commit()?;
            self.s.write_anchor(&cp)?;
            (
                receipt,
                intent_event,
                checkpoint,
                events_by_record,
                timestamps,
            )
        };

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
            .map(|((_, sealed), plan)| {
                sealed
                    .statement
                    .as_ref()
                    .filter(|_| plan.statement)
                    .map_or(0, |s| s.size)
                    + plan
                        .attachments
                        .iter()
                        .chain(&plan.derived)
                        .map(|a| a.info.size)
                        .sum::<u64>()
            })
            .sum();
        let mut tally = Tally::new(content, progress);
        let bundle = crate::bundle::BundleWriter::create(out).map_err(io_at(out))?;
        let result = (|| -> Result<([u8; 32], Vec<RecordRedaction>)> {
            let encryptor = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| Error::InvalidRecipient(e.to_string()))?;
            let stream = encryptor.wrap_output(bundle).map_err(io_at(out))?;
            // Encrypted and written by a thread of its own while the records are read here.
            let mut inner = InnerWriter::new(crate::bundle::ThreadedWriter::new(stream));
            let mut manifest_records = Vec::new();
            let overridden_set: HashSet<&str> = overridden.iter().map(String::as_str).collect();
            let mut redacted_records = Vec::new();
            let mut custody_by_record = BTreeMap::new();
            let mut metadata_by_record = BTreeMap::new();
            let tx = self.store.read()?;
            // Every statement that leaves, read and checked on the other core meanwhile.
            let wanted = chosen
                .iter()
                .zip(&plans)
                .filter_map(|((row, sealed), plan)| {
                    Some((row, sealed.statement.as_ref().filter(|_| plan.statement)?))
                })
                .collect();
            self.read_ahead(&tx, wanted, |statements| {
                for (
                    ((((row, sealed), plan), identity), (redactor, (names, restore))),
                    (dnames, drestore),
                ) in chosen
                    .iter()
                    .zip(&plans)
                    .zip(&identities)
                    .zip(
                        redactors
                            .iter()
                            .zip(shown_names.iter().zip(&recorded_names)),
                    )
                    .zip(derived_names.iter().zip(&derived_recorded))
                {
                    let base = format!("records/{}", row.record);
                    // Anonymous: the label stands in for the pseudonym; interviewer and place stay.
                    let mut shown_meta = sealed.meta.clone();
                    if let Some(label) = &plan.label {
                        shown_meta.witness = label.clone();
                        shown_meta.interviewer = None;
                        shown_meta.location = None;
                    }
                    let mut changed = Vec::new();
                    if let Some(r) = redactor
                        && redact_metadata(&mut shown_meta, r)
                    {
                        changed.push("metadata.json".to_owned());
                    }
                    let m = &shown_meta;
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
                    // REPORT.html tells what metadata.json holds.
                    metadata_by_record.insert(row.record.to_string(), m.clone());
                    if let Some(identity) = identity.as_ref().filter(|_| plan.identity) {
                        let json = Zeroizing::new(
                            serde_json::to_vec_pretty(identity).expect("identity serialises"),
                        );
                        inner
                            .add_bytes(&format!("{base}/identity.json"), &json)
                            .map_err(io_at(out))?;
                    }
                    let mut redacted = false;
                    if let Some(info) = sealed.statement.as_ref().filter(|_| plan.statement) {
                        let text = statements.next(&tx, row, info)?;
                        let replaced = redactor
                            .as_ref()
                            .and_then(|r| r.redact(text.expose_secret()));
                        redacted = replaced.is_some();
                        let delivered = replaced
                            .as_ref()
                            .map_or(text.expose_secret(), |t| t.as_str());
                        inner
                            .add_bytes(&format!("{base}/statement.txt"), delivered.as_bytes())
                            .map_err(io_at(out))?;
                        if redacted {
                            changed.push("statement.txt".to_owned());
                        }
                        tally.add(info.size);
                    }
                    // Text attachments and derived texts are redacted like the statement; the
                    // others stream as recorded.
                    let mut changed_parts = Vec::new();
                    let folders = [
                        ("attachments", &plan.attachments, names),
                        (crate::bundle::DERIVED_DIR, &plan.derived, dnames),
                    ];
                    for (folder, leaving, names) in folders
                        .iter()
                        .flat_map(|(f, l, n)| l.iter().map(move |l| (f, l, n)))
                    {
                        let a = &leaving.info;
                        let name = names.get(&a.part).cloned().unwrap_or_default();
                        let path = format!("{base}/{folder}/{name}");
                        if let Some(r) = redactor.as_ref().filter(|_| leaving.redact) {
                            let text = self.s.read_text_attachment(&tx, row, a)?;
                            let replaced = r.redact(&text);
                            let delivered = replaced.as_ref().unwrap_or(&text);
                            inner
                                .add_bytes(&path, delivered.as_bytes())
                                .map_err(io_at(out))?;
                            if replaced.is_some() {
                                changed.push(format!("{folder}/{name}"));
                                changed_parts.push(a.part);
                            }
                            tally.add(a.size);
                            continue;
                        }
                        let mut sha = [0u8; 32];
                        hex::decode_to_slice(&a.sha256, &mut sha)
                            .map_err(|_| Integrity::Metadata(row.record))?;
                        let reader = Counted {
                            inner: self.s.open_part(&tx, row, a)?,
                            tally: &mut tally,
                        };
                        inner
                            .add_stream(&path, a.size, sha, reader)
                            .map_err(|e| self.s.part_error(e, row, a, out))?;
                    }
                    // The bundle carries no hash of anything it does not carry: a part hash stays in
                    // the custody excerpt only when it is the hash of a part delivered as recorded
                    // (not a withheld attachment, an earlier version's part, or the statement
                    // before its real name was replaced).
                    let delivered = delivered_hashes(sealed, plan, redacted, &changed_parts);
                    // Each derived item that leaves, and what it was made from, in words.
                    let mut lineage = lineage(sealed, plan, names, dnames);
                    // Methods and languages are free text an operator typed: redacted like the
                    // metadata when the record's texts are.
                    if let Some(r) = redactor.as_ref() {
                        for node in &mut lineage {
                            let fields =
                                std::iter::once(&mut node.method).chain(node.language.as_mut());
                            for field in fields {
                                if let Some(mut text) = r.redact(field) {
                                    field.zeroize();
                                    *field = std::mem::take(&mut *text);
                                }
                            }
                        }
                    }
                    if !lineage.is_empty() {
                        let json = serde_json::to_vec_pretty(&lineage).expect("lineage serialises");
                        inner
                            .add_bytes(&format!("{base}/{}", crate::bundle::LINEAGE_FILE), &json)
                            .map_err(io_at(out))?;
                    }
                    let events: Vec<Event> = events_by_record
                        .get(&row.record.to_string())
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            let mut e = e.clone();
                            e.parts.retain(|p| delivered.contains(&p.sha256));
                            e
                        })
                        .collect();
                    let custody = serde_json::to_vec_pretty(&events).expect("events serialise");
                    custody_by_record.insert(row.record.to_string(), events);
                    inner
                        .add_bytes(&format!("{base}/custody.json"), &custody)
                        .map_err(io_at(out))?;
                    let redaction = redactor.is_some().then(|| crate::bundle::Redaction {
                        method: crate::bundle::Redaction::AUTOMATIC.into(),
                        reviewed: false,
                        changed,
                    });
                    if let Some(redaction) = &redaction {
                        redacted_records.push(RecordRedaction {
                            record: row.record.to_string(),
                            redaction: redaction.clone(),
                        });
                    }
                    manifest_records.push(ManifestRecord {
                        id: row.record.to_string(),
                        version: row.version,
                        witness: m.witness.clone(),
                        consent: m.consent.clone(),
                        consent_overridden: overridden_set
                            .contains(row.record.to_string().as_str()),
                        intake_sha256: sealed
                            .parts()
                            .filter(|p| delivered.contains(&p.sha256))
                            .map(|p| (p.part, p.sha256.clone()))
                            .collect(),
                        statement_redacted: redacted,
                        identity_included: plan.identity,
                        attachments: plan
                            .attachments
                            .iter()
                            .filter_map(|a| names.get(&a.info.part).cloned())
                            .collect(),
                        recorded_names: plan
                            .attachments
                            .iter()
                            .filter_map(|a| {
                                let recorded = restore.get(&a.info.part)?;
                                Some((names.get(&a.info.part)?.clone(), recorded.clone()))
                            })
                            .collect(),
                        redaction,
                        derived: plan
                            .derived
                            .iter()
                            .filter_map(|d| dnames.get(&d.info.part).cloned())
                            .collect(),
                        recorded_derived_names: plan
                            .derived
                            .iter()
                            .filter_map(|d| {
                                let recorded = drestore.get(&d.info.part)?;
                                Some((dnames.get(&d.info.part)?.clone(), recorded.clone()))
                            })
                            .collect(),
                        lineage,
                    });
                }
                Ok(())
            })?;
            drop(tx);
            let manifest = Manifest {
                format: crate::bundle::FORMAT.into(),
                export_id: export_id.clone(),
                vault_id: self.id(),
                purpose: req.purpose.as_str().into(),
                reason: req.reason.clone(),
                operator: self.s.operator.clone(),
                time: now_rfc3339(),
                records: manifest_records,
                withheld: withheld.clone(),
                skipped: skipped.clone(),
                intent_event: Some(intent_event.clone()),
                approvals: approvals.clone(),
                approvals_required: Some(required),
            };
            let approval_keys: Vec<&ed25519_dalek::SigningKey> =
                signers.iter().map(|s| &s.key).collect();
            let stream = inner
                .finish(
                    &manifest,
                    &custody_by_record,
                    &metadata_by_record,
                    &self.s.signing,
                    &approval_keys,
                )
                .map_err(io_at(out))?;
            let bundle = stream
                .finish()
                .and_then(age::stream::StreamWriter::finish)
                .map_err(io_at(out))?;
            let files = OuterFiles {
                checkpoint: checkpoint.note.clone(),
                receipt: receipt.clone(),
                signer_line: public_line.clone(),
                export_id: export_id.clone(),
                seal: seal_kind(&req.seal),
                approvals: approvals.iter().map(|a| a.role.clone()).collect(),
                timestamps,
            };
            let sha256 = bundle.finish(&files, &self.s.signing).map_err(io_at(out))?;
            Ok((sha256, redacted_records))
        })();
        // On failure the partial bundle is gone (`BundleWriter`); the output was never made.
        let (bundle_sha256, redacted) = result?;
        let bundle_sha256 = hex::encode(bundle_sha256);
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
            skipped,
            redacted,
            bundle_sha256,
            signer_fingerprint: fingerprint,
            approvals,
        })
    }

    /// The selected records at their current versions, with their sealed metadata.
    fn select(&self, selection: &Selection) -> Result<Vec<(VersionRow, SealedMeta)>> {
        let conn = self.store.conn();
        let rows: Vec<VersionRow> = match selection {
            Selection::Ids(prefixes) => {
                let mut rows = Vec::new();
                for p in prefixes {
                    let id = self.resolve(p)?;
                    if !rows.iter().any(|r: &VersionRow| r.record == id) {
                        let row = store::current_version(conn, &id)?
                            .ok_or(Error::RecordNotFound(p.clone()))?;
                        self.s.check_version(conn, &row)?;
                        rows.push(row);
                    }
                }
                rows
            }
            _ => {
                // Every record the log knows leaves or is filtered out by its metadata;
                // none is hidden by removing rows.
                self.s.check_all(conn)?;
                store::current_versions(conn)?
            }
        };
        let mut chosen = Vec::new();
        let s = &self.s;
        let opened = super::cores::map_in_order(rows, 64, |row| {
            let sealed = s.open_meta(&row);
            (row, sealed)
        });
        for (row, sealed) in opened {
            let sealed = sealed?;
            let m = &sealed.meta;
            let keep = match selection {
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
        Ok(chosen)
    }
}

/// The records as the policy sees them, with what each attachment is (`contents`, by record;
/// none known when it is empty).
fn candidates<'a>(
    chosen: &'a [(VersionRow, SealedMeta)],
    identities: &'a [Option<WitnessIdentity>],
    contents: &'a [Vec<Content>],
    derived: &'a [Vec<DerivedCandidate<'a>>],
) -> Vec<Candidate<'a>> {
    chosen
        .iter()
        .zip(identities)
        .enumerate()
        .map(|(i, ((row, sealed), identity))| Candidate {
            record: row.record,
            meta: &sealed.meta,
            has_identity: identity.is_some(),
            attachments: &sealed.attachments,
            contents: contents.get(i).map_or(&[], Vec::as_slice),
            derived: &derived[i],
        })
        .collect()
}

/// The intake hashes of the parts of `sealed` that leave exactly as recorded: the statement
/// when it leaves and its names were not replaced, and the attachments and derived items the
/// plan lets go but those redacted (`changed`, by part number).
fn delivered_hashes(
    sealed: &SealedMeta,
    plan: &disclosure::RecordPlan,
    statement_redacted: bool,
    changed: &[u32],
) -> std::collections::BTreeSet<String> {
    sealed
        .statement
        .iter()
        .filter(|_| plan.statement && !statement_redacted)
        .chain(
            plan.attachments
                .iter()
                .chain(&plan.derived)
                .map(|a| &a.info)
                .filter(|a| !changed.contains(&a.part)),
        )
        .map(|p| p.sha256.clone())
        .collect()
}
