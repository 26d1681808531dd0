//! Operators sign for themselves: each operator's personal key signs every event they cause.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::TestVault;
use predicates::prelude::*;
use tvault::audit::Event;

const BEN: &str = "seventeen purple walruses debate quantum tea";

fn with(tv: &TestVault, pass: &Path) -> assert_cmd::Command {
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(pass);
    cmd
}

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The 32 key bytes of an `ssh-ed25519 AAAA… comment` line.
fn key_bytes(line: &str) -> [u8; 32] {
    let blob = line.split_whitespace().nth(1).unwrap();
    let wire = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    wire[wire.len() - 32..].try_into().unwrap()
}

fn vault_id(tv: &TestVault) -> [u8; 16] {
    let status = json(&tv.cmd().args(["status", "--json"]).assert().success());
    hex::decode(status["vault_id"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn log(tv: &TestVault, pass: &Path) -> Vec<Event> {
    let out = with(tv, pass).args(["log", "--json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn operator_key(tv: &TestVault, pass: &Path, name: &str) -> [u8; 32] {
    let out = with(tv, pass)
        .args(["operator", "key", name])
        .assert()
        .success();
    let line = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(line.starts_with("ssh-ed25519 "), "{line}");
    key_bytes(line.trim())
}

fn two_operators() -> (TestVault, PathBuf) {
    let tv = TestVault::empty();
    tv.init().args(["--operator", "amina"]).assert().success();
    let ben = tv.write("ben-pass", format!("{BEN}\n").as_bytes());
    tv.cmd()
        .args(["operator", "add", "bakhyt", "--new-passphrase-file"])
        .arg(&ben)
        .assert()
        .success();
    (tv, ben)
}

#[test]
fn every_event_verifies_against_its_operators_own_key() {
    let (tv, ben) = two_operators();
    let id = tv.add(&["--witness", "W", "--consent", "court"]);
    with(&tv, &ben).args(["show", &id]).assert().success();
    tv.cmd().args(["show", &id]).assert().success();

    let keys: BTreeMap<&str, [u8; 32]> = [
        ("amina", operator_key(&tv, &tv.pass_file, "amina")),
        ("bakhyt", operator_key(&tv, &ben, "bakhyt")),
    ]
    .into();
    assert_ne!(keys["amina"], keys["bakhyt"]);
    // Both keys are public: status shows them without a passphrase, operator list too.
    let status = json(
        &tv.bare_cmd()
            .arg("--vault")
            .arg(&tv.vault)
            .args(["status", "--json"])
            .assert()
            .success(),
    );
    let shown: Vec<[u8; 32]> = status["keyslots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["operator_key"].as_str().map(key_bytes))
        .collect();
    assert_eq!(shown.len(), 2);
    assert!(shown.contains(&keys["amina"]) && shown.contains(&keys["bakhyt"]));
    let list = json(
        &tv.cmd()
            .args(["operator", "list", "--json"])
            .assert()
            .success(),
    );
    for o in list.as_array().unwrap() {
        let name = o["name"].as_str().unwrap();
        assert_eq!(key_bytes(o["key"].as_str().unwrap()), keys[name]);
    }

    let vault_id = vault_id(&tv);
    let events = log(&tv, &tv.pass_file);
    let mut by = BTreeMap::<String, usize>::new();
    for e in &events {
        // Each event verifies against its own operator's key, and no other.
        let signer = e.operator_signer(&vault_id);
        assert_eq!(signer, Some(keys[e.operator.as_str()]), "event {}", e.seq);
        *by.entry(e.operator.clone()).or_default() += 1;
        let mut forged = e.clone();
        let sig = forged.operator_sig.as_mut().unwrap();
        let other = if e.operator == "amina" {
            "bakhyt"
        } else {
            "amina"
        };
        sig.key = hex::encode(keys[other]);
        assert_eq!(forged.operator_signer(&vault_id), None);
        // The signature covers the event: changing it breaks the signature.
        let mut edited = e.clone();
        edited.time = "2020-01-01T00:00:00Z".into();
        assert_eq!(edited.operator_signer(&vault_id), None);
    }
    assert!(by["amina"] >= 4 && by["bakhyt"] >= 2, "{by:?}");
    // `operator-added` gave bakhyt the key that signs his events.
    let added = events
        .iter()
        .find(|e| e.action.as_str() == "operator-added")
        .unwrap();
    assert_eq!(
        added.detail.as_ref().unwrap()["operator_key"],
        hex::encode(keys["bakhyt"])
    );
    tv.cmd().arg("verify").assert().success();

    // A new passphrase keeps the key; recovery with the code makes a new one, logged.
    let new = tv.write("amina-new", b"a brand new passphrase for amina here\n");
    tv.cmd()
        .args(["passphrase", "change", "--new-passphrase-file"])
        .arg(&new)
        .assert()
        .success();
    assert_eq!(operator_key(&tv, &new, "amina"), keys["amina"]);
    with(&tv, &new)
        .args(["operator", "key", "nobody"])
        .assert()
        .code(1);
    // Custodians let amina back in: her old key is sealed under the passphrase she lost, so
    // she gets a new one, and the log says so.
    with(&tv, &new)
        .args([
            "custodians",
            "split",
            "--threshold",
            "2",
            "--shares",
            "2",
            "-o",
        ])
        .arg(tv.path("shares"))
        .assert()
        .success();
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .args(["--operator", "amina", "recover"])
        .arg("--share")
        .arg(tv.path("shares/share-1-of-2.txt"))
        .arg("--share")
        .arg(tv.path("shares/share-2-of-2.txt"))
        .arg("--new-passphrase-file")
        .arg(&tv.pass_file)
        .assert()
        .success();
    let renewed = operator_key(&tv, &tv.pass_file, "amina");
    assert_ne!(renewed, keys["amina"]);
    let after = log(&tv, &tv.pass_file);
    let changed = after
        .iter()
        .rfind(|e| e.action.as_str() == "passphrase-changed")
        .unwrap();
    assert_eq!(changed.operator, "custodians");
    assert_eq!(changed.operator_sig, None);
    assert_eq!(
        changed.detail.as_ref().unwrap()["operator_key"],
        hex::encode(renewed)
    );
    let last = after.last().unwrap();
    assert_eq!(last.operator_signer(&vault_id), Some(renewed));
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn one_operator_cannot_sign_as_another_even_with_their_keyslots_swapped() {
    let (tv, ben) = two_operators();
    with(&tv, &ben).arg("list").assert().success();
    let conn = tv.conn();
    // The file editor swaps the two operators' personal keys (public and sealed secret), so
    // that amina's keyslot would hand her bakhyt's key.
    conn.execute_batch(
        "CREATE TEMP TABLE k AS SELECT slot_id, operator_public, operator_secret FROM keyslot
             WHERE operator_public IS NOT NULL;
         UPDATE keyslot SET
             operator_public = (SELECT k.operator_public FROM k WHERE k.slot_id != keyslot.slot_id),
             operator_secret = (SELECT k.operator_secret FROM k WHERE k.slot_id != keyslot.slot_id)
             WHERE operator_public IS NOT NULL;",
    )
    .unwrap();
    let swapped: i64 = conn
        .query_row(
            "SELECT count(*) FROM keyslot k JOIN temp.k t ON k.slot_id = t.slot_id
             WHERE k.operator_public != t.operator_public",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(swapped, 2);
    drop(conn);
    let before = tv.vault_bytes();
    for pass in [&tv.pass_file, &ben] {
        with(&tv, pass)
            .arg("list")
            .assert()
            .code(13)
            .stderr(predicate::str::contains("integrity"));
    }
    assert!(
        tv.vault_bytes() == before,
        "nothing may be signed or written"
    );

    // The same swap of the sealed secrets alone, with the header MAC left as it was.
    let (tv, ben) = two_operators();
    let conn = tv.conn();
    conn.execute_batch(
        "CREATE TEMP TABLE k AS SELECT slot_id, operator_secret FROM keyslot
             WHERE operator_secret IS NOT NULL;
         UPDATE keyslot SET
             operator_secret = (SELECT k.operator_secret FROM k WHERE k.slot_id != keyslot.slot_id)
             WHERE operator_secret IS NOT NULL;",
    )
    .unwrap();
    drop(conn);
    for pass in [&tv.pass_file, &ben] {
        with(&tv, pass).arg("list").assert().code(13);
    }
}

#[test]
fn an_older_vault_gives_each_operator_a_key_at_their_next_unlock() {
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/vault-v3.tvault", &tv.vault).unwrap();
    std::fs::write(&tv.pass_file, "fixture passphrase for format three\n").unwrap();
    let second = tv.write("pass2", b"second fixture operator passphrase\n");

    tv.cmd().arg("list").assert().success();
    let status = json(&tv.cmd().args(["status", "--json"]).assert().success());
    let keyed = |status: &serde_json::Value| {
        status["keyslots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["operator_key"].is_string())
            .count()
    };
    assert_eq!(keyed(&status), 1);
    tv.cmd()
        .args(["operator", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "key: none yet (made at their next unlock)",
        ));
    with(&tv, &second).arg("list").assert().success();
    let status = json(&tv.cmd().args(["status", "--json"]).assert().success());
    assert_eq!(keyed(&status), 2);

    let vault_id = vault_id(&tv);
    let events = log(&tv, &tv.pass_file);
    let created: Vec<&Event> = events
        .iter()
        .filter(|e| e.action.as_str() == "operator-key-created")
        .collect();
    assert_eq!(created.len(), 2);
    assert_ne!(created[0].operator, created[1].operator);
    // Before its operator's key, an event is unsigned; from it on, every one is signed.
    for e in &events {
        let first = created.iter().find(|c| c.operator == e.operator);
        let Some(first) = first.filter(|f| e.seq >= f.seq) else {
            assert!(e.operator_sig.is_none(), "event {}", e.seq);
            continue;
        };
        if e.seq < first.seq {
            assert!(e.operator_sig.is_none(), "event {}", e.seq);
        } else {
            let key = first.detail.as_ref().unwrap()["operator_key"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(
                e.operator_signer(&vault_id).map(hex::encode),
                Some(key),
                "event {}",
                e.seq
            );
        }
    }
    tv.cmd().arg("verify").assert().success();
}
