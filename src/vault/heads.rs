//! The heads ([`crate::heads`]) as a session keeps them: sealed per bucket under K_meta,
//! updated with the events that change them, bound to the header MAC, and checked on every
//! read path against the records table.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::audit::{self, Checkpoint, Event};
use crate::crypto::{self, HeaderState};
use crate::error::{Error, Integrity, Result};
use crate::heads::{self, Bucket, Head};
use crate::record::RecordId;
use crate::store::{self, VersionRow};

use super::{Draft, Session};

impl Session {
    fn heads_aad(&self, bucket: u8) -> Vec<u8> {
        crypto::aad("tvault heads v1", &[&self.vault_id, &[bucket]])
    }

    /// One bucket of heads; empty when none is stored (no record in it yet). The stored rows
    /// were authenticated as a whole by the header MAC when the vault was opened.
    pub(super) fn heads_bucket(&self, conn: &Connection, bucket: u8) -> Result<Bucket> {
        Ok(self.heads_entries(conn, bucket)?.into_iter().collect())
    }

    /// [`Session::heads_bucket`] as a list in id order.
    fn heads_entries(&self, conn: &Connection, bucket: u8) -> Result<Vec<(RecordId, Head)>> {
        let Some(sealed) = store::head(conn, bucket)? else {
            return Ok(Vec::new());
        };
        let bad = || Integrity::Log(format!("the heads of bucket {bucket} do not authenticate"));
        let bytes =
            crypto::open(&self.keys.meta, &self.heads_aad(bucket), &sealed).ok_or_else(bad)?;
        Ok(heads::entries(bucket, &bytes).ok_or_else(bad)?)
    }

    /// The records of a bucket the heads hold and that are not shredded, with their newest
    /// version, in id order.
    pub(super) fn live_heads(&self, conn: &Connection, bucket: u8) -> Result<Vec<(RecordId, u32)>> {
        Ok(self
            .heads_entries(conn, bucket)?
            .into_iter()
            .filter(|(_, h)| !h.shredded)
            .map(|(id, h)| (id, h.version))
            .collect())
    }

    pub(super) fn write_heads_bucket(
        &self,
        conn: &Connection,
        bucket: u8,
        heads: &Bucket,
    ) -> Result<()> {
        let sealed = crypto::seal(
            &self.keys.meta,
            &self.heads_aad(bucket),
            &heads::encode(heads),
        );
        store::set_head(conn, bucket, &sealed)
    }

    /// Raises or ends the heads the drafts about to be logged change, in the caller's
    /// transaction.
    pub(super) fn apply_heads(&self, conn: &Connection, drafts: &[Draft]) -> Result<()> {
        let mut touched: BTreeMap<u8, Bucket> = BTreeMap::new();
        for d in drafts {
            let Some(record) = d.record else { continue };
            let bucket = heads::bucket_of(&record);
            let heads = match touched.entry(bucket) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(self.heads_bucket(conn, bucket)?)
                }
            };
            heads::apply(heads, d.action, record, d.version);
        }
        for (bucket, heads) in &touched {
            self.write_heads_bucket(conn, *bucket, heads)?;
        }
        Ok(())
    }

    /// The header MAC of the vault as it stands in `conn` (version 2): keyslots, signing key,
    /// checkpoint, anchored flag and heads.
    pub(super) fn header_mac(&self, conn: &Connection) -> Result<[u8; 32]> {
        let slots = store::keyslots(conn)?;
        let checkpoint = store::checkpoint(conn)?
            .ok_or_else(|| Integrity::Log("the custody log has no checkpoint".into()))?;
        let rows = store::heads(conn)?;
        let public = self.signing.verifying_key();
        let rotations = store::signing_rotations(conn)?;
        let kit_column = store::kit_column(conn)?;
        let kit_rows = store::field_kits(conn)?;
        let state = HeaderState {
            signing_public: public.as_bytes(),
            signing_rotations: &rotations,
            checkpoint: &checkpoint.note,
            anchored: store::anchored(conn)?,
            heads_root: heads::root(rows.iter().map(|(b, s)| (*b, s.as_slice()))),
            kit: kit_column.as_deref(),
            kits_root: super::kit::kits_root(&kit_rows),
            export_approvals: store::export_approvals(conn)?,
        };
        Ok(crypto::header_mac(
            &self.keys,
            &self.vault_id,
            &slots,
            Some(&state),
        ))
    }

    /// Re-signs the header after anything it covers changed (keyslots, the log, the heads).
    pub(super) fn update_header_mac(&self, conn: &Connection) -> Result<()> {
        store::set_header_mac(conn, &self.header_mac(conn)?)
    }

    /// Every event of the log, after checking that the events give the signed checkpoint.
    pub(super) fn checked_events(&self, conn: &Connection) -> Result<Vec<Event>> {
        let stored = store::checkpoint(conn)?
            .ok_or_else(|| Integrity::Log("the custody log has no checkpoint".into()))?;
        let cp = Checkpoint::verify(&stored.note, &self.signing.verifying_key())
            .map_err(|e| Integrity::Log(format!("the vault's checkpoint: {e}")))?;
        let rows = store::events(conn)?;
        let mut leaves = Vec::with_capacity(rows.len());
        for r in &rows {
            leaves.push(
                <[u8; 32]>::try_from(r.leaf_hash.as_slice())
                    .map_err(|_| Integrity::Log(format!("event {} is damaged", r.seq)))?,
            );
        }
        if leaves.len() as u64 != cp.size || audit::root(&leaves) != cp.root {
            return Err(
                Integrity::Log("the events do not give the signed checkpoint".into()).into(),
            );
        }
        rows.iter()
            .map(|r| self.open_event(r.seq, &r.leaf_hash, &r.sealed))
            .collect()
    }

    /// The head of one record, if the log knows it.
    pub(super) fn head(&self, conn: &Connection, id: &RecordId) -> Result<Option<Head>> {
        Ok(self
            .heads_bucket(conn, heads::bucket_of(id))?
            .get(id)
            .copied())
    }

    /// Checks a version about to be read against the log: the record is known and not
    /// shredded, and its newest stored version is the one the log says.
    pub(super) fn check_version(&self, conn: &Connection, row: &VersionRow) -> Result<()> {
        let disagrees = || Error::from(Integrity::LogDisagrees(row.record));
        let head = self.head(conn, &row.record)?.ok_or_else(disagrees)?;
        let newest = store::current_version(conn, &row.record)?.map(|r| r.version);
        if head.shredded || newest != Some(head.version) || row.version > head.version {
            return Err(disagrees());
        }
        Ok(())
    }

    /// Checks a bucket's records as the table lists them (id, newest version) against the
    /// heads: the same records, at the same versions, none shredded.
    pub(super) fn check_bucket(
        &self,
        conn: &Connection,
        bucket: u8,
        stored: &[(RecordId, u32)],
    ) -> Result<()> {
        let mut stored_iter = stored.iter();
        for (id, version) in self.live_heads(conn, bucket)? {
            match stored_iter.next() {
                Some((sid, v)) if *sid == id && *v == version => {}
                Some((sid, _)) => return Err(Integrity::LogDisagrees(id.min(*sid)).into()),
                None => return Err(Integrity::LogDisagrees(id).into()),
            }
        }
        if let Some((extra, _)) = stored_iter.next() {
            return Err(Integrity::LogDisagrees(*extra).into());
        }
        Ok(())
    }

    /// Checks every record in the table against the heads (an export of all records).
    pub(super) fn check_all(&self, conn: &Connection) -> Result<()> {
        for bucket in 0..=u8::MAX {
            self.check_bucket(conn, bucket, &store::bucket_versions(conn, bucket)?)?;
        }
        Ok(())
    }
}

/// The heads the log gives, replayed from its events.
pub(super) fn from_log(events: &[Event]) -> Result<BTreeMap<u8, Bucket>> {
    let mut out: BTreeMap<u8, Bucket> = BTreeMap::new();
    for e in events {
        let Some(record) = &e.record else { continue };
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(record, &mut bytes)
            .map_err(|_| Integrity::Log(format!("event {} names no valid record", e.seq)))?;
        let id = RecordId(bytes);
        let bucket = out.entry(heads::bucket_of(&id)).or_default();
        heads::apply(bucket, e.action, id, e.version);
    }
    Ok(out)
}
