//! Export bundles: the writer's building blocks and the reader that verifies and opens them
//! without any vault. The format (docs/export-format.md) is checkable with `tar`, `sha256sum`,
//! `ssh-keygen` and `age` alone.
//!
//! Outer tar (deterministic: ustar, fixed order, mode 0644, times and owners zero):
//! `payload.age`, `checkpoint.txt`, `checkpoint.txt.sig`, `receipt.json`, `allowed_signers`,
//! `VERIFY.txt`, `SHA256SUMS`, `SHA256SUMS.sig`. Inside `payload.age`, a tar of
//! `records/<id>/…`, `MANIFEST.json`, `SHA256SUMS` and `SHA256SUMS.sig`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, LineEnding, SshSig};

use crate::audit::{self, Checkpoint};
use crate::progress::{Counted, Tally};

/// The bundle format this build writes and reads.
pub const FORMAT: &str = "tvault-export/v2";

/// The first bundle format, still read: its receipt carried the intent event in the clear.
pub const FORMAT_V1: &str = "tvault-export/v1";
/// SSHSIG namespace of the outer `SHA256SUMS.sig` and `checkpoint.txt.sig`.
pub const OUTER_NAMESPACE: &str = "tvault-export@v1";
/// SSHSIG namespace of the inner `SHA256SUMS.sig`.
pub const INNER_NAMESPACE: &str = "tvault-export-inner@v1";
/// The principal named in `allowed_signers`.
pub const PRINCIPAL: &str = "tvault-export";

/// The outer files, in the order they are written.
pub const OUTER_FILES: [&str; 8] = [
    "payload.age",
    "checkpoint.txt",
    "checkpoint.txt.sig",
    "receipt.json",
    "allowed_signers",
    "VERIFY.txt",
    "SHA256SUMS",
    "SHA256SUMS.sig",
];

/// The most any small file of a bundle (everything but the payload and attachments) may be.
const SMALL_FILE_LIMIT: u64 = 16 * 1024 * 1024;

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

/// `sha256sum` format: one `<hex>  <name>` line per file.
pub fn sums_text(sums: &BTreeMap<String, [u8; 32]>) -> String {
    sums.iter()
        .map(|(name, hash)| format!("{}  {name}\n", hex::encode(hash)))
        .collect()
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

fn ssh_verify(key: &VerifyingKey, namespace: &str, msg: &[u8], pem: &[u8]) -> bool {
    let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
        ssh_key::public::Ed25519PublicKey(key.to_bytes()),
    ));
    SshSig::from_pem(pem).is_ok_and(|sig| public.verify(namespace, msg, &sig).is_ok())
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
    /// The intent event's leaf bytes (its JSON), which the outer receipt proves is in the
    /// signed log (bundle format v2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_event: Option<String>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Withheld {
    pub record: String,
    /// "identity" or "attachment".
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub why: String,
}

/// Writes the inner tar into any writer (the age encryptor), keeping the SHA-256 of each
/// file for the inner `SHA256SUMS`.
pub struct InnerWriter<W: Write> {
    tar: tar::Builder<W>,
    sums: BTreeMap<String, [u8; 32]>,
}

impl<W: Write> InnerWriter<W> {
    pub fn new(out: W) -> Self {
        InnerWriter {
            tar: tar::Builder::new(out),
            sums: BTreeMap::new(),
        }
    }

    pub fn add_bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.tar.append(&header(path, data.len() as u64)?, data)?;
        self.sums
            .insert(path.to_owned(), Sha256::digest(data).into());
        Ok(())
    }

    /// Adds a file streamed from `data`, which yields exactly `size` bytes whose SHA-256 is
    /// already known (and checked by the reader).
    pub fn add_stream(
        &mut self,
        path: &str,
        size: u64,
        sha256: [u8; 32],
        data: impl Read,
    ) -> io::Result<()> {
        self.tar.append(&header(path, size)?, data)?;
        self.sums.insert(path.to_owned(), sha256);
        Ok(())
    }

    /// Adds `REPORT.html`, the manifest, the signed `SHA256SUMS`, and ends the tar.
    /// `custody` holds each exported record's events.
    pub fn finish(
        mut self,
        manifest: &Manifest,
        custody: &BTreeMap<String, Vec<audit::Event>>,
        key: &SigningKey,
    ) -> io::Result<W> {
        let report = report_html(manifest, custody);
        self.add_bytes("REPORT.html", report.as_bytes())?;
        let manifest = serde_json::to_vec_pretty(manifest).expect("manifests serialise");
        self.add_bytes("MANIFEST.json", &manifest)?;
        let sums = sums_text(&self.sums);
        let sig = ssh_sign(key, INNER_NAMESPACE, sums.as_bytes());
        self.tar
            .append(&header("SHA256SUMS", sums.len() as u64)?, sums.as_bytes())?;
        self.tar
            .append(&header("SHA256SUMS.sig", sig.len() as u64)?, sig.as_bytes())?;
        self.tar.into_inner()
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W: Write> {
    pub inner: W,
    pub hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The small outer files.
pub struct OuterFiles {
    pub checkpoint: String,
    pub receipt: Receipt,
    pub signer_line: String,
    pub fingerprint: String,
    pub export_id: String,
}

/// Writes a bundle in one pass. The payload streams straight into the outer tar's first
/// entry, `payload.age`; its tar header, which holds its size, is written last, into the 512
/// bytes kept for it at the start of the file. So the bundle's ciphertext is written once and
/// never to a temporary file.
pub struct BundleWriter {
    file: File,
    payload_len: u64,
    hasher: crate::crypto::ParallelSha256,
    /// Where the bundle is written ([`crate::fs::partial_path`]), and its final name.
    partial: Partial,
    path: PathBuf,
}

/// A file being written under a temporary name: removed when dropped (once published, that
/// name is gone or a second link to the finished file).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl BundleWriter {
    /// Starts a bundle that will appear at `path` once finished: until then it is written
    /// under a hidden partial name beside it, which is removed if the bundle is not finished
    /// (a killed process leaves only that).
    pub fn create(path: &Path) -> io::Result<Self> {
        if path.exists() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let partial = Partial(crate::fs::partial_path(path));
        let mut file = crate::fs::create_new_file(&partial.0)?;
        file.write_all(&[0u8; 512])?;
        Ok(BundleWriter {
            file,
            payload_len: 0,
            hasher: crate::crypto::ParallelSha256::new(),
            partial,
            path: path.to_owned(),
        })
    }

    /// Ends the payload, adds the other outer files, writes the payload's header, syncs the
    /// file, gives it its name, and returns the SHA-256 of the whole bundle (read back from
    /// the file).
    pub fn finish(self, files: &OuterFiles, key: &SigningKey) -> io::Result<[u8; 32]> {
        let BundleWriter {
            file,
            payload_len,
            hasher,
            partial,
            path,
        } = self;
        let sha256 = Self::complete(file, payload_len, hasher, files, key)?;
        crate::fs::publish(&partial.0, &path)?;
        Ok(sha256)
    }

    fn complete(
        mut file: File,
        payload_len: u64,
        hasher: crate::crypto::ParallelSha256,
        files: &OuterFiles,
        key: &SigningKey,
    ) -> io::Result<[u8; 32]> {
        let padding = (512 - payload_len % 512) % 512;
        file.write_all(&vec![0u8; padding as usize])?;
        let payload_sha256 = hasher.finish();
        let mut file = write_outer_rest(file, payload_sha256, files, key)?;
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(header("payload.age", payload_len)?.as_bytes())?;
        // Hash the finished file while it is synced to the disk.
        let syncing = file.try_clone()?;
        let synced = std::thread::spawn(move || syncing.sync_all());
        file.seek(io::SeekFrom::Start(0))?;
        let mut hashing = HashingWriter {
            inner: io::sink(),
            hasher: Sha256::new(),
        };
        let hashed = io::copy(&mut file, &mut hashing);
        synced
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        hashed?;
        Ok(hashing.hasher.finalize().into())
    }
}

impl Write for BundleWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.payload_len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The outer files after `payload.age`, their signed `SHA256SUMS`, and the end of the tar.
fn write_outer_rest<W: Write>(
    out: W,
    payload_sha256: [u8; 32],
    files: &OuterFiles,
    key: &SigningKey,
) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let mut sums = BTreeMap::new();
    sums.insert("payload.age".to_owned(), payload_sha256);
    let receipt = serde_json::to_string_pretty(&files.receipt).expect("receipts serialise") + "\n";
    let allowed = format!(
        "{PRINCIPAL} namespaces=\"{OUTER_NAMESPACE},{INNER_NAMESPACE}\" {}\n",
        files.signer_line
    );
    let small: [(&str, String); 5] = [
        ("checkpoint.txt", files.checkpoint.clone()),
        (
            "checkpoint.txt.sig",
            ssh_sign(key, OUTER_NAMESPACE, files.checkpoint.as_bytes()),
        ),
        ("receipt.json", receipt),
        ("allowed_signers", allowed),
        (
            "VERIFY.txt",
            verify_text(&files.fingerprint, &files.export_id),
        ),
    ];
    for (name, text) in &small {
        tar.append(&header(name, text.len() as u64)?, text.as_bytes())?;
        sums.insert((*name).to_owned(), Sha256::digest(text.as_bytes()).into());
    }
    let sums = sums_text(&sums);
    let sig = ssh_sign(key, OUTER_NAMESPACE, sums.as_bytes());
    tar.append(&header("SHA256SUMS", sums.len() as u64)?, sums.as_bytes())?;
    tar.append(&header("SHA256SUMS.sig", sig.len() as u64)?, sig.as_bytes())?;
    tar.into_inner()
}

/// Escapes text for HTML element content and attribute values.
fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `REPORT.html`: one self-contained printable page (no scripts, no external resources) for a
/// reader who will not run a command: what was exported, why and by whom, each record's intake
/// hashes, what was withheld and why, and each record's custody timeline. Every value is
/// escaped; it holds nothing the manifest and custody files beside it do not.
pub fn report_html(manifest: &Manifest, custody: &BTreeMap<String, Vec<audit::Event>>) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>tvault export report</title>\n<style>\n\
         body{font-family:serif;max-width:60em;margin:2em auto;line-height:1.4}\n\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #888;padding:.2em .5em;text-align:left;vertical-align:top}\n\
         code{font-size:.85em;word-break:break-all}h2{page-break-before:auto}\n\
         </style>\n</head>\n<body>\n",
    );
    let row = |k: &str, v: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", html(k), v);
    page += &format!("<h1>Export {}</h1>\n<table>\n", html(&manifest.export_id));
    page += &row(
        "Vault",
        &format!("<code>{}</code>", html(&manifest.vault_id)),
    );
    page += &row("Purpose", &html(&manifest.purpose));
    page += &row(
        "Reason for overriding consent",
        &html(manifest.reason.as_deref().unwrap_or("none")),
    );
    page += &row("Exported by", &html(&manifest.operator));
    page += &row("Time (UTC)", &html(&manifest.time));
    page += &row("Format", &html(&manifest.format));
    page += "</table>\n<p>This page summarises the bundle's signed MANIFEST.json and custody files; \
             check the bundle as VERIFY.txt explains before relying on it.</p>\n";

    page += "<h2>Records</h2>\n<table>\n<tr><th>Record</th><th>Version</th><th>Witness (pseudonym)</th>\
             <th>Consent</th><th>Statement</th><th>Identity</th><th>Attachments</th></tr>\n";
    for r in &manifest.records {
        let purposes: Vec<&str> = r.consent.purposes.iter().map(|p| p.as_str()).collect();
        page += &format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html(&r.id),
            r.version,
            html(&r.witness),
            html(&purposes.join(", ")),
            if r.consent_overridden {
                " (overridden)"
            } else {
                ""
            },
            if r.statement_redacted {
                "real name replaced by the pseudonym"
            } else {
                "as recorded"
            },
            if r.identity_included {
                "included"
            } else {
                "withheld"
            },
            html(&r.attachments.join(", ")),
        );
    }
    page += "</table>\n<h2>Intake hashes (SHA-256 of the content as recorded)</h2>\n<table>\n\
             <tr><th>Record</th><th>Part</th><th>SHA-256</th></tr>\n";
    for r in &manifest.records {
        for (part, sha) in &r.intake_sha256 {
            let what = if *part == 0 {
                "statement".to_owned()
            } else {
                format!("attachment {part}")
            };
            page += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>\n",
                html(&r.id),
                what,
                html(sha)
            );
        }
    }
    page += "</table>\n<h2>Withheld</h2>\n";
    if manifest.withheld.is_empty() {
        page += "<p>Nothing.</p>\n";
    } else {
        page += "<table>\n<tr><th>Record</th><th>What</th><th>Why</th></tr>\n";
        for w in &manifest.withheld {
            let what = match &w.name {
                Some(name) => format!("{} {}", html(&w.what), html(name)),
                None => html(&w.what),
            };
            page += &format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                html(&w.record),
                what,
                html(&w.why)
            );
        }
        page += "</table>\n";
    }
    page += "<h2>Custody</h2>\n";
    for r in &manifest.records {
        page += &format!(
            "<h3>Record <code>{}</code></h3>\n<table>\n<tr><th>#</th><th>Time (UTC)</th><th>Operator</th><th>Event</th><th>Version</th></tr>\n",
            html(&r.id)
        );
        for e in custody.get(&r.id).map(Vec::as_slice).unwrap_or_default() {
            page += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                e.seq,
                html(&e.time),
                html(&e.operator),
                e.action.as_str(),
                e.version.map(|v| v.to_string()).unwrap_or_default()
            );
        }
        page += "</table>\n";
    }
    page += "</body>\n</html>\n";
    page
}

/// The instructions inside every bundle.
fn verify_text(fingerprint: &str, export_id: &str) -> String {
    format!(
        "tvault export {export_id}
Format: {FORMAT} (see docs/export-format.md in tvault's source).

1. Compare the signer's fingerprint with the one you were given out of band
   (on paper, by phone, on the organisation's web site):

       {fingerprint}

   ssh-keygen -l -f allowed_signers   # prints the fingerprint of the key in this bundle

2. Unpack this bundle into an empty folder and check it:

       mkdir bundle && tar -xf EXPORT.tar -C bundle && cd bundle
       sha256sum -c SHA256SUMS
       ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {OUTER_NAMESPACE} -s SHA256SUMS.sig < SHA256SUMS
       ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {OUTER_NAMESPACE} -s checkpoint.txt.sig < checkpoint.txt

3. Decrypt the payload completely to a file first (age releases data before it can detect a
   truncated file), then unpack and check it:

       age -d -i YOUR_KEY_FILE -o payload.tar payload.age     # or: age -d -o payload.tar payload.age (passphrase)
       mkdir payload && tar -xf payload.tar -C payload && cd payload
       sha256sum -c SHA256SUMS
       ssh-keygen -Y verify -f ../allowed_signers -I {PRINCIPAL} -n {INNER_NAMESPACE} -s SHA256SUMS.sig < SHA256SUMS

Or, with tvault: tvault verify-export EXPORT.tar --identity YOUR_KEY_FILE --signer '{fingerprint}'
"
    )
}

/// The step of verification that failed, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct BundleError {
    pub step: &'static str,
    pub detail: String,
}

fn fail<T>(step: &'static str, detail: impl Into<String>) -> Result<T, BundleError> {
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
fn safe_relative(name: &[u8]) -> Option<PathBuf> {
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
struct Outer {
    small: BTreeMap<String, Vec<u8>>,
    payload_sha256: [u8; 32],
}

fn read_outer(
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

/// Parses `sha256sum` output into name → hash; refuses anything else.
fn parse_sums(text: &[u8]) -> Option<BTreeMap<String, [u8; 32]>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (hash, name) = line.split_once("  ")?;
        let hash: [u8; 32] = hex::decode(hash).ok()?.try_into().ok()?;
        if out.insert(name.to_owned(), hash).is_some() {
            return None;
        }
    }
    Some(out)
}

/// Reads the signer's key from `allowed_signers`, and checks it against `expected` (an
/// OpenSSH key line or a `SHA256:` fingerprint) when given.
fn signer(
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
fn intent_event(json: &str, index: u64, step: &'static str) -> Result<Option<String>, BundleError> {
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
struct HashingReader<R: Read> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    /// A signed bundle built from an inner tar made by `inner`, sealed to a fresh X25519 key.
    struct Fixture {
        dir: tempfile::TempDir,
        bundle: PathBuf,
        identity: String,
    }

    /// The intent event of the fixture export: first in its vault's log.
    fn intent_leaf(export_id: &str) -> Vec<u8> {
        audit::Event {
            seq: 0,
            time: "2026-01-01T00:00:00Z".into(),
            operator: "op".into(),
            action: audit::Action::ExportIntent,
            record: None,
            version: None,
            parts: Vec::new(),
            detail: Some(serde_json::json!({ "export_id": export_id })),
            salt: "00".into(),
        }
        .leaf()
    }

    fn bundle_with(inner: impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let vault_id = [3u8; 16];
        let export_id = "00112233445566778899aabbccddeeff";
        let leaf = intent_leaf(export_id);
        let root = audit::leaf_hash(&leaf);
        let checkpoint = Checkpoint::sign(&audit::origin(&vault_id), 1, &root, &key);
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();

        let mut tar = tar::Builder::new(Vec::new());
        inner(&mut tar, &key, export_id);
        let inner_bytes = tar.into_inner().unwrap();
        let bundle = dir.path().join("bundle.tar");
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut w = encryptor
            .wrap_output(BundleWriter::create(&bundle).unwrap())
            .unwrap();
        w.write_all(&inner_bytes).unwrap();
        let writer = w.finish().unwrap();
        let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(key.verifying_key().to_bytes()),
        ));
        let files = OuterFiles {
            checkpoint: checkpoint.note.clone(),
            receipt: Receipt {
                format: Receipt::FORMAT.into(),
                event: None,
                leaf_hash: Some({
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(root)
                }),
                export_id: Some(export_id.into()),
                index: 0,
                tree_size: 1,
                proof: Vec::new(),
            },
            signer_line: public.to_openssh().unwrap(),
            fingerprint: public.fingerprint(HashAlg::Sha256).to_string(),
            export_id: export_id.into(),
        };
        let sha256 = writer.finish(&files, &key).unwrap();
        assert_eq!(
            sha256,
            <[u8; 32]>::from(Sha256::digest(std::fs::read(&bundle).unwrap()))
        );
        Fixture {
            bundle,
            identity: identity.to_string().expose_secret().to_owned(),
            dir,
        }
    }

    /// An inner tar entry: name, type, content.
    type Entry = (&'static str, tar::EntryType, Vec<u8>);

    /// A well-formed inner tar, signed, with the given extra entries added before it.
    fn inner_with(extra: Vec<Entry>) -> impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str) {
        inner_with_intent(extra, None)
    }

    /// [`inner_with`], its manifest holding `intent` instead of the logged intent event.
    fn inner_with_intent(
        extra: Vec<Entry>,
        intent: Option<Vec<u8>>,
    ) -> impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str) {
        move |tar, key, export_id| {
            let mut sums = BTreeMap::new();
            for (name, kind, data) in &extra {
                let mut h = tar::Header::new_gnu();
                h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_size(data.len() as u64);
                h.set_entry_type(*kind);
                h.set_mode(0o644);
                h.set_cksum();
                tar.append(&h, data.as_slice()).unwrap();
                sums.insert((*name).to_owned(), Sha256::digest(data).into());
            }
            let manifest = Manifest {
                format: FORMAT.into(),
                export_id: export_id.into(),
                vault_id: hex::encode([3u8; 16]),
                purpose: "court".into(),
                reason: None,
                operator: "op".into(),
                time: "2026-01-01T00:00:00Z".into(),
                records: Vec::new(),
                withheld: Vec::new(),
                intent_event: Some(
                    String::from_utf8(intent.unwrap_or_else(|| intent_leaf(export_id))).unwrap(),
                ),
            };
            let m = serde_json::to_vec(&manifest).unwrap();
            tar.append(
                &header("MANIFEST.json", m.len() as u64).unwrap(),
                m.as_slice(),
            )
            .unwrap();
            sums.insert("MANIFEST.json".into(), Sha256::digest(&m).into());
            let text = sums_text(&sums);
            let sig = ssh_sign(key, INNER_NAMESPACE, text.as_bytes());
            tar.append(
                &header("SHA256SUMS", text.len() as u64).unwrap(),
                text.as_bytes(),
            )
            .unwrap();
            tar.append(
                &header("SHA256SUMS.sig", sig.len() as u64).unwrap(),
                sig.as_bytes(),
            )
            .unwrap();
        }
    }

    fn unlock(f: &Fixture) -> Unlock {
        let ids = age::IdentityFile::from_buffer(f.identity.as_bytes())
            .unwrap()
            .into_identities()
            .unwrap()
            .into_iter()
            .map(|i| i as Box<dyn age::Identity>)
            .collect();
        Unlock::Identities(ids)
    }

    #[test]
    fn a_sealed_intent_event_other_than_the_logged_one_is_refused() {
        let unlock = |f: &Fixture| {
            Unlock::Identities(vec![Box::new(
                f.identity.parse::<age::x25519::Identity>().unwrap(),
            )])
        };
        let good = bundle_with(inner_with(Vec::new()));
        assert!(verify_bundle(&good.bundle, None, Some(&unlock(&good)), None).is_ok());
        let other = intent_leaf("ffffffffffffffffffffffffffffffff");
        let bad = bundle_with(inner_with_intent(Vec::new(), Some(other)));
        // Without the key only the receipt is checked, and it is the logged one.
        assert!(verify_bundle(&bad.bundle, None, None, None).is_ok());
        let err = verify_bundle(&bad.bundle, None, Some(&unlock(&bad)), None).unwrap_err();
        assert_eq!(err.step, "MANIFEST.json");
    }

    #[test]
    fn an_unfinished_bundle_leaves_nothing_and_an_existing_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.tar");
        let mut writer = BundleWriter::create(&path).unwrap();
        writer.write_all(&[7u8; 100_000]).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "a partial file"
        );
        assert!(!path.exists());
        drop(writer);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        std::fs::write(&path, b"someone else's file").unwrap();
        assert!(BundleWriter::create(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
    }

    #[test]
    fn a_well_formed_bundle_verifies_and_opens() {
        let f = bundle_with(inner_with(vec![(
            "records/ab/statement.txt",
            tar::EntryType::Regular,
            b"hello".to_vec(),
        )]));
        let into = f.dir.path().join("out");
        let (report, _) = verify_bundle(&f.bundle, None, Some(&unlock(&f)), Some(&into)).unwrap();
        assert!(report.payload_checked);
        assert_eq!(
            std::fs::read(into.join("records/ab/statement.txt")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn hostile_inner_entries_are_refused_and_nothing_is_written() {
        let cases: Vec<(&str, Vec<Entry>)> = vec![
            (
                "traversal",
                vec![("records/../../evil", tar::EntryType::Regular, b"x".to_vec())],
            ),
            (
                "absolute",
                vec![("/tmp/tvault-evil", tar::EntryType::Regular, b"x".to_vec())],
            ),
            (
                "outside records",
                vec![("evil.txt", tar::EntryType::Regular, b"x".to_vec())],
            ),
            (
                "symlink",
                vec![("records/ab/link", tar::EntryType::Symlink, Vec::new())],
            ),
            (
                "hard link",
                vec![("records/ab/link", tar::EntryType::Link, Vec::new())],
            ),
            (
                "device",
                vec![("records/ab/dev", tar::EntryType::Block, Vec::new())],
            ),
            (
                "fifo",
                vec![("records/ab/fifo", tar::EntryType::Fifo, Vec::new())],
            ),
            (
                "duplicate",
                vec![
                    ("records/ab/a.txt", tar::EntryType::Regular, b"1".to_vec()),
                    ("records/ab/a.txt", tar::EntryType::Regular, b"2".to_vec()),
                ],
            ),
        ];
        for (what, extra) in cases {
            let f = bundle_with(inner_with(extra));
            let into = f.dir.path().join("out");
            let err = verify_bundle(&f.bundle, None, Some(&unlock(&f)), Some(&into)).unwrap_err();
            assert_eq!(err.step, "read the inner tar", "{what}: {err}");
            assert!(!into.exists(), "{what}");
            assert!(!f.dir.path().parent().unwrap().join("evil").exists());
            assert!(!Path::new("/tmp/tvault-evil").exists());
        }
    }

    #[test]
    fn an_altered_inner_file_is_caught_by_the_inner_sums() {
        let f = bundle_with(|tar, key, export_id| {
            let builder = inner_with(vec![(
                "records/ab/statement.txt",
                tar::EntryType::Regular,
                b"true".to_vec(),
            )]);
            // Build it, then replace the statement's bytes after the sums were taken.
            let mut scratch = tar::Builder::new(Vec::new());
            builder(&mut scratch, key, export_id);
            let bytes = scratch.into_inner().unwrap();
            let mut archive = tar::Archive::new(bytes.as_slice());
            for e in archive.entries().unwrap() {
                let mut e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                if name.ends_with("statement.txt") {
                    data = b"fake".to_vec();
                }
                tar.append(&header(&name, data.len() as u64).unwrap(), data.as_slice())
                    .unwrap();
            }
        });
        let err = verify_bundle(&f.bundle, None, Some(&unlock(&f)), None).unwrap_err();
        assert_eq!(err.step, "inner SHA256SUMS", "{err}");
    }
}
