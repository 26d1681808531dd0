//! `tvault rekey`: which keyslots survive, what changes in the file, and that a kill at any
//! moment leaves the old vault or the new one.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestVault, content};
use rand::{Rng, SeedableRng};

const SECOND: &str = "seventeen purple walruses debate quantum tea";

fn as_operator(tv: &TestVault, pass_file: &Path) -> assert_cmd::Command {
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(pass_file);
    cmd
}

/// A vault with a recovery code, a second operator, and a record of two versions (the second
/// carries an attachment over from the first).
struct Setup {
    tv: TestVault,
    second: PathBuf,
    code: PathBuf,
    id: String,
    files: Vec<(String, Vec<u8>)>,
}

fn setup(attachments: usize, size: usize) -> Setup {
    let tv = TestVault::empty();
    let code = tv.path("recovery.txt");
    tv.init()
        .args(["--recovery-code-out", code.to_str().unwrap()])
        .assert()
        .success();
    let second = tv.write("second-pass", format!("{SECOND}\n").as_bytes());
    tv.cmd()
        .args(["operator", "add", "bakhyt", "--new-passphrase-file"])
        .arg(&second)
        .assert()
        .success();
    let statement = tv.write("statement.txt", b"what the witness saw\n");
    let mut files = Vec::new();
    let mut args = vec![
        "--witness".to_owned(),
        "W".to_owned(),
        "--text-file".to_owned(),
        statement.to_str().unwrap().to_owned(),
    ];
    for i in 0..attachments {
        let name = format!("a{i}.bin");
        let data = content(size, i as u8 + 1);
        args.push("--attach".into());
        args.push(tv.write(&name, &data).to_str().unwrap().to_owned());
        files.push((name, data));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = tv.add(&args);
    let extra = content(5000, 99);
    let extra_path = tv.write("extra.bin", &extra);
    tv.cmd()
        .args(["amend", &id, "--attach"])
        .arg(&extra_path)
        .assert()
        .success();
    files.push(("extra.bin".into(), extra));
    Setup {
        tv,
        second,
        code,
        id,
        files,
    }
}

fn blobs(tv: &TestVault, sql: &str) -> Vec<Vec<u8>> {
    let conn = tv.conn();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn actions(tv: &TestVault, pass_file: &Path) -> Vec<String> {
    let out = as_operator(tv, pass_file)
        .args(["log", "--json"])
        .assert()
        .success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rekey_keeps_only_the_keyslots_whose_secret_is_given() {
    let s = setup(1, 200_000);
    let tv = &s.tv;
    let copy = tv.path("before.tvault");
    tv.cmd()
        .args(["backup", "-o", copy.to_str().unwrap()])
        .assert()
        .success();
    let headers = blobs(tv, "SELECT header FROM part ORDER BY id");
    let chunks = blobs(tv, "SELECT data FROM chunk ORDER BY part_id, seq");

    // Removing keyslots needs confirmation; without a terminal, --yes.
    tv.cmd()
        .args(["--no-input", "rekey"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("remove 2 keyslot(s)"));
    as_operator(tv, &s.second).arg("list").assert().success();
    // A secret that opens no other keyslot stops everything.
    let wrong = tv.write("wrong", b"not anyone's passphrase at all\n");
    tv.cmd()
        .args(["rekey", "--yes", "--keep-passphrase-file"])
        .arg(&wrong)
        .assert()
        .code(12);
    tv.cmd()
        .args(["rekey", "--yes", "--keep-passphrase-file"])
        .arg(&tv.pass_file)
        .assert()
        .code(12);
    assert_eq!(blobs(tv, "SELECT header FROM part ORDER BY id"), headers);

    let out = tv
        .cmd()
        .args(["--json", "rekey", "--recovery-code-file"])
        .arg(&s.code)
        .arg("--yes")
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["kept"], serde_json::json!(["operator", "recovery"]));
    assert_eq!(summary["dropped"], serde_json::json!(["bakhyt"]));
    assert_eq!(summary["versions"], 2);
    assert_eq!(
        summary["parts"], 3,
        "the carried-over attachment is stored once"
    );

    // The dropped operator is out; everyone else, and all the content, is in.
    as_operator(tv, &s.second).arg("list").assert().code(12);
    tv.cmd().arg("verify").assert().success();
    for (name, data) in &s.files {
        assert_eq!(&tv.cat(&s.id, name), data);
    }
    let new_pass = tv.write("new-pass", b"an entirely new passphrase for the operator\n");
    tv.cmd()
        .args(["recover", "--recovery-code-file"])
        .arg(&s.code)
        .arg("--new-passphrase-file")
        .arg(&new_pass)
        .assert()
        .success();
    as_operator(tv, &new_pass).arg("verify").assert().success();

    // Headers were rewrapped; payloads (and so their file keys) stayed.
    let after = blobs(tv, "SELECT header FROM part ORDER BY id");
    assert!(headers.iter().all(|h| !after.contains(h)));
    assert_eq!(
        blobs(tv, "SELECT data FROM chunk ORDER BY part_id, seq"),
        chunks
    );
    let log = actions(tv, &new_pass);
    let rekeyed = log.iter().position(|a| a == "vault-rekeyed").unwrap();
    assert_eq!(
        log[rekeyed + 1..rekeyed + 4],
        ["signing-key-rotated", "record-rekeyed", "record-rekeyed"]
    );

    // The copy made before is untouched and still opens with the removed passphrase (with
    // the anchor `backup` wrote for it beside the vault's).
    let mut old = tv.bare_cmd();
    old.arg("--vault")
        .arg(&copy)
        .arg("--passphrase-file")
        .arg(&s.second)
        .arg("verify")
        .assert()
        .success();
}

#[test]
fn reencrypt_gives_every_part_new_bytes_and_old_keyslots_open_nothing() {
    let s = setup(2, 1_500_000);
    let tv = &s.tv;
    let copy = tv.path("before.tvault");
    tv.cmd()
        .args(["backup", "-o", copy.to_str().unwrap()])
        .assert()
        .success();
    let chunks = blobs(tv, "SELECT data FROM chunk");
    tv.cmd()
        .args(["rekey", "--reencrypt", "--keep-passphrase-file"])
        .arg(&s.second)
        .arg("--yes")
        .assert()
        .success();
    tv.cmd().arg("verify").assert().success();
    as_operator(tv, &s.second).arg("verify").assert().success();
    for (name, data) in &s.files {
        assert_eq!(&tv.cat(&s.id, name), data);
    }
    // No 32-byte piece of any old payload chunk is left in the file.
    let file = tv.vault_bytes();
    for chunk in &chunks {
        for at in [0, chunk.len() / 2, chunk.len() - 32] {
            assert!(!common::contains(&file, &chunk[at..at + 32]));
        }
    }
    // The recovery keyslot was dropped: its code no longer opens anything.
    let new_pass = tv.write("new-pass", b"an entirely new passphrase for the operator\n");
    tv.cmd()
        .args(["recover", "--recovery-code-file"])
        .arg(&s.code)
        .arg("--new-passphrase-file")
        .arg(&new_pass)
        .assert()
        .code(12);

    // Old keyslots put back into the new file open the old master key, which opens nothing:
    // the signing key (and everything else) is sealed under the new one.
    let conn = tv.conn();
    conn.execute("DELETE FROM keyslot", []).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS old", [copy.to_str().unwrap()])
        .unwrap();
    conn.execute_batch(
        "INSERT INTO keyslot SELECT * FROM old.keyslot;
         UPDATE vault SET header_mac = (SELECT header_mac FROM old.vault);
         DETACH DATABASE old;",
    )
    .unwrap();
    drop(conn);
    tv.cmd().arg("list").assert().code(13);
}

/// The rekey command as a plain process, to be killed.
fn rekey_process(s: &Setup, reencrypt: bool) -> std::process::Command {
    let mut cmd = s.tv.process();
    cmd.args(["rekey", "--yes", "--recovery-code-file"])
        .arg(&s.code);
    if reencrypt {
        cmd.arg("--reencrypt");
    }
    cmd
}

/// Whichever moment the process dies, the vault opens, verifies, returns every byte, and is
/// wholly old (the dropped operator still opens it) or wholly new (they do not).
#[test]
fn an_interrupted_rekey_leaves_the_old_vault_or_the_new_one() {
    let seed: u64 = std::env::var("TVAULT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill points from seed {seed} (set TVAULT_KILL_SEED to repeat)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // How long an uninterrupted rekey takes here sets the window to kill in.
    let mut window = [Duration::ZERO; 2];
    for reencrypt in [false, true] {
        let s = setup(3, 1 << 20);
        let start = Instant::now();
        assert!(rekey_process(&s, reencrypt).status().unwrap().success());
        window[usize::from(reencrypt)] = start.elapsed();
        as_operator(&s.tv, &s.second).arg("list").assert().code(12);
    }

    let mut states = [0u32; 2];
    // Kills that left a hot journal: the transaction was under way.
    let mut mid_write = 0;
    for round in 0..16 {
        let reencrypt = round % 2 == 1;
        let s = setup(3, 1 << 20);
        let total = window[usize::from(reencrypt)];
        let delay = total.mul_f64(rng.gen_range(0.0..1.1));
        let mut child = rekey_process(&s, reencrypt).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let mut journal = s.tv.vault.clone().into_os_string();
        journal.push("-journal");
        // A hot journal has its header; a committed one left before its clearing, zeros.
        if std::fs::read(&journal).is_ok_and(|j| j.first().is_some_and(|&b| b != 0)) {
            mid_write += 1;
        }

        let tv = &s.tv;
        let what = format!("round {round}, reencrypt {reencrypt}, killed after {delay:?}");
        let verify = tv.cmd().arg("verify").output().unwrap();
        assert!(
            verify.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        for (name, data) in &s.files {
            assert_eq!(&tv.cat(&s.id, name), data, "{what}");
        }
        let old = as_operator(tv, &s.second).arg("list").output().unwrap();
        match old.status.code() {
            Some(0) => states[0] += 1,
            Some(12) => states[1] += 1,
            other => panic!("{what}: the removed operator's unlock exited {other:?}"),
        }
    }
    eprintln!(
        "old state {} times, new state {} times; {mid_write} kills mid-transaction",
        states[0], states[1]
    );
}

fn status(tv: &TestVault) -> serde_json::Value {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn rekey_rotates_the_signing_key_and_the_old_one_signs_the_new_one_over() {
    let tv = TestVault::new();
    tv.add(&["--witness", "W"]);
    let before = status(&tv);
    let old_key = tv.write(
        "old.pub",
        before["signing_key"].as_str().unwrap().as_bytes(),
    );
    let old_cp = tv.path("old.checkpoint");
    tv.cmd()
        .args(["audit", "checkpoint", "-o", old_cp.to_str().unwrap()])
        .assert()
        .success();

    let out = tv
        .cmd()
        .args(["rekey", "--yes"])
        .assert()
        .success()
        .stderr(predicates::str::contains("Publish the new fingerprint"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let after = status(&tv);
    let new_fp = after["signing_key_fingerprint"].as_str().unwrap();
    assert_ne!(new_fp, before["signing_key_fingerprint"].as_str().unwrap());
    assert!(stderr.contains(new_fp));
    assert_eq!(
        after["previous_signing_keys"],
        serde_json::json!([before["signing_key_fingerprint"]])
    );

    // The log holds the rotation, and it verifies; so does everything else.
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let rotated = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "signing-key-rotated")
        .unwrap();
    assert_eq!(rotated["detail"]["new_fingerprint"], new_fp);
    tv.cmd().arg("verify").assert().success();
    tv.cmd().arg("list").assert().success();

    // Whoever holds the old key and an old checkpoint follows the rotation to the new key.
    let proof = tv.path("proof.json");
    tv.cmd()
        .args(["audit", "prove", "--from", old_cp.to_str().unwrap(), "-o"])
        .arg(&proof)
        .assert()
        .success();
    tv.cmd()
        .args(["audit", "check-proof", proof.to_str().unwrap(), "--signer"])
        .arg(&old_key)
        .assert()
        .success();
    // Without the rotation, the new checkpoint is not the old key's.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    doc.as_object_mut().unwrap().remove("rotations");
    let bare = tv.write("bare.json", doc.to_string().as_bytes());
    tv.cmd()
        .args(["audit", "check-proof", bare.to_str().unwrap(), "--signer"])
        .arg(&old_key)
        .assert()
        .code(13);

    // A bundle made after the rekey is signed by the new key; a receiver who was given the
    // old fingerprint follows the rotation the bundle carries, and is told so.
    let bundle = tv.path("after.tar");
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    tv.cmd()
        .args([
            "export",
            "--all",
            "--purpose",
            "archive",
            "--override-consent",
        ])
        .args(["--reason", "test", "--recipient", &recipient, "-o"])
        .arg(&bundle)
        .assert()
        .success();
    let old_fp = before["signing_key_fingerprint"].as_str().unwrap();
    tv.cmd()
        .arg("verify-export")
        .arg(&bundle)
        .args(["--signer", old_fp])
        .assert()
        .success()
        .stdout(predicates::str::contains("rekeyed"));
    tv.cmd()
        .arg("verify-export")
        .arg(&bundle)
        .args(["--signer", new_fp])
        .assert()
        .success();
    let stranger = common::TestVault::new();
    let stranger_fp = status(&stranger)["signing_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    tv.cmd()
        .arg("verify-export")
        .arg(&bundle)
        .args(["--signer", &stranger_fp])
        .assert()
        .code(13);
}
