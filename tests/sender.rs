//! The bundle sender: someone who hands over any tar. Real bundles are taken apart and put
//! back together (re-signed with the sender's own key where the attack needs valid
//! signatures), and every attack must fail closed through the binary with its exit code,
//! writing and importing nothing. Legitimate bundles keep opening.

#![allow(
    clippy::disallowed_methods,
    reason = "scratch bundles in a test's temp folder"
)]

mod common;
#[path = "common/forge.rs"]
mod forge;

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestVault, content};
use forge::*;
use predicates::prelude::*;
use tvault::audit::Checkpoint;
use tvault::bundle::{INNER_NAMESPACE, OUTER_NAMESPACE, ssh_sign};

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

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap()
}

/// `tvault import` of `bundle` into `hq`, with the key it was sealed to and `--signer fp`.
fn import_signed(hq: &TestVault, s: &Sent, bundle: &Path, fp: &str) -> assert_cmd::assert::Assert {
    hq.cmd()
        .arg("import")
        .arg(bundle)
        .arg("--identity")
        .arg(&s.identity_file)
        .args(["--signer", fp])
        .assert()
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

/// `import` reads a bundle once, storing each record's files in its transaction as they are
/// decrypted; a record's metadata.json (which tvault writes first) says where they go. A
/// bundle whose record files come before it is whole and signed, and opens, but is not
/// imported; a bundle that fails its checks after files were stored leaves the vault as it
/// was, byte for byte.
#[test]
fn import_needs_each_records_metadata_first_and_keeps_nothing_of_a_failed_pass() {
    let s = sent();
    let forger = Forger::new();
    let fp = forger.fingerprint();
    let files = inner_files(&s.bundle, &s.identity);
    let metadata = format!("records/{}/metadata.json", s.id);
    let at = files.iter().position(|(n, _)| *n == metadata).unwrap();
    let mut late = files.clone();
    let moved = late.remove(at);
    let last_of_record = late
        .iter()
        .rposition(|(n, _)| n.starts_with(&format!("records/{}/", s.id)))
        .unwrap();
    late.insert(last_of_record + 1, moved);
    let bundle = s.tv.path("late.tar");
    forger.bundle(&bundle, &late, &s.identity.to_public());
    s.tv.bare_cmd()
        .arg("verify-export")
        .arg(&bundle)
        .arg("--identity")
        .arg(&s.identity_file)
        .args(["--signer", &fp])
        .assert()
        .success();
    let hq = TestVault::new();
    let before = hq.vault_bytes();
    import_signed(&hq, &s, &bundle, &fp)
        .code(13)
        .stderr(predicate::str::contains(
            "a file comes before the record's metadata.json",
        ));
    assert_eq!(hq.vault_bytes(), before, "import changed the vault");

    // Every file of the record stored, then the signed listing found wanting at the end
    // (one more record in the manifest than the bundle holds): nothing is kept.
    let mut short = files.clone();
    for (name, data) in &mut short {
        if name == "MANIFEST.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(data).unwrap();
            let mut record = manifest["records"][0].clone();
            record["id"] = "0".repeat(32).into();
            manifest["records"].as_array_mut().unwrap().push(record);
            *data = serde_json::to_vec(&manifest).unwrap();
        }
    }
    let bundle = s.tv.path("short.tar");
    forger.bundle(&bundle, &short, &s.identity.to_public());
    let [.., import] = all_three(&s, &bundle, &["--signer", &fp], 13);
    assert!(import.contains("MANIFEST.json"), "{import}");
    hq.cmd().arg("verify").assert().success();
}

/// A signer can put anything in a record's metadata.json and custody.json. `import` parses
/// them only once the whole bundle has verified (all but a metadata.json's version, which
/// says where the record's files go), and one that is not what tvault writes (not JSON, or
/// JSON of another shape) is refused with the file's name: exit 13, the vault unchanged,
/// never a panic.
#[test]
fn a_signed_bundle_with_malformed_record_files_is_refused_and_changes_nothing() {
    let s = sent();
    let forger = Forger::new();
    let fp = forger.fingerprint();
    let files = inner_files(&s.bundle, &s.identity);
    let hq = TestVault::new();
    let before = hq.vault_bytes();
    for (file, content, says) in [
        (
            "metadata.json",
            &b"{\"version\": 1, \"metadata\": "[..],
            "a metadata.json has no version",
        ),
        (
            "metadata.json",
            b"{\"version\": 1, \"metadata\": {\"witness\": 7}}",
            "metadata.json is malformed",
        ),
        (
            "metadata.json",
            b"{\"version\": 1}",
            "metadata.json is malformed",
        ),
        ("custody.json", b"[{\"seq\": ", "custody.json is malformed"),
    ] {
        let name = format!("records/{}/{file}", s.id);
        let mut forged = files.clone();
        let entry = forged.iter_mut().find(|(n, _)| *n == name).unwrap();
        entry.1 = content.to_vec();
        let bundle = s.tv.path("malformed.tar");
        let _ = std::fs::remove_file(&bundle);
        forger.bundle(&bundle, &forged, &s.identity.to_public());
        let out = import_signed(&hq, &s, &bundle, &fp)
            .code(13)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        assert_eq!(hq.vault_bytes(), before, "{file}: import changed the vault");
    }
    // The same files as sent import.
    let bundle = s.tv.path("whole.tar");
    forger.bundle(&bundle, &files, &s.identity.to_public());
    import_signed(&hq, &s, &bundle, &fp).success();
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
