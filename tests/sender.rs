//! The bundle sender: someone who hands over any tar. Real bundles are taken apart and put
//! back together (re-signed with the sender's own key where the attack needs valid
//! signatures), and every attack must fail closed through the binary with its exit code,
//! writing and importing nothing. Legitimate bundles keep opening.

#![allow(
    clippy::disallowed_methods,
    reason = "scratch bundles in a test's temp folder"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestVault, content};
use ed25519_dalek::SigningKey;
use predicates::prelude::*;
use sha2::{Digest, Sha256};
use tvault::audit::{self, Checkpoint};
use tvault::bundle::{
    BundleWriter, INNER_NAMESPACE, Manifest, OUTER_NAMESPACE, OuterFiles, Receipt, SealKind,
    ssh_sign, sums_text,
};

/// A vault with one record (a statement and a document), exported sealed to a fresh age key.
struct Sent {
    tv: TestVault,
    id: String,
    bundle: PathBuf,
    identity: age::x25519::Identity,
    identity_file: PathBuf,
    /// The vault's signing key fingerprint, as the sender would give it out of band.
    fingerprint: String,
}

fn sent() -> Sent {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"The statement of the witness.\n");
    let doc = tv.write("letter.pdf", &content(70_000, 3));
    let id = tv.add(&[
        "--witness",
        "Heron",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        doc.to_str().unwrap(),
    ]);
    let identity = age::x25519::Identity::generate();
    let identity_file = tv.write("id.key", identity.to_string().expose_secret().as_bytes());
    let bundle = tv.path("bundle.tar");
    tv.cmd()
        .args(["export", "-o", bundle.to_str().unwrap()])
        .args(["--purpose", "court", "--all", "--recipient"])
        .arg(identity.to_public().to_string())
        .assert()
        .success();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let fingerprint = status["signing_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    Sent {
        tv,
        id,
        bundle,
        identity,
        identity_file,
        fingerprint,
    }
}

/// A tar's entries: each name (raw) and its bytes, in order.
fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn outer_files(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    entries(&std::fs::read(bundle).unwrap())
}

/// The inner files of a bundle sealed to `identity`.
fn inner_files(bundle: &Path, identity: &age::x25519::Identity) -> Vec<(String, Vec<u8>)> {
    let outer = outer_files(bundle);
    let payload = &outer.iter().find(|(n, _)| n == "payload.age").unwrap().1;
    let decryptor = age::Decryptor::new(&payload[..]).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    entries(&plain)
}

/// A tar entry whose name bytes are written as given, so that odd names are not cleaned on
/// the way in.
fn raw_entry<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, data).unwrap();
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        raw_entry(&mut tar, name, data);
    }
    tar.finish().unwrap();
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Someone with a signing key of their own, making bundles out of others' content.
struct Forger {
    key: SigningKey,
}

impl Forger {
    fn new() -> Self {
        Forger {
            key: SigningKey::from_bytes(&[0x5a; 32]),
        }
    }

    fn public(&self) -> ssh_key::PublicKey {
        let mut key = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(self.key.verifying_key().to_bytes()),
        ));
        key.set_comment("forger");
        key
    }

    fn fingerprint(&self) -> String {
        self.public()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    }

    /// A complete bundle of these inner files (names written byte for byte), their
    /// SHA256SUMS listing every name given and signed, sealed to `to`; the outer files
    /// signed by this key, the receipt proving the manifest's intent event in a checkpoint
    /// this key signs.
    fn bundle(&self, out: &Path, files: &[(String, Vec<u8>)], to: &age::x25519::Recipient) {
        let manifest = &files.iter().find(|(n, _)| n == "MANIFEST.json").unwrap().1;
        let manifest: Manifest = serde_json::from_slice(manifest).unwrap();
        let intent = manifest.intent_event.clone().unwrap();
        let event: audit::Event = serde_json::from_str(&intent).unwrap();
        let index = event.seq;
        let leaves: Vec<audit::Hash> = (0..=index)
            .map(|i| {
                if i == index {
                    audit::leaf_hash(intent.as_bytes())
                } else {
                    audit::leaf_hash(&i.to_be_bytes())
                }
            })
            .collect();
        let root = audit::root(&leaves);
        let proof = audit::inclusion_proof(index as usize, &leaves);
        let origin = format!("tvault/{}", manifest.vault_id);
        let checkpoint = Checkpoint::sign(&origin, index + 1, &root, &self.key);

        let mut tar = tar::Builder::new(Vec::new());
        let mut sums = BTreeMap::new();
        for (name, data) in files.iter().filter(|(n, _)| !n.starts_with("SHA256SUMS")) {
            raw_entry(&mut tar, name, data);
            sums.insert(name.clone(), sha256(data));
        }
        let text = sums_text(&sums);
        let sig = ssh_sign(&self.key, INNER_NAMESPACE, text.as_bytes());
        raw_entry(&mut tar, "SHA256SUMS", text.as_bytes());
        raw_entry(&mut tar, "SHA256SUMS.sig", sig.as_bytes());
        let inner = tar.into_inner().unwrap();

        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
        let mut w = encryptor
            .wrap_output(BundleWriter::create(out).unwrap())
            .unwrap();
        w.write_all(&inner).unwrap();
        let writer = w.finish().unwrap();
        let files = OuterFiles {
            checkpoint: checkpoint.note,
            receipt: Receipt {
                format: Receipt::FORMAT.into(),
                event: None,
                leaf_hash: Some(STANDARD.encode(leaves[index as usize])),
                export_id: Some(manifest.export_id.clone()),
                index,
                tree_size: index + 1,
                proof: proof.iter().map(|h| STANDARD.encode(h)).collect(),
                rotations: Vec::new(),
            },
            signer_line: self.public().to_openssh().unwrap(),
            export_id: manifest.export_id.clone(),
            seal: SealKind::Keys {
                age: true,
                ssh: false,
            },
            timestamps: None,
        };
        writer.finish(&files, &self.key).unwrap();
    }

    /// Rewrites a bundle's outer files with `edit`, and signs its SHA256SUMS anew.
    fn resign_outer(&self, src: &Path, dst: &Path, mut edit: impl FnMut(&str, Vec<u8>) -> Vec<u8>) {
        let mut files: Vec<(String, Vec<u8>)> = outer_files(src)
            .into_iter()
            .map(|(n, d)| {
                let d = edit(&n, d);
                (n, d)
            })
            .collect();
        let sums: BTreeMap<String, [u8; 32]> = files
            .iter()
            .filter(|(n, _)| !n.starts_with("SHA256SUMS"))
            .map(|(n, d)| (n.clone(), sha256(d)))
            .collect();
        let text = sums_text(&sums);
        for (name, data) in &mut files {
            match name.as_str() {
                "SHA256SUMS" => *data = text.clone().into_bytes(),
                "SHA256SUMS.sig" => {
                    *data = ssh_sign(&self.key, OUTER_NAMESPACE, text.as_bytes()).into_bytes();
                }
                _ => {}
            }
        }
        write_tar(dst, &files);
    }
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap()
}

/// Runs `verify-export`, `open-export` (into a new folder) and `import` (into a new vault) on
/// `bundle` with `args`, and checks that each exits `code`. On failure, checks that nothing
/// was written or imported; returns each command's stderr.
fn all_three(s: &Sent, bundle: &Path, args: &[&str], code: i32) -> [String; 3] {
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let verify =
        s.tv.bare_cmd()
            .arg("verify-export")
            .arg(bundle)
            .arg("--identity")
            .arg(&s.identity_file)
            .args(args)
            .assert()
            .code(code);
    let into =
        s.tv.path(&format!("opened-{}", common::content(4, code as u8)[0]));
    let _ = std::fs::remove_dir_all(&into);
    let before: Vec<_> = std::fs::read_dir(s.tv.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let open =
        s.tv.bare_cmd()
            .arg("open-export")
            .arg(bundle)
            .arg("--into")
            .arg(&into)
            .arg("--identity")
            .arg(&s.identity_file)
            .args(args)
            .assert()
            .code(code);
    let hq = TestVault::new();
    let vault_before = hq.vault_bytes();
    let import = hq
        .cmd()
        .arg("import")
        .arg(bundle)
        .arg("--identity")
        .arg(&s.identity_file)
        .args(args)
        .assert()
        .code(code);
    if code != 0 {
        assert!(!into.exists(), "open-export wrote {}", into.display());
        let after: Vec<_> = std::fs::read_dir(s.tv.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(before, after, "open-export left something behind");
        assert_eq!(hq.vault_bytes(), vault_before, "import changed the vault");
    }
    [
        stderr(verify.get_output()),
        stderr(open.get_output()),
        stderr(import.get_output()),
    ]
}

#[test]
fn a_forged_bundle_verifies_only_against_its_own_signer() {
    let s = sent();
    let forger = Forger::new();
    let forged = s.tv.path("forged.tar");
    forger.bundle(
        &forged,
        &inner_files(&s.bundle, &s.identity),
        &s.identity.to_public(),
    );
    // Made well: it opens for whoever names its maker.
    all_three(&s, &forged, &["--signer", &forger.fingerprint()], 0);
    let [stderr, _, _] = all_three(&s, &forged, &["--signer", &s.fingerprint], 13);
    assert!(stderr.contains("not by the signer given"), "{stderr}");
}

#[test]
fn a_signer_must_be_named_or_the_bundle_explicitly_trusted_alone() {
    let s = sent();
    // No signer: a usage error that says where a signer comes from; nothing written.
    for stderr in all_three(&s, &s.bundle, &[], 2) {
        assert!(
            stderr.contains("--signer") && stderr.contains("out of band"),
            "{stderr}"
        );
        assert!(stderr.contains("--trust-bundle-signer"), "{stderr}");
    }
    all_three(
        &s,
        &s.bundle,
        &["--signer", &s.fingerprint, "--trust-bundle-signer"],
        2,
    );
    for garbage in ["SHA256:short", "not a key", "ssh-rsa AAAA"] {
        all_three(&s, &s.bundle, &["--signer", garbage], 2);
    }

    // Trusting the bundle alone works, and says in words that nothing vouches for it.
    let warning = "WARNING: the signer was not checked against a key you named: anyone could have made this bundle";
    for stderr in all_three(&s, &s.bundle, &["--trust-bundle-signer"], 0) {
        assert!(stderr.contains(warning), "{stderr}");
        assert!(stderr.contains(&s.fingerprint), "{stderr}");
    }
    let out =
        s.tv.bare_cmd()
            .args(["--json", "-q", "verify-export"])
            .arg(&s.bundle)
            .arg("--trust-bundle-signer")
            .assert()
            .success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["signer_trusted"], false);
    assert!(
        doc["warning"]
            .as_str()
            .unwrap()
            .contains("anyone could have made this bundle")
    );
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains(warning));

    // A named signer: trusted, no warning.
    for stderr in all_three(&s, &s.bundle, &["--signer", &s.fingerprint], 0) {
        assert!(!stderr.contains("WARNING"), "{stderr}");
    }
    let out =
        s.tv.bare_cmd()
            .args(["--json", "verify-export"])
            .arg(&s.bundle)
            .args(["--signer", &s.fingerprint])
            .assert()
            .success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["signer_trusted"], true);
    assert!(doc.get("warning").is_none());

    // The custody log of an importing vault says how the signer was trusted.
    for (args, trust) in [
        (vec!["--trust-bundle-signer"], "bundle-only"),
        (vec!["--signer", &s.fingerprint], "named"),
    ] {
        let hq = TestVault::new();
        let out = hq
            .cmd()
            .args(["--json", "import"])
            .arg(&s.bundle)
            .arg("--identity")
            .arg(&s.identity_file)
            .args(&args)
            .assert()
            .success();
        let summary = json(&out.get_output().stdout);
        assert_eq!(summary["signer_trusted"], trust == "named");
        assert_eq!(summary["signer"], s.fingerprint.as_str());
        let out = hq.cmd().args(["log", &s.id, "--json"]).assert().success();
        let events = json(&out.get_output().stdout);
        let imported = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "record-imported")
            .unwrap();
        assert_eq!(imported["detail"]["signer_trust"], trust);
    }
}

/// A forged bundle whose `allowed_signers` is replaced by `allowed`, the outer sums signed
/// anew by the forger.
fn with_allowed_signers(s: &Sent, forger: &Forger, name: &str, allowed: &str) -> PathBuf {
    let forged = s.tv.path("forged-base.tar");
    if !forged.exists() {
        forger.bundle(
            &forged,
            &inner_files(&s.bundle, &s.identity),
            &s.identity.to_public(),
        );
    }
    let out = s.tv.path(name);
    forger.resign_outer(&forged, &out, |n, data| {
        if n == "allowed_signers" {
            allowed.as_bytes().to_vec()
        } else {
            data
        }
    });
    out
}

#[test]
fn allowed_signers_with_more_than_one_key_or_principal_or_another_key_is_refused() {
    let s = sent();
    let forger = Forger::new();
    let ns = format!("namespaces=\"{OUTER_NAMESPACE},{INNER_NAMESPACE}\"");
    let forger_line = format!(
        "tvault-export {ns} {}\n",
        forger.public().to_openssh().unwrap()
    );
    let out = s.tv.cmd().args(["status", "--json"]).assert().success();
    let real_key = json(&out.get_output().stdout)["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let real_line = format!("tvault-export {ns} {real_key}\n");

    // As the forger writes it, it opens for whoever names the forger.
    let plain = with_allowed_signers(&s, &forger, "plain.tar", &forger_line);
    all_three(&s, &plain, &["--signer", &forger.fingerprint()], 0);

    // The real signer's key listed beside the forger's: `ssh-keygen -l -f allowed_signers`
    // would show the fingerprint the receiver expects, and `ssh-keygen -Y verify` accept the
    // forger's signatures.
    let cases = [
        ("two-keys.tar", format!("{forger_line}{real_line}")),
        (
            "two-keys-real-first.tar",
            format!("{real_line}{forger_line}"),
        ),
        (
            "principal-twice.tar",
            forger_line.replacen("tvault-export", "tvault-export,tvault-export", 1),
        ),
        (
            "wildcard.tar",
            forger_line.replacen("tvault-export", "*", 1),
        ),
    ];
    for (name, allowed) in &cases {
        let bundle = with_allowed_signers(&s, &forger, name, allowed);
        for args in [
            vec!["--signer", &forger.fingerprint()],
            vec!["--trust-bundle-signer"],
        ] {
            let [stderr, ..] = all_three(&s, &bundle, &args, 13);
            assert!(stderr.contains("identify the signer"), "{name}: {stderr}");
        }
    }

    // The real signer's key alone, while the forger's key made every signature.
    let bundle = with_allowed_signers(&s, &forger, "other-key.tar", &real_line);
    let [stderr, ..] = all_three(&s, &bundle, &["--signer", &s.fingerprint], 13);
    assert!(
        stderr.contains("made by another key than the one allowed_signers names"),
        "{stderr}"
    );
}

#[test]
fn a_checkpoint_with_a_failing_signature_beside_a_good_one_is_refused() {
    let s = sent();
    let forger = Forger::new();
    let forged = s.tv.path("forged.tar");
    forger.bundle(
        &forged,
        &inner_files(&s.bundle, &s.identity),
        &s.identity.to_public(),
    );
    // A second line by the same key, signing another tree size.
    let note = outer_files(&forged)
        .into_iter()
        .find(|(n, _)| n == "checkpoint.txt")
        .unwrap()
        .1;
    let note = String::from_utf8(note).unwrap();
    let (text, _) = note.rsplit_once("\n\n").unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let size: u64 = lines[1].parse().unwrap();
    let bigger = (size + 1).to_string();
    lines[1] = &bigger;
    let other = Checkpoint::sign(
        lines[0],
        size + 1,
        &STANDARD.decode(lines[2]).unwrap().try_into().unwrap(),
        &forger.key,
    );
    let second_line = other.note.rsplit_once("\n\n").unwrap().1;
    let edited = format!("{note}{second_line}");
    let bundle = s.tv.path("two-signatures.tar");
    forger.resign_outer(&forged, &bundle, |n, data| match n {
        "checkpoint.txt" => edited.clone().into_bytes(),
        "checkpoint.txt.sig" => {
            ssh_sign(&forger.key, OUTER_NAMESPACE, edited.as_bytes()).into_bytes()
        }
        _ => data,
    });
    let [stderr, ..] = all_three(&s, &bundle, &["--signer", &forger.fingerprint()], 13);
    assert!(stderr.contains("checkpoint"), "{stderr}");
}

/// The record's inner files with the statement's name replaced by `alias`, and (with
/// `keep`) the plain one kept beside it.
fn aliased(
    files: &[(String, Vec<u8>)],
    id: &str,
    alias: &str,
    keep: bool,
) -> Vec<(String, Vec<u8>)> {
    let plain = format!("records/{id}/statement.txt");
    let mut out = Vec::new();
    for (name, data) in files {
        if *name == plain {
            if keep {
                out.push((name.clone(), data.clone()));
            }
            out.push((alias.to_owned(), b"another statement\n".to_vec()));
        } else {
            out.push((name.clone(), data.clone()));
        }
    }
    out
}

#[test]
fn aliases_of_listed_names_are_tampering_never_a_database_error() {
    let s = sent();
    let forger = Forger::new();
    let files = inner_files(&s.bundle, &s.identity);
    let id = &s.id;
    let fp = forger.fingerprint();
    for alias in [
        format!("records/{id}/./statement.txt"),
        format!("records//{id}/statement.txt"),
        format!("records/{id}//statement.txt"),
        format!("records/{id}/statement.txt/"),
        format!("records/{id}\\statement.txt"),
        format!("./records/{id}/statement.txt"),
    ] {
        for keep in [false, true] {
            let bundle = s.tv.path("aliased.tar");
            let _ = std::fs::remove_file(&bundle);
            forger.bundle(
                &bundle,
                &aliased(&files, id, &alias, keep),
                &s.identity.to_public(),
            );
            for stderr in all_three(&s, &bundle, &["--signer", &fp], 13) {
                assert!(
                    stderr.contains("read the inner tar")
                        && stderr.contains("not a plain relative name"),
                    "{alias}: {stderr}"
                );
                assert!(
                    !stderr.contains("UNIQUE") && !stderr.contains("disk space"),
                    "{alias}: {stderr}"
                );
            }
        }
    }

    // The same record listed twice under two spellings of its id.
    let upper = id.to_uppercase();
    let mut twice = files.clone();
    for (name, data) in &files {
        if name.contains(id.as_str()) && !name.ends_with("custody.json") {
            twice.push((name.replace(id.as_str(), &upper), data.clone()));
        }
    }
    for (name, data) in &mut twice {
        if name == "MANIFEST.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(data).unwrap();
            let mut record = manifest["records"][0].clone();
            record["id"] = upper.clone().into();
            manifest["records"].as_array_mut().unwrap().push(record);
            *data = serde_json::to_vec(&manifest).unwrap();
        }
    }
    let bundle = s.tv.path("twice.tar");
    forger.bundle(&bundle, &twice, &s.identity.to_public());
    for stderr in all_three(&s, &bundle, &["--signer", &fp], 13) {
        assert!(
            stderr.contains("MANIFEST.json") && !stderr.contains("UNIQUE"),
            "{stderr}"
        );
    }

    // Signed, but not a file of a record the manifest lists: nothing is written.
    for extra in [
        format!("records/{id}/notes.txt"),
        format!("records/{id}/attachments/unlisted.pdf"),
        format!("records/{}/statement.txt", "0".repeat(32)),
    ] {
        let mut more = files.clone();
        more.insert(0, (extra.clone(), b"planted\n".to_vec()));
        let bundle = s.tv.path("planted.tar");
        let _ = std::fs::remove_file(&bundle);
        forger.bundle(&bundle, &more, &s.identity.to_public());
        for stderr in all_three(&s, &bundle, &["--signer", &fp], 13) {
            assert!(stderr.contains("the manifest lists"), "{extra}: {stderr}");
        }
    }
}

#[test]
fn a_wrong_key_or_passphrase_is_exit_12_not_tampering() {
    let s = sent();
    let stranger = age::x25519::Identity::generate();
    let stranger_file = s.tv.write(
        "stranger.key",
        stranger.to_string().expose_secret().as_bytes(),
    );
    let pass = s.tv.write("pass.txt", b"a passphrase for another bundle\n");
    for key in [
        vec!["--identity", stranger_file.to_str().unwrap()],
        vec!["--export-passphrase-file", pass.to_str().unwrap()],
    ] {
        for (command, into) in [
            ("verify-export", None),
            ("open-export", Some(s.tv.path("opened"))),
        ] {
            let mut cmd = s.tv.bare_cmd();
            cmd.arg(command).arg(&s.bundle).args(&key);
            if let Some(into) = &into {
                cmd.arg("--into").arg(into);
            }
            cmd.args(["--signer", &s.fingerprint])
                .assert()
                .code(12)
                .stderr(predicate::str::contains(
                    "this bundle is not for that key (or passphrase)",
                ));
            if let Some(into) = into {
                assert!(!into.exists());
            }
        }
        let hq = TestVault::new();
        let before = hq.vault_bytes();
        hq.cmd()
            .arg("import")
            .arg(&s.bundle)
            .args(&key)
            .args(["--signer", &s.fingerprint])
            .assert()
            .code(12)
            .stderr(predicate::str::contains("not for that key"));
        assert_eq!(hq.vault_bytes(), before);
    }
}
