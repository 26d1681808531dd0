//! Kit bundles and kit receipts: how a field kit's sealed records travel to headquarters, and
//! how headquarters says it holds them (docs/kit-format.md).
//!
//! A kit bundle is an uncompressed tar, written in this order:
//!
//! ```text
//! FORMAT                          "tvault-kit-bundle/v1\n": plaintext, to recognise it
//! manifest.age                    the signed manifest, sealed to the kit's HQ recipient
//! records/<id>/meta.age           each record's files exactly as the kit stores them, all
//! records/<id>/identity.age       sealed to the same recipient (age X25519)
//! records/<id>/part-<n>.age
//! ```
//!
//! Outside the age files a bundle shows only how many records it holds and their padded
//! sizes: not which kit sent it, nor to which headquarters. The manifest carries the kit's
//! whole custody log (its events' exact bytes), the kit's signed checkpoint over it, and
//! each record's sealed files with their lengths and SHA-256; the kit's Ed25519 key signs
//! it. A receipt is a JSON document signed by headquarters' key, naming each record held and
//! the hashes of its sealed files (never of its plaintext: a hash of a known file would let
//! whoever seizes the kit confirm that it recorded that file).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::header;

/// The first entry of every kit bundle, and its content.
pub const KIT_FORMAT_ENTRY: &str = "FORMAT";
pub const KIT_FORMAT: &str = "tvault-kit-bundle/v1\n";
/// The sealed manifest's entry.
pub const KIT_MANIFEST_ENTRY: &str = "manifest.age";
/// The receipt's format.
pub const RECEIPT_FORMAT: &str = "tvault-kit-receipt/v1";

/// The most a manifest may be, sealed: a kit's log grows by a few events per record.
pub const MANIFEST_LIMIT: u64 = 64 * 1024 * 1024;
/// The most a record's sealed metadata or identity may be.
pub const SMALL_SEALED_LIMIT: u64 = 16 * 1024 * 1024;

const MANIFEST_CONTEXT: &str = "tvault kit manifest v1";
const CONTINUATION_CONTEXT: &str = "tvault kit log continuation v1";

/// How a kit's new log names the old one it continues (`kit-log-restarted`): a hash of the
/// old log's size and root as headquarters' receipt named them. Headquarters, which keeps
/// this for every import, recognises it; whoever unlocks the kit learns nothing of how long
/// the old log was.
pub fn continuation(log_size: u64, log_root: &[u8; 32]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(CONTINUATION_CONTEXT.as_bytes());
    h.update([0]);
    h.update(log_size.to_be_bytes());
    h.update(log_root);
    hex::encode(h.finalize())
}
const RECEIPT_CONTEXT: &str = "tvault kit receipt v1";

/// One sealed file: its length and SHA-256 (hex) as stored on the kit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedFile {
    pub len: u64,
    pub sha256: String,
}

/// One sealed content part (0 the statement, 1… attachments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPart {
    pub part: u32,
    pub len: u64,
    pub sha256: String,
}

/// A record as a kit holds it: sealed files only. The kit logs this at intake, sends it in
/// its manifest, and headquarters names it in the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedRecord {
    pub id: String,
    pub version: u32,
    pub meta: SealedFile,
    pub identity: SealedFile,
    pub parts: Vec<SealedPart>,
}

impl SealedRecord {
    /// The bundle's file names of this record, with their sealed lengths and hashes, in the
    /// order they are written.
    pub fn files(&self) -> Vec<(String, u64, String)> {
        let mut out = vec![
            (
                format!("records/{}/meta.age", self.id),
                self.meta.len,
                self.meta.sha256.clone(),
            ),
            (
                format!("records/{}/identity.age", self.id),
                self.identity.len,
                self.identity.sha256.clone(),
            ),
        ];
        for p in &self.parts {
            out.push((
                format!("records/{}/part-{}.age", self.id, p.part),
                p.len,
                p.sha256.clone(),
            ));
        }
        out
    }
}

/// What a kit says in a bundle, signed by its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KitManifest {
    pub format: String,
    /// The kit's id (its vault id), hex.
    pub kit_id: String,
    /// The vault id of the headquarters that made the kit, hex.
    pub hq_vault_id: String,
    /// When the kit sent it, by its own clock.
    pub sent_at: String,
    /// The kit's signed checkpoint note over its whole log.
    pub checkpoint: String,
    /// Every event of the kit's log, oldest first, as the exact bytes that were hashed into
    /// its leaves.
    pub events: Vec<String>,
    /// Every record not yet confirmed.
    pub records: Vec<SealedRecord>,
}

/// A receipt's body: headquarters holds these records of this kit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KitReceipt {
    pub format: String,
    pub kit_id: String,
    pub hq_vault_id: String,
    /// The size of the kit log the bundle carried, and its root (hex).
    pub kit_log_size: u64,
    pub kit_log_root: String,
    pub issued_at: String,
    pub records: Vec<SealedRecord>,
}

/// A signed document: the exact body bytes and an Ed25519 signature over them under a
/// context string. For a receipt, `rotations` (hex) leads from the key the kit pinned to the
/// key that signed, when headquarters rotated its key since.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    pub body: String,
    pub signature: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rotations: String,
}

fn signed_message(context: &str, body: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(context.len() + 1 + body.len());
    msg.extend_from_slice(context.as_bytes());
    msg.push(0);
    msg.extend_from_slice(body.as_bytes());
    msg
}

impl Signed {
    fn sign(context: &str, body: String, key: &SigningKey) -> Self {
        let sig = key.sign(&signed_message(context, &body));
        Signed {
            body,
            signature: STANDARD.encode(sig.to_bytes()),
            rotations: String::new(),
        }
    }

    /// The body, once the signature verifies with `key`.
    fn verified(&self, context: &str, key: &VerifyingKey) -> Option<&str> {
        let sig = STANDARD.decode(&self.signature).ok()?;
        let sig = Signature::from_slice(&sig).ok()?;
        key.verify(&signed_message(context, &self.body), &sig)
            .ok()
            .map(|()| self.body.as_str())
    }

    pub fn sign_manifest(manifest: &KitManifest, key: &SigningKey) -> Self {
        let body = serde_json::to_string(manifest).expect("manifests serialise");
        Self::sign(MANIFEST_CONTEXT, body, key)
    }

    /// The manifest, if `key` signed it.
    pub fn manifest(&self, key: &VerifyingKey) -> Option<KitManifest> {
        serde_json::from_str(self.verified(MANIFEST_CONTEXT, key)?).ok()
    }

    pub fn sign_receipt(receipt: &KitReceipt, key: &SigningKey, rotations: &[u8]) -> Self {
        let body = serde_json::to_string_pretty(receipt).expect("receipts serialise");
        let mut signed = Self::sign(RECEIPT_CONTEXT, body, key);
        signed.rotations = hex::encode(rotations);
        signed
    }

    /// The receipt, if `key` signed it.
    pub fn receipt(&self, key: &VerifyingKey) -> Option<KitReceipt> {
        serde_json::from_str(self.verified(RECEIPT_CONTEXT, key)?).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("signed documents serialise") + "\n"
    }
}

/// Writes a kit bundle under a hidden partial name and gives it its name when finished; a
/// bundle not finished (an error, a kill) leaves only the partial file, removed on error.
pub struct KitBundleWriter {
    tar: tar::Builder<std::fs::File>,
    partial: PathBuf,
    path: PathBuf,
    done: bool,
}

impl KitBundleWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.exists() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let partial = crate::fs::partial_path(path);
        let file = crate::fs::create_new_file(&partial)?;
        let mut writer = KitBundleWriter {
            tar: tar::Builder::new(file),
            partial,
            path: path.to_owned(),
            done: false,
        };
        writer.add(
            KIT_FORMAT_ENTRY,
            KIT_FORMAT.len() as u64,
            KIT_FORMAT.as_bytes(),
        )?;
        Ok(writer)
    }

    /// Adds one file of `size` bytes read from `data`.
    pub fn add(&mut self, name: &str, size: u64, data: impl Read) -> io::Result<()> {
        self.tar.append(&header(name, size)?, data)
    }

    /// Ends the tar, syncs it and gives it its name.
    pub fn finish(mut self) -> io::Result<()> {
        self.tar.finish()?;
        let file = self.tar.get_mut();
        file.flush()?;
        file.sync_all()?;
        crate::fs::publish(&self.partial, &self.path)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for KitBundleWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Which kind of bundle a file is, by its first tar header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// A field kit's bundle (`tvault kit send`): its first entry is `FORMAT`. Its import
    /// checks the rest, refusing one cut short.
    Kit,
    /// Anything else: an export bundle, or whatever its checks will find it to be.
    Export,
}

/// Reads the first tar header of the file at `path`, before any key is asked for. A file
/// that ends before its first header is whole (empty, or cut short, as a `kit send` killed at
/// once leaves its hidden partial file) is no bundle of any kind and is refused here.
pub fn bundle_kind(path: &Path) -> Result<BundleKind, super::BundleError> {
    let step = "read the bundle's first entry";
    let refuse = |detail: String| super::BundleError::integrity(step, detail);
    let file = std::fs::File::open(path)
        .map_err(|e| super::BundleError::integrity("open the bundle", e.to_string()))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let first = archive
        .entries()
        .map_err(|e| refuse(e.to_string()))?
        .next()
        .ok_or_else(|| refuse("the file is empty or ends before its first entry".into()))?
        .map_err(|e| {
            refuse(format!(
                "the file is not a tar archive, or is cut short: {e}"
            ))
        })?;
    Ok(
        if first.path_bytes().as_ref() == KIT_FORMAT_ENTRY.as_bytes() {
            BundleKind::Kit
        } else {
            BundleKind::Export
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> KitReceipt {
        KitReceipt {
            format: RECEIPT_FORMAT.into(),
            kit_id: "00".repeat(16),
            hq_vault_id: "11".repeat(16),
            kit_log_size: 3,
            kit_log_root: "22".repeat(32),
            issued_at: "2026-01-01T00:00:00Z".into(),
            records: Vec::new(),
        }
    }

    #[test]
    fn a_signed_receipt_opens_only_with_its_key_and_unchanged() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let other = SigningKey::generate(&mut rand::rngs::OsRng);
        let signed = Signed::sign_receipt(&receipt(), &key, &[]);
        let parsed: Signed = serde_json::from_str(&signed.to_json()).unwrap();
        assert_eq!(
            parsed.receipt(&key.verifying_key()).unwrap().kit_log_size,
            3
        );
        assert!(parsed.receipt(&other.verifying_key()).is_none());
        let mut edited = parsed;
        edited.body = edited
            .body
            .replace("\"kit_log_size\": 3", "\"kit_log_size\": 4");
        assert!(edited.receipt(&key.verifying_key()).is_none());
        // A manifest signature does not pass as a receipt's, nor the other way round.
        let as_manifest = Signed::sign(MANIFEST_CONTEXT, edited.body.clone(), &key);
        assert!(as_manifest.receipt(&key.verifying_key()).is_none());
    }
}
