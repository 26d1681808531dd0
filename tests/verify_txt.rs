//! `VERIFY.txt` as a court clerk follows it: its commands are taken from the file and run as
//! written, with bash and stock tools (tar, sha256sum, ssh-keygen, openssl, age), for each kind
//! of seal, replacing only the documented placeholders. A bundle re-signed by someone else,
//! with its `VERIFY.txt`, `allowed_signers` and `SHA256SUMS` rewritten, fails them, and so does
//! a bundle with a file its signed sums do not list.

#![allow(
    clippy::disallowed_methods,
    reason = "scratch bundles in a test's temp folder"
)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TestVault, content};

const FINGERPRINT: &str = "THE-FINGERPRINT-YOU-WERE-GIVEN";
const KEY_FILE: &str = "YOUR_KEY_FILE";

/// A stock tool, or a skip when it is missing on a developer's machine. CI installs them
/// (.ci/run), and there a missing tool fails the test.
fn tools(names: &[&str]) -> bool {
    for name in names {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
            eprintln!("skipping: {name} is not installed");
            return false;
        }
    }
    true
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", &format!("set -euo pipefail; {script}")])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The commands of a `VERIFY.txt`: a line whose text starts with `$ ` begins one, lines
/// starting with `> ` continue it.
fn commands(verify: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in verify.lines().map(str::trim_start) {
        if let Some(command) = line.strip_prefix("$ ") {
            out.push(command.to_owned());
        } else if let Some(more) = line.strip_prefix("> ") {
            let last = out.last_mut().expect("a continuation follows a command");
            last.push('\n');
            last.push_str(more);
        }
    }
    out
}

/// What a clerk's run showed, and the command that failed (its index), if one did.
struct Run {
    shown: String,
    failed: Option<usize>,
}

/// Runs `commands` in order in one bash, in `dir`, as a clerk would type them, with the
/// tvault under test on PATH; each command's status is checked. With a passphrase, the
/// commands run on a pseudo-terminal (util-linux `script`), and the passphrase is typed at
/// each prompt for one.
fn run_clerk(dir: &Path, commands: &[String], passphrase: Option<&str>) -> Run {
    let mut script = String::new();
    for (i, command) in commands.iter().enumerate() {
        script += &format!("{{\n{command}\n}} || {{ echo \"CLERK-FAILED {i}\"; exit 1; }}\n");
    }
    script += "echo CLERK-DONE\n";
    std::fs::write(dir.join("../clerk.sh"), &script).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("tvault");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = match passphrase {
        None => {
            let mut c = Command::new("bash");
            c.arg("../clerk.sh").stdin(Stdio::null());
            c
        }
        Some(_) => {
            let mut c = Command::new("script");
            c.args(["-qec", "bash ../clerk.sh", "/dev/null"])
                .env("TERM", "xterm")
                .stdin(Stdio::piped());
            c
        }
    };
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("TVAULT_") || key.starts_with("XDG_") {
            cmd.env_remove(&key);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir.join("../home"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut shown = Vec::new();
    let mut typed = 0;
    let mut stdin = child.stdin.take();
    let mut buf = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&buf[..n]);
        if let (Some(pass), Some(tty)) = (passphrase, stdin.as_mut()) {
            let prompts = String::from_utf8_lossy(&shown)
                .to_lowercase()
                .matches("passphrase:")
                .count();
            while typed < prompts {
                // A prompt turns echo off (and tvault's drops what was typed before) just
                // after it is shown: type once it has.
                std::thread::sleep(std::time::Duration::from_millis(500));
                tty.write_all(format!("{pass}\n").as_bytes()).unwrap();
                tty.flush().unwrap();
                typed += 1;
            }
        }
    }
    drop(stdin);
    child.wait().unwrap();
    let shown = String::from_utf8_lossy(&shown).into_owned() + &errors.join().unwrap();
    let failed = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("CLERK-FAILED "))
        .map(|i| i.parse().unwrap());
    assert!(
        failed.is_some() || shown.contains("CLERK-DONE"),
        "the run neither finished nor failed a step: {shown}"
    );
    Run { shown, failed }
}

/// `VERIFY.txt`'s commands with the placeholders replaced.
fn clerk_commands(verify: &str, fingerprint: &str, key: Option<&Path>) -> Vec<String> {
    commands(verify)
        .into_iter()
        .map(|c| {
            let c = c.replace(FINGERPRINT, fingerprint);
            match key {
                Some(key) => c.replace(KEY_FILE, &key.display().to_string()),
                None => c,
            }
        })
        .collect()
}

/// A vault with one record: a statement, a document, a title, a date and a language.
fn vault() -> TestVault {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"They came at night.\n");
    let doc = tv.write("letter.pdf", &content(3_000, 4));
    tv.add(&[
        "--witness",
        "Nightingale",
        "--title",
        "The night of the raid",
        "--date",
        "2026-11-02",
        "--language",
        "ug",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        doc.to_str().unwrap(),
    ]);
    tv
}

/// A new folder beside the vault's, holding `bundle` as `EXPORT.tar`, as VERIFY.txt asks.
fn clerk_folder(tv: &TestVault, name: &str, bundle: &Path) -> PathBuf {
    let dir = tv.path(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(bundle, dir.join("EXPORT.tar")).unwrap();
    dir
}

fn verify_txt(bundle: &Path) -> String {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == b"VERIFY.txt" {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("no VERIFY.txt in the bundle");
}

fn export(tv: &TestVault, name: &str, seal: &[&str]) -> PathBuf {
    let bundle = tv.path(name);
    tv.cmd()
        .args(["export", "--all", "--purpose", "court", "-o"])
        .arg(&bundle)
        .args(seal)
        .assert()
        .success();
    bundle
}

/// Everything a clerk's run must have confirmed.
fn assert_all_confirmed(run: &Run) {
    assert_eq!(run.failed, None, "{}", run.shown);
    for said in [
        "signer: the one you were given",
        "signature for tvault-export with ED25519 key",
        "bundle: no other files",
        "receipt: for this checkpoint",
        "of the signed log",
        "payload: no other files",
        "manifest: this export",
        "every checksum and signature good",
        "(the signer you named)",
    ] {
        assert!(run.shown.contains(said), "{said:?} missing: {}", run.shown);
    }
    assert!(!run.shown.contains("FAILED"), "{}", run.shown);
}

/// The index of the first command that contains `text`.
fn step(commands: &[String], text: &str) -> usize {
    commands
        .iter()
        .position(|c| c.contains(text))
        .unwrap_or_else(|| panic!("no command with {text:?}"))
}

#[test]
fn a_clerk_checks_and_opens_an_age_recipient_bundle_with_verify_txt_alone() {
    if !tools(&[
        "bash",
        "age",
        "age-keygen",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let key = tv.path("clerk.key");
    let made = sh(
        tv.dir.path(),
        "age-keygen -o clerk.key 2>&1 | sed 's/^Public key: //'",
    );
    let bundle = export(&tv, "b.tar", &["--recipient", made.trim()]);
    let verify = verify_txt(&bundle);
    assert!(verify.contains("sealed to an age X25519 key"), "{verify}");
    assert!(!verify.contains("passphrase (age's scrypt)"), "{verify}");
    assert!(verify.contains("--identity YOUR_KEY_FILE"), "{verify}");
    // The fingerprint comes from the sender, never from the bundle's own text.
    let signer = common::signer(&tv);
    assert!(!verify.contains(&signer), "{verify}");

    // The steps are the ones published in docs/export-format.md.
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/export-format.md"),
    )
    .unwrap();
    let published = docs
        .split_once("## VERIFY.txt")
        .and_then(|(_, rest)| rest.split_once("## REPORT.html"))
        .expect("docs/export-format.md has a VERIFY.txt section")
        .0;
    assert_eq!(commands(published), commands(&verify));

    let dir = clerk_folder(&tv, "clerk", &bundle);
    let steps = clerk_commands(&verify, &signer, Some(&key));
    let run = run_clerk(&dir, &steps, None);
    assert_all_confirmed(&run);
    assert!(dir.join("payload/REPORT.html").is_file());

    // The inclusion check is a check: a receipt naming another entry fails it (the
    // signatures are not rerun here; they would refuse the altered file first).
    let first = step(&steps, "checkpoint.txt.sig");
    let last = step(&steps, "of the signed log");
    let receipt = std::fs::read_to_string(dir.join("bundle/receipt.json")).unwrap();
    let leaf = receipt
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"leaf_hash\": \""))
        .unwrap()
        .trim_end_matches("\",")
        .to_owned();
    let other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_ne!(leaf, other);
    std::fs::write(
        dir.join("bundle/receipt.json"),
        receipt.replace(&leaf, other),
    )
    .unwrap();
    let rerun = run_clerk(&dir, &steps[first..=last], None);
    assert_eq!(rerun.failed, Some(last - first), "{}", rerun.shown);

    // Given the whole key instead of its fingerprint, the clerk gets the fingerprint.
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let public = status["signing_key"].as_str().unwrap();
    let line = verify
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("| ssh-keygen -l -f -"))
        .expect("the command for a clerk given the whole key");
    let line = line.replace("ssh-ed25519 AAAA...", public.trim());
    assert!(sh(&dir, &line).contains(&signer));
}

#[test]
fn a_clerk_checks_and_opens_an_ssh_ed25519_recipient_bundle_with_verify_txt_alone() {
    if !tools(&["bash", "age", "ssh-keygen", "sha256sum", "openssl"]) {
        return;
    }
    let tv = vault();
    sh(tv.dir.path(), "ssh-keygen -q -t ed25519 -N '' -f clerk_ssh");
    let public = std::fs::read_to_string(tv.path("clerk_ssh.pub")).unwrap();
    let bundle = export(&tv, "b.tar", &["--recipient", public.trim()]);
    let verify = verify_txt(&bundle);
    assert!(
        verify.contains("sealed to an OpenSSH ssh-ed25519 key"),
        "{verify}"
    );
    let dir = clerk_folder(&tv, "clerk", &bundle);
    let steps = clerk_commands(&verify, &common::signer(&tv), Some(&tv.path("clerk_ssh")));
    assert_all_confirmed(&run_clerk(&dir, &steps, None));
}

#[test]
fn a_clerk_checks_and_opens_a_passphrase_bundle_typing_the_passphrase() {
    if !tools(&[
        "bash",
        "script",
        "age",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let pass = "a long export passphrase for the court clerk";
    let pass_file = tv.write("export-pass", format!("{pass}\n").as_bytes());
    let bundle = export(
        &tv,
        "b.tar",
        &["--export-passphrase-file", pass_file.to_str().unwrap()],
    );
    let verify = verify_txt(&bundle);
    assert!(verify.contains("sealed with a passphrase"), "{verify}");
    assert!(!verify.contains("--identity"), "{verify}");
    assert!(!verify.contains(KEY_FILE), "{verify}");
    assert!(verify.contains("--ask-export-passphrase"), "{verify}");
    let dir = clerk_folder(&tv, "clerk", &bundle);
    let steps = clerk_commands(&verify, &common::signer(&tv), None);
    let run = run_clerk(&dir, &steps, Some(pass));
    assert_all_confirmed(&run);
    assert!(!run.shown.contains(pass), "the passphrase was echoed");
}

/// The bundle's outer files, by name, in order.
fn outer_files(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
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

fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn a_re_signed_bundle_fails_the_clerks_steps_at_the_signer() {
    if !tools(&[
        "bash",
        "age",
        "age-keygen",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let key = tv.path("clerk.key");
    let made = sh(
        tv.dir.path(),
        "age-keygen -o clerk.key 2>&1 | sed 's/^Public key: //'",
    );
    let bundle = export(&tv, "b.tar", &["--recipient", made.trim()]);

    // Someone re-signs the bundle with their own key: a new allowed_signers, a VERIFY.txt
    // of their own, new sums and new signatures (the payload and checkpoint stay).
    let forge = tv.path("forge");
    std::fs::create_dir(&forge).unwrap();
    sh(
        &forge,
        "ssh-keygen -q -t ed25519 -N '' -C tvault/forged -f forger",
    );
    let forger_public = std::fs::read_to_string(forge.join("forger.pub")).unwrap();
    let forger_fp = sh(&forge, "ssh-keygen -l -f forger.pub | cut -d' ' -f2");
    let forger_fp = forger_fp.trim();
    let mut files = outer_files(&bundle);
    for (name, data) in &mut files {
        match name.as_str() {
            "allowed_signers" => {
                *data = format!(
                    "tvault-export namespaces=\"tvault-export@v1,tvault-export-inner@v1\" {forger_public}"
                )
                .into_bytes();
            }
            "VERIFY.txt" => {
                let text = String::from_utf8(data.clone()).unwrap();
                *data = text
                    .replace("Format:", "Checked and approved.\nFormat:")
                    .into_bytes();
            }
            _ => {}
        }
        std::fs::write(forge.join(&*name), &data).unwrap();
    }
    sh(
        &forge,
        "rm SHA256SUMS.sig checkpoint.txt.sig \
         && ssh-keygen -q -Y sign -f forger -n tvault-export@v1 checkpoint.txt \
         && sha256sum payload.age checkpoint.txt checkpoint.txt.sig receipt.json allowed_signers VERIFY.txt > SHA256SUMS \
         && ssh-keygen -q -Y sign -f forger -n tvault-export@v1 SHA256SUMS",
    );
    for (name, data) in &mut files {
        *data = std::fs::read(forge.join(&*name)).unwrap();
    }
    let forged = tv.path("forged.tar");
    write_tar(&forged, &files);
    // The forged bundle passes the checks that trust its own allowed_signers.
    let look = clerk_folder(&tv, "look", &forged);
    sh(
        &look,
        "mkdir o && tar -xf EXPORT.tar -C o && cd o && sha256sum -c SHA256SUMS \
         && ssh-keygen -Y verify -f allowed_signers -I tvault-export -n tvault-export@v1 -s SHA256SUMS.sig < SHA256SUMS",
    );

    // The clerk follows the forged bundle's own VERIFY.txt with the fingerprint the sender
    // gave: the signer step refuses, and nothing after it passes.
    let verify = verify_txt(&forged);
    assert!(verify.contains("Checked and approved."));
    let signer = common::signer(&tv);
    let steps = clerk_commands(&verify, &signer, Some(&key));
    let run = run_clerk(&clerk_folder(&tv, "clerk", &forged), &steps, None);
    assert_eq!(
        run.failed,
        Some(step(&steps, "signer: the one you were given")),
        "{}",
        run.shown
    );
    assert!(
        !run.shown.contains("signature for tvault-export with"),
        "{}",
        run.shown
    );
    // Every signature check uses the clerk's file: with the signer step skipped (or its
    // file written anyway from the bundle's key), the first signature check refuses.
    let mut skipped = steps.clone();
    let signer_step = step(&steps, "signer: the one you were given");
    skipped[signer_step] = format!(
        "printf '%s\\n' 'tvault-export {}' > trusted_signers",
        genuine_key(&tv)
    );
    let run = run_clerk(&clerk_folder(&tv, "clerk2", &forged), &skipped, None);
    assert_eq!(
        run.failed,
        Some(step(&steps, "-s bundle/SHA256SUMS.sig")),
        "{}",
        run.shown
    );
    // With the forger's own fingerprint, the outer steps pass and the payload's signature
    // (the vault's, which the forger cannot make) fails: only the clerk's fingerprint
    // stood between the forgery and the outer checks.
    let run = run_clerk(
        &clerk_folder(&tv, "clerk3", &forged),
        &clerk_commands(&verify, forger_fp, Some(&key)),
        None,
    );
    assert_eq!(
        run.failed,
        Some(step(&steps, "-s payload/SHA256SUMS.sig")),
        "{}",
        run.shown
    );
    assert!(
        run.shown.contains("bundle: no other files"),
        "{}",
        run.shown
    );
}

/// The vault's signing key as an OpenSSH public key line.
fn genuine_key(tv: &TestVault) -> String {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    status["signing_key"].as_str().unwrap().trim().to_owned()
}

#[test]
fn a_bundle_with_a_file_its_sums_do_not_list_fails_the_clerks_steps() {
    if !tools(&[
        "bash",
        "age",
        "age-keygen",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let key = tv.path("clerk.key");
    let made = sh(
        tv.dir.path(),
        "age-keygen -o clerk.key 2>&1 | sed 's/^Public key: //'",
    );
    let bundle = export(&tv, "b.tar", &["--recipient", made.trim()]);
    let mut files = outer_files(&bundle);
    files.push(("READ-ME-FIRST.txt".into(), b"call this number".to_vec()));
    let added = tv.path("added.tar");
    write_tar(&added, &files);
    let steps = clerk_commands(&verify_txt(&added), &common::signer(&tv), Some(&key));
    let run = run_clerk(&clerk_folder(&tv, "clerk", &added), &steps, None);
    // The signatures and sums pass (sha256sum -c ignores files it is not asked about); the
    // listing check does not.
    assert_eq!(
        run.failed,
        Some(step(&steps, "bundle: no other files")),
        "{}",
        run.shown
    );
    assert!(run.shown.contains("READ-ME-FIRST.txt"), "{}", run.shown);
    assert!(
        run.shown.contains("signature for tvault-export with"),
        "{}",
        run.shown
    );
}

#[test]
fn a_clerk_checks_each_operators_signature_of_a_two_person_bundle() {
    if !tools(&[
        "bash",
        "age",
        "age-keygen",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let ben = tv.write(
        "ben-pass",
        b"seventeen purple walruses debate quantum tea\n",
    );
    tv.cmd()
        .args(["operator", "add", "ben", "--new-passphrase-file"])
        .arg(&ben)
        .assert()
        .success();
    tv.cmd()
        .args(["policy", "set", "export-approvals", "2"])
        .assert()
        .success();
    let key = tv.path("clerk.key");
    let made = sh(
        tv.dir.path(),
        "age-keygen -o clerk.key 2>&1 | sed 's/^Public key: //'",
    );
    let bundle = export(
        &tv,
        "two.tar",
        &[
            "--recipient",
            made.trim(),
            "--approver",
            "ben",
            "--approver-passphrase-file",
            ben.to_str().unwrap(),
        ],
    );
    let verify = verify_txt(&bundle);
    assert!(verify.contains("--require-approvals 2"), "{verify}");
    assert!(
        verify.contains("the 2 operators who made and approved"),
        "{verify}"
    );

    let dir = clerk_folder(&tv, "clerk", &bundle);
    let steps = clerk_commands(&verify, &common::signer(&tv), Some(&key));
    let run = run_clerk(&dir, &steps, None);
    assert_all_confirmed(&run);
    for said in [
        "signature for exporter with ED25519 key",
        "signature for approver-1 with ED25519 key",
        "operators: 2 different key(s) signed the manifest",
    ] {
        assert!(run.shown.contains(said), "{said:?} missing: {}", run.shown);
    }
    // The clerk sees each operator's fingerprint, to compare with the published ones.
    for name in ["operator", "ben"] {
        let out = tv
            .cmd()
            .args(["--json", "operator", "list"])
            .assert()
            .success();
        let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let fp = list
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .map(|o| o["key_fingerprint"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no operator {name}: {list}"));
        assert!(run.shown.contains(&fp), "{fp} missing: {}", run.shown);
    }

    // The exporter's signature in the approver's place fails the approver's step.
    let approver = step(&steps, "-I approver-1");
    std::fs::copy(
        dir.join("payload/approvals/exporter.sig"),
        dir.join("payload/approvals/approver-1.sig"),
    )
    .unwrap();
    let rerun = run_clerk(&dir, &steps[approver..=approver], None);
    assert_eq!(rerun.failed, Some(0), "{}", rerun.shown);
}

/// A bundle with a trusted timestamp whose authority's certificate has expired since: the
/// clerk's `openssl ts -verify … -attime` lines check it as at the token's time (without
/// `-attime`, openssl refuses it, checking today's date), and tvault does the rest.
#[test]
fn a_clerk_checks_a_timestamped_bundle_whose_authority_certificate_has_expired() {
    if !tools(&[
        "bash",
        "age",
        "age-keygen",
        "ssh-keygen",
        "sha256sum",
        "openssl",
    ]) {
        return;
    }
    let tv = vault();
    let tsa = common::tsa::Tsa::new(tv.dir.path(), "tsa", 3, "sha256");
    let tsq = tv.path("log.tsq");
    tv.cmd()
        .args(["audit", "timestamp", "request", "-o"])
        .arg(&tsq)
        .assert()
        .success();
    let tsr = tsa.reply(&tsq, "log.tsr");
    let expired = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    while time::OffsetDateTime::now_utc() < expired {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    tv.cmd()
        .args(["audit", "timestamp", "add"])
        .arg(&tsr)
        .arg("--ca-file")
        .arg(tsa.ca())
        .assert()
        .success();

    let key = tv.path("clerk.key");
    let made = sh(
        tv.dir.path(),
        "age-keygen -o clerk.key 2>&1 | sed 's/^Public key: //'",
    );
    let bundle = export(&tv, "b.tar", &["--recipient", made.trim()]);
    let verify = verify_txt(&bundle);
    assert!(verify.contains("4b. A trusted timestamp"), "{verify}");
    let dir = clerk_folder(&tv, "clerk", &bundle);
    let steps = clerk_commands(&verify, &common::signer(&tv), Some(&key));
    let run = run_clerk(&dir, &steps, None);
    assert_all_confirmed(&run);
    assert!(
        run.shown.contains("timestamp: a checkpoint of this log"),
        "{}",
        run.shown
    );
    assert!(run.shown.contains("Verification: OK"), "{}", run.shown);
    assert!(run.shown.contains("timestamp: the first"), "{}", run.shown);

    // Honestly: without -attime, openssl checks today's date and refuses it.
    let line = &steps[step(&steps, "openssl ts -verify")];
    let today = line.split(" -attime").next().unwrap();
    let out = Command::new("bash")
        .args(["-c", today])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // And a token for another checkpoint fails the clerk's line.
    std::fs::write(dir.join("other.txt"), "another checkpoint\n").unwrap();
    let other = line.replace(
        &line
            .split(" -data ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned(),
        "other.txt",
    );
    let out = Command::new("bash")
        .args(["-c", &other])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{other}");
}
