//! Custodians: a recovery secret split K of N, through the binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestVault;
use predicates::prelude::*;

const NEW_PASS: &str = "orchard copper whistle meadow granite 9 lantern";

fn split(
    tv: &TestVault,
    k: &str,
    n: &str,
    dir: &str,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    tv.cmd()
        .args(["custodians", "split", "--threshold", k, "--shares", n, "-o"])
        .arg(tv.path(dir))
        .args(extra)
        .assert()
}

fn share(tv: &TestVault, dir: &str, i: usize, n: usize) -> PathBuf {
    tv.path(dir).join(format!("share-{i}-of-{n}.txt"))
}

fn recover(tv: &TestVault, shares: &[PathBuf], new_pass: &Path) -> assert_cmd::assert::Assert {
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault").arg(&tv.vault).arg("recover");
    for s in shares {
        cmd.arg("--share").arg(s);
    }
    cmd.arg("--new-passphrase-file").arg(new_pass).assert()
}

fn log_size(tv: &TestVault) -> u64 {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    status["log_size"].as_u64().unwrap()
}

fn events(tv: &TestVault) -> Vec<serde_json::Value> {
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(events)) => events,
        Ok(v) => v["events"].as_array().cloned().unwrap_or_default(),
        Err(_) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

#[test]
fn three_of_five_any_three_recover_and_two_do_not() {
    let tv = TestVault::new();
    split(&tv, "3", "5", "shares", &[]).success();

    // status shows K-of-N without a passphrase.
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["status", "--json"])
        .assert()
        .success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let slot = status["keyslots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "custodians")
        .expect("a custodians keyslot");
    assert_eq!(slot["custodians"]["threshold"], 3);
    assert_eq!(slot["custodians"]["shares"], 5);
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("(3 of 5 shares)"));

    let text = std::fs::read_to_string(share(&tv, "shares", 2, 5)).unwrap();
    assert!(text.starts_with("tvault custodian share v1\n"));
    assert!(text.contains("\nindex:     2\n"));

    // Two shares: refused, exit 12, nothing logged, the passphrase unchanged.
    let before = log_size(&tv);
    recover(
        &tv,
        &[share(&tv, "shares", 1, 5), share(&tv, "shares", 4, 5)],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("2 share(s) given, 3 needed"));
    assert_eq!(log_size(&tv), before);

    // Every one of the ten subsets of three recovers: each sets the operator's passphrase.
    let new_pass = tv.write("new-pass", format!("{NEW_PASS}\n").as_bytes());
    let mut subsets = 0;
    for a in 1..=5 {
        for b in a + 1..=5 {
            for c in b + 1..=5 {
                let set: Vec<PathBuf> = [a, b, c]
                    .iter()
                    .map(|&i| share(&tv, "shares", i, 5))
                    .collect();
                // Alternate between two passphrases, so each recovery is seen to change it.
                let (to, from) = if subsets % 2 == 0 {
                    (&new_pass, &tv.pass_file)
                } else {
                    (&tv.pass_file, &new_pass)
                };
                recover(&tv, &set, to).success();
                let mut old = tv.bare_cmd();
                old.arg("--vault")
                    .arg(&tv.vault)
                    .arg("--passphrase-file")
                    .arg(from)
                    .arg("list")
                    .assert()
                    .code(12);
                subsets += 1;
            }
        }
    }
    assert_eq!(subsets, 10);
    // Ten recoveries happened, the last to the original passphrase; each is in the log.
    let events = events(&tv);
    let used: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["action"] == "custodian-shares-used")
        .collect();
    assert_eq!(used.len(), 10);
    assert_eq!(used[0]["operator"], "custodians");
    assert_eq!(used[0]["detail"]["shares"], serde_json::json!([1, 2, 3]));
}

#[test]
fn a_mistyped_share_is_named_and_mixed_shares_are_refused() {
    let tv = TestVault::new();
    split(&tv, "2", "3", "shares", &[]).success();
    let bad = share(&tv, "shares", 2, 3);
    let text = std::fs::read_to_string(&bad).unwrap();
    let at = text.find("share:").unwrap() + 14;
    let mut typo = text.clone().into_bytes();
    typo[at] = if typo[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(&bad, typo).unwrap();
    let before = log_size(&tv);
    recover(
        &tv,
        &[share(&tv, "shares", 1, 3), bad.clone()],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("share-2-of-3.txt"))
    .stderr(predicate::str::contains("checksum"));
    // The same share twice is not two shares.
    let one = share(&tv, "shares", 1, 3);
    let copy = tv.path("copy-of-1.txt");
    std::fs::copy(&one, &copy).unwrap();
    recover(&tv, &[one.clone(), copy], &tv.pass_file)
        .code(12)
        .stderr(predicate::str::contains("same custodian's share"));
    // Shares of another vault's split.
    let other = TestVault::new();
    split(&other, "2", "3", "theirs", &[]).success();
    recover(
        &tv,
        &[one.clone(), share(&other, "theirs", 2, 3)],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("different splits"))
    .stderr(predicate::str::contains("share-2-of-3.txt"));
    recover(
        &tv,
        &[share(&other, "theirs", 1, 3), share(&other, "theirs", 2, 3)],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("another vault"));
    assert_eq!(log_size(&tv), before);
    // Not a share at all, and a bad split on the command line.
    recover(&tv, &[one, tv.pass_file.clone()], &tv.pass_file)
        .code(12)
        .stderr(predicate::str::contains("not a tvault custodian share"));
    split(&tv, "1", "3", "x", &[]).code(2);
    split(&tv, "4", "3", "x", &[]).code(2);
}

#[test]
fn a_new_split_replaces_the_old_and_old_shares_stop_working() {
    let tv = TestVault::new();
    split(&tv, "2", "3", "first", &[]).success();
    split(&tv, "2", "4", "second", &[])
        .success()
        .stderr(predicate::str::contains("earlier split was replaced"));
    // Existing share files are never replaced, and a split that cannot write its files
    // changes nothing (the shares of "second" still work below).
    split(&tv, "2", "4", "second", &[]).code(15);
    let before = log_size(&tv);
    recover(
        &tv,
        &[share(&tv, "first", 1, 3), share(&tv, "first", 3, 3)],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("replaced"));
    assert_eq!(log_size(&tv), before);
    recover(
        &tv,
        &[share(&tv, "second", 2, 4), share(&tv, "second", 4, 4)],
        &tv.pass_file,
    )
    .success();
    let splits: Vec<serde_json::Value> = events(&tv)
        .into_iter()
        .filter(|e| e["action"] == "custodians-split")
        .collect();
    assert_eq!(splits.len(), 2);
    assert_eq!(splits[0]["detail"]["replaced"], false);
    assert_eq!(splits[1]["detail"]["replaced"], true);
    assert_eq!(splits[1]["detail"]["shares"], 4);
    // Only one custodians keyslot at any time.
    let conn = tv.conn();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM keyslot WHERE kind = 'custodians'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

fn age_key(tv: &TestVault, name: &str) -> (PathBuf, String) {
    let key = tv.path(name);
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

#[test]
fn shares_sealed_to_custodians_open_with_stock_age() {
    if !(tool("age") && tool("age-keygen")) {
        return;
    }
    let tv = TestVault::new();
    let keys: Vec<(PathBuf, String)> = (1..=3)
        .map(|i| age_key(&tv, &format!("custodian{i}.key")))
        .collect();
    let mut to = Vec::new();
    for (_, r) in &keys {
        to.push("--to");
        to.push(r.as_str());
    }
    // One recipient per share, or none.
    split(&tv, "2", "3", "bad", &to[..4]).code(2);
    split(&tv, "2", "3", "sealed", &to).success();
    let sealed = |i: usize| tv.path("sealed").join(format!("share-{i}-of-3.age"));
    let armored = std::fs::read_to_string(sealed(1)).unwrap();
    assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!armored.contains("tvault custodian share"));

    // Each custodian opens their own share with stock age, and only theirs.
    for (i, (key, _)) in keys.iter().enumerate() {
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(key)
            .arg(sealed(i + 1))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("tvault custodian share v1\n"));
        assert!(text.contains(&format!("\nindex:     {}\n", i + 1)));
        tv.write(&format!("plain-{}.txt", i + 1), text.as_bytes());
        let other = &keys[(i + 1) % 3].0;
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(other)
            .arg(sealed(i + 1))
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    // The opened text works as a share; so do sealed files with --identity.
    recover(
        &tv,
        &[tv.path("plain-1.txt"), tv.path("plain-3.txt")],
        &tv.pass_file,
    )
    .success();
    recover(&tv, &[sealed(1), sealed(2)], &tv.pass_file)
        .code(14)
        .stderr(predicate::str::contains("--identity"));
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&keys[1].0).unwrap(),
        std::fs::read_to_string(&keys[2].0).unwrap()
    );
    let identity = tv.write("two-custodians.key", both.as_bytes());
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("recover")
        .arg("--share")
        .arg(sealed(2))
        .arg("--share")
        .arg(sealed(3))
        .arg("--identity")
        .arg(&identity)
        .arg("--new-passphrase-file")
        .arg(&tv.pass_file)
        .assert()
        .success();
    // An identity that opens neither share.
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("recover")
        .arg("--share")
        .arg(sealed(2))
        .arg("--share")
        .arg(sealed(3))
        .arg("--identity")
        .arg(&keys[0].0)
        .arg("--new-passphrase-file")
        .arg(&tv.pass_file)
        .assert()
        .code(12)
        .stderr(predicate::str::contains("share-2-of-3.age"));
}

#[test]
fn a_rekey_drops_the_custodians_keyslot_and_keeps_the_operators_key() {
    let tv = TestVault::new();
    split(&tv, "2", "2", "shares", &[]).success();
    let key = |tv: &TestVault| {
        let out = tv
            .cmd()
            .args(["operator", "key", "operator"])
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let before = key(&tv);
    let out = tv
        .cmd()
        .args(["--json", "rekey", "--yes"])
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["dropped"], serde_json::json!(["custodians"]));
    assert_eq!(key(&tv), before);
    recover(
        &tv,
        &[share(&tv, "shares", 1, 2), share(&tv, "shares", 2, 2)],
        &tv.pass_file,
    )
    .code(12)
    .stderr(predicate::str::contains("no custodians keyslot"));
    tv.cmd().arg("verify").assert().success();
}
