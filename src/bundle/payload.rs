//! The payload of a bundle: decrypting `payload.age` as a stream, checking every inner name,
//! hash and signature as it passes, and handing each file to a visitor (or writing it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::progress::{Counted, Tally};

use super::read::{
    BundleError, BundleFailure, INNER_REPORT, INNER_TOP_LEVEL, Listing, Unlock, canonical_name,
    check_sig, fail,
};
use super::{
    APPROVALS_DIR, DERIVED_DIR, FORMAT, INNER_NAMESPACE, LINEAGE_FILE, LIST_FILE_LIMIT, Manifest,
    ManifestRecord, SMALL_FILE_LIMIT, approvals, parse_sums,
};

/// Receives each inner file, in the bundle's order, as it is decrypted: its checked relative
/// path, its size as the archive gives it (the reader yields exactly that many bytes) and a
/// reader of its bytes. What it does not read is drained and hashed anyway.
pub type Visitor<'a> = dyn FnMut(&Path, u64, &mut dyn Read) -> io::Result<()> + 'a;

/// Writes each inner file into `dir`, creating folders 0700 and files 0600, never over
/// anything.
pub(super) fn write_files(
    dir: &Path,
) -> impl FnMut(&Path, u64, &mut dyn Read) -> io::Result<()> + '_ {
    let mut created = BTreeSet::new();
    // Plaintext passes through it: wiped when the pass is over.
    let mut buf = zeroize::Zeroizing::new(vec![0u8; 1 << 20]);
    move |rel: &Path, _: u64, data: &mut dyn Read| {
        let target = dir.join(rel);
        if let Some(parent) = target.parent()
            && created.insert(parent.to_owned())
        {
            crate::fs::create_private_dir_all(parent)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        let mut file = crate::fs::SyncingWriter::new(crate::fs::create_new_file(&target)?);
        crate::fs::copy_in_pieces(data, &mut file, &mut buf)?;
        file.finish()
    }
}

/// What a checking pass found: the manifest, the signed listing and the number of files.
pub(super) type Found = (Manifest, Listing, usize);

/// What a pass over the payload does with its files.
pub(super) enum Pass<'v, 'a> {
    /// Check every name, hash and signature and the manifest; use nothing.
    Check,
    /// Check as [`Pass::Check`] does, and hand `visit` each file as it passes, before its
    /// hash, the signatures or the manifest are checked: for a writer that keeps nothing
    /// unless the whole pass succeeds (`open-export`'s hidden folder). Only names
    /// [`stageable`] accepts reach it; the pass fails on any other.
    Stage { visit: &'v mut Visitor<'a> },
    /// Hand `visit` each file `listing` holds, checked against its signed hash.
    Use {
        listing: &'v Listing,
        visit: &'v mut Visitor<'a>,
    },
}

impl<'a> Pass<'_, 'a> {
    /// Whom the pass hands its files to, if anyone.
    fn visitor(&mut self) -> Option<&mut Visitor<'a>> {
        match self {
            Pass::Check => None,
            Pass::Stage { visit } | Pass::Use { visit, .. } => Some(&mut **visit),
        }
    }
}

/// What is known of `payload.age` before a pass over the payload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PayloadHash {
    /// A first reading hashed it and found the hash the signed outer `SHA256SUMS` lists: a
    /// different hash now means the file changed between passes.
    Proven,
    /// Not hashed yet: this pass is where it is compared with the signed hash. Whatever
    /// failed on the way, a payload that is not the signed one is reported as that, an
    /// integrity failure (a payload swapped for one sealed to other keys is not "not for
    /// that key").
    Pending,
}

/// One pass over the payload, from the start of the open bundle: finds `payload.age`, hashes
/// it while decrypting it, and fails unless that hash is `payload_sha256`. Returns the
/// manifest, the signed listing and the number of files.
pub(super) fn inner_pass(
    file: &File,
    unlock: &Unlock,
    key: &VerifyingKey,
    payload_sha256: &[u8; 32],
    known: PayloadHash,
    pass: Pass<'_, '_>,
    tally: &mut Tally<'_>,
) -> Result<(Manifest, Listing, usize), BundleError> {
    let step = "decrypt payload.age";
    let (at, size) = payload_place(file, tally)?;
    let region = || Region {
        file,
        at,
        end: at.saturating_add(size),
    };
    // The payload is read where the tar puts it, by a thread of its own that hashes it as it
    // goes (see `crypto::payload::stream`).
    let payload = HashingReader {
        inner: region(),
        hasher: Sha256::new(),
    };
    let (found, actual) = match read_payload(payload, unlock, key, pass, tally) {
        Ok((found, mut payload)) => {
            // After a proven first reading, a failure is itself the answer.
            let found = match (known, found) {
                (PayloadHash::Proven, Err(e)) => return Err(e),
                (_, found) => found,
            };
            // Whatever the payload said, it counts only if it is the one the signature
            // covers: the rest of it, where reading stopped early, is hashed too.
            io::copy(&mut payload, &mut io::sink()).or_else(|e| fail(step, e.to_string()))?;
            (found, <[u8; 32]>::from(payload.hasher.finalize()))
        }
        Err(e) if known == PayloadHash::Proven => return Err(e),
        // The header did not open, and the reader went with it: hash the payload afresh
        // (on another thread while this one reads), only on this failure.
        Err(e) => {
            let mut hashing = ParallelHashingReader {
                inner: region(),
                hasher: crate::crypto::ParallelSha256::new(),
            };
            io::copy(&mut hashing, &mut io::sink()).or_else(|e| fail(step, e.to_string()))?;
            (Err(e), hashing.hasher.finish())
        }
    };
    if actual != *payload_sha256 {
        return match known {
            PayloadHash::Proven => fail(
                "payload.age",
                "the file changed while it was read: this is not the payload its signed SHA256SUMS lists",
            ),
            PayloadHash::Pending => fail(
                "outer SHA256SUMS",
                "payload.age does not match its checksum",
            ),
        };
    }
    found
}

/// Where `payload.age` is in the open bundle: its offset and size, found by reading the outer
/// tar's headers from the start.
fn payload_place(file: &File, tally: &mut Tally<'_>) -> Result<(u64, u64), BundleError> {
    let step = "decrypt payload.age";
    let mut start = file;
    start
        .seek(io::SeekFrom::Start(0))
        .or_else(|e| fail(step, e.to_string()))?;
    let mut outer = tar::Archive::new(Counted { inner: file, tally });
    let mut entries = outer.entries().or_else(|e| fail(step, e.to_string()))?;
    loop {
        let entry = match entries.next() {
            Some(e) => e.or_else(|e| fail(step, e.to_string()))?,
            None => return fail(step, "payload.age is missing"),
        };
        if entry.path_bytes().as_ref() == b"payload.age" {
            if entry.header().entry_type() != tar::EntryType::Regular {
                return fail(step, "payload.age is not a regular file");
            }
            return Ok((entry.raw_file_position(), entry.size()));
        }
    }
}

/// Hashes `payload.age` where the open bundle holds it, and opens its header with `unlock`,
/// decrypting nothing past the header. Fails unless the hash is `payload_sha256` (reported
/// before a header that does not open, as [`inner_pass`] does), then if the header does not
/// open.
pub(super) fn confirm_payload(
    file: &File,
    unlock: &Unlock,
    payload_sha256: &[u8; 32],
    tally: &mut Tally<'_>,
) -> Result<(), BundleError> {
    let (at, size) = payload_place(file, tally)?;
    let region = || Region {
        file,
        at,
        end: at.saturating_add(size),
    };
    let opened = with_identities(unlock, |identities| {
        crate::crypto::payload::stream::check_header(&mut region(), identities)
    })
    .map_err(decrypt_error);
    let mut hashing = ParallelHashingReader {
        inner: Counted {
            inner: region(),
            tally,
        },
        hasher: crate::crypto::ParallelSha256::new(),
    };
    io::copy(&mut hashing, &mut io::sink())
        .or_else(|e| fail("decrypt payload.age", e.to_string()))?;
    if hashing.hasher.finish() != *payload_sha256 {
        return fail(
            "outer SHA256SUMS",
            "payload.age does not match its checksum",
        );
    }
    opened
}

/// Calls `f` with the age identities `unlock` gives.
fn with_identities<T>(unlock: &Unlock, f: impl FnOnce(&[&dyn age::Identity]) -> T) -> T {
    match unlock {
        Unlock::Identities(ids) => f(&ids.iter().map(AsRef::as_ref).collect::<Vec<_>>()),
        Unlock::Passphrase(p) => f(&[&age::scrypt::Identity::new(p.clone())]),
    }
}

/// The bytes of `file` from `at` to `end`, read without moving the file's offset.
struct Region<'f> {
    file: &'f File,
    at: u64,
    end: u64,
}

impl Read for Region<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want =
            usize::try_from(self.end - self.at).map_or(buf.len(), |left| left.min(buf.len()));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the bundle ends inside payload.age",
            ));
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Maps a failure to open the payload: sealed to other keys or another passphrase is the
/// reader's mistake, not the bundle's; anything else is.
pub(super) fn decrypt_error(e: age::DecryptError) -> BundleError {
    match e {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => BundleError {
            step: "decrypt payload.age",
            detail: "this bundle is not for that key (or passphrase)".into(),
            kind: BundleFailure::NotForKey,
        },
        e => BundleError::integrity("decrypt payload.age", e.to_string()),
    }
}

/// Decrypts the payload on every core and reads the inner tar, checking every name and hash
/// and both signatures (see [`Pass`]). Streams: nothing is held whole but the small top-level
/// files. Returns what it found, or where reading failed, and `payload`, read to where
/// decryption stopped; fails itself only when the payload's header does not open.
pub(super) fn read_payload<R: Read + Send>(
    payload: R,
    unlock: &Unlock,
    key: &VerifyingKey,
    pass: Pass<'_, '_>,
    tally: &mut Tally<'_>,
) -> Result<(Result<Found, BundleError>, R), BundleError> {
    let (found, payload) = with_identities(unlock, |identities| {
        crate::crypto::payload::stream::decrypt(payload, identities, |plain| {
            read_inner(
                Counted {
                    inner: plain,
                    tally,
                },
                key,
                pass,
            )
        })
    })
    .map_err(decrypt_error)?;
    Ok((found, payload))
}

/// Reads the inner tar from the decrypted `stream`, to the stream's end.
///
/// Long on purpose: the per-entry checks and the final ones read as one list.
fn read_inner(
    stream: impl Read,
    key: &VerifyingKey,
    mut pass: Pass<'_, '_>,
) -> Result<Found, BundleError> {
    let step = "read the inner tar";
    let mut inner = tar::Archive::new(stream);
    let mut hashes: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    let mut small: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // The first name a staging pass did not hand on (see below).
    let mut unstaged: Option<String> = None;
    for entry in inner.entries().or_else(|e| fail(step, e.to_string()))? {
        let mut entry = entry.or_else(|e| fail(step, e.to_string()))?;
        let raw = entry.path_bytes().into_owned();
        // The name as shown in a message, made only for one.
        let shown = || shown_name(&String::from_utf8_lossy(&raw));
        if entry.header().entry_type() != tar::EntryType::Regular {
            return fail(step, format!("{} is not a regular file", shown()));
        }
        let name = canonical_name(&raw)
            .map_or_else(
                || {
                    fail(
                        step,
                        format!(
                            "{} is not a plain relative name (an alias of another name, or one that could leave the folder)",
                            shown()
                        ),
                    )
                },
                Ok,
            )?
            .to_owned();
        // The top-level files and the operators' signatures are small and kept whole.
        let top_level = INNER_TOP_LEVEL.contains(&name.as_str())
            || name
                .strip_prefix(APPROVALS_DIR)
                .is_some_and(|rest| rest.starts_with('/'));
        if !top_level && name != INNER_REPORT && !name.starts_with("records/") {
            return fail(step, format!("unexpected entry {}", shown()));
        }
        if hashes.contains_key(&name) || small.contains_key(&name) {
            return fail(step, format!("{} appears twice", shown()));
        }
        // A name that nothing signed yet is handed on only if a bundle can hold it; any other
        // is still read and hashed, and the checks at the end refuse it.
        let staged = !matches!(pass, Pass::Stage { .. }) || stageable(&name);
        if !staged && unstaged.is_none() {
            unstaged = Some(shown());
        }
        let is_sums = name.starts_with("SHA256SUMS");
        if let Pass::Use { listing, .. } = &pass
            && !is_sums
            && !listing.sums.contains_key(&name)
        {
            return fail(
                step,
                format!("{} is not listed in the signed SHA256SUMS", shown()),
            );
        }
        let rel = Path::new(&name);
        if top_level {
            // The manifest and the sums grow with the records (about 1 KiB a record); the
            // signatures do not.
            let limit = if matches!(name.as_str(), "MANIFEST.json" | "SHA256SUMS") {
                LIST_FILE_LIMIT
            } else {
                SMALL_FILE_LIMIT
            };
            if entry.size() > limit {
                return fail(step, format!("{} is too large", shown()));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .or_else(|e| fail(step, e.to_string()))?;
            if let Pass::Use { listing, .. } = &pass {
                let signed = match name.as_str() {
                    "SHA256SUMS" => Some(&listing.sums_text),
                    "SHA256SUMS.sig" => Some(&listing.sig),
                    _ => None,
                };
                if signed.is_some_and(|s| *s != data) {
                    return fail(step, format!("{} changed since it was checked", shown()));
                }
                if !is_sums {
                    expect_listed(listing, &name, &Sha256::digest(&data).into())?;
                }
            }
            if let Some(visit) = pass.visitor().filter(|_| staged) {
                visit(rel, data.len() as u64, &mut data.as_slice())
                    .or_else(|e| fail("use the records", e.to_string()))?;
            }
            if !is_sums {
                hashes.insert(name.clone(), Sha256::digest(&data).into());
            }
            small.insert(name, data);
        } else {
            let size = entry.size();
            let mut hashing = HashingReader {
                inner: &mut entry,
                hasher: Sha256::new(),
            };
            if let Some(visit) = pass.visitor().filter(|_| staged) {
                visit(rel, size, &mut hashing)
                    .or_else(|e| fail("use the records", e.to_string()))?;
            }
            io::copy(&mut hashing, &mut io::sink()).or_else(|e| fail(step, e.to_string()))?;
            let hash = hashing.hasher.finalize().into();
            if let Pass::Use { listing, .. } = &pass {
                expect_listed(listing, &name, &hash)?;
            }
            hashes.insert(name, hash);
        }
    }
    // Read the age stream to its end, so that its last chunk is authenticated too.
    io::copy(&mut inner.into_inner(), &mut io::sink())
        .or_else(|e| fail("decrypt payload.age", e.to_string()))?;

    let step = "inner SHA256SUMS";
    let (Some(sums_text), Some(sig), Some(manifest)) = (
        small.remove("SHA256SUMS"),
        small.remove("SHA256SUMS.sig"),
        small.get("MANIFEST.json"),
    ) else {
        return fail(
            step,
            "MANIFEST.json, SHA256SUMS or SHA256SUMS.sig is missing",
        );
    };
    // The signed sums and the manifest are checked side by side; a failure of the sums is
    // reported first, as when they are checked one after the other.
    let (sums, manifest) = std::thread::scope(|scope| {
        let sums = scope.spawn(|| {
            check_sig(
                "inner SHA256SUMS.sig",
                key,
                INNER_NAMESPACE,
                &sums_text,
                &sig,
            )?;
            let sums =
                parse_sums(&sums_text).map_or_else(|| fail(step, "not in sha256sum format"), Ok)?;
            if sums != hashes {
                let bad: String = hashes
                    .iter()
                    .find(|(n, h)| sums.get(*n) != Some(*h))
                    .map(|(n, _)| n.clone())
                    .or_else(|| sums.keys().find(|n| !hashes.contains_key(*n)).cloned())
                    .unwrap_or_default();
                return fail(
                    step,
                    format!(
                        "{} does not match its checksum, or is missing",
                        shown_name(&bad)
                    ),
                );
            }
            Ok(sums)
        });
        let manifest = check_manifest(manifest, &hashes, &small);
        let sums = sums
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (sums, manifest)
    });
    let sums = sums?;
    let (manifest, approvals) = manifest?;
    // The checks above refuse every name `stageable` does not accept; should one ever pass
    // them, the files handed on would be incomplete.
    if let Some(shown) = unstaged {
        return fail(
            "read the inner tar",
            format!("{shown} is not a file a bundle can hold"),
        );
    }
    let files = hashes.len();
    Ok((
        manifest,
        Listing {
            sums,
            sums_text,
            sig,
            approvals,
        },
        files,
    ))
}

/// Parses the inner manifest (`manifest`) and checks it: the files it accounts for are the
/// ones the payload holds (`hashes`), and the operators' signatures in `small` verify.
fn check_manifest(
    manifest: &[u8],
    hashes: &BTreeMap<String, [u8; 32]>,
    small: &BTreeMap<String, Vec<u8>>,
) -> Result<(Manifest, Vec<super::ApprovalReport>), BundleError> {
    let parsed: Manifest =
        serde_json::from_slice(manifest).or_else(|e| fail("MANIFEST.json", e.to_string()))?;
    check_listed(&parsed, hashes.keys())?;
    if !parsed.approvals.is_empty() && parsed.format != FORMAT {
        return fail(
            "MANIFEST.json",
            "operators' signatures in a bundle of a format that has none",
        );
    }
    let approvals = approvals::check(&parsed.approvals, manifest, small)?;
    Ok((parsed, approvals))
}

/// Whether `name` (already plain, see `canonical_name`) has a shape a bundle can hold,
/// whatever its manifest lists: a top-level file, an operator's signature, or one of a
/// record's files under `records/<32 lowercase hex digits>/`. A pass that hands files on
/// before the payload is proved (`Pass::Stage`) hands on no other name: it reads and hashes
/// it, writes nothing for it, and the checks at the end refuse it (`check_listed` accepts
/// only names of these shapes, and then only those the manifest accounts for).
pub(super) fn stageable(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        [top] => INNER_TOP_LEVEL.contains(top) || *top == INNER_REPORT,
        [APPROVALS_DIR, _] => true,
        ["records", id, file @ ..] => {
            plain_record_id(id)
                && matches!(
                    file,
                    ["metadata.json" | "custody.json" | "statement.txt" | "identity.json"]
                        | [LINEAGE_FILE]
                        | ["attachments" | DERIVED_DIR, _]
                )
        }
        _ => false,
    }
}

/// Whether `id` is a record id as bundles spell it: 32 lowercase hex digits.
fn plain_record_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Fails unless `name` has `hash` in the signed listing.
pub(super) fn expect_listed(
    listing: &Listing,
    name: &str,
    hash: &[u8; 32],
) -> Result<(), BundleError> {
    if listing.sums.get(name) == Some(hash) {
        Ok(())
    } else {
        fail(
            "inner SHA256SUMS",
            format!("{} does not match its signed checksum", shown_name(name)),
        )
    }
}

/// Checks that every file under `records/` is one the manifest accounts for: the metadata,
/// custody, statement, identity (only where the manifest says it was included) or a listed
/// attachment of a record it lists. Record ids are 32 lowercase hex digits, each listed once.
pub(super) fn check_listed<'n>(
    manifest: &Manifest,
    names: impl Iterator<Item = &'n String>,
) -> Result<(), BundleError> {
    let step = "MANIFEST.json";
    // Each record's attachments and derived items, by its id.
    let mut records: HashMap<&str, (&ManifestRecord, BTreeSet<&str>, BTreeSet<&str>)> =
        HashMap::with_capacity(manifest.records.len());
    for rec in &manifest.records {
        if !plain_record_id(&rec.id) {
            return fail(step, "a record id is not 32 lowercase hex digits");
        }
        if records.contains_key(rec.id.as_str()) {
            return fail(step, format!("record {} is listed twice", rec.id));
        }
        let (mut attachments, mut derived) = (BTreeSet::new(), BTreeSet::new());
        for name in &rec.attachments {
            if canonical_name(name.as_bytes()).is_none() || name.contains('/') {
                return fail(step, "an attachment name is not a plain file name");
            }
            if !attachments.insert(name.as_str()) {
                return fail(step, "an attachment is listed twice");
            }
        }
        for name in &rec.derived {
            if canonical_name(name.as_bytes()).is_none() || name.contains('/') {
                return fail(step, "a derived item's name is not a plain file name");
            }
            if !derived.insert(name.as_str()) {
                return fail(step, "a derived item is listed twice");
            }
        }
        records.insert(rec.id.as_str(), (rec, attachments, derived));
    }
    // Whether `file`, under a record's folder, is one the manifest accounts for.
    let accounted = |id: &str, file: &str| {
        let Some((rec, attachments, derived)) = records.get(id) else {
            return false;
        };
        match file {
            "metadata.json" | "custody.json" | "statement.txt" => true,
            "identity.json" => rec.identity_included,
            LINEAGE_FILE => !rec.lineage.is_empty(),
            _ => {
                if let Some(name) = file.strip_prefix("attachments/") {
                    attachments.contains(name)
                } else if let Some(name) = file
                    .strip_prefix(DERIVED_DIR)
                    .and_then(|rest| rest.strip_prefix('/'))
                {
                    derived.contains(name)
                } else {
                    false
                }
            }
        }
    };
    let signatures = approvals::expected_names(&manifest.approvals);
    for name in names {
        if name
            .strip_prefix(APPROVALS_DIR)
            .is_some_and(|rest| rest.starts_with('/'))
        {
            if !signatures.contains(name) {
                return fail(
                    step,
                    format!(
                        "{} is not the signature of a signer the manifest lists",
                        shown_name(name)
                    ),
                );
            }
            continue;
        }
        let Some(path) = name.strip_prefix("records/") else {
            continue;
        };
        if !path
            .split_once('/')
            .is_some_and(|(id, file)| accounted(id, file))
        {
            return fail(
                step,
                format!(
                    "{} is not a file of a record the manifest lists",
                    shown_name(name)
                ),
            );
        }
    }
    Ok(())
}

/// An inner name as an error shows it: quoted and escaped, and without an attachment's file
/// name, which is the witness's material (`records/ID/attachments/…`).
pub(super) fn shown_name(name: &str) -> String {
    for folder in ["/attachments/", "/derived/"] {
        if let Some((record, _)) = name.split_once(folder) {
            return format!("{:?}", format!("{record}{folder}…"));
        }
    }
    format!("{name:?}")
}

/// A reader that hashes what passes through it.
pub(super) struct HashingReader<R: Read> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
}

/// [`HashingReader`], hashing on another thread ([`crate::crypto::ParallelSha256`]).
pub(super) struct ParallelHashingReader<R: Read> {
    pub(super) inner: R,
    pub(super) hasher: crate::crypto::ParallelSha256,
}

impl<R: Read> Read for ParallelHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
