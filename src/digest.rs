//! The listing digest: what `list` and `search` need of every record, gathered into a few
//! hundred sealed blobs so that they open one blob per bucket instead of one sealed row and
//! one age file per record.
//!
//! Records fall into [`BUCKETS`] buckets by the first byte of their (random) id. Each bucket
//! has two blobs, both sealed under K_meta with its place in the AAD: the [`Summary`] of every
//! current record in it ([`Kind::Summaries`], JSON) and the statement text of each
//! ([`Kind::Texts`], the binary layout below). Writers refresh the buckets they touch in the
//! same transaction; readers check each bucket's record ids and versions against the
//! `record_version` table and rebuild any that disagree from the records themselves, so the
//! digest is a cache: never the only copy of anything, never trusted over the records.
//!
//! The text blob: a format byte (1), then per record in id order: the id (16 bytes), the
//! version (u32, big-endian), a tag (0 no statement, 1 inline, 2 stored only in its part
//! because it is larger than [`TEXT_MAX`]), and for tag 1 the length (u32, big-endian) and the
//! UTF-8 text.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::record::{Metadata, RecordId, SealedMeta};

/// How many buckets the digest has: one per value of a record id's first byte.
pub const BUCKETS: usize = 256;

/// Statements up to this size are copied into the digest for `search`; larger ones are read
/// from their part when searched, so that one huge statement does not make every write to its
/// bucket rewrite it.
pub const TEXT_MAX: u64 = 256 * 1024;

/// The bucket a record belongs to.
pub fn bucket(id: &RecordId) -> u8 {
    id.0[0]
}

/// The two blobs of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Summaries = 0,
    Texts = 1,
}

/// What `list` shows of a record version: its metadata and the shape of its content.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Summary {
    pub meta: Metadata,
    /// Intake time, RFC 3339 UTC.
    pub created_at: String,
    pub operator: String,
    #[zeroize(skip)]
    pub has_statement: bool,
    #[zeroize(skip)]
    pub attachments: u32,
    /// Plaintext bytes of the statement and attachments together.
    #[zeroize(skip)]
    pub size: u64,
}

impl Summary {
    pub fn of(sealed: &SealedMeta) -> Self {
        Summary {
            meta: sealed.meta.clone(),
            created_at: sealed.created_at.clone(),
            operator: sealed.operator.clone(),
            has_statement: sealed.statement.is_some(),
            attachments: sealed.attachments.len() as u32,
            size: sealed.total_size(),
        }
    }
}

/// One record in a bucket's summaries.
#[derive(Clone, Serialize, Deserialize)]
pub struct SummaryEntry {
    pub id: RecordId,
    pub version: u32,
    pub summary: Summary,
}

#[derive(Serialize, Deserialize)]
struct SummaryBlob {
    v: u32,
    records: Vec<SummaryEntry>,
}

/// The layout version of both blobs.
const FORMAT: u8 = 1;

/// Encodes a bucket's summaries, which must be in id order.
pub fn encode_summaries(entries: Vec<SummaryEntry>) -> Zeroizing<Vec<u8>> {
    let blob = SummaryBlob {
        v: FORMAT.into(),
        records: entries,
    };
    Zeroizing::new(serde_json::to_vec(&blob).expect("summaries serialise"))
}

/// Decodes a bucket's summaries; `None` if they are not well formed.
pub fn decode_summaries(bytes: &[u8]) -> Option<Vec<SummaryEntry>> {
    let blob: SummaryBlob = serde_json::from_slice(bytes).ok()?;
    (blob.v == u32::from(FORMAT)).then_some(blob.records)
}

/// A statement as the digest holds it.
#[derive(Clone)]
pub enum Text {
    None,
    Inline(Zeroizing<String>),
    /// Larger than [`TEXT_MAX`]: read it from its part.
    Large,
}

/// One record in a bucket's texts.
#[derive(Clone)]
pub struct TextEntry {
    pub id: RecordId,
    pub version: u32,
    pub text: Text,
}

/// Encodes a bucket's texts, which must be in id order.
pub fn encode_texts(entries: &[TextEntry]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![FORMAT]);
    for e in entries {
        out.extend_from_slice(e.id.as_bytes());
        out.extend_from_slice(&e.version.to_be_bytes());
        match &e.text {
            Text::None => out.push(0),
            Text::Inline(s) => {
                out.push(1);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Text::Large => out.push(2),
        }
    }
    out
}

/// Decodes a bucket's texts; `None` if they are not well formed.
pub fn decode_texts(bytes: &[u8]) -> Option<Vec<TextEntry>> {
    let (&format, mut rest) = bytes.split_first()?;
    if format != FORMAT {
        return None;
    }
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let mut out = Vec::new();
    while let Some(id) = take(16) {
        let id = RecordId(id.try_into().ok()?);
        let version = u32::from_be_bytes(take(4)?.try_into().ok()?);
        let text = match take(1)?[0] {
            0 => Text::None,
            1 => {
                let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
                let text = std::str::from_utf8(take(len)?).ok()?;
                Text::Inline(Zeroizing::new(text.to_owned()))
            }
            2 => Text::Large,
            _ => return None,
        };
        out.push(TextEntry { id, version, text });
    }
    // `take(16)` fails on a short tail too: only an exact end is accepted.
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, text: Text) -> TextEntry {
        TextEntry {
            id: RecordId([n; 16]),
            version: u32::from(n) + 1,
            text,
        }
    }

    #[test]
    fn texts_round_trip_and_reject_damage() {
        let entries = vec![
            entry(1, Text::None),
            entry(2, Text::Inline(Zeroizing::new("héllo\nworld".into()))),
            entry(3, Text::Large),
            entry(4, Text::Inline(Zeroizing::new(String::new()))),
        ];
        let bytes = encode_texts(&entries);
        let back = decode_texts(&bytes).unwrap();
        assert_eq!(back.len(), 4);
        assert!(matches!(back[0].text, Text::None));
        assert!(matches!(&back[1].text, Text::Inline(s) if s.as_str() == "héllo\nworld"));
        assert!(matches!(back[2].text, Text::Large));
        assert!(matches!(&back[3].text, Text::Inline(s) if s.is_empty()));
        assert_eq!((back[3].id, back[3].version), (RecordId([4; 16]), 5));
        assert!(decode_texts(&encode_texts(&[])).unwrap().is_empty());
        // Every truncation but the whole fails, as does a bad tag, format or UTF-8.
        for cut in 0..bytes.len() {
            let ok = decode_texts(&bytes[..cut]).is_some();
            assert_eq!(
                ok,
                cut == 1 || cut == 22 || cut == 59 || cut == 80,
                "cut {cut}"
            );
        }
        let mut bad = bytes.to_vec();
        bad[21] = 9;
        assert!(decode_texts(&bad).is_none());
        bad[0] = 2;
        assert!(decode_texts(&bad).is_none());
        let mut bad = bytes.to_vec();
        bad[22 + 25] = 0xff;
        assert!(decode_texts(&bad).is_none());
    }
}
