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
    // The copy made before still opens with the old passphrase, as the message says.
    tv.bare_cmd()
        .args([
            "--vault",
            old_copy.to_str().unwrap(),
            "--anchor-dir",
            tv.path("other").to_str().unwrap(),
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
