//! Heads: what the custody log says of every record, kept where reads can check it cheaply.
//!
//! A record's head is its current version and whether it was shredded. The log is the
//! authority; the heads are its summary, written in the same transaction as the events that
//! change them ([`Heads::apply`]), sealed per bucket of record ids (their first byte, as in
//! [`crate::digest`]), and bound to the vault header: the header MAC covers [`root`], a hash
//! of every sealed bucket. So someone who can edit the file but has no key cannot delete a
//! record's newest version, bring back a shredded record, or replay an older bucket, without
//! the vault refusing to open or to read that record. `verify` recomputes the heads from the
//! whole log and compares.
//!
//! Pure: encoding and the rules, no SQL, no keys.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::audit::Action;
use crate::record::RecordId;

/// One record as the log leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The newest version the log records for it.
    pub version: u32,
    /// The log records its shredding: no version may be read.
    pub shredded: bool,
}

/// The heads of one bucket, by record id.
pub type Bucket = BTreeMap<RecordId, Head>;

/// The bucket of a record id.
pub fn bucket_of(id: &RecordId) -> u8 {
    id.as_bytes()[0]
}

/// Applies one event to the heads: a new version raises the head, a shredding ends it.
/// Returns whether the event concerns a record's head at all.
pub fn apply(heads: &mut Bucket, action: Action, record: RecordId, version: Option<u32>) -> bool {
    match action {
        Action::RecordAdded
        | Action::RecordAmended
        | Action::RecordDerived
        | Action::RecordInventoried
        | Action::RecordImported => {
            let Some(version) = version else {
                return false;
            };
            let head = heads.entry(record).or_insert(Head {
                version,
                shredded: false,
            });
            head.version = head.version.max(version);
            true
        }
        // A kit's record delivered to headquarters is gone from the kit, like a shredded one.
        Action::RecordShredded | Action::RecordDelivered => {
            let head = heads.entry(record).or_insert(Head {
                version: version.unwrap_or(0),
                shredded: true,
            });
            head.shredded = true;
            true
        }
        _ => false,
    }
}

/// Entry layout: 16-byte id, 4-byte version (big-endian), 1 flag byte (1 = shredded).
const ENTRY: usize = 21;

pub fn encode(heads: &Bucket) -> Vec<u8> {
    let mut out = Vec::with_capacity(heads.len() * ENTRY);
    for (id, head) in heads {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&head.version.to_be_bytes());
        out.push(u8::from(head.shredded));
    }
    out
}

/// Decodes a bucket; `None` for anything that is not exactly what [`encode`] writes (ids
/// strictly ascending, flags 0 or 1, every id in `bucket`).
pub fn decode(bucket: u8, bytes: &[u8]) -> Option<Bucket> {
    Some(entries(bucket, bytes)?.into_iter().collect())
}

/// [`decode`], as a list in id order.
pub fn entries(bucket: u8, bytes: &[u8]) -> Option<Vec<(RecordId, Head)>> {
    if !bytes.len().is_multiple_of(ENTRY) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / ENTRY);
    let mut last: Option<RecordId> = None;
    for entry in bytes.chunks_exact(ENTRY) {
        let id = RecordId(entry[..16].try_into().ok()?);
        let version = u32::from_be_bytes(entry[16..20].try_into().ok()?);
        let shredded = match entry[20] {
            0 => false,
            1 => true,
            _ => return None,
        };
        if bucket_of(&id) != bucket || last.is_some_and(|l| l >= id) {
            return None;
        }
        last = Some(id);
        out.push((id, Head { version, shredded }));
    }
    Some(out)
}

/// The hash of every stored (sealed) bucket, in bucket order, that the header MAC covers.
pub fn root<'a>(sealed: impl IntoIterator<Item = (u8, &'a [u8])>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tvault heads v1\0");
    for (bucket, blob) in sealed {
        h.update([bucket]);
        h.update((blob.len() as u64).to_be_bytes());
        h.update(blob);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8, rest: u8) -> RecordId {
        let mut b = [rest; 16];
        b[0] = first;
        RecordId(b)
    }

    #[test]
    fn versions_raise_the_head_and_shredding_ends_it() {
        let mut heads = Bucket::new();
        let r = id(7, 1);
        assert!(apply(&mut heads, Action::RecordAdded, r, Some(1)));
        assert!(apply(&mut heads, Action::RecordAmended, r, Some(2)));
        // An older version arriving later (an import of history) does not lower the head.
        assert!(apply(&mut heads, Action::RecordImported, r, Some(1)));
        assert_eq!(
            heads[&r],
            Head {
                version: 2,
                shredded: false
            }
        );
        assert!(!apply(&mut heads, Action::RecordShown, r, Some(2)));
        assert!(apply(&mut heads, Action::RecordShredded, r, None));
        assert!(heads[&r].shredded);
        assert_eq!(heads[&r].version, 2);
    }

    #[test]
    fn buckets_round_trip_and_anything_else_is_refused() {
        let mut heads = Bucket::new();
        apply(&mut heads, Action::RecordAdded, id(3, 1), Some(4));
        apply(&mut heads, Action::RecordShredded, id(3, 2), Some(1));
        let bytes = encode(&heads);
        assert_eq!(decode(3, &bytes), Some(heads.clone()));
        assert_eq!(decode(4, &bytes), None, "ids of another bucket");
        assert_eq!(decode(3, &bytes[..bytes.len() - 1]), None);
        let mut bad_flag = bytes.clone();
        bad_flag[20] = 2;
        assert_eq!(decode(3, &bad_flag), None);
        let mut swapped = bytes[ENTRY..].to_vec();
        swapped.extend_from_slice(&bytes[..ENTRY]);
        assert_eq!(decode(3, &swapped), None, "out of order");
    }

    #[test]
    fn the_root_changes_with_any_bucket() {
        let a = root([(1u8, &b"x"[..]), (2, &b"y"[..])]);
        assert_ne!(a, root([(1u8, &b"x"[..])]));
        assert_ne!(a, root([(1u8, &b"x"[..]), (3, &b"y"[..])]));
        assert_ne!(a, root([(1u8, &b"x"[..]), (2, &b"z"[..])]));
        assert_eq!(a, root([(1u8, &b"x"[..]), (2, &b"y"[..])]));
    }
}
