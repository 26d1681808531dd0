//! Records and what is known about them: ids, consent, metadata, the witness's identity and
//! the manifest of content parts.
//!
//! Everything here except [`RecordId`] is sensitive. It only ever reaches the database sealed
//! under K_meta (see [`crate::crypto`]). Types that hold names or text zeroize on drop and have
//! a redacted `Debug`, so a stray `{:?}` cannot print a witness's name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A record's id: 128 random bits, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub [u8; 16]);

impl RecordId {
    pub fn random() -> Self {
        RecordId(crate::crypto::random_array())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a user types to name a record: the whole id or a unique prefix of it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordIdPrefix {
    digits: String,
}

impl RecordIdPrefix {
    /// The smallest and largest ids that start with this prefix.
    pub fn range(&self) -> ([u8; 16], [u8; 16]) {
        let low = format!("{:0<32}", self.digits);
        let high = format!("{:f<32}", self.digits);
        let parse = |s: &str| {
            let mut out = [0u8; 16];
            hex::decode_to_slice(s, &mut out).expect("prefix digits were validated as hex");
            out
        };
        (parse(&low), parse(&high))
    }
}

impl FromStr for RecordIdPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim().to_ascii_lowercase();
        if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err("a record id is 1 to 32 hexadecimal digits".into());
        }
        Ok(RecordIdPrefix { digits })
    }
}

impl fmt::Display for RecordIdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

impl fmt::Debug for RecordIdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordIdPrefix({})", self.digits)
    }
}

/// A purpose a witness can consent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Archive,
    Advocacy,
    Public,
    Un,
    Court,
}

impl Purpose {
    pub const ALL: [Purpose; 5] = [
        Purpose::Archive,
        Purpose::Advocacy,
        Purpose::Public,
        Purpose::Un,
        Purpose::Court,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Archive => "archive",
            Purpose::Advocacy => "advocacy",
            Purpose::Public => "public",
            Purpose::Un => "un",
            Purpose::Court => "court",
        }
    }
}

impl FromStr for Purpose {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| "expected one of archive, advocacy, public, un, court".into())
    }
}

/// How the witness may be identified in anything released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityLevel {
    Named,
    #[default]
    Pseudonym,
    Anonymous,
}

impl IdentityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityLevel::Named => "named",
            IdentityLevel::Pseudonym => "pseudonym",
            IdentityLevel::Anonymous => "anonymous",
        }
    }
}

impl FromStr for IdentityLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "named" => Ok(IdentityLevel::Named),
            "pseudonym" => Ok(IdentityLevel::Pseudonym),
            "anonymous" => Ok(IdentityLevel::Anonymous),
            _ => Err("expected named, pseudonym or anonymous".into()),
        }
    }
}

/// Which identifying media (voices, faces) the witness agreed may be released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaConsent {
    pub voice: bool,
    pub face: bool,
}

impl FromStr for MediaConsent {
    type Err = String;

    /// `none`, or a comma-separated list of `voice` and `face`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut media = MediaConsent::default();
        if s.trim() == "none" {
            return Ok(media);
        }
        for item in s.split(',') {
            match item.trim() {
                "voice" => media.voice = true,
                "face" => media.face = true,
                _ => return Err("expected none, or a list of voice and face".into()),
            }
        }
        Ok(media)
    }
}

/// What the witness agreed to. The default is the narrowest: no purpose, a pseudonym, no media.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub purposes: BTreeSet<Purpose>,
    pub identity_level: IdentityLevel,
    pub media: MediaConsent,
}

impl IdentityLevel {
    /// How much of the witness it lets an export reveal: anonymous < pseudonym < named.
    fn reveals(self) -> u8 {
        match self {
            IdentityLevel::Anonymous => 0,
            IdentityLevel::Pseudonym => 1,
            IdentityLevel::Named => 2,
        }
    }
}

impl Consent {
    /// Whether `other` allows anything this consent does not: another purpose, a more
    /// revealing identity level, or a kind of media.
    pub fn widened_by(&self, other: &Consent) -> bool {
        !other.purposes.is_subset(&self.purposes)
            || other.identity_level.reveals() > self.identity_level.reveals()
            || (other.media.voice && !self.media.voice)
            || (other.media.face && !self.media.face)
    }
}

/// Parses `archive,court`, the form `--consent` takes.
pub fn parse_purposes(s: &str) -> Result<BTreeSet<Purpose>, String> {
    s.split(',').map(Purpose::from_str).collect()
}

/// An interview date, `YYYY-MM-DD`, validated on the way in.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Zeroize)]
#[serde(transparent)]
pub struct InterviewDate(String);

impl FromStr for InterviewDate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s.trim(), &format)
            .map(|d| InterviewDate(d.format(&format).expect("a parsed date formats")))
            .map_err(|_| "expected a date as YYYY-MM-DD".into())
    }
}

impl InterviewDate {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InterviewDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InterviewDate(..)")
    }
}

/// The descriptive metadata of one record version, as given at intake.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Metadata {
    /// The witness's pseudonym: how the record is listed and searched.
    pub witness: String,
    pub title: Option<String>,
    pub interviewer: Option<String>,
    pub date: Option<InterviewDate>,
    pub location: Option<String>,
    pub language: Option<String>,
    pub tags: Vec<String>,
    #[zeroize(skip)]
    pub consent: Consent,
}

impl Metadata {
    /// Every free-text field but the pseudonym: what an export redacts when the witness's
    /// identity stays behind. (A field added to `Metadata` must be listed here; a test checks.)
    pub fn free_text_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.title
            .iter_mut()
            .chain(self.interviewer.iter_mut())
            .chain(self.location.iter_mut())
            .chain(self.language.iter_mut())
            .chain(self.tags.iter_mut())
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metadata(..)")
    }
}

/// The witness's real identity. Sealed apart from the metadata and shown only when asked.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct WitnessIdentity {
    pub name: Option<String>,
    pub contact: Option<String>,
    /// Other names the witness goes by (a nickname, a maiden name, another spelling). Sealed
    /// identities from before aliases existed decode with none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl WitnessIdentity {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.contact.is_none() && self.aliases.is_empty()
    }
}

impl fmt::Debug for WitnessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WitnessIdentity(..)")
    }
}

/// One stored content part (the statement or an attachment), as recorded in the sealed
/// manifest. The manifest is authenticated, so these values are trusted when reading.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PartInfo {
    /// 0 is the statement; attachments count from 1.
    pub part: u32,
    /// The attachment's file name, unique within the record; `None` for the statement.
    pub name: Option<String>,
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the original plaintext, taken at intake.
    pub sha256: String,
    /// Size of the padded plaintext that was encrypted.
    pub padded_size: u64,
    /// Length of the stored age file: header row plus all chunk rows.
    pub stored_len: u64,
    /// SHA-256 of the stored age file (vaults of format 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_sha256: Option<String>,
    /// The version the part is stored under, when it was carried over from an earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_at: Option<u32>,
}

impl fmt::Debug for PartInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartInfo(part {})", self.part)
    }
}

/// Everything sealed in a record version's `meta` column.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SealedMeta {
    /// The sealed layout's version; 1 is the only one so far.
    #[zeroize(skip)]
    pub v: u32,
    pub meta: Metadata,
    /// Intake time, RFC 3339 UTC.
    pub created_at: String,
    /// The operator whose keyslot unlocked the vault for this intake.
    pub operator: String,
    pub statement: Option<PartInfo>,
    pub attachments: Vec<PartInfo>,
    /// Whether a witness identity part was sealed alongside.
    #[zeroize(skip)]
    pub has_identity: bool,
    /// Where an imported version came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[zeroize(skip)]
    pub imported: Option<ImportOrigin>,
    /// Where a version recorded on a field kit came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[zeroize(skip)]
    pub kit: Option<KitOrigin>,
    /// Items derived from the statement, an attachment or another derived item
    /// (transcripts, translations, redactions, summaries), with their lineage. Versions
    /// sealed before derived items existed decode with none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<Derived>,
}

/// What a derived item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DerivedKind {
    Transcript,
    Translation,
    Redaction,
    Summary,
}

impl DerivedKind {
    pub const ALL: [DerivedKind; 4] = [
        DerivedKind::Transcript,
        DerivedKind::Translation,
        DerivedKind::Redaction,
        DerivedKind::Summary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DerivedKind::Transcript => "transcript",
            DerivedKind::Translation => "translation",
            DerivedKind::Redaction => "redaction",
            DerivedKind::Summary => "summary",
        }
    }
}

impl FromStr for DerivedKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DerivedKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| "expected one of transcript, translation, redaction, summary".into())
    }
}

/// What kind of part a derived item was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Statement,
    Attachment,
    Derived,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Statement => "statement",
            SourceKind::Attachment => "attachment",
            SourceKind::Derived => "derived",
        }
    }
}

/// The part a derived item was made from, as it was when the item was made.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct DerivedSource {
    #[zeroize(skip)]
    pub what: SourceKind,
    /// The attachment's or derived item's name; `None` for the statement.
    pub name: Option<String>,
    /// Its part number and the version that stores it; `None` when the source is not held
    /// in this vault (an imported item whose source an export withheld).
    pub part: Option<u32>,
    pub stored_at: Option<u32>,
    /// SHA-256 of its plaintext at intake, when held here.
    pub sha256: Option<String>,
}

/// One step of a derived item's lineage that is not held in this vault: a derived source an
/// export withheld, as the bundle described it (never its content, size or hash).
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct LineageStep {
    pub name: String,
    #[zeroize(skip)]
    pub kind: DerivedKind,
    pub language: Option<String>,
    pub method: String,
    pub operator: String,
    pub created_at: String,
    #[zeroize(skip)]
    pub source: SourceKind,
    pub source_name: Option<String>,
}

/// A derived item: a transcript, translation, redaction or summary of another part of the
/// record, stored as a part of its own, with its lineage. The source is never changed.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Derived {
    /// The stored item; `part.name` is its name, unique among the record's attachments and
    /// derived items.
    pub part: PartInfo,
    #[zeroize(skip)]
    pub kind: DerivedKind,
    pub source: DerivedSource,
    pub language: Option<String>,
    /// How it was made: `manual`, or a tool and its version.
    pub method: String,
    pub note: Option<String>,
    pub operator: String,
    pub created_at: String,
    /// Its source changed in a later version (replaced, removed, or itself stale): carried
    /// over, but no longer a faithful derivation of what the record holds.
    #[serde(default)]
    #[zeroize(skip)]
    pub stale: bool,
    /// For a redaction made by `tvault redact`: how many masks were applied (never what).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[zeroize(skip)]
    pub masks: Option<u32>,
    /// The steps above its source that this vault does not hold (an imported item).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<LineageStep>,
}

impl Derived {
    pub fn name(&self) -> &str {
        self.part.name.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for Derived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Derived({}, part {})",
            self.kind.as_str(),
            self.part.part
        )
    }
}

/// The provenance of a version recorded on a field kit and imported at headquarters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KitOrigin {
    /// The kit's name at headquarters, its id, and its signing key's fingerprint.
    pub kit: String,
    pub kit_id: String,
    pub kit_fingerprint: String,
    /// The operator who recorded it on the kit, and when, by the kit's clock.
    pub kit_operator: String,
    pub recorded_at: String,
    /// The SHA-256 of the record's sealed metadata as the kit stored and logged it.
    pub sealed_meta_sha256: String,
    pub imported_at: String,
    pub imported_by: String,
}

/// The provenance of a version imported from an export bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportOrigin {
    pub export_id: String,
    /// The vault the bundle came from, and the fingerprint of the key that signed it.
    pub source_vault: String,
    pub signer_fingerprint: String,
    pub purpose: String,
    /// The SHA-256 of each part's original content at intake in the source vault.
    pub intake_sha256: BTreeMap<u32, String>,
    /// The statement was changed for export (the real name replaced), so its hash here differs.
    pub statement_redacted: bool,
    /// The record's custody events in the source vault, as the bundle carried them.
    pub custody: serde_json::Value,
    pub imported_at: String,
    pub imported_by: String,
}

/// The intake hashes a version's sealed metadata lists, read without the rest of it: an
/// imported version's custody excerpt, the largest part of its metadata, is skipped rather
/// than parsed. An import decides by them whether a bundle's version is one held already.
#[derive(Deserialize)]
pub struct SealedHashes {
    v: u32,
    statement: Option<PartHash>,
    attachments: Vec<PartHash>,
    #[serde(default)]
    imported: Option<ImportedHashes>,
    #[serde(default)]
    derived: Vec<DerivedHash>,
}

#[derive(Deserialize)]
struct PartHash {
    part: u32,
    sha256: String,
}

#[derive(Deserialize)]
struct DerivedHash {
    part: PartHash,
}

#[derive(Deserialize)]
struct ImportedHashes {
    intake_sha256: BTreeMap<u32, String>,
}

impl SealedHashes {
    /// The sealed layout's version ([`SealedMeta::VERSION`]).
    pub fn layout(&self) -> u32 {
        self.v
    }

    /// The SHA-256 of each part's content at its first intake, by part number: an imported
    /// version's as its bundle listed them, the others' as recorded here (the statement, the
    /// attachments and the derived items).
    pub fn intake_hashes(self) -> BTreeMap<u32, String> {
        match self.imported {
            Some(origin) => origin.intake_sha256,
            None => self
                .statement
                .into_iter()
                .chain(self.attachments)
                .chain(self.derived.into_iter().map(|d| d.part))
                .map(|p| (p.part, p.sha256))
                .collect(),
        }
    }
}

impl SealedMeta {
    pub const VERSION: u32 = 1;

    pub fn total_size(&self) -> u64 {
        self.parts().map(|p| p.size).sum()
    }

    /// Every content part the version lists: the statement, the attachments, then the
    /// derived items.
    pub fn parts(&self) -> impl Iterator<Item = &PartInfo> {
        self.statement
            .iter()
            .chain(&self.attachments)
            .chain(self.derived.iter().map(|d| &d.part))
    }

    /// [`SealedMeta::parts`], to change.
    pub fn parts_mut(&mut self) -> impl Iterator<Item = &mut PartInfo> {
        self.statement
            .iter_mut()
            .chain(&mut self.attachments)
            .chain(self.derived.iter_mut().map(|d| &mut d.part))
    }

    /// A number for a new part of a version that collides with none this one lists.
    pub fn next_part(&self) -> u32 {
        self.parts().map(|p| p.part + 1).max().unwrap_or(1).max(1)
    }

    /// The derived item named `name`.
    pub fn derived_item(&self, name: &str) -> Option<&Derived> {
        self.derived.iter().find(|d| d.name() == name)
    }
}

/// Makes attachment names unique within a record: a second `photo.jpg` becomes `photo (2).jpg`.
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mut candidate = name.clone();
        let mut n = 2;
        while taken.contains(&candidate) {
            candidate = match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
                _ => format!("{name} ({n})"),
            };
            n += 1;
        }
        taken.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_is_widened_by_any_purpose_level_or_medium_it_did_not_allow() {
        let court = Consent {
            purposes: BTreeSet::from([Purpose::Court]),
            identity_level: IdentityLevel::Pseudonym,
            media: MediaConsent {
                voice: true,
                face: false,
            },
        };
        assert!(!court.widened_by(&court));
        let narrower = Consent {
            identity_level: IdentityLevel::Anonymous,
            media: MediaConsent::default(),
            ..court.clone()
        };
        assert!(!court.widened_by(&narrower));
        assert!(narrower.widened_by(&court));
        for wider in [
            Consent {
                purposes: BTreeSet::from([Purpose::Court, Purpose::Public]),
                ..court.clone()
            },
            Consent {
                identity_level: IdentityLevel::Named,
                ..court.clone()
            },
            Consent {
                media: MediaConsent {
                    voice: true,
                    face: true,
                },
                ..court.clone()
            },
        ] {
            assert!(court.widened_by(&wider));
        }
    }

    #[test]
    fn prefix_range_covers_exactly_the_ids_with_that_prefix() {
        let p: RecordIdPrefix = "AB1".parse().unwrap();
        let (lo, hi) = p.range();
        assert_eq!(hex::encode(lo), format!("ab1{}", "0".repeat(29)));
        assert_eq!(hex::encode(hi), format!("ab1{}", "f".repeat(29)));
        assert!("".parse::<RecordIdPrefix>().is_err());
        assert!("xyz".parse::<RecordIdPrefix>().is_err());
        assert!("0".repeat(33).parse::<RecordIdPrefix>().is_err());
    }

    #[test]
    fn consent_values_parse_strictly() {
        assert_eq!(
            parse_purposes("court,un").unwrap(),
            BTreeSet::from([Purpose::Court, Purpose::Un])
        );
        assert!(parse_purposes("court,press").is_err());
        assert_eq!(
            "voice,face".parse::<MediaConsent>().unwrap(),
            MediaConsent {
                voice: true,
                face: true
            }
        );
        assert_eq!(
            "none".parse::<MediaConsent>().unwrap(),
            MediaConsent::default()
        );
        assert!("voice,smell".parse::<MediaConsent>().is_err());
        assert!("named".parse::<IdentityLevel>().is_ok());
        assert!("2024-02-30".parse::<InterviewDate>().is_err());
        assert_eq!(
            "2024-02-29".parse::<InterviewDate>().unwrap().as_str(),
            "2024-02-29"
        );
    }

    #[test]
    fn identities_sealed_before_aliases_still_decode() {
        let old: WitnessIdentity = serde_json::from_str(r#"{"name":"N","contact":null}"#).unwrap();
        assert_eq!(old.name.as_deref(), Some("N"));
        assert!(old.aliases.is_empty());
        assert!(!old.is_empty());
        let new = WitnessIdentity {
            name: None,
            contact: None,
            aliases: vec!["A".into()],
        };
        assert!(!new.is_empty());
        let round: WitnessIdentity =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert!(round == new);
        assert_eq!(format!("{new:?}"), "WitnessIdentity(..)");
    }

    /// Every string of serialised metadata is the pseudonym, the date, a consent value, or a
    /// field `free_text_mut` hands out: a new free-text field cannot escape redaction unseen.
    #[test]
    fn every_free_text_field_of_metadata_is_listed_for_redaction() {
        let mut meta = Metadata {
            witness: "W".into(),
            title: Some("free title".into()),
            interviewer: Some("free interviewer".into()),
            date: Some("2024-01-02".parse().unwrap()),
            location: Some("free location".into()),
            language: Some("free language".into()),
            tags: vec!["free tag 1".into(), "free tag 2".into()],
            consent: Consent {
                purposes: BTreeSet::from([Purpose::Court]),
                identity_level: IdentityLevel::Named,
                media: MediaConsent::default(),
            },
        };
        fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::String(s) => out.push(s.clone()),
                serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        strings(&serde_json::to_value(&meta).unwrap(), &mut all);
        let listed: Vec<String> = meta.free_text_mut().map(|s| s.clone()).collect();
        assert_eq!(listed.len(), 6);
        for s in all {
            assert!(
                listed.contains(&s) || ["W", "2024-01-02", "court", "named"].contains(&s.as_str()),
                "{s} is a string field of Metadata that free_text_mut does not list"
            );
        }
    }

    #[test]
    fn duplicate_attachment_names_are_made_unique() {
        let names: Vec<String> = ["a.mp3", "a.mp3", "notes", "notes", "a (2).mp3"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            unique_names(&names),
            ["a.mp3", "a (2).mp3", "notes", "notes (2)", "a (2) (2).mp3"]
        );
    }
}
