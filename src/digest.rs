//! The listing digest: what `list` and `search` need of every record, gathered into a few
//! hundred sealed blobs so that they open one blob per bucket instead of one sealed row and
//! one age file per record.
//!
//! Records fall into [`BUCKETS`] buckets by the first byte of their (random) id. Each bucket
//! has three blobs, all sealed under K_meta with its place in the AAD: the [`Summary`] of every
//! current record in it ([`Kind::Summaries`]), the statement text of each ([`Kind::Texts`]),
//! and its front ([`Kind::Front`]): the summaries of its first [`FRONT`] records in listing
//! order (by interview date, or intake date when there is none, then intake time, then id),
//! with the [`versions_hash`] of the records it was taken from, so that `list` can print the
//! earliest records of the whole vault from the fronts alone before it reads every bucket.
//! Writers refresh the buckets they touch in the same transaction; readers check each
//! bucket's record ids and versions against the `record_version` table (and a front's hash
//! against the heads) and rebuild any that disagree (or do not decode) from the records
//! themselves, so the digest is a cache: never the only copy of anything, never trusted over
//! the records.
//!
//! The summaries and texts are a format byte (1), then per record in id order the id
//! (16 bytes) and the version (u32), then:
//!
//! - summaries: witness, title?, interviewer?, date?, location?, language?, the tags (u32
//!   count, then each), the consented purposes (u8, bit i for [`Purpose::ALL`]\[i\]), the
//!   identity level (u8: 0 named, 1 pseudonym, 2 anonymous), media consent (u8: 1 voice,
//!   2 face), intake time, operator, whether there is a statement (u8), the number of
//!   attachments (u32) and the plaintext size (u64);
//! - texts: a tag (0 no statement, 1 inline, 2 stored only in its part because it is larger
//!   than [`TEXT_MAX`]) and for tag 1 the text.
//!
//! A front is the format byte (1), the 32-byte [`versions_hash`], then per record in listing
//! order the id, the version and the summary as above.
//!
//! Integers are big-endian; a string is its length (u32) and UTF-8 bytes; `x?` is a byte 0
//! (none) or 1 followed by `x`. Decoding accepts nothing else, and nothing after the end.

use std::str::FromStr;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::record::{
    Consent, IdentityLevel, InterviewDate, MediaConsent, Metadata, Purpose, RecordId, SealedMeta,
};

/// How many buckets the digest has: one per value of a record id's first byte.
pub const BUCKETS: usize = 256;

/// Statements up to this size are copied into the digest for `search`; larger ones are read
/// from their part when searched, so that one huge statement does not make every write to its
/// bucket rewrite it.
pub const TEXT_MAX: u64 = 256 * 1024;

/// How many records a bucket's front holds: `list` prints at least this many lines (and
/// usually many more) before it has read every bucket.
#[cfg(not(test))]
pub const FRONT: usize = 64;
/// One in unit tests, so that a vault of a hundred records has fronts that do not hold their
/// whole bucket.
#[cfg(test)]
pub const FRONT: usize = 1;

/// The bucket a record belongs to.
pub fn bucket(id: &RecordId) -> u8 {
    id.0[0]
}

/// The two blobs of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Summaries = 0,
    Texts = 1,
    Front = 2,
}

/// What `list` shows of a record version: its metadata and the shape of its content.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
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
#[derive(Clone)]
pub struct SummaryEntry {
    pub id: RecordId,
    pub version: u32,
    pub summary: Summary,
}

/// The layout version of both blobs.
const FORMAT: u8 = 1;

/// Appends the parts of a blob to a zeroizing buffer.
struct Out(Zeroizing<Vec<u8>>);

impl Out {
    fn new() -> Self {
        Out(Zeroizing::new(vec![FORMAT]))
    }

    /// Appends `bytes`. Growing moves the buffer by hand: `Vec`'s own growth would free the
    /// old allocation, statement text and all, without zeroing it; here the old one is a
    /// `Zeroizing` that is wiped as it is dropped.
    fn put(&mut self, bytes: &[u8]) {
        let needed = self.0.len() + bytes.len();
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
    }

    fn record(&mut self, id: &RecordId, version: u32) {
        self.put(id.as_bytes());
        self.u32(version);
    }

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.put(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn summary(&mut self, e: &SummaryEntry) {
        let (s, m) = (&e.summary, &e.summary.meta);
        self.record(&e.id, e.version);
        self.str(&m.witness);
        self.opt(m.title.as_deref());
        self.opt(m.interviewer.as_deref());
        self.opt(m.date.as_ref().map(InterviewDate::as_str));
        self.opt(m.location.as_deref());
        self.opt(m.language.as_deref());
        self.u32(m.tags.len() as u32);
        for t in &m.tags {
            self.str(t);
        }
        let c = &m.consent;
        self.u8(Purpose::ALL
            .iter()
            .enumerate()
            .filter(|(_, p)| c.purposes.contains(p))
            .fold(0, |mask, (i, _)| mask | 1 << i));
        self.u8(LEVELS
            .iter()
            .position(|l| *l == c.identity_level)
            .unwrap_or(1) as u8);
        self.u8(u8::from(c.media.voice) | u8::from(c.media.face) << 1);
        self.str(&s.created_at);
        self.str(&s.operator);
        self.u8(u8::from(s.has_statement));
        self.u32(s.attachments);
        self.put(&s.size.to_be_bytes());
    }
}

/// Reads the parts of a blob; every method fails on a short or malformed input.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn start(bytes: &'a [u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        (format == FORMAT).then_some(In(rest))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn record(&mut self) -> Option<(RecordId, u32)> {
        let id = RecordId(self.take(16)?.try_into().ok()?);
        Some((id, self.u32()?))
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn opt(&mut self) -> Option<Option<&'a str>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }

    fn summary(&mut self) -> Option<SummaryRef<'a>> {
        let (id, version) = self.record()?;
        let witness = self.str()?;
        let title = self.opt()?;
        let interviewer = self.opt()?;
        let date = self.opt()?;
        if let Some(d) = date
            && !plainly_a_date(d)
        {
            InterviewDate::from_str(d).ok()?;
        }
        let location = self.opt()?;
        let language = self.opt()?;
        let tags = (0..self.u32()?)
            .map(|_| self.str())
            .collect::<Option<Vec<_>>>()?;
        let purposes = self.u8()?;
        if purposes >> Purpose::ALL.len() != 0 {
            return None;
        }
        let level = *LEVELS.get(self.u8()? as usize)?;
        let media = match self.u8()? {
            m @ 0..=3 => MediaConsent {
                voice: m & 1 != 0,
                face: m & 2 != 0,
            },
            _ => return None,
        };
        let created_at = self.str()?;
        let operator = self.str()?;
        let has_statement = match self.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let attachments = self.u32()?;
        let size = self.u64()?;
        Some(SummaryRef {
            id,
            version,
            witness,
            title,
            interviewer,
            date,
            location,
            language,
            tags,
            purposes,
            level,
            media,
            created_at,
            operator,
            has_statement,
            attachments,
            size,
        })
    }
}

const LEVELS: [IdentityLevel; 3] = [
    IdentityLevel::Named,
    IdentityLevel::Pseudonym,
    IdentityLevel::Anonymous,
];

/// Encodes a bucket's summaries, which must be in id order.
pub fn encode_summaries(entries: &[SummaryEntry]) -> Zeroizing<Vec<u8>> {
    let mut out = Out::new();
    for e in entries {
        out.summary(e);
    }
    out.0
}

/// What a front was built from, to compare with the heads: SHA-256 over a label and then each
/// current record of the bucket, in id order, as its id and version (u32).
pub fn versions_hash<'a>(versions: impl IntoIterator<Item = (&'a RecordId, u32)>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tvault digest front v1");
    for (id, version) in versions {
        h.update(id.as_bytes());
        h.update(version.to_be_bytes());
    }
    h.finalize().into()
}

/// Encodes a bucket's front: the [`versions_hash`] of the bucket it was taken from, then its
/// first records in listing order, each as in the summaries.
pub fn encode_front<'e>(
    versions: &[u8; 32],
    entries: impl IntoIterator<Item = &'e SummaryEntry>,
) -> Zeroizing<Vec<u8>> {
    let mut out = Out::new();
    out.put(versions);
    for e in entries {
        out.summary(e);
    }
    out.0
}

/// One record in a bucket's summaries, borrowed from the opened blob: what `search` and a
/// filtered `list` look at before they keep (and copy) the few records they show.
pub struct SummaryRef<'a> {
    pub id: RecordId,
    pub version: u32,
    pub witness: &'a str,
    pub title: Option<&'a str>,
    pub interviewer: Option<&'a str>,
    /// A valid interview date.
    pub date: Option<&'a str>,
    pub location: Option<&'a str>,
    pub language: Option<&'a str>,
    pub tags: Vec<&'a str>,
    purposes: u8,
    level: IdentityLevel,
    media: MediaConsent,
    pub created_at: &'a str,
    pub operator: &'a str,
    pub has_statement: bool,
    pub attachments: u32,
    pub size: u64,
}

impl SummaryRef<'_> {
    /// The entry as its own copy.
    pub fn to_owned(&self) -> SummaryEntry {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        SummaryEntry {
            id: self.id,
            version: self.version,
            summary: Summary {
                meta: Metadata {
                    witness: self.witness.to_owned(),
                    title: owned(self.title),
                    interviewer: owned(self.interviewer),
                    date: self
                        .date
                        .map(|d| InterviewDate::from_str(d).expect("checked when decoded")),
                    location: owned(self.location),
                    language: owned(self.language),
                    tags: self.tags.iter().map(|t| (*t).to_owned()).collect(),
                    consent: Consent {
                        purposes: Purpose::ALL
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| self.purposes & 1 << i != 0)
                            .map(|(_, p)| *p)
                            .collect(),
                        identity_level: self.level,
                        media: self.media,
                    },
                },
                created_at: self.created_at.to_owned(),
                operator: self.operator.to_owned(),
                has_statement: self.has_statement,
                attachments: self.attachments,
                size: self.size,
            },
        }
    }
}

/// Decodes a bucket's summaries without copying them; `None` if they are not well formed.
pub fn summaries(bytes: &[u8]) -> Option<Vec<SummaryRef<'_>>> {
    let mut input = In::start(bytes)?;
    let mut out = Vec::new();
    while !input.0.is_empty() {
        out.push(input.summary()?);
    }
    Some(out)
}

/// Decodes a bucket's front ([`encode_front`]) without copying it; `None` if it is not well
/// formed.
pub fn front(bytes: &[u8]) -> Option<([u8; 32], Vec<SummaryRef<'_>>)> {
    let mut input = In::start(bytes)?;
    let versions = input.take(32)?.try_into().ok()?;
    let mut out = Vec::new();
    while !input.0.is_empty() {
        out.push(input.summary()?);
    }
    Some((versions, out))
}

/// Whether `d` is `YYYY-MM-DD` with a day of at most 28: a date in every month of every year,
/// as [`InterviewDate`] writes it, recognised without its parser (which costs more than the
/// rest of a summary's decoding). Other dates go through the parser.
fn plainly_a_date(d: &str) -> bool {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&two(5))
        && (1..=28).contains(&two(8))
}

/// Decodes a bucket's summaries; `None` if they are not well formed.
pub fn decode_summaries(bytes: &[u8]) -> Option<Vec<SummaryEntry>> {
    Some(summaries(bytes)?.iter().map(SummaryRef::to_owned).collect())
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
    let mut out = Out::new();
    for e in entries {
        out.record(&e.id, e.version);
        match &e.text {
            Text::None => out.u8(0),
            Text::Inline(s) => {
                out.u8(1);
                out.str(s);
            }
            Text::Large => out.u8(2),
        }
    }
    out.0
}

/// A statement as the digest holds it, borrowed from the opened blob.
#[derive(Clone, Copy)]
pub enum TextRef<'a> {
    None,
    Inline(&'a str),
    Large,
}

impl TextEntry {
    /// The entry as [`texts`] would give it.
    pub fn as_ref(&self) -> (RecordId, u32, TextRef<'_>) {
        let text = match &self.text {
            Text::None => TextRef::None,
            Text::Inline(s) => TextRef::Inline(s),
            Text::Large => TextRef::Large,
        };
        (self.id, self.version, text)
    }
}

/// Decodes a bucket's texts without copying them; `None` if they are not well formed.
pub fn texts(bytes: &[u8]) -> Option<Vec<(RecordId, u32, TextRef<'_>)>> {
    let mut input = In::start(bytes)?;
    let mut out = Vec::new();
    while !input.0.is_empty() {
        let (id, version) = input.record()?;
        let text = match input.u8()? {
            0 => TextRef::None,
            1 => TextRef::Inline(input.str()?),
            2 => TextRef::Large,
            _ => return None,
        };
        out.push((id, version, text));
    }
    Some(out)
}

/// Decodes a bucket's texts; `None` if they are not well formed.
pub fn decode_texts(bytes: &[u8]) -> Option<Vec<TextEntry>> {
    Some(
        texts(bytes)?
            .into_iter()
            .map(|(id, version, text)| TextEntry {
                id,
                version,
                text: match text {
                    TextRef::None => Text::None,
                    TextRef::Inline(s) => Text::Inline(Zeroizing::new(s.to_owned())),
                    TextRef::Large => Text::Large,
                },
            })
            .collect(),
    )
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

    #[test]
    fn summaries_round_trip_and_reject_damage() {
        let mut meta = Metadata::default();
        meta.witness = "Nightingale".into();
        meta.title = Some("Tïtle".into());
        meta.date = Some("2024-03-05".parse().unwrap());
        meta.tags = vec!["a".into(), "b c".into()];
        meta.consent.purposes = [Purpose::Court, Purpose::Archive].into();
        meta.consent.identity_level = IdentityLevel::Named;
        meta.consent.media = MediaConsent {
            voice: true,
            face: false,
        };
        let summary = Summary {
            meta,
            created_at: "2026-11-28T12:00:00Z".into(),
            operator: "op".into(),
            has_statement: true,
            attachments: 3,
            size: 1 << 40,
        };
        let entries = vec![
            SummaryEntry {
                id: RecordId([1; 16]),
                version: 2,
                summary: summary.clone(),
            },
            SummaryEntry {
                id: RecordId([2; 16]),
                version: 1,
                summary: Summary {
                    meta: Metadata::default(),
                    created_at: String::new(),
                    operator: "ö".into(),
                    has_statement: false,
                    attachments: 0,
                    size: 0,
                },
            },
        ];
        let bytes = encode_summaries(&entries);
        let back = decode_summaries(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        for (a, b) in back.iter().zip(&entries) {
            assert_eq!((a.id, a.version), (b.id, b.version));
            assert!(a.summary.meta == b.summary.meta);
            assert_eq!(a.summary.created_at, b.summary.created_at);
            assert_eq!(a.summary.operator, b.summary.operator);
            assert_eq!(
                (
                    a.summary.has_statement,
                    a.summary.attachments,
                    a.summary.size
                ),
                (
                    b.summary.has_statement,
                    b.summary.attachments,
                    b.summary.size
                )
            );
        }
        // Every cut but at a record boundary fails, as does another format.
        let first_end = encode_summaries(&entries[..1]).len();
        for cut in 0..bytes.len() {
            let ok = decode_summaries(&bytes[..cut]).is_some();
            assert_eq!(ok, cut == 1 || cut == first_end, "cut {cut}");
        }
        let mut bad = bytes.to_vec();
        bad[0] = 9;
        assert!(decode_summaries(&bad).is_none());
        assert!(decode_summaries(&encode_summaries(&[])).unwrap().is_empty());
    }
}
