//! Reading a bundle without any vault: verify the outer files and signatures, then decrypt
//! and check the payload, handing each inner file to a visitor.
//!
//! Trust comes from a signer the receiver names ([`SignerTrust::Named`]), never from the
//! bundle itself: with [`SignerTrust::BundleOnly`] a bundle shows only that it is whole and
//! consistent with whatever key it carries, which anyone can make.
//!
//! The bundle file is opened once, and every pass reads that open file from its start, never
//! the path again. The first pass reads the outer tar and checks the signatures. Without a
//! key it hashes `payload.age` as it streams past and compares that hash with the one the
//! signed outer `SHA256SUMS` lists. With a key it skips the payload (the signature over the
//! outer `SHA256SUMS` does not need it), and one decrypting pass reads it, hashing the
//! ciphertext as it goes, and checks every inner name, hash and signature and the manifest;
//! at its end the payload's hash must be the signed one. Until then nothing from the payload
//! is released, and whatever failed on the way (a header that no longer opens reads as
//! "not for that key"), a payload that is not the signed one is reported as a checksum
//! mismatch, an integrity failure. `open-export` writes the files during that pass, into a
//! hidden folder that gets its name only once everything passed and is removed otherwise;
//! `import` stores them during that pass in a transaction it commits only then
//! ([`OuterChecked::check_payload`]). A later pass ([`VerifiedBundle::read_files`]) takes
//! only names the first found in the signed inner `SHA256SUMS` and the manifest, each
//! compared with its signed hash, and hashes `payload.age` again: a file rewritten between
//! passes fails. A file renamed over the path cannot matter.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Checkpoint};
use crate::progress::Tally;

use super::outer::read_outer;
use super::payload::{Pass, PayloadHash, Visitor, inner_pass, write_files};
pub(super) use super::signer::{check_sig, signer};
use super::{
    ApprovalReport, FORMAT, FORMAT_V1, FORMAT_V2, FORMAT_V3, FORMAT_V4, Manifest, OUTER_FILES,
    OUTER_NAMESPACE, Receipt, parse_sums,
};

/// Who vouches for a bundle.
///
/// Trust never comes from the bundle: the key it carries in `allowed_signers` proves nothing
/// about who made it. Each way to trust a signer is its own case, so that a caller has to
/// choose one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerTrust {
    /// The signer the receiver named, as an OpenSSH `ssh-ed25519` public key line or its
    /// `SHA256:` fingerprint, learnt from the sender out of band (on paper, by phone).
    Named(String),
    /// Whatever key the bundle carries, named by nobody: the bundle is checked to be whole
    /// and consistent with that key, and anyone could have made it.
    BundleOnly,
    /// For an import only: the bundle is checked against the key it carries, as with
    /// `BundleOnly`, and the importing vault then requires that key and the bundle's source
    /// vault to be the ones it pinned for the records it already holds from that source
    /// (`Vault::import`). On its own it vouches for nothing.
    Pinned,
}

impl SignerTrust {
    /// Whether someone other than the bundle vouches for the signer.
    pub fn is_trusted(&self) -> bool {
        match self {
            SignerTrust::Named(_) => true,
            SignerTrust::BundleOnly | SignerTrust::Pinned => false,
        }
    }

    /// How the signer was trusted, as the custody log records it.
    pub fn as_str(&self) -> &'static str {
        match self {
            SignerTrust::Named(_) => "named",
            SignerTrust::BundleOnly => "bundle-only",
            SignerTrust::Pinned => "pinned",
        }
    }
}

/// The step of verification that failed, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct BundleError {
    pub step: &'static str,
    pub detail: String,
    pub kind: BundleFailure,
}

/// What kind of failure a [`BundleError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFailure {
    /// The bundle is malformed or altered, is not what its signer signed, or is not signed by
    /// the signer named.
    Integrity,
    /// The payload is sealed to other keys, or to another passphrase: nothing says the bundle
    /// itself is wrong.
    NotForKey,
}

impl BundleError {
    /// A failed check of the bundle's integrity at `step`.
    pub fn integrity(step: &'static str, detail: impl Into<String>) -> Self {
        BundleError {
            step,
            detail: detail.into(),
            kind: BundleFailure::Integrity,
        }
    }
}

pub(super) fn fail<T>(step: &'static str, detail: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError::integrity(step, detail))
}

/// What a verified bundle says.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub export_id: Option<String>,
    pub vault_id: String,
    pub signer: String,
    pub fingerprint: String,
    /// Whether the signer was checked against a key the receiver named. When false, nothing
    /// vouches for the sender: anyone could have made the bundle.
    pub signer_trusted: bool,
    /// The key named was an earlier key of the sender's vault, which signed over to this
    /// bundle's key at a rekey (the receipt carries the rotations).
    pub signer_rotated: bool,
    pub tree_size: u64,
    pub event_index: u64,
    /// Whether the payload was decrypted and its inner files checked.
    pub payload_checked: bool,
    pub records: usize,
    pub files: usize,
    /// The operators whose personal keys signed the manifest (their signatures verified),
    /// the exporter first; only when the payload was checked.
    pub approvals: Vec<ApprovalReport>,
    /// How many operators the sending vault required to sign an export, as its manifest says
    /// (bundle format v5 on).
    pub approvals_required: Option<u8>,
    /// The key that signed the bundle.
    #[serde(skip)]
    pub signer_key: Option<VerifyingKey>,
    /// The trusted timestamps the bundle carries (v5), each checked.
    pub timestamps: Vec<super::BundleTimestamp>,
}

/// How to decrypt a payload.
pub enum Unlock {
    Identities(Vec<Box<dyn age::Identity>>),
    Passphrase(age::secrecy::SecretString),
}

/// The top-level files of the payload that are read whole (the manifest and the signed sums);
/// `REPORT.html` streams past like the records' files, and everything else lives under
/// `records/` or `approvals/`.
pub(super) const INNER_TOP_LEVEL: [&str; 3] = ["MANIFEST.json", "SHA256SUMS", "SHA256SUMS.sig"];

/// The printable report inside the payload, which grows with the records and is never held.
pub(super) const INNER_REPORT: &str = "REPORT.html";
/// Accepts an entry name only in its one plain spelling: relative, `/`-separated, no empty,
/// `.` or `..` component, no trailing `/`, no backslash, NUL or line break. So no two
/// different names can mean the same file (`a/./b`, `a//b`, `a/b/` and `a\b` are all refused),
/// and none can leave the folder.
pub(super) fn canonical_name(raw: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(raw).ok()?;
    let plain = !name.is_empty()
        && !name.contains(['\\', '\0', '\n', '\r'])
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    plain.then_some(name)
}

/// What the checking pass found signed inside the payload: each inner file's name and hash,
/// and the signed `SHA256SUMS` and its signature as read.
pub(super) struct Listing {
    pub(super) sums: BTreeMap<String, [u8; 32]>,
    pub(super) sums_text: Vec<u8>,
    pub(super) sig: Vec<u8>,
    /// The operators' signatures over the manifest that verified.
    pub(super) approvals: Vec<ApprovalReport>,
}

/// A bundle that verified, still open. Later passes read this same open file and check
/// `payload.age` against its signed hash before they succeed (see the module's doc).
pub struct VerifiedBundle {
    file: File,
    len: u64,
    key: VerifyingKey,
    /// The SHA-256 of `payload.age` that the signed outer `SHA256SUMS` lists.
    payload_sha256: [u8; 32],
    report: BundleReport,
    /// With a key: the manifest and what the checking pass found signed.
    checked: Option<(Manifest, Listing)>,
}

impl VerifiedBundle {
    /// Opens and verifies a bundle: the outer files, signatures, checkpoint and receipt, the
    /// signer against `trust`; with `unlock`, also decrypts the payload and checks every
    /// inner file and signature and the manifest, in one pass over the bundle's bytes (see the
    /// module's doc). Adds to `tally` the bundle's size once, and each byte as it is read.
    pub fn open(
        path: &Path,
        trust: &SignerTrust,
        unlock: Option<&Unlock>,
        tally: &mut Tally<'_>,
    ) -> Result<Self, BundleError> {
        Self::check(path, trust, unlock.map(|u| (u, None)), tally)
    }

    /// [`VerifiedBundle::open`] with a key, opening the payload into the new folder `dir`
    /// (0700; files 0600) in the same pass that checks it, never into or over anything
    /// already there.
    ///
    /// The files are written into a hidden folder beside `dir` as they are decrypted, before
    /// their hashes, the signatures and the manifest are checked and before the payload is
    /// known to be the signed one: only names that are plain, relative and of a shape a
    /// bundle can hold are written (see `payload::stageable`). The hidden folder takes
    /// `dir`'s place only once every check passed; on any failure both are removed.
    pub fn open_into(
        path: &Path,
        trust: &SignerTrust,
        unlock: &Unlock,
        dir: &Path,
        tally: &mut Tally<'_>,
    ) -> Result<Self, BundleError> {
        let step = "create the folder";
        // Claim the name first, so that nothing already there is written into or replaced.
        crate::fs::create_private_dir(dir).or_else(|e| fail(step, e.to_string()))?;
        let staging = crate::fs::partial_path(dir);
        let result = crate::fs::create_private_dir(&staging)
            .or_else(|e| fail(step, e.to_string()))
            .and_then(|()| {
                let mut write = write_files(&staging);
                let visit: &mut Visitor<'_> = &mut write;
                Self::check(path, trust, Some((unlock, Some(visit))), tally)
            })
            .and_then(|bundle| {
                // Everything checked: the files take the name (the empty folder claimed
                // above is replaced).
                std::fs::rename(&staging, dir).or_else(|e| fail(step, e.to_string()))?;
                Ok(bundle)
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
            let _ = std::fs::remove_dir(dir);
        }
        result
    }

    /// Verifies the outer files, signatures, checkpoint and receipt and the signer against
    /// `trust` (see [`VerifiedBundle::open`]), leaving the payload unread for
    /// [`OuterChecked::check_payload`] or [`OuterChecked::confirm_payload`].
    pub fn open_outer(
        path: &Path,
        trust: &SignerTrust,
        tally: &mut Tally<'_>,
    ) -> Result<OuterChecked, BundleError> {
        OuterChecked::check(path, trust, false, tally)
    }

    /// Opens and verifies a bundle (see [`VerifiedBundle::open`]); with a key and a visitor,
    /// the checking pass hands the visitor every inner file as it passes, before any check
    /// of the payload is complete (for a writer that keeps nothing unless this succeeds).
    pub(super) fn check(
        path: &Path,
        trust: &SignerTrust,
        unlock: Option<(&Unlock, Option<&mut Visitor<'_>>)>,
        tally: &mut Tally<'_>,
    ) -> Result<Self, BundleError> {
        // One pass over the bundle's bytes: without a key the first reading hashes the
        // payload; with one it skips the payload, which the decrypting pass reads and hashes.
        let outer = OuterChecked::check(path, trust, unlock.is_none(), tally)?;
        match unlock {
            None => Ok(outer.bundle),
            Some((unlock, visit)) => outer.check_payload(unlock, visit, tally),
        }
    }

    /// What the bundle says.
    pub fn report(&self) -> &BundleReport {
        &self.report
    }

    /// The manifest, when the payload was checked.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.checked.as_ref().map(|(m, _)| m)
    }

    pub fn into_parts(self) -> (BundleReport, Option<Manifest>) {
        (self.report, self.checked.map(|(m, _)| m))
    }

    /// Decrypts the payload again, from the open file, and hands `visit` each inner file that
    /// the checking pass found in the signed `SHA256SUMS` and the manifest, checking it
    /// against its signed hash once read. Returns the number of files once the whole payload
    /// proved to be the signed one; until then, nothing `visit` received may be kept.
    pub fn read_files(
        &self,
        unlock: &Unlock,
        visit: &mut Visitor<'_>,
        tally: &mut Tally<'_>,
    ) -> Result<usize, BundleError> {
        let Some((_, listing)) = &self.checked else {
            return fail(
                "read the records",
                "the payload must be checked before its files are used",
            );
        };
        tally.grow(self.len);
        let (_, _, files) = inner_pass(
            &self.file,
            unlock,
            &self.key,
            &self.payload_sha256,
            PayloadHash::Proven,
            Pass::Use { listing, visit },
            tally,
        )?;
        Ok(files)
    }

    /// Writes the inner files into the new folder `dir` (0700; files 0600), never into or
    /// over anything already there. They are written into a hidden folder beside it, which
    /// takes `dir`'s place only once [`VerifiedBundle::read_files`] succeeded; on failure both
    /// are removed. A second pass over the payload: [`VerifiedBundle::open_into`] writes in
    /// the checking pass itself.
    pub fn write_into(
        &self,
        unlock: &Unlock,
        dir: &Path,
        tally: &mut Tally<'_>,
    ) -> Result<(), BundleError> {
        let step = "create the folder";
        // Claim the name first, so that nothing already there is written into or replaced.
        crate::fs::create_private_dir(dir).or_else(|e| fail(step, e.to_string()))?;
        let staging = crate::fs::partial_path(dir);
        let result = crate::fs::create_private_dir(&staging)
            .or_else(|e| fail(step, e.to_string()))
            .and_then(|()| self.read_files(unlock, &mut write_files(&staging), tally))
            .and_then(|_| {
                // Everything checked: the files take the name (the empty folder claimed above
                // is replaced).
                std::fs::rename(&staging, dir).or_else(|e| fail(step, e.to_string()))
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
            let _ = std::fs::remove_dir(dir);
        }
        result
    }
}

/// What the payload's manifest must agree with: the receipt's export event.
struct ReceiptFacts {
    /// The hash of the export's event in the signed log.
    leaf: audit::Hash,
    export_id: Option<String>,
    /// A v1 receipt: the event is shown in it, not sealed in the manifest.
    clear_event: bool,
}

/// A bundle whose outer files, signatures, checkpoint and receipt verified and whose signer
/// `trust` accepted, its payload not read yet: nothing in it is known to be the payload the
/// signature covers until [`OuterChecked::check_payload`] or [`OuterChecked::confirm_payload`]
/// succeeds.
pub struct OuterChecked {
    /// Its `report` says `payload_checked: false`.
    bundle: VerifiedBundle,
    receipt: ReceiptFacts,
    /// The SHA-256 of the signed outer `SHA256SUMS`.
    sums_sha256: [u8; 32],
}

impl OuterChecked {
    /// Verifies the outer files (see [`VerifiedBundle::open`]); with `hash_payload`, also
    /// hashes `payload.age` and compares it with its signed hash.
    ///
    /// Long on purpose: one linear sequence of checks in the order VERIFY.txt gives them, each
    /// naming its step on failure; split, the order would no longer be readable in one place.
    fn check(
        path: &Path,
        trust: &SignerTrust,
        hash_payload: bool,
        tally: &mut Tally<'_>,
    ) -> Result<Self, BundleError> {
        let file = File::open(path).or_else(|e| fail("open the bundle", e.to_string()))?;
        let len = file.metadata().map_or(0, |m| m.len());
        tally.grow(len);
        let outer = read_outer(&file, hash_payload, tally)?;
        let small = &outer.small;
        // Rotations are signed by each old key themselves; the receipt they travel in is
        // checked against the signed sums below.
        let rotations = serde_json::from_slice::<Receipt>(&small["receipt.json"])
            .map(|r| r.rotations)
            .unwrap_or_default();
        let (key, signer_line, fingerprint, signer_rotated) =
            signer(&small["allowed_signers"], trust, &rotations)?;

        let step = "outer SHA256SUMS";
        let sums = parse_sums(&small["SHA256SUMS"])
            .map_or_else(|| fail(step, "not in sha256sum format"), Ok)?;
        check_sig(
            "outer SHA256SUMS.sig",
            &key,
            OUTER_NAMESPACE,
            &small["SHA256SUMS"],
            &small["SHA256SUMS.sig"],
        )?;
        for name in OUTER_FILES.iter().filter(|n| !n.starts_with("SHA256SUMS")) {
            let actual: [u8; 32] = match (*name, outer.payload_sha256) {
                ("payload.age", Some(hash)) => hash,
                // Not hashed yet: the decrypting pass compares it with the signed hash at its
                // end, and nothing from the payload is released before.
                ("payload.age", None) => match sums.get(*name) {
                    Some(signed) => *signed,
                    None => return fail(step, format!("{name} is not listed")),
                },
                _ => Sha256::digest(&small[*name]).into(),
            };
            match sums.get(*name) {
                Some(h) if *h == actual => {}
                Some(_) => return fail(step, format!("{name} does not match its checksum")),
                None => return fail(step, format!("{name} is not listed")),
            }
        }
        let timestamp_files: Vec<&String> = small
            .keys()
            .filter(|n| super::timestamps::is_timestamp_name(n))
            .collect();
        for name in &timestamp_files {
            match sums.get(name.as_str()) {
                Some(h) if *h == <[u8; 32]>::from(Sha256::digest(&small[name.as_str()])) => {}
                Some(_) => return fail(step, format!("{name} does not match its checksum")),
                None => return fail(step, format!("{name} is not listed")),
            }
        }
        if sums.len() != OUTER_FILES.len() - 2 + timestamp_files.len() {
            return fail(step, "lists files the bundle does not hold");
        }

        let step = "checkpoint";
        let note =
            std::str::from_utf8(&small["checkpoint.txt"]).or_else(|_| fail(step, "not text"))?;
        let checkpoint = Checkpoint::verify(note, &key).or_else(|e| fail(step, e.to_string()))?;
        check_sig(
            "checkpoint.txt.sig",
            &key,
            OUTER_NAMESPACE,
            &small["checkpoint.txt"],
            &small["checkpoint.txt.sig"],
        )?;

        let step = "receipt";
        let receipt: Receipt = serde_json::from_slice(&small["receipt.json"])
            .or_else(|e| fail(step, e.to_string()))?;
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

        let timestamps = super::timestamps::check(small, &checkpoint, &key, &receipt)?;

        let bundle = VerifiedBundle {
            report: BundleReport {
                export_id: export_id.clone(),
                vault_id: checkpoint.origin.trim_start_matches("tvault/").to_owned(),
                signer: signer_line,
                fingerprint,
                signer_trusted: trust.is_trusted(),
                signer_rotated,
                tree_size: checkpoint.size,
                event_index: receipt.index,
                payload_checked: false,
                records: 0,
                files: 0,
                approvals: Vec::new(),
                approvals_required: None,
                signer_key: Some(key),
                timestamps,
            },
            file,
            len,
            key,
            payload_sha256: sums["payload.age"],
            checked: None,
        };
        Ok(OuterChecked {
            bundle,
            receipt: ReceiptFacts {
                leaf,
                export_id,
                clear_event,
            },
            sums_sha256: Sha256::digest(&small["SHA256SUMS"]).into(),
        })
    }

    /// What the outer files say (`payload_checked` is false).
    pub fn report(&self) -> &BundleReport {
        &self.bundle.report
    }

    /// The SHA-256 of the signed outer `SHA256SUMS`, which lists the hash of every other file
    /// of the bundle (the payload, the signer's key, the checkpoint, the receipt, the
    /// timestamps): the same for two bundles only when everything
    /// [`OuterChecked::check_payload`] checks is the same, and the result with it.
    pub fn contents_sha256(&self) -> [u8; 32] {
        self.sums_sha256
    }

    /// Decrypts the payload and checks every inner file and signature and the manifest. With
    /// `visit`, hands it every inner file in the same pass that checks it: before its hash,
    /// the signatures and the manifest are checked, and before the payload is known to be the
    /// signed one. Only names of a shape a bundle can hold reach it (see
    /// `payload::stageable`). Nothing `visit` received may be kept unless this returns a
    /// bundle (`import` stages into a transaction it commits only then).
    pub fn check_payload(
        self,
        unlock: &Unlock,
        visit: Option<&mut Visitor<'_>>,
        tally: &mut Tally<'_>,
    ) -> Result<VerifiedBundle, BundleError> {
        let pass = match visit {
            Some(visit) => Pass::Stage { visit },
            None => Pass::Check,
        };
        let ReceiptFacts {
            leaf,
            export_id,
            clear_event,
        } = self.receipt;
        let mut bundle = self.bundle;
        let (manifest, listing, files) = inner_pass(
            &bundle.file,
            unlock,
            &bundle.key,
            &bundle.payload_sha256,
            PayloadHash::Pending,
            pass,
            tally,
        )?;
        let format_ok = if clear_event {
            manifest.format == FORMAT_V1
        } else {
            [FORMAT, FORMAT_V4, FORMAT_V3, FORMAT_V2].contains(&manifest.format.as_str())
        };
        // Only a v5 bundle carries timestamps: an older reader would refuse them.
        let format_ok =
            format_ok && (manifest.format == FORMAT || bundle.report.timestamps.is_empty());
        if Some(&manifest.export_id) != export_id.as_ref() || !format_ok {
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
                || intent_event(event, bundle.report.event_index, "MANIFEST.json")? != export_id
            {
                return fail(
                    "MANIFEST.json",
                    "its intent event is not the one in the signed log",
                );
            }
            // The signers are the ones the sender's log names for this export.
            if manifest.format == FORMAT && intent_approvals(event)? != manifest.approvals {
                return fail(
                    "MANIFEST.json",
                    "its signers are not the ones the intent event names",
                );
            }
        }
        bundle.report.payload_checked = true;
        bundle.report.records = manifest.records.len();
        bundle.report.files = files;
        bundle.report.approvals = listing.approvals.clone();
        bundle.report.approvals_required = manifest.approvals_required;
        bundle.checked = Some((manifest, listing));
        Ok(bundle)
    }

    /// Hashes `payload.age` and compares it with its signed hash, and opens its header with
    /// `unlock`, without decrypting the rest: for a caller that knows from an earlier
    /// [`OuterChecked::check_payload`] what a bundle with these contents holds
    /// ([`OuterChecked::contents_sha256`]). A payload that is not the signed one is an
    /// integrity failure, whether or not its header opens.
    pub fn confirm_payload(
        &self,
        unlock: &Unlock,
        tally: &mut Tally<'_>,
    ) -> Result<(), BundleError> {
        super::payload::confirm_payload(
            &self.bundle.file,
            unlock,
            &self.bundle.payload_sha256,
            tally,
        )
    }
}

/// Verifies a bundle without any vault. With `unlock`, also decrypts the payload and checks
/// every inner file and signature; with `into` as well, writes the files into that new
/// folder in the same pass (see [`VerifiedBundle::open_into`]).
pub fn verify_bundle(
    path: &Path,
    trust: &SignerTrust,
    unlock: Option<&Unlock>,
    into: Option<&Path>,
) -> Result<(BundleReport, Option<Manifest>), BundleError> {
    verify_bundle_counted(path, trust, unlock, into, &mut Tally::silent())
}

/// [`verify_bundle`], adding to `tally` the bundle's size once (one pass over its bytes, with
/// or without `unlock` and `into`) and each byte as it is read.
pub fn verify_bundle_counted(
    path: &Path,
    trust: &SignerTrust,
    unlock: Option<&Unlock>,
    into: Option<&Path>,
    tally: &mut Tally<'_>,
) -> Result<(BundleReport, Option<Manifest>), BundleError> {
    let bundle = match (unlock, into) {
        (Some(unlock), Some(dir)) => VerifiedBundle::open_into(path, trust, unlock, dir, tally)?,
        _ => VerifiedBundle::open(path, trust, unlock, tally)?,
    };
    Ok(bundle.into_parts())
}

/// The operators an export-intent event names as signing its manifest (format v5).
fn intent_approvals(json: &str) -> Result<Vec<super::Approval>, BundleError> {
    let event: audit::Event =
        serde_json::from_str(json).or_else(|e| fail("MANIFEST.json", e.to_string()))?;
    match event.detail.as_ref().and_then(|d| d.get("approvals")) {
        None => Ok(Vec::new()),
        Some(list) => {
            serde_json::from_value(list.clone()).or_else(|e| fail("MANIFEST.json", e.to_string()))
        }
    }
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
