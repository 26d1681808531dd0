//! `verify`: every check the vault can make of itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::audit::{self, Action, Checkpoint, Frontier, PartHashes};
use crate::error::{Error, Result};
use crate::record::PartInfo;
use crate::store;

use super::{Draft, Vault, anchor_mismatch, part_hashes};

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

impl Vault {
    /// Checks everything: SQLite's own integrity check, every event against the signed
    /// checkpoint and the anchor, every version against the log, and (unless `quick`) every
    /// part decrypted and compared with its intake hash. `progress` hears (done, total) parts.
    ///
    /// Long on purpose: the list of checks is the specification of a sound vault, read top
    /// to bottom; each check only appends to the report.
    pub fn verify(
        &mut self,
        quick: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport> {
        if self.is_kit() {
            return self.verify_kit(progress);
        }
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
        let mut events = Vec::new();
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
                    events.push(event.clone());
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
                            | Action::RecordDerived
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
        // Each operator's events carry their own signature, from their first key on.
        report.failures.extend(
            audit::operator_signature_failures(&self.s.vault_id, &events)
                .into_iter()
                .map(|f| format!("the custody log: {f}")),
        );
        // The export rule in force is the one the log last set.
        let logged_rule = events
            .iter()
            .rev()
            .find(|e| {
                e.action == Action::PolicyChanged
                    && e.detail
                        .as_ref()
                        .is_some_and(|d| d["rule"] == "export-approvals")
            })
            .and_then(|e| e.detail.as_ref()?["to"].as_u64())
            .unwrap_or(1);
        let stored_rule = store::export_approvals(conn)?.unwrap_or(1);
        if u64::from(stored_rule) != logged_rule {
            report.failures.push(format!(
                "the export rule: the vault says {stored_rule} operators, its log last set {logged_rule}"
            ));
        }
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
        // The heads: what the log says of each record, as stored and as the tables hold it.
        match super::heads::from_log(&events) {
            Ok(from_log) => {
                for bucket in 0..=u8::MAX {
                    let logged_heads = from_log.get(&bucket).cloned().unwrap_or_default();
                    match self.s.heads_bucket(conn, bucket) {
                        Ok(stored) if stored == logged_heads => {}
                        Ok(_) => report.failures.push(format!(
                            "the heads of bucket {bucket} differ from what the custody log says"
                        )),
                        Err(e) => report.failures.push(e.to_string()),
                    }
                    let table = store::bucket_versions(conn, bucket)?;
                    if let Err(e) = self.s.check_bucket(conn, bucket, &table) {
                        report.failures.push(e.to_string());
                    }
                }
            }
            Err(e) => report.failures.push(e.to_string()),
        }
        if let Some(anchor) = &self.s.anchor {
            match anchor_mismatch(conn, &self.s.vault_id, anchor) {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => report.failures.push(e.to_string()),
            }
        }

        // Trusted timestamps: each stored token still covers a prefix of this log, signed
        // by the vault and by its authority as at the token's time; none missing or extra.
        report
            .failures
            .extend(super::timestamps::timestamp_failures(
                &self.s, conn, &leaves, &events,
            )?);

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
            let parts: Vec<&PartInfo> = sealed.parts().collect();
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
        // The tally `status` shows without a passphrase is kept by triggers; only an edit of
        // the file makes it disagree with the rows.
        let tally = store::record_tally(conn)?;
        if tally != report.records {
            report.failures.push(format!(
                "the record tally that status shows says {tally}, but the vault holds {} records",
                report.records
            ));
        }
        Ok(report)
    }
}
