//! Import memos: for each bundle imported in full, the records it held, so that importing the
//! same bundle again with nothing new can check its outer signatures and payload hash without
//! decrypting it (SECURITY.md, "Import memos").
//!
//! A memo is found under a tag keyed by this vault: HMAC-SHA256 under K_memo of the bundle's
//! contents (the SHA-256 of its signed outer `SHA256SUMS`, which covers every other file of the
//! bundle). Its value is sealed under K_meta, the tag in the AAD. It holds what the bundle's
//! manifest gave: the source vault and each record's id and version, in manifest order.

use rusqlite::Connection;

use crate::crypto;
use crate::error::Result;
use crate::record::RecordId;
use crate::store;

use super::Session;

/// The tag's and the AAD's context. It names what a memo vouches for: a payload that passed
/// every check `bundle::OuterChecked::check_payload` and `import` make. A release that adds a
/// check there changes it, so that no memo written before is found.
const CONTEXT: &str = "tvault import memo v1";

/// What a bundle imported in full held.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Memo {
    /// The source vault its manifest names.
    pub source_vault: String,
    /// Each record's id and version, in manifest order.
    pub records: Vec<(RecordId, u32)>,
}

impl Session {
    fn memo_tag(&self, contents: &[u8; 32]) -> [u8; 32] {
        crypto::mac(&self.keys.memo, CONTEXT, &[&self.vault_id, contents])
    }

    fn memo_aad(&self, tag: &[u8; 32]) -> Vec<u8> {
        crypto::aad(CONTEXT, &[&self.vault_id, tag])
    }

    /// The memo of a bundle with these contents, if one is stored and opens. One that does not
    /// open (damaged, or moved from another tag) is as good as none.
    pub(super) fn import_memo(
        &self,
        conn: &Connection,
        contents: &[u8; 32],
    ) -> Result<Option<Memo>> {
        let tag = self.memo_tag(contents);
        let Some(sealed) = store::import_memo(conn, &tag)? else {
            return Ok(None);
        };
        Ok(
            crypto::open_padded(&self.keys.meta, &self.memo_aad(&tag), &sealed)
                .and_then(|plain| decode(&plain)),
        )
    }

    /// Stores the memo of a bundle with these contents, replacing any stored for them.
    pub(super) fn write_import_memo(
        &self,
        conn: &Connection,
        contents: &[u8; 32],
        memo: &Memo,
    ) -> Result<()> {
        let tag = self.memo_tag(contents);
        let sealed = crypto::seal_padded(&self.keys.meta, &self.memo_aad(&tag), &encode(memo));
        store::set_import_memo(conn, &tag, &sealed)
    }
}

/// Layout v1: the source vault (u32 length, UTF-8), the number of records (u32), then each
/// record's 16-byte id and version (u32); integers big-endian.
fn encode(memo: &Memo) -> Vec<u8> {
    let vault = memo.source_vault.as_bytes();
    let mut out = Vec::with_capacity(4 + vault.len() + 4 + memo.records.len() * 20);
    out.extend_from_slice(&(vault.len() as u32).to_be_bytes());
    out.extend_from_slice(vault);
    out.extend_from_slice(&(memo.records.len() as u32).to_be_bytes());
    for (id, version) in &memo.records {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&version.to_be_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Option<Memo> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    let vault = std::str::from_utf8(rest.get(..len)?).ok()?.to_owned();
    let (count, rest) = rest[len..].split_first_chunk::<4>()?;
    let count = u32::from_be_bytes(*count) as usize;
    if rest.len() != count.checked_mul(20)? {
        return None;
    }
    let records = rest
        .chunks_exact(20)
        .map(|entry| {
            let (id, version) = entry.split_at(16);
            (
                RecordId(id.try_into().expect("16 bytes")),
                u32::from_be_bytes(version.try_into().expect("4 bytes")),
            )
        })
        .collect();
    Some(Memo {
        source_vault: vault,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memo_reads_back_as_written_and_nothing_else_reads() {
        let memo = Memo {
            source_vault: "a1b2".into(),
            records: vec![(RecordId([7; 16]), 1), (RecordId([9; 16]), 4)],
        };
        let bytes = encode(&memo);
        assert_eq!(decode(&bytes), Some(memo));
        // Cut short, or with a byte more, it is not a memo.
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        assert_eq!(decode(&[]), None);
        let empty = Memo {
            source_vault: String::new(),
            records: Vec::new(),
        };
        assert_eq!(decode(&encode(&empty)), Some(empty));
    }
}
