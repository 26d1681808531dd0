//! The bundle's small formats: deterministic tar headers, `sha256sum` lines, SSHSIG
//! signatures, the receipt and the inner manifest.

use std::collections::BTreeMap;
use std::io;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, SshSig};

use super::Withheld;

/// The folder of a record's derived items in a bundle, and the file with their lineage.
pub const DERIVED_DIR: &str = "derived";
pub const LINEAGE_FILE: &str = "lineage.json";

/// A tar header that says nothing about the machine that wrote it.
pub fn header(path: &str, size: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

/// Longest file name a bundle uses for an attachment, in bytes: what fits tar's ustar name
/// field whole, so every tar reads it the same way.
pub const MAX_FILE_NAME: usize = 100;

/// The file names a record's attachments travel under, in order: each recorded name with
/// anything a tar reader, `sha256sum` or another operating system treats specially (control
/// characters such as a newline, `/`, `\`, Windows' `<>:"|?*`, trailing dots and spaces, the
/// names `.` and `..`) replaced by `_`, cut to [`MAX_FILE_NAME`] bytes keeping the extension,
/// and made unique. Names that need none of this are kept as they are.
pub fn file_names(recorded: &[&str]) -> Vec<String> {
    let safe: Vec<String> = recorded
        .iter()
        .map(|name| {
            let mut s: String = name
                .chars()
                .map(|c| {
                    if c.is_control()
                        || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
                    {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            let kept = s.trim_end_matches(['.', ' ']).len();
            if kept < s.len() {
                s.truncate(kept);
                s.push('_');
            }
            if s.is_empty() {
                s.push('_');
            }
            // Room for a " (N)" that makes it unique.
            shorten(&s, MAX_FILE_NAME - 8)
        })
        .collect();
    crate::record::unique_names(&safe)
}

/// `name` cut to at most `max` bytes on a character boundary, keeping a short extension.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => &name[stem.len()..],
        _ => "",
    };
    let mut end = max - ext.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &name[..end])
}

/// `sha256sum` format: one `<hex>  <name>` line per file.
pub fn sums_text(sums: &BTreeMap<String, [u8; 32]>) -> String {
    sums.iter()
        .map(|(name, hash)| format!("{}  {name}\n", hex::encode(hash)))
        .collect()
}

/// Parses `sha256sum` output into name → hash; refuses anything else.
pub(super) fn parse_sums(text: &[u8]) -> Option<BTreeMap<String, [u8; 32]>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = Vec::new();
    for line in text.lines() {
        let (hex, name) = line.split_once("  ")?;
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex, &mut hash).ok()?;
        lines.push((name, hash));
    }
    // Sorted (tvault writes them so, which makes this cheap), a name twice is refused, and
    // the map is built from the sorted list in one go.
    lines.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if lines.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return None;
    }
    Some(
        lines
            .into_iter()
            .map(|(name, hash)| (name.to_owned(), hash))
            .collect(),
    )
}

/// An SSHSIG (as `ssh-keygen -Y sign` makes) over `msg`.
pub fn ssh_sign(key: &SigningKey, namespace: &str, msg: &[u8]) -> String {
    let keypair = ssh_key::private::Ed25519Keypair::from_seed(&key.to_bytes());
    let private = ssh_key::PrivateKey::from(keypair);
    private
        .sign(namespace, HashAlg::Sha512, msg)
        .and_then(|sig| sig.to_pem(LineEnding::LF))
        .expect("Ed25519 SSHSIG signing cannot fail")
}

/// What checking an SSHSIG found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SigCheck {
    Good,
    /// Made by a key other than the one given: the signature says which key made it.
    OtherKey,
    /// Not an SSHSIG, another namespace, or not a signature over the message.
    Bad,
}

pub(super) fn ssh_verify(key: &VerifyingKey, namespace: &str, msg: &[u8], pem: &[u8]) -> SigCheck {
    let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
        ssh_key::public::Ed25519PublicKey(key.to_bytes()),
    ));
    let Ok(sig) = SshSig::from_pem(pem) else {
        return SigCheck::Bad;
    };
    if sig.public_key() != public.key_data() {
        return SigCheck::OtherKey;
    }
    if public.verify(namespace, msg, &sig).is_ok() {
        SigCheck::Good
    } else {
        SigCheck::Bad
    }
}

/// The receipt: the inclusion proof of the export's intent event in the checkpoint's tree.
/// Version 2 carries only the event's leaf hash and the export id; the event itself (which
/// names the operator, the purpose and any reason) travels sealed, in the manifest. Version 1
/// (read, no longer written) carried the event in the clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// "tvault-receipt/v2" (or "tvault-receipt/v1").
    pub format: String,
    /// v1: the event's leaf bytes (its JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// v2: the event's leaf hash, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
    /// v2: the export's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_id: Option<String>,
    pub index: u64,
    pub tree_size: u64,
    /// Base64 hashes, RFC 9162 order.
    pub proof: Vec<String>,
    /// The signing key's rotations, oldest first (when the vault was ever rekeyed), so that a
    /// receiver who holds an earlier key can follow it to the key that signed this bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotations: Vec<crate::audit::Rotation>,
}

impl Receipt {
    pub const FORMAT: &'static str = "tvault-receipt/v2";
    pub const FORMAT_V1: &'static str = "tvault-receipt/v1";
}

/// The inner manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub export_id: String,
    pub vault_id: String,
    pub purpose: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub operator: String,
    pub time: String,
    pub records: Vec<ManifestRecord>,
    pub withheld: Vec<Withheld>,
    /// Records selected but left out whole, with why (`export --only-consented`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Withheld>,
    /// The intent event's leaf bytes (its JSON), which the outer receipt proves is in the
    /// signed log (bundle format v2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_event: Option<String>,
    /// The operators whose personal keys signed this manifest (`approvals/`), the exporter
    /// first (format v5 on; none when the exporter had no personal key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<super::Approval>,
    /// How many operators the sending vault's policy required to sign an export (v5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_required: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub id: String,
    pub version: u32,
    pub witness: String,
    pub consent: crate::record::Consent,
    /// Exported although its consent does not list the purpose (the reason is logged).
    pub consent_overridden: bool,
    /// Hashes of the original content taken at intake, by part (0 is the statement).
    pub intake_sha256: BTreeMap<u32, String>,
    /// The statement was changed for export (the real name replaced by the pseudonym).
    pub statement_redacted: bool,
    pub identity_included: bool,
    /// Attachment names as exported.
    pub attachments: Vec<String>,
    /// The name an attachment was recorded under, by its name in the bundle, where the two
    /// differ ([`file_names`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded_names: BTreeMap<String, String>,
    /// How the record's texts were redacted, when they were (its identity stayed behind, or
    /// its identity level is `anonymous`). Absent in bundles made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
    /// The derived items the bundle carries (under `derived/`), by their names in it
    /// (format v4 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<String>,
    /// The name a derived item was stored under, by its name in the bundle, where the two
    /// differ (as `recorded_names` for attachments; format v5 on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded_derived_names: BTreeMap<String, String>,
    /// The lineage of each derived item carried, and of every derived item it was made from
    /// (the record's `lineage.json` holds the same); never a hash or size of what stayed
    /// behind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<LineageNode>,
}

/// One derived item in a bundle's lineage: what it is, what it was made from, how, by whom
/// and when, and whether it (and its source) left in this bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageNode {
    /// Its name in the bundle (under `derived/` when released; as the withheld list names
    /// it otherwise).
    pub name: String,
    /// `transcript`, `translation`, `redaction` or `summary`.
    pub kind: String,
    /// It is in the bundle.
    pub released: bool,
    /// `statement`, `attachment` or `derived`, and the source's name (none for the statement).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The source is in the bundle too (otherwise it is listed as withheld).
    pub source_released: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub method: String,
    /// For a redaction made by `tvault redact`: how many masks were applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<u32>,
    pub operator: String,
    pub created_at: String,
}

/// How a record's texts were redacted for an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// `automatic`: the witness's names were found and replaced by tvault's matcher
    /// (SECURITY.md, "Exports"), which can miss a spelling, a nickname or a name in a picture.
    pub method: String,
    /// Whether a person checked the redacted texts against the originals. Always false so far.
    pub reviewed: bool,
    /// The record's files that redaction changed, relative to its folder: `statement.txt`,
    /// `metadata.json`, `attachments/<name>`. Their intake hashes are not listed.
    pub changed: Vec<String>,
}

impl Redaction {
    pub const AUTOMATIC: &'static str = "automatic";
}

#[cfg(test)]
mod tests {
    use super::parse_sums;

    /// The sums are read in any order; a name twice, a hash of the wrong length or not hex, or a
    /// line without the two spaces makes the whole listing unreadable.
    #[test]
    fn sums_are_read_in_any_order_and_refused_when_malformed() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let sums = parse_sums(format!("{b}  z/2\n{a}  a/1\n").as_bytes()).expect("readable");
        assert_eq!(
            sums.into_iter().collect::<Vec<_>>(),
            vec![
                ("a/1".to_owned(), [0xaa; 32]),
                ("z/2".to_owned(), [0xbb; 32])
            ]
        );
        for bad in [
            format!("{a}  x\n{b}  y\n{a}  x\n"),
            format!("{}  x\n", &a[..62]),
            format!("{a}00  x\n"),
            format!("{}g  x\n", &a[..63]),
            format!("{a} x\n"),
        ] {
            assert!(parse_sums(bad.as_bytes()).is_none(), "{bad}");
        }
    }
}
