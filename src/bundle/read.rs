//! Reading a bundle without any vault: verify the outer files and signatures, then decrypt
//! and check the payload, handing each inner file to a visitor.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ssh_key::HashAlg;

use crate::audit::{self, Checkpoint};
use crate::progress::{Counted, Tally};

use super::{
    FORMAT, FORMAT_V1, HashingWriter, INNER_NAMESPACE, Manifest, OUTER_FILES, OUTER_NAMESPACE,
    Receipt, SMALL_FILE_LIMIT, parse_sums, ssh_verify,
};

/// The step of verification that failed, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct BundleError {
    pub step: &'static str,
    pub detail: String,
}

pub(super) fn fail<T>(step: &'static str, detail: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError {
        step,
        detail: detail.into(),
    })
}

/// What a verified bundle says.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub export_id: Option<String>,
    pub vault_id: String,
    pub signer: String,
    pub fingerprint: String,
    pub tree_size: u64,
    pub event_index: u64,
    /// Whether the payload was decrypted and its inner files checked.
    pub payload_checked: bool,
    pub records: usize,
    pub files: usize,
    /// The key that signed the bundle.
    #[serde(skip)]
    pub signer_key: Option<VerifyingKey>,
}

/// How to decrypt a payload.
pub enum Unlock {
    Identities(Vec<Box<dyn age::Identity>>),
    Passphrase(age::secrecy::SecretString),
}

/// Checks that an entry name is a plain relative path with no `..`, no root, and no empty
/// or odd components.
pub(super) fn safe_relative(name: &[u8]) -> Option<PathBuf> {
    let name = std::str::from_utf8(name).ok()?;
    if name.is_empty() || name.contains('\0') || name.contains('\\') {
        return None;
    }
    let path = PathBuf::from(name);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(path)
}

/// Reads the outer tar: every entry a regular file with an expected name, once. The payload is
/// hashed as it is read and not kept; small files are kept in memory.
pub(super) struct Outer {
    small: BTreeMap<String, Vec<u8>>,
    payload_sha256: [u8; 32],
}

pub(super) fn read_outer(
    path: &Path,
    mut payload_sink: impl Write,
    tally: &mut Tally<'_>,
) -> Result<Outer, BundleError> {
    let file = File::open(path).or_else(|e| fail("open the bundle", e.to_string()))?;
    let mut archive = tar::Archive::new(Counted { inner: file, tally });
    let mut small = BTreeMap::new();
    let mut payload_sha256 = None;
    let entries = archive
        .entries()
        .or_else(|e| fail("read the outer tar", e.to_string()))?;
    for entry in entries {
        let mut entry = entry.or_else(|e| fail("read the outer tar", e.to_string()))?;
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name).into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return fail(
                "read the outer tar",
                format!("{name:?} is not a regular file"),
            );
        }
        if !OUTER_FILES.contains(&name.as_str()) {
            return fail("read the outer tar", format!("unexpected entry {name:?}"));
        }
        if small.contains_key(&name) || (name == "payload.age" && payload_sha256.is_some()) {
            return fail("read the outer tar", format!("{name:?} appears twice"));
        }
        if name == "payload.age" {
            let mut hashing = HashingWriter {
                inner: &mut payload_sink,
                hasher: Sha256::new(),
            };
            io::copy(&mut entry, &mut hashing)
                .or_else(|e| fail("read payload.age", e.to_string()))?;
            payload_sha256 = Some(hashing.hasher.finalize().into());
        } else {
            if entry.size() > SMALL_FILE_LIMIT {
                return fail("read the outer tar", format!("{name:?} is too large"));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .or_else(|e| fail("read the outer tar", e.to_string()))?;
            small.insert(name, data);
        }
    }
    let payload_sha256 =
        payload_sha256.map_or_else(|| fail("read the outer tar", "payload.age is missing"), Ok)?;
    for name in OUTER_FILES.iter().skip(1) {
        if !small.contains_key(*name) {
            return fail("read the outer tar", format!("{name} is missing"));
        }
    }
    Ok(Outer {
        small,
        payload_sha256,
    })
}

/// Reads the signer's key from `allowed_signers`, and checks it against `expected` (an
/// OpenSSH key line or a `SHA256:` fingerprint) when given.
pub(super) fn signer(
    allowed: &[u8],
    expected: Option<&str>,
) -> Result<(VerifyingKey, String, String), BundleError> {
    let step = "identify the signer";
    let text =
        std::str::from_utf8(allowed).or_else(|_| fail(step, "allowed_signers is not text"))?;
    let line = text.lines().next().unwrap_or_default();
    let key_part = line
        .split_once(" ssh-ed25519 ")
        .map(|(_, rest)| format!("ssh-ed25519 {rest}"))
        .map_or_else(
            || fail(step, "allowed_signers holds no ssh-ed25519 key"),
            Ok,
        )?;
    let public =
        ssh_key::PublicKey::from_openssh(&key_part).or_else(|e| fail(step, e.to_string()))?;
    let ed = public
        .key_data()
        .ed25519()
        .map_or_else(|| fail(step, "not an Ed25519 key"), Ok)?;
    let key = VerifyingKey::from_bytes(&ed.0).or_else(|e| fail(step, e.to_string()))?;
    let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
    if let Some(expected) = expected {
        let expected = expected.trim();
        let matches = if expected.starts_with("SHA256:") {
            expected == fingerprint
        } else {
            ssh_key::PublicKey::from_openssh(expected)
                .ok()
                .is_some_and(|k| k.key_data() == public.key_data())
        };
        if !matches {
            return fail(
                step,
                format!("the bundle is signed by {fingerprint}, not by the signer given"),
            );
        }
    }
    Ok((key, key_part, fingerprint))
}

/// Verifies a bundle without any vault. With `unlock`, also decrypts the payload and checks
/// every inner file and signature; with `into`, then writes the records into that new folder
/// (only after everything verified).
pub fn verify_bundle(
    path: &Path,
    expected_signer: Option<&str>,
    unlock: Option<&Unlock>,
    into: Option<&Path>,
) -> Result<(BundleReport, Option<Manifest>), BundleError> {
    verify_bundle_counted(path, expected_signer, unlock, into, &mut Tally::silent())
}

/// [`verify_bundle`], adding to `tally` the bundle's size once per pass over it (one without
/// `unlock`, two with, three with `into`) and each byte as it is read.
///
/// Long on purpose: one linear sequence of checks in the order VERIFY.txt gives them, each
/// naming its step on failure; split, the order would no longer be readable in one place.
pub fn verify_bundle_counted(
    path: &Path,
    expected_signer: Option<&str>,
    unlock: Option<&Unlock>,
    into: Option<&Path>,
    tally: &mut Tally<'_>,
) -> Result<(BundleReport, Option<Manifest>), BundleError> {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    tally.grow(len * (1 + u64::from(unlock.is_some()) + u64::from(into.is_some())));
    let outer = read_outer(path, io::sink(), tally)?;
    let small = &outer.small;
    let (key, signer_line, fingerprint) = signer(&small["allowed_signers"], expected_signer)?;

    let step = "outer SHA256SUMS";
    let sums = parse_sums(&small["SHA256SUMS"])
        .map_or_else(|| fail(step, "not in sha256sum format"), Ok)?;
    if !ssh_verify(
        &key,
        OUTER_NAMESPACE,
        &small["SHA256SUMS"],
        &small["SHA256SUMS.sig"],
    ) {
        return fail(
            "outer SHA256SUMS.sig",
            "the signature does not verify with the signer's key",
        );
    }
    for name in OUTER_FILES.iter().filter(|n| !n.starts_with("SHA256SUMS")) {
        let actual: [u8; 32] = if *name == "payload.age" {
            outer.payload_sha256
        } else {
            Sha256::digest(&small[*name]).into()
        };
        match sums.get(*name) {
            Some(h) if *h == actual => {}
            Some(_) => return fail(step, format!("{name} does not match its checksum")),
            None => return fail(step, format!("{name} is not listed")),
        }
    }
    if sums.len() != OUTER_FILES.len() - 2 {
        return fail(step, "lists files the bundle does not hold");
    }

    let step = "checkpoint";
    let note = std::str::from_utf8(&small["checkpoint.txt"]).or_else(|_| fail(step, "not text"))?;
    let checkpoint = Checkpoint::verify(note, &key).or_else(|e| fail(step, e.to_string()))?;
    if !ssh_verify(
        &key,
        OUTER_NAMESPACE,
        &small["checkpoint.txt"],
        &small["checkpoint.txt.sig"],
    ) {
        return fail(
            "checkpoint.txt.sig",
            "the signature does not verify with the signer's key",
        );
    }

    let step = "receipt";
    let receipt: Receipt =
        serde_json::from_slice(&small["receipt.json"]).or_else(|e| fail(step, e.to_string()))?;
    let b64 = |h: &str| -> Option<audit::Hash> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
    };
    let proof: Option<Vec<audit::Hash>> = receipt.proof.iter().map(|h| b64(h)).collect();
    let proof = proof.map_or_else(|| fail(step, "malformed proof"), Ok)?;
    // v1 shows the event; v2 only its hash, the event being sealed in the manifest.
    let (leaf, export_id, clear_event) = match receipt.format.as_str() {
        Receipt::FORMAT_V1 => {
            let event = receipt
                .event
                .clone()
                .map_or_else(|| fail(step, "no event"), Ok)?;
            let intent = intent_event(&event, receipt.index, step)?;
            (audit::leaf_hash(event.as_bytes()), intent, true)
        }
        Receipt::FORMAT => {
            let leaf = receipt
                .leaf_hash
                .as_deref()
                .and_then(b64)
                .map_or_else(|| fail(step, "no leaf hash"), Ok)?;
            (leaf, receipt.export_id.clone(), false)
        }
        _ => return fail(step, "unknown receipt format"),
    };
    if receipt.tree_size != checkpoint.size
        || !audit::verify_inclusion(
            receipt.index,
            receipt.tree_size,
            &leaf,
            &proof,
            &checkpoint.root,
        )
    {
        return fail(step, "the export's event is not in the signed log");
    }

    let mut report = BundleReport {
        export_id: export_id.clone(),
        vault_id: checkpoint.origin.trim_start_matches("tvault/").to_owned(),
        signer: signer_line,
        fingerprint,
        tree_size: checkpoint.size,
        event_index: receipt.index,
        payload_checked: false,
        records: 0,
        files: 0,
        signer_key: Some(key),
    };
    let Some(unlock) = unlock else {
        return Ok((report, None));
    };
    let (manifest, files) = read_inner(path, unlock, &key, &mut |_, _| Ok(()), tally)?;
    let expected_format = if clear_event { FORMAT_V1 } else { FORMAT };
    if Some(&manifest.export_id) != export_id.as_ref() || manifest.format != expected_format {
        return fail(
            "MANIFEST.json",
            "the manifest is not for the export in the receipt",
        );
    }
    if !clear_event {
        // The sealed intent event is the one the receipt proves, for this export.
        let event = manifest
            .intent_event
            .as_deref()
            .map_or_else(|| fail("MANIFEST.json", "no intent event"), Ok)?;
        if audit::leaf_hash(event.as_bytes()) != leaf
            || intent_event(event, receipt.index, "MANIFEST.json")? != export_id
        {
            return fail(
                "MANIFEST.json",
                "its intent event is not the one in the signed log",
            );
        }
    }
    report.payload_checked = true;
    report.records = manifest.records.len();
    report.files = files;
    if let Some(dir) = into {
        crate::fs::create_private_dir(dir).or_else(|e| fail("create the folder", e.to_string()))?;
        let written = read_inner(path, unlock, &key, &mut write_into(dir), tally);
        if let Err(e) = written {
            // The bundle changed between the two passes: leave nothing half-written.
            let _ = std::fs::remove_dir_all(dir);
            return Err(e);
        }
    }
    Ok((report, Some(manifest)))
}

/// Checks that `json` is an export-intent event at log position `index`; returns its export id.
pub(super) fn intent_event(
    json: &str,
    index: u64,
    step: &'static str,
) -> Result<Option<String>, BundleError> {
    let event: audit::Event = serde_json::from_str(json).or_else(|e| fail(step, e.to_string()))?;
    if event.action != audit::Action::ExportIntent || event.seq != index {
        return fail(step, "the receipt is not for an export");
    }
    Ok(event
        .detail
        .as_ref()
        .and_then(|d| d["export_id"].as_str())
        .map(str::to_owned))
}

/// Receives each inner file, in the bundle's order, as it is decrypted: its checked relative
/// path and a reader of its bytes. What it does not read is drained and hashed anyway.
pub type Visitor<'a> = dyn FnMut(&Path, &mut dyn Read) -> io::Result<()> + 'a;

/// Writes each inner file into `dir`, creating folders 0700 and files 0600, never over
/// anything.
pub fn write_into(dir: &Path) -> impl FnMut(&Path, &mut dyn Read) -> io::Result<()> + '_ {
    let mut created = std::collections::BTreeSet::new();
    move |rel: &Path, data: &mut dyn Read| {
        let target = dir.join(rel);
        if let Some(parent) = target.parent()
            && created.insert(parent.to_owned())
        {
            crate::fs::create_private_dir_all(parent)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        let mut file = crate::fs::create_new_file(&target)?;
        io::copy(data, &mut file)?;
        file.sync_all()
    }
}

/// Decrypts the payload and reads the inner tar, checking every name and hash and both
/// signatures, and hands each file to `visit`. Streams: nothing is held whole but the small
/// top-level files. Returns the manifest and the number of files.
pub fn read_inner(
    path: &Path,
    unlock: &Unlock,
    key: &VerifyingKey,
    visit: &mut Visitor<'_>,
    tally: &mut Tally<'_>,
) -> Result<(Manifest, usize), BundleError> {
    let step = "decrypt payload.age";
    let file = File::open(path).or_else(|e| fail(step, e.to_string()))?;
    let mut outer = tar::Archive::new(Counted { inner: file, tally });
    let mut entries = outer.entries().or_else(|e| fail(step, e.to_string()))?;
    let payload = loop {
        let entry = match entries.next() {
            Some(e) => e.or_else(|e| fail(step, e.to_string()))?,
            None => return fail(step, "payload.age is missing"),
        };
        if entry.path_bytes().as_ref() == b"payload.age" {
            break entry;
        }
    };
    let decryptor = age::Decryptor::new(payload).or_else(|e| fail(step, e.to_string()))?;
    let stream = match unlock {
        Unlock::Identities(ids) => decryptor.decrypt(ids.iter().map(|i| i.as_ref())),
        Unlock::Passphrase(p) => {
            let identity = age::scrypt::Identity::new(p.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
    }
    .or_else(|e| fail(step, e.to_string()))?;

    let step = "read the inner tar";
    let mut inner = tar::Archive::new(stream);
    let mut hashes: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in inner.entries().or_else(|e| fail(step, e.to_string()))? {
        let mut entry = entry.or_else(|e| fail(step, e.to_string()))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return fail(step, format!("{shown:?} is not a regular file"));
        }
        let rel =
            safe_relative(&raw).map_or_else(|| fail(step, format!("unsafe name {shown:?}")), Ok)?;
        let name = rel.to_string_lossy().into_owned();
        let top_level = [
            "MANIFEST.json",
            "REPORT.html",
            "SHA256SUMS",
            "SHA256SUMS.sig",
        ]
        .contains(&name.as_str());
        if !top_level && !name.starts_with("records/") {
            return fail(step, format!("unexpected entry {shown:?}"));
        }
        if hashes.contains_key(&name) || small.contains_key(&name) {
            return fail(step, format!("{shown:?} appears twice"));
        }
        if top_level {
            if entry.size() > SMALL_FILE_LIMIT {
                return fail(step, format!("{shown:?} is too large"));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .or_else(|e| fail(step, e.to_string()))?;
            visit(&rel, &mut data.as_slice())
                .or_else(|e| fail("use the records", e.to_string()))?;
            if !name.starts_with("SHA256SUMS") {
                hashes.insert(name.clone(), Sha256::digest(&data).into());
            }
            small.insert(name, data);
        } else {
            let mut hashing = HashingReader {
                inner: &mut entry,
                hasher: Sha256::new(),
            };
            visit(&rel, &mut hashing).or_else(|e| fail("use the records", e.to_string()))?;
            io::copy(&mut hashing, &mut io::sink()).or_else(|e| fail(step, e.to_string()))?;
            hashes.insert(name, hashing.hasher.finalize().into());
        }
    }

    let step = "inner SHA256SUMS";
    let (Some(sums_text), Some(sig), Some(manifest)) = (
        small.get("SHA256SUMS"),
        small.get("SHA256SUMS.sig"),
        small.get("MANIFEST.json"),
    ) else {
        return fail(
            step,
            "MANIFEST.json, SHA256SUMS or SHA256SUMS.sig is missing",
        );
    };
    if !ssh_verify(key, INNER_NAMESPACE, sums_text, sig) {
        return fail(
            "inner SHA256SUMS.sig",
            "the signature does not verify with the signer's key",
        );
    }
    let sums = parse_sums(sums_text).map_or_else(|| fail(step, "not in sha256sum format"), Ok)?;
    if sums != hashes {
        let bad = hashes
            .iter()
            .find(|(n, h)| sums.get(*n) != Some(*h))
            .map(|(n, _)| n.clone())
            .or_else(|| sums.keys().find(|n| !hashes.contains_key(*n)).cloned())
            .unwrap_or_default();
        return fail(
            step,
            format!("{bad:?} does not match its checksum, or is missing"),
        );
    }
    let manifest: Manifest =
        serde_json::from_slice(manifest).or_else(|e| fail("MANIFEST.json", e.to_string()))?;
    Ok((manifest, hashes.len()))
}

/// A reader that hashes what passes through it.
pub(super) struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
