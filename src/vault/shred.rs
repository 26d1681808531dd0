//! `shred`: crypto-shredding a record, leaving a sealed tombstone.

use serde::Serialize;
use zeroize::Zeroizing;

use crate::audit::{Action, PartHashes};
use crate::crypto;
use crate::error::Result;
use crate::record::RecordIdPrefix;
use crate::store;

use super::{Draft, Vault, now_rfc3339, part_hashes};

/// What remains of a shredded record.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Tombstone {
    pub record: String,
    pub shredded_at: String,
    pub operator: String,
    pub reason: String,
    pub versions: Vec<ShreddedVersion>,
    /// On a field kit: the sealed files of a record delivered to headquarters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::bundle::kit::SealedRecord>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ShreddedVersion {
    pub version: u32,
    pub parts: Vec<PartHashes>,
}

impl Vault {
    /// Crypto-shreds a record (consent withdrawn, or a risk to the witness): every version's
    /// metadata, identity, wrapped keys and content are deleted and their pages overwritten,
    /// in one transaction. A sealed tombstone keeps the intake hashes, the time, the operator
    /// and the reason, never the content; so does the log.
    pub fn shred(&mut self, prefix: &RecordIdPrefix, reason: &str) -> Result<Tombstone> {
        self.s.readable()?;
        let id = self.resolve(prefix)?;
        let rows = store::versions(self.store.conn(), Some(&id))?;
        let mut versions = Vec::new();
        for row in &rows {
            let sealed = self.s.open_meta(row)?;
            versions.push(ShreddedVersion {
                version: row.version,
                parts: sealed.parts().map(part_hashes).collect(),
            });
        }
        let tombstone = Tombstone {
            record: id.to_string(),
            shredded_at: now_rfc3339(),
            operator: self.s.operator.clone(),
            reason: reason.to_owned(),
            versions,
            sealed: None,
        };
        let json = Zeroizing::new(serde_json::to_vec(&tombstone).expect("tombstones serialise"));
        let sealed = crypto::seal_padded(&self.s.keys.meta, &self.s.tombstone_aad(&id), &json);
        let tx = self.store.write()?;
        store::delete_record(&tx, &id)?;
        store::insert_tombstone(&tx, &id, &sealed)?;
        self.s.refresh_digest(&tx, [id])?;
        // Memos name the records of the bundles imported: none keeps this one's id.
        store::clear_import_memos(&tx)?;
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
}
