//! Export bundles: checked by stock tools (tar, sha256sum, ssh-keygen, age) and by
//! `verify-export`; consent and witness protection; hostile and damaged bundles.

#![allow(
    clippy::disallowed_methods,
    reason = "scratch bundles in a test's temp folder"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestVault, contains, typed};
use predicates::prelude::*;

const REAL_NAME: &str = "Aygul Tursunova";

/// A stock tool, or a skip when it is missing on a developer's machine. CI installs them
/// (.ci/run), and there a missing tool fails the test.
fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("skipping: {name} is not installed");
    }
    found
}

fn sh(dir: &Path, script: &str) -> std::process::Output {
    Command::new("bash")
        .args(["-c", &format!("set -euo pipefail; {script}")])
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(dir: &Path, script: &str) {
    let out = sh(dir, script);
    assert!(
        out.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A vault with one record: named witness, court and UN consent, voice consent only, a
/// statement that names the witness, a document, a voice recording and a photo.
fn vault_with_record() -> (TestVault, String) {
    let tv = TestVault::new();
    let st = tv.write(
        "st.txt",
        format!(
            "My name is {REAL_NAME}. They took my brother; aygul is what my mother calls me.\n"
        )
        .as_bytes(),
    );
    let doc = tv.write("letter.pdf", b"%PDF- a letter");
    let voice = tv.write("interview.m4a", &typed("m4a", 200_000, 1));
    let photo = tv.write("face.jpg", &typed("jpeg", 5_000, 2));
    let identity = tv.identity_file(REAL_NAME, Some("+7 700 000 0000"), &[]);
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--identity-file",
        &identity,
        "--consent",
        "court,un",
        "--identity-level",
        "named",
        "--media-consent",
        "voice",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        doc.to_str().unwrap(),
        "--attach",
        voice.to_str().unwrap(),
        "--attach",
        photo.to_str().unwrap(),
    ]);
    (tv, id)
}

fn age_key(tv: &TestVault) -> (PathBuf, String) {
    let key = tv.path("age.key");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (key, recipient)
}

fn export(tv: &TestVault, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    tv.cmd()
        .args(["export", "-o", out.to_str().unwrap(), "--purpose", "court"])
        .args(extra)
        .assert()
}

#[test]
fn stock_tools_verify_and_open_a_recipient_bundle() {
    if !(tool("age") && tool("age-keygen") && tool("ssh-keygen") && tool("sha256sum")) {
        return;
    }
    let (tv, id) = vault_with_record();
    let (key, recipient) = age_key(&tv);
    let bundle = tv.path("bundle.tar");
    export(
        &tv,
        &bundle,
        &["--all", "--include-documents", "--recipient", &recipient],
    )
    .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let dir = tv.dir.path();
    ok(dir, "mkdir outer && tar -xf bundle.tar -C outer");
    ok(&dir.join("outer"), "sha256sum -c SHA256SUMS");
    ok(
        &dir.join("outer"),
        "ssh-keygen -Y verify -f allowed_signers -I tvault-export -n tvault-export@v1 -s SHA256SUMS.sig < SHA256SUMS",
    );
    ok(
        &dir.join("outer"),
        "ssh-keygen -Y verify -f allowed_signers -I tvault-export -n tvault-export@v1 -s checkpoint.txt.sig < checkpoint.txt",
    );
    ok(
        &dir.join("outer"),
        &format!("age -d -i '{}' -o payload.tar payload.age", key.display()),
    );
    ok(
        &dir.join("outer"),
        "mkdir inner && tar -xf payload.tar -C inner",
    );
    let inner = dir.join("outer/inner");
    ok(&inner, "sha256sum -c SHA256SUMS");
    ok(
        &inner,
        "ssh-keygen -Y verify -f ../allowed_signers -I tvault-export -n tvault-export-inner@v1 -s SHA256SUMS.sig < SHA256SUMS",
    );
    assert!(inner.join(format!("records/{id}/statement.txt")).is_file());
    // The documented inner check catches an altered record.
    ok(&inner, &format!("printf x >> records/{id}/statement.txt"));
    assert!(!sh(&inner, "sha256sum -c SHA256SUMS").status.success());
    assert!(
        inner
            .join(format!("records/{id}/attachments/letter.pdf"))
            .is_file()
    );

    // The same with tvault, and the signer's fingerprint as given out of band.
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let fingerprint = status["signing_key_fingerprint"].as_str().unwrap();
    let outsider = TestVault::empty();
    outsider
        .bare_cmd()
        .args([
            "verify-export",
            bundle.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
            "--signer",
            fingerprint,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "every checksum and signature good",
        ));
    outsider
        .bare_cmd()
        .args([
            "verify-export",
            bundle.to_str().unwrap(),
            "--signer",
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ])
        .assert()
        .code(13);
}

#[test]
fn an_ssh_ed25519_recipient_decrypts_with_stock_age() {
    if !(tool("age") && tool("ssh-keygen")) {
        return;
    }
    let (tv, _) = vault_with_record();
    ok(tv.dir.path(), "ssh-keygen -q -t ed25519 -N '' -f sshkey");
    let public = std::fs::read_to_string(tv.path("sshkey.pub")).unwrap();
    let bundle = tv.path("b.tar");
    export(&tv, &bundle, &["--all", "--recipient", public.trim()]).success();
    ok(
        tv.dir.path(),
        "mkdir o && tar -xf b.tar -C o && age -d -i sshkey -o o/p.tar o/payload.age && tar -tf o/p.tar > o/list && grep -q MANIFEST.json o/list",
    );
    tv.cmd()
        .args([
            "verify-export",
            bundle.to_str().unwrap(),
            "--identity",
            tv.path("sshkey").to_str().unwrap(),
            "--signer",
            &common::signer(&tv),
        ])
        .assert()
        .success();
}

/// The bundle travels by mail under scrypt: a guessable export passphrase is refused before
/// anything is logged or written, unless the operator insists.
#[test]
fn a_guessable_export_passphrase_is_refused() {
    let (tv, id) = vault_with_record();
    let weak = tv.write("weak-pass", b"court2026\n");
    let bundle = tv.path("weak.tar");
    let events = || {
        tv.conn()
            .query_row("SELECT count(*) FROM event", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let before = events();
    export(
        &tv,
        &bundle,
        &[&id[..8], "--export-passphrase-file", weak.to_str().unwrap()],
    )
    .code(1)
    .stderr(predicate::str::contains("too easy to guess"))
    .stderr(predicate::str::contains("--recipient"));
    assert!(!bundle.exists());
    assert_eq!(events(), before, "a refused export logs nothing");
    // The flag makes no sense for a bundle sealed to keys.
    export(
        &tv,
        &bundle,
        &[
            &id[..8],
            "--recipient",
            "age1xyz",
            "--allow-weak-passphrase",
        ],
    )
    .code(2);
    export(
        &tv,
        &bundle,
        &[
            &id[..8],
            "--export-passphrase-file",
            weak.to_str().unwrap(),
            "--allow-weak-passphrase",
        ],
    )
    .success();
}

#[test]
fn a_passphrase_bundle_has_one_scrypt_stanza_and_opens_with_the_passphrase() {
    let (tv, id) = vault_with_record();
    let pass = tv.write("export-pass", b"a long export passphrase for the court\n");
    let bundle = tv.path("p.tar");
    export(
        &tv,
        &bundle,
        &[&id[..8], "--export-passphrase-file", pass.to_str().unwrap()],
    )
    .success();
    let into = tv.path("opened");
    let signer = common::signer(&tv);
    tv.cmd()
        .args([
            "open-export",
            bundle.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ])
        .args(["--export-passphrase-file", pass.to_str().unwrap()])
        .args(["--signer", &signer])
        .assert()
        .success();
    let statement =
        std::fs::read_to_string(into.join(format!("records/{id}/statement.txt"))).unwrap();
    assert!(statement.contains("They took my brother"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&into).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // A wrong passphrase is the reader's mistake, not tampering.
    let wrong = tv.write("wrong-pass", b"not it\n");
    tv.cmd()
        .args([
            "verify-export",
            bundle.to_str().unwrap(),
            "--export-passphrase-file",
            wrong.to_str().unwrap(),
            "--signer",
            &signer,
        ])
        .assert()
        .code(12)
        .stderr(predicate::str::contains("not for that key (or passphrase)"));
    // Exactly one stanza, age's scrypt.
    let mut archive = tar::Archive::new(std::fs::File::open(&bundle).unwrap());
    let mut payload = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == b"payload.age" {
            std::io::Read::read_to_end(&mut e, &mut payload).unwrap();
        }
    }
    let header = String::from_utf8_lossy(&payload[..payload.len().min(300)]).into_owned();
    assert_eq!(header.matches("\n-> ").count(), 1, "{header}");
    assert!(header.contains("\n-> scrypt "));
}

#[test]
fn consent_refuses_and_an_override_needs_a_logged_reason() {
    let (tv, id) = vault_with_record();
    let (_, recipient) = (
        tv.path("x"),
        "age1lktlyeewm7002yewan36cd2fc7hl897wlsehukdtrqq5xe0ygejqf66neq",
    );
    let bundle = tv.path("public.tar");
    tv.cmd()
        .args([
            "export",
            "-o",
            bundle.to_str().unwrap(),
            "--purpose",
            "public",
            "--all",
            "--recipient",
            recipient,
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(&id).and(predicate::str::contains("does not include public")),
        );
    assert!(!bundle.exists());
    tv.cmd()
        .args([
            "export",
            "-o",
            bundle.to_str().unwrap(),
            "--purpose",
            "public",
            "--all",
            "--recipient",
            recipient,
        ])
        .arg("--override-consent")
        .assert()
        .code(2);
    tv.cmd()
        .args([
            "export",
            "-o",
            bundle.to_str().unwrap(),
            "--purpose",
            "public",
            "--all",
            "--recipient",
            recipient,
        ])
        .args(["--override-consent", "--reason", "court order 12/2026"])
        .assert()
        .success();
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let intent = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "export-intent")
        .unwrap();
    assert_eq!(intent["detail"]["reason"], "court order 12/2026");
    assert_eq!(intent["detail"]["consent_overridden"][0], id.as_str());
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export-complete")
    );
    // Never over an existing file.
    tv.cmd()
        .args([
            "export",
            "-o",
            bundle.to_str().unwrap(),
            "--purpose",
            "court",
            "--all",
            "--recipient",
            recipient,
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("never replaces"));
}

/// Decrypts a passphrase bundle into a folder and returns every file's bytes, concatenated.
fn opened_bytes(tv: &TestVault, bundle: &Path, pass: &Path, into: &Path) -> Vec<u8> {
    tv.cmd()
        .args([
            "open-export",
            bundle.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ])
        .args(["--export-passphrase-file", pass.to_str().unwrap()])
        .args(["--signer", &common::signer(tv)])
        .assert()
        .success();
    common::files_under(into)
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

#[test]
fn identity_and_identifying_media_stay_behind_unless_asked_and_consented() {
    let (tv, id) = vault_with_record();
    let pass = tv.write("export-pass", b"a long export passphrase for the court\n");
    let passarg = ["--export-passphrase-file", pass.to_str().unwrap()];

    // Default: no identity, no media; the real name replaced in the statement.
    let bundle = tv.path("default.tar");
    export(&tv, &bundle, &[&["--all"][..], &passarg].concat()).success();
    let bytes = opened_bytes(&tv, &bundle, &pass, &tv.path("default"));
    for needle in [REAL_NAME, "Aygul", "aygul", "Tursunova", "+7 700"] {
        assert!(!contains(&bytes, needle.as_bytes()), "{needle} leaked");
    }
    let dir = tv.path("default").join(format!("records/{id}"));
    let statement = std::fs::read_to_string(dir.join("statement.txt")).unwrap();
    assert!(
        statement.starts_with("My name is Nightingale."),
        "{statement}"
    );
    assert!(!dir.join("identity.json").exists());
    // A PDF cannot be redacted: it stays behind with the identity.
    assert!(!dir.join("attachments/letter.pdf").exists());
    assert!(!dir.join("attachments/interview.m4a").exists());
    assert!(!dir.join("attachments/face.jpg").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tv.path("default/MANIFEST.json")).unwrap()).unwrap();
    let withheld: Vec<String> = manifest["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{} {}",
                w["what"].as_str().unwrap(),
                w["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        withheld,
        [
            "identity ",
            "attachment letter.pdf",
            "attachment interview.m4a",
            "attachment face.jpg"
        ]
    );
    assert_eq!(manifest["records"][0]["statement_redacted"], true);
    assert_eq!(
        manifest["records"][0]["redaction"],
        serde_json::json!({"method": "automatic", "reviewed": false, "changed": ["statement.txt"]})
    );

    // Asked for: the identity (named consent) and the voice recording (voice consent), but
    // never the photo (no face consent).
    let bundle = tv.path("full.tar");
    export(
        &tv,
        &bundle,
        &[
            &["--all", "--include-identity", "--include-media"][..],
            &passarg,
        ]
        .concat(),
    )
    .success();
    opened_bytes(&tv, &bundle, &pass, &tv.path("full"));
    let dir = tv.path("full").join(format!("records/{id}"));
    let identity = std::fs::read_to_string(dir.join("identity.json")).unwrap();
    assert!(identity.contains(REAL_NAME));
    assert!(
        std::fs::read_to_string(dir.join("statement.txt"))
            .unwrap()
            .contains(REAL_NAME)
    );
    assert_eq!(
        std::fs::read(dir.join("attachments/interview.m4a")).unwrap(),
        typed("m4a", 200_000, 1)
    );
    assert!(!dir.join("attachments/face.jpg").exists());
}

#[test]
fn a_pseudonymous_witness_is_never_named_even_when_asked() {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"I am Rahima Yusup and I saw it.\n");
    let identity = tv.identity_file("Rahima Yusup", None, &[]);
    tv.add(&[
        "--witness",
        "Kite",
        "--identity-file",
        &identity,
        "--consent",
        "court",
        "--identity-level",
        "pseudonym",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    let pass = tv.write("export-pass", b"a long export passphrase for the court\n");
    let bundle = tv.path("b.tar");
    export(
        &tv,
        &bundle,
        &[
            "--all",
            "--include-identity",
            "--export-passphrase-file",
            pass.to_str().unwrap(),
        ],
    )
    .success();
    let bytes = opened_bytes(&tv, &bundle, &pass, &tv.path("o"));
    assert!(!contains(&bytes, b"Rahima"));
    assert!(!contains(&bytes, b"Yusup"));
}

/// Rewrites the outer tar with one file changed by `edit`.
fn rewrite_outer(src: &Path, dst: &Path, mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut archive = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            let mut h = tar::Header::new_ustar();
            h.set_path(&name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append(&h, data.as_slice()).unwrap();
        }
    }
    out.finish().unwrap();
}

#[test]
fn any_damaged_outer_file_is_caught_by_stock_sums_and_by_verify_export() {
    let (tv, _) = vault_with_record();
    let recipient = "age1lktlyeewm7002yewan36cd2fc7hl897wlsehukdtrqq5xe0ygejqf66neq";
    let bundle = tv.path("bundle.tar");
    export(&tv, &bundle, &["--all", "--recipient", recipient]).success();
    let other = tv.path("other.tar");
    export(&tv, &other, &["--all", "--recipient", recipient]).success();
    let mut other_payload = Vec::new();
    rewrite_outer(&other, &tv.path("scratch.tar"), |name, data| {
        if name == "payload.age" {
            other_payload.clone_from(&data);
        }
        Some(data)
    });
    let signer = common::signer(&tv);
    for target in export_files() {
        for how in ["flip", "truncate", "swap", "drop"] {
            if how == "swap" && target != "payload.age" {
                continue;
            }
            let damaged = tv.path(&format!("damaged-{target}-{how}.tar"));
            rewrite_outer(&bundle, &damaged, |name, mut data| {
                if name != target {
                    return Some(data);
                }
                match how {
                    "flip" => {
                        let at = data.len() / 2;
                        data[at] ^= 0x01;
                        Some(data)
                    }
                    "truncate" => Some(data[..data.len() - 10].to_vec()),
                    "swap" => Some(other_payload.clone()),
                    _ => None,
                }
            });
            tv.cmd()
                .args(["verify-export", damaged.to_str().unwrap()])
                .args(["--signer", &signer])
                .assert()
                .code(13);
            if tool("sha256sum") && !target.starts_with("SHA256SUMS") && how != "drop" {
                let dir = tv.path(&format!("x-{target}-{how}"));
                std::fs::create_dir(&dir).unwrap();
                ok(&dir, &format!("tar -xf '{}'", damaged.display()));
                assert!(
                    !sh(&dir, "sha256sum -c SHA256SUMS").status.success(),
                    "{target} {how}"
                );
            }
        }
    }
    // A truncated bundle.
    let bytes = std::fs::read(&bundle).unwrap();
    // (The last 1024 bytes are the tar's end marker: cutting only those loses nothing.)
    for cut in [100, bytes.len() / 3, bytes.len() - 1500] {
        let truncated = tv.write("truncated.tar", &bytes[..cut]);
        tv.cmd()
            .args(["verify-export", truncated.to_str().unwrap()])
            .args(["--signer", &signer])
            .assert()
            .code(13);
    }
}

fn export_files() -> [&'static str; 8] {
    tvault::bundle::OUTER_FILES
}

#[test]
fn hostile_outer_tars_are_refused_and_write_nothing() {
    let tv = TestVault::empty();
    let importer = TestVault::new();
    type Build = Box<dyn Fn(&mut tar::Builder<std::fs::File>)>;
    let cases: Vec<(&str, Build)> = vec![
        (
            "traversal",
            Box::new(|b| add_raw(b, "../evil", b"x", tar::EntryType::Regular)),
        ),
        (
            "absolute",
            Box::new(|b| add_raw(b, "/tmp/evil", b"x", tar::EntryType::Regular)),
        ),
        (
            "symlink",
            Box::new(|b| add_raw(b, "payload.age", b"", tar::EntryType::Symlink)),
        ),
        (
            "hardlink",
            Box::new(|b| add_raw(b, "payload.age", b"", tar::EntryType::Link)),
        ),
        (
            "device",
            Box::new(|b| add_raw(b, "payload.age", b"", tar::EntryType::Char)),
        ),
        (
            "duplicate",
            Box::new(|b| {
                add_raw(b, "VERIFY.txt", b"a", tar::EntryType::Regular);
                add_raw(b, "VERIFY.txt", b"b", tar::EntryType::Regular);
            }),
        ),
        (
            "huge",
            Box::new(|b| {
                add_raw(
                    b,
                    "receipt.json",
                    &vec![b'x'; 17 * 1024 * 1024],
                    tar::EntryType::Regular,
                )
            }),
        ),
    ];
    for (what, build) in cases {
        let path = tv.path(&format!("{what}.tar"));
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        build(&mut b);
        b.finish().unwrap();
        let into = tv.path(&format!("into-{what}"));
        let pass = tv.write("p", b"whatever\n");
        tv.bare_cmd()
            .args([
                "open-export",
                path.to_str().unwrap(),
                "--into",
                into.to_str().unwrap(),
            ])
            .args(["--export-passphrase-file", pass.to_str().unwrap()])
            .arg("--trust-bundle-signer")
            .assert()
            .code(13);
        assert!(!into.exists(), "{what}");
        assert!(!tv.dir.path().parent().unwrap().join("evil").exists());
        importer
            .cmd()
            .args(["import", path.to_str().unwrap()])
            .args(["--export-passphrase-file", pass.to_str().unwrap()])
            .arg("--trust-bundle-signer")
            .assert()
            .code(13);
    }
}

fn add_raw(b: &mut tar::Builder<std::fs::File>, name: &str, data: &[u8], kind: tar::EntryType) {
    let mut h = tar::Header::new_gnu();
    // Write the name bytes directly so that unsafe names are not cleaned on the way in.
    let bytes = name.as_bytes();
    h.as_gnu_mut().unwrap().name[..bytes.len()].copy_from_slice(bytes);
    h.set_size(data.len() as u64);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn export_then_import_into_a_second_vault_keeps_ids_versions_and_hashes() {
    let source = TestVault::new();
    let st = source.write("st.txt", b"The statement, unchanged by export.\n");
    let doc = source.write("report.pdf", &typed("pdf", 300_000, 7));
    let id = source.add(&[
        "--witness",
        "Heron",
        "--consent",
        "archive",
        "--tag",
        "border",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        doc.to_str().unwrap(),
    ]);
    source
        .cmd()
        .args(["amend", &id, "--title", "second version"])
        .assert()
        .success();
    let pass = source.write("export-pass", b"a long export passphrase for the archive\n");
    let bundle = source.path("hq.tar");
    source
        .cmd()
        .args([
            "export",
            "-o",
            bundle.to_str().unwrap(),
            "--purpose",
            "archive",
            "--all",
        ])
        .args(["--export-passphrase-file", pass.to_str().unwrap()])
        .assert()
        .success();

    let signer = common::signer(&source);
    let hq = TestVault::new();
    let out = hq
        .cmd()
        .args([
            "import",
            bundle.to_str().unwrap(),
            "--export-passphrase-file",
            pass.to_str().unwrap(),
            "--signer",
            &signer,
            "--json",
        ])
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["imported"], 1);
    hq.cmd().arg("verify").assert().success();

    let history = |tv: &TestVault| -> serde_json::Value {
        let out = tv.cmd().args(["history", &id, "--json"]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    };
    let (a, b) = (history(&source), history(&hq));
    let last = a.as_array().unwrap().last().unwrap();
    assert_eq!(b[0]["version"], 2, "the version number is kept");
    assert_eq!(b[0]["statement"]["sha256"], last["statement"]["sha256"]);
    assert_eq!(
        b[0]["attachments"][0]["sha256"],
        last["attachments"][0]["sha256"]
    );
    assert_eq!(hq.cat(&id, "report.pdf"), typed("pdf", 300_000, 7));
    let out = hq.cmd().args(["show", &id, "--json"]).assert().success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown["statement"], "The statement, unchanged by export.\n");
    assert_eq!(shown["metadata"]["title"], "second version");

    // The log records where it came from; a second import changes nothing at all.
    let log_len = |tv: &TestVault| {
        let out = tv.cmd().args(["status", "--json"]).assert().success();
        serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout).unwrap()["log_size"]
            .as_u64()
            .unwrap()
    };
    let out = hq.cmd().args(["log", &id, "--json"]).assert().success();
    let events: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let imported = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "record-imported")
        .unwrap();
    assert_eq!(imported["version"], 2);
    assert!(imported["detail"]["source_vault"].as_str().unwrap().len() == 32);
    let before = log_len(&hq);
    let bytes_before = hq.vault_bytes();
    hq.cmd()
        .args([
            "import",
            bundle.to_str().unwrap(),
            "--export-passphrase-file",
            pass.to_str().unwrap(),
            "--signer",
            &signer,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("imported 0 record version(s)"));
    assert_eq!(log_len(&hq), before);
    assert_eq!(hq.vault_bytes(), bytes_before);

    // A damaged bundle imports nothing.
    let damaged = hq.path("damaged.tar");
    rewrite_outer(&bundle, &damaged, |name, mut data| {
        if name == "payload.age" {
            let at = data.len() - 100;
            data[at] ^= 1;
        }
        Some(data)
    });
    let third = TestVault::new();
    third
        .cmd()
        .args([
            "import",
            damaged.to_str().unwrap(),
            "--export-passphrase-file",
            pass.to_str().unwrap(),
            "--signer",
            &signer,
        ])
        .assert()
        .code(13);
    let out = third.cmd().args(["list", "--json"]).assert().success();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn an_export_that_fails_while_writing_leaves_no_file_and_a_visible_intent() {
    let (tv, _) = vault_with_record();
    let recipient = "age1lktlyeewm7002yewan36cd2fc7hl897wlsehukdtrqq5xe0ygejqf66neq";
    let nowhere = tv.path("no-such-folder/bundle.tar");
    export(&tv, &nowhere, &["--all", "--recipient", recipient]).code(15);
    assert!(!nowhere.exists());
    tv.cmd()
        .arg("verify")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "logged as started but never completed",
        ));
}

#[test]
fn a_hostile_bundle_imports_nothing() {
    let tv = TestVault::new();
    let path = tv.path("evil.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    add_raw(&mut b, "../../evil", b"x", tar::EntryType::Regular);
    b.finish().unwrap();
    let before = tv.vault_bytes();
    let pass = tv.write("p", b"whatever\n");
    tv.cmd()
        .args([
            "import",
            path.to_str().unwrap(),
            "--export-passphrase-file",
            pass.to_str().unwrap(),
            "--trust-bundle-signer",
        ])
        .assert()
        .code(13)
        .stderr(predicate::str::contains("unexpected entry"));
    assert_eq!(tv.vault_bytes(), before);
}

#[test]
fn the_outer_layer_names_no_operator_reason_purpose_or_record() {
    let tv = TestVault::empty();
    tv.init()
        .args(["--operator", "CanaryOperatorR4"])
        .assert()
        .success();
    let id = tv.add(&["--witness", "CanaryPseudonymS1", "--consent", "archive"]);
    let pass = tv.write("export-pass", b"an export passphrase for this test\n");
    let bundle = tv.path("bundle.tar");
    tv.cmd()
        .args(["export", "-o"])
        .arg(&bundle)
        .args([
            "--purpose",
            "court",
            "--all",
            "--override-consent",
            "--reason",
            "CanaryReasonT7",
            "--export-passphrase-file",
        ])
        .arg(&pass)
        .assert()
        .success();
    // What anyone who intercepts the bundle reads, without the passphrase.
    let mut archive = tar::Archive::new(std::fs::File::open(&bundle).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        for canary in [
            "CanaryOperatorR4",
            "CanaryReasonT7",
            "CanaryPseudonymS1",
            "court",
            id.as_str(),
        ] {
            assert!(!contains(&data, canary.as_bytes()), "{canary} in {name}");
        }
    }
    // With the passphrase, the sealed intent event is checked against the signed log.
    let signer = common::signer(&tv);
    tv.cmd()
        .args(["verify-export"])
        .arg(&bundle)
        .arg("--export-passphrase-file")
        .arg(&pass)
        .args(["--signer", &signer])
        .assert()
        .success();
    // A receipt pointing at another leaf of the log is refused.
    let damaged = tv.path("damaged.tar");
    rewrite_outer(&bundle, &damaged, |name, data| {
        if name != "receipt.json" {
            return Some(data);
        }
        let mut receipt: serde_json::Value = serde_json::from_slice(&data).unwrap();
        receipt["leaf_hash"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        Some(serde_json::to_vec(&receipt).unwrap())
    });
    tv.bare_cmd()
        .args(["verify-export"])
        .arg(&damaged)
        .arg("--export-passphrase-file")
        .arg(&pass)
        .args(["--signer", &signer])
        .assert()
        .code(13);
}

#[test]
fn every_bundle_carries_a_printable_report_with_everything_escaped() {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"the statement\n");
    let id = tv.add(&[
        "--witness",
        "<b>Owl</b> & \"Co\"",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    let pass = tv.write("export-pass", b"an export passphrase for this test\n");
    let bundle = tv.path("bundle.tar");
    export(
        &tv,
        &bundle,
        &["--all", "--export-passphrase-file", pass.to_str().unwrap()],
    )
    .success();
    let into = tv.path("opened");
    tv.cmd()
        .args(["open-export"])
        .arg(&bundle)
        .arg("--into")
        .arg(&into)
        .arg("--export-passphrase-file")
        .arg(&pass)
        .args(["--signer", &common::signer(&tv)])
        .assert()
        .success();
    let report = std::fs::read_to_string(into.join("REPORT.html")).unwrap();
    assert!(report.starts_with("<!DOCTYPE html>") && report.trim_end().ends_with("</html>"));
    assert!(report.contains("&lt;b&gt;Owl&lt;/b&gt; &amp; &quot;Co&quot;"));
    assert!(!report.contains("<b>Owl"));
    for forbidden in [
        "<script", "src=", "href=", "http:", "https:", "@import", "url(",
    ] {
        assert!(!report.contains(forbidden), "{forbidden} in the report");
    }
    let statement_sha = sha256_hex(b"the statement\n");
    assert!(report.contains(&statement_sha));
    assert!(report.contains(&id) && report.contains("Recorded (version 1)"));
    // Tags open and close in balance.
    for tag in ["table", "tr", "td", "th", "h2", "code"] {
        let open = report.matches(&format!("<{tag}>")).count()
            + report.matches(&format!("<{tag} ")).count();
        let close = report.matches(&format!("</{tag}>")).count();
        assert_eq!(open, close, "<{tag}>");
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
