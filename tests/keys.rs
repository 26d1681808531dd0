//! Who can open a vault: operators, and changing a passphrase.

mod common;

use common::TestVault;
use predicates::prelude::*;

const SECOND: &str = "seventeen purple walruses debate quantum tea";

fn as_operator(tv: &TestVault, pass_file: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(pass_file);
    cmd
}

#[test]
fn operators_unlock_with_their_own_passphrase_and_are_named_in_events() {
    let tv = TestVault::empty();
    tv.init().args(["--operator", "amina"]).assert().success();
    let second = tv.write("second-pass", format!("{SECOND}\n").as_bytes());
    tv.cmd()
        .args([
            "operator",
            "add",
            "bakhyt",
            "--new-passphrase-file",
            second.to_str().unwrap(),
        ])
        .assert()
        .success();
    // A duplicate name, and a guessable passphrase, are refused.
    tv.cmd()
        .args([
            "operator",
            "add",
            "bakhyt",
            "--new-passphrase-file",
            second.to_str().unwrap(),
        ])
        .assert()
        .code(1);
    let weak = tv.write("weak", b"password1\n");
    tv.cmd()
        .args([
            "operator",
            "add",
            "chen",
            "--new-passphrase-file",
            weak.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("too easy to guess"));

    as_operator(&tv, &second)
        .args(["add", "--witness", "W"])
        .assert()
        .success();
    let out = tv
        .cmd()
        .args(["operator", "list", "--json"])
        .assert()
        .success();
    let ops: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let mut names: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["amina", "bakhyt"]);
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let added = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "record-added")
        .unwrap();
    assert_eq!(added["operator"], "bakhyt");
    let op_added = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "operator-added")
        .unwrap();
    assert_eq!(op_added["operator"], "amina");
    tv.cmd().arg("verify").assert().success();

    // --operator accepts only that operator's keyslot.
    as_operator(&tv, &second)
        .args(["--operator", "amina", "list"])
        .assert()
        .code(12);
    as_operator(&tv, &second)
        .args(["--operator", "bakhyt", "list"])
        .assert()
        .success();

    // Removed: the passphrase no longer opens; the last way in cannot be removed.
    tv.cmd()
        .args(["operator", "remove", "bakhyt"])
        .assert()
        .success();
    as_operator(&tv, &second).arg("list").assert().code(12);
    tv.cmd()
        .args(["operator", "remove", "amina"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("last way into the vault"));
    tv.cmd()
        .args(["operator", "remove", "nobody"])
        .assert()
        .code(1);
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn a_changed_passphrase_replaces_the_old_one_in_this_file_only() {
    let tv = TestVault::new();
    let old_copy = tv.path("old-copy.tvault");
    std::fs::copy(&tv.vault, &old_copy).unwrap();
    let new = tv.write("new-pass", format!("{SECOND}\n").as_bytes());
    tv.cmd()
        .args([
            "passphrase",
            "change",
            "--new-passphrase-file",
            new.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "still open with the old passphrase",
        ));
    tv.cmd().arg("list").assert().code(12);
    as_operator(&tv, &new).arg("list").assert().success();
    as_operator(&tv, &new).arg("verify").assert().success();
    // The copy made before still opens with the old passphrase, as the message says (a plain
    // file copy elsewhere has no anchor of its own: that is accepted on record).
    tv.bare_cmd()
        .args([
            "--vault",
            old_copy.to_str().unwrap(),
            "--anchor-dir",
            tv.path("other").to_str().unwrap(),
            "--accept-missing-anchor",
        ])
        .arg("--passphrase-file")
        .arg(&tv.pass_file)
        .arg("list")
        .assert()
        .success();
    let out = as_operator(&tv, &new)
        .args(["log", "--json"])
        .assert()
        .success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "passphrase-changed")
    );
}

#[test]
fn a_backup_is_a_checked_copy_that_verifies_on_its_own() {
    let tv = TestVault::new();
    let att = tv.write("a.bin", &common::content(1_500_000, 4));
    let id = tv.add(&["--witness", "W", "--attach", att.to_str().unwrap()]);
    let copy = tv.path("backup.tvault");
    tv.cmd()
        .args(["backup", "-o", copy.to_str().unwrap()])
        .assert()
        .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    tv.cmd()
        .args(["backup", "-o", copy.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("never replaces"));
    // The vault goes on; the copy still verifies, and reads the same content.
    tv.add(&["--witness", "Later"]);
    let on_copy = || {
        let mut cmd = tv.bare_cmd();
        cmd.arg("--vault")
            .arg(&copy)
            .arg("--passphrase-file")
            .arg(&tv.pass_file);
        cmd
    };
    on_copy().arg("verify").assert().success();
    let out = on_copy().args(["cat", &id, "a.bin"]).assert().success();
    assert_eq!(out.get_output().stdout, common::content(1_500_000, 4));
    let out = on_copy().args(["list", "--json"]).assert().success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // No temporary file is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(tv.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_shredded_record_leaves_only_its_tombstone() {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"Statement to be withdrawn.\n");
    let att = tv.write("a.bin", &common::content(2_500_000, 6));
    let identity = tv.identity_file("Real Name", None, &[]);
    let id = tv.add(&[
        "--witness",
        "W",
        "--identity-file",
        &identity,
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);
    tv.cmd()
        .args(["amend", &id, "--title", "v2"])
        .assert()
        .success();
    let keep = tv.add(&["--witness", "Other"]);

    // Every stored byte of the record: headers (wrapped keys), payload samples, metadata.
    let secrets = record_bytes(&tv, &id);
    assert!(secrets.len() > 10);
    let before = tv.vault_bytes();
    assert!(
        secrets.iter().all(|s| common::contains(&before, s)),
        "the scan finds them before"
    );

    tv.cmd()
        .args([
            "shred",
            &id[..8],
            "--reason",
            "consent withdrawn on 2026-11-28",
        ])
        .assert()
        .success();
    let after = tv.vault_bytes();
    for s in &secrets {
        assert!(
            !common::contains(&after, s),
            "shredded bytes remain in the vault file"
        );
    }
    let journal = tv.vault.with_extension("tvault-journal");
    assert!(
        !journal.exists()
            || secrets
                .iter()
                .all(|s| !common::contains(&std::fs::read(&journal).unwrap(), s))
    );

    // The record is gone; the tombstone shows in list and verify; the other record is intact.
    tv.cmd().args(["show", &id]).assert().code(1);
    tv.cmd().arg("list").assert().success().stdout(
        predicate::str::contains("shredded").and(predicate::str::contains("consent withdrawn")),
    );
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let tomb = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(tomb["shredded"]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        tomb["shredded"]["versions"][0]["parts"][1]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    tv.cmd()
        .arg("verify")
        .assert()
        .success()
        .stderr(predicate::str::contains("was shredded"));
    tv.cmd().args(["show", &keep]).assert().success();
    let text = String::from_utf8_lossy(&after).into_owned();
    assert!(!text.contains("Statement to be withdrawn"));
}

/// 32-byte samples of every stored row of a record.
fn record_bytes(tv: &TestVault, id: &str) -> Vec<Vec<u8>> {
    let conn = tv.conn();
    let raw = hex::decode(id).unwrap();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT header FROM part WHERE record_id = ?1
             UNION ALL SELECT meta FROM record_version WHERE record_id = ?1
             UNION ALL SELECT identity FROM record_version WHERE record_id = ?1",
        )
        .unwrap();
    for blob in stmt.query_map([&raw], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        let blob = blob.unwrap();
        secrets.push(blob[blob.len() / 2..blob.len() / 2 + 32].to_vec());
    }
    // The listing digest's sealed copies of its summary and statement (its bucket).
    let mut stmt = conn
        .prepare("SELECT sealed FROM digest WHERE bucket = ?1")
        .unwrap();
    for blob in stmt
        .query_map([raw[0]], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
    {
        let blob = blob.unwrap();
        secrets.push(blob[blob.len() / 2..blob.len() / 2 + 32].to_vec());
    }
    let mut stmt = conn
        .prepare(
            "SELECT data FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1)",
        )
        .unwrap();
    for blob in stmt.query_map([&raw], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        let blob = blob.unwrap();
        for at in [0, blob.len() / 2, blob.len() - 32] {
            secrets.push(blob[at..at + 32].to_vec());
        }
    }
    secrets
}

#[test]
fn the_recovery_code_sets_a_new_passphrase_and_is_nothing_else() {
    let tv = TestVault::empty();
    let code_file = tv.path("recovery.txt");
    tv.init()
        .args(["--recovery-code-out", code_file.to_str().unwrap()])
        .assert()
        .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&code_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let code = std::fs::read_to_string(&code_file).unwrap();
    assert_eq!(
        code.trim().len(),
        39,
        "eight groups of four hex digits: {code}"
    );
    tv.add(&["--witness", "W"]);

    // Single-purpose: the code is not a passphrase.
    as_operator(&tv, &code_file).arg("list").assert().code(12);
    let wrong = tv.write("wrong-code", b"0000-0000-0000-0000-0000-0000-0000-0000\n");
    let new = tv.write("new-pass", format!("{SECOND}\n").as_bytes());
    tv.cmd()
        .args([
            "recover",
            "--recovery-code-file",
            wrong.to_str().unwrap(),
            "--new-passphrase-file",
            new.to_str().unwrap(),
        ])
        .assert()
        .code(12);

    tv.cmd()
        .args([
            "recover",
            "--recovery-code-file",
            code_file.to_str().unwrap(),
            "--new-passphrase-file",
            new.to_str().unwrap(),
        ])
        .assert()
        .success();
    tv.cmd().arg("list").assert().code(12);
    as_operator(&tv, &new).arg("verify").assert().success();
    let out = as_operator(&tv, &new)
        .args(["log", "--json"])
        .assert()
        .success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let used = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "recovery-code-used")
        .unwrap();
    assert_eq!(used["operator"], "recovery");
    // Codes typed with other spacing and case still work.
    let loose = tv.write(
        "loose",
        code.trim().to_uppercase().replace('-', " ").as_bytes(),
    );
    let third = tv.write(
        "third-pass",
        b"another entirely different long passphrase here\n",
    );
    tv.cmd()
        .args([
            "recover",
            "--recovery-code-file",
            loose.to_str().unwrap(),
            "--new-passphrase-file",
            third.to_str().unwrap(),
        ])
        .assert()
        .success();
    as_operator(&tv, &third).arg("list").assert().success();
}

#[test]
fn destroy_leaves_nothing_at_the_path_and_earlier_backups_still_open() {
    let tv = TestVault::new();
    let id = tv.add(&["--witness", "W"]);
    let copy = tv.path("backup.tvault");
    tv.cmd()
        .args(["backup", "-o", copy.to_str().unwrap()])
        .assert()
        .success();
    tv.cmd().args(["--no-input", "destroy"]).assert().code(14);
    assert!(tv.vault.exists());
    tv.cmd()
        .args(["destroy", "--yes"])
        .assert()
        .success()
        .stderr(predicate::str::contains("SSD"));
    assert!(!tv.vault.exists());
    let journal = tv.path("data/vault.tvault-journal");
    assert!(!journal.exists());
    tv.cmd().arg("list").assert().code(10);
    let mut on_copy = tv.bare_cmd();
    on_copy
        .arg("--vault")
        .arg(&copy)
        .arg("--passphrase-file")
        .arg(&tv.pass_file);
    on_copy.args(["show", &id]).assert().success();
}
