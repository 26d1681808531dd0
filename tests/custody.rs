//! The chain of custody: the log, its signed checkpoints, the anchor that catches a rolled-back
//! vault, versions, verify and consistency proofs.

mod common;

use common::TestVault;
use predicates::prelude::*;

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("stdout is one JSON document")
}

fn log(tv: &TestVault) -> Vec<serde_json::Value> {
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    json(&out.get_output().stdout).as_array().unwrap().clone()
}

fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn with_record(tv: &TestVault) -> String {
    let st = tv.write("st.txt", b"What happened that night.\n");
    let att = tv.write("photo.jpg", &common::content(70_000, 3));
    tv.add(&[
        "--witness",
        "W",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ])
}

#[test]
fn init_prints_and_status_shows_the_signing_key() {
    let tv = TestVault::empty();
    let out = tv.init().arg("--json").assert().success();
    let doc = json(&out.get_output().stdout);
    let key = doc["signing_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ssh-ed25519 AAAA"));
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status = json(&out.get_output().stdout);
    assert_eq!(status["signing_key"], key.as_str());
    assert_eq!(
        status["signing_key_fingerprint"],
        doc["signing_key_fingerprint"]
    );
    assert_eq!(status["log_size"], 2);
}

#[test]
fn the_log_records_every_read_and_write_without_testimony() {
    let tv = TestVault::new();
    let id = with_record(&tv);
    tv.cmd().arg("list").assert().success();
    tv.cmd().args(["show", &id]).assert().success();
    tv.cmd().args(["cat", &id, "photo.jpg"]).assert().success();
    tv.cmd().args(["search", "night"]).assert().success();
    let events = log(&tv);
    assert_eq!(
        actions(&events),
        [
            "vault-created",
            "signing-key-created",
            "record-added",
            "records-listed",
            "record-shown",
            "attachment-read",
            "searched",
            "log-read"
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i);
        assert_eq!(e["operator"], "operator");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }
    let added = &events[2];
    assert_eq!(added["record"], id.as_str());
    assert_eq!(added["version"], 1);
    assert_eq!(added["parts"].as_array().unwrap().len(), 2);
    assert_eq!(added["parts"][1]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        added["parts"][1]["stored_sha256"].as_str().unwrap().len(),
        64
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("What happened"), "no testimony in the log");
    // `log ID` filters to one record.
    let out = tv
        .cmd()
        .args(["log", &id[..8], "--json"])
        .assert()
        .success();
    let mine = json(&out.get_output().stdout);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|e| e["record"] == id.as_str())
    );
}

#[test]
fn a_clean_vault_verifies() {
    let tv = TestVault::new();
    let id = with_record(&tv);
    tv.cmd()
        .args(["amend", &id, "--title", "second"])
        .assert()
        .success();
    tv.cmd()
        .arg("verify")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok: 1 records, 2 versions, 2 parts",
        ));
    let out = tv
        .cmd()
        .args(["verify", "--quick", "--json"])
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    assert_eq!(report["failures"], serde_json::json!([]));
    assert_eq!(report["quick"], true);
}

/// Runs `verify` and returns its stderr, asserting exit code 13.
fn verify_fails(tv: &TestVault) -> String {
    let out = tv.cmd().arg("verify").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(13), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn verify_catches_deleted_inserted_reordered_and_edited_events() {
    let edits = [
        ("delete", "DELETE FROM event WHERE seq = 2"),
        ("delete last", "DELETE FROM event WHERE seq = (SELECT max(seq) FROM event)"),
        (
            "insert",
            "INSERT INTO event SELECT (SELECT max(seq) + 1 FROM event), leaf_hash, sealed FROM event WHERE seq = 1",
        ),
        (
            "reorder",
            "UPDATE event SET sealed = CASE seq WHEN 1 THEN (SELECT sealed FROM event WHERE seq = 2)
                                                 ELSE (SELECT sealed FROM event WHERE seq = 1) END,
                              leaf_hash = CASE seq WHEN 1 THEN (SELECT leaf_hash FROM event WHERE seq = 2)
                                                 ELSE (SELECT leaf_hash FROM event WHERE seq = 1) END
             WHERE seq IN (1, 2)",
        ),
        ("edit", "UPDATE event SET sealed = substr(sealed, 1, 40) || X'00' || substr(sealed, 42) WHERE seq = 2"),
        ("edit leaf", "UPDATE event SET leaf_hash = randomblob(32) WHERE seq = 0"),
        (
            "checkpoint signature",
            "UPDATE checkpoint SET note = substr(note, 1, length(note) - 6) || 'AAAAA' || char(10)",
        ),
    ];
    for (what, sql) in edits {
        let tv = TestVault::new();
        with_record(&tv);
        tv.cmd().arg("list").assert().success();
        tv.conn().execute_batch(sql).unwrap();
        let out = tv.cmd().args(["-v", "verify"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(13), "{what}: {stderr}");
        assert!(
            stderr.contains("problem")
                || stderr.contains("rolled back")
                || stderr.contains("damaged"),
            "{what}: {stderr}"
        );
    }
}

#[test]
fn commands_refuse_to_extend_a_log_with_a_forged_checkpoint() {
    let tv = TestVault::new();
    with_record(&tv);
    tv.conn()
        .execute_batch("UPDATE checkpoint SET note = replace(note, char(10) || '3' || char(10), char(10) || '4' || char(10))")
        .unwrap();
    let out = tv.cmd().arg("list").output().unwrap();
    assert!(matches!(out.status.code(), Some(13)), "{:?}", out.status);
}

#[test]
fn replacing_a_current_version_with_an_older_one_is_reported() {
    let tv = TestVault::new();
    let id = with_record(&tv);
    tv.cmd()
        .args(["amend", &id, "--title", "corrected"])
        .assert()
        .success();
    let raw = hex::decode(&id).unwrap();
    let conn = tv.conn();
    conn.execute(
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1 AND version = 2)",
        [&raw],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM part WHERE record_id = ?1 AND version = 2",
        [&raw],
    )
    .unwrap();
    conn.execute(
        "DELETE FROM record_version WHERE record_id = ?1 AND version = 2",
        [&raw],
    )
    .unwrap();
    drop(conn);
    // The log says version 2 is current: no read path serves version 1 in its place.
    let out = tv.path("x.tar");
    let export_pass = tv.write("export-pass", b"an export passphrase for this test\n");
    for args in [
        &["show", &id][..],
        &["cat", &id, "photo.jpg"],
        &["history", &id],
        &["list"],
        &["search", "anything"],
        &["amend", &id, "--title", "again"],
        &[
            "export",
            "--all",
            "--purpose",
            "court",
            "-o",
            out.to_str().unwrap(),
            "--export-passphrase-file",
            export_pass.to_str().unwrap(),
        ],
    ] {
        tv.cmd()
            .args(args)
            .assert()
            .code(13)
            .stderr(predicate::str::contains("disagree with the custody log"));
    }
    assert!(!out.exists());
    // And verify says what happened.
    let stderr = verify_fails(&tv);
    assert!(
        stderr.contains("version 2 is in the custody log but missing"),
        "{stderr}"
    );
}

#[test]
fn a_restored_old_copy_is_caught_on_open_and_can_be_accepted_on_record() {
    let tv = TestVault::new();
    with_record(&tv);
    let old = tv.vault_bytes();
    tv.add(&["--witness", "Later"]);
    std::fs::write(&tv.vault, &old).unwrap();
    for args in [
        &["list"][..],
        &["status"],
        &["verify"],
        &["audit", "checkpoint"],
    ] {
        tv.cmd().args(args).assert().code(13).stderr(
            predicate::str::contains("rolled back")
                .and(predicate::str::contains("anchor checkpoint"))
                .and(predicate::str::contains("vault checkpoint"))
                .and(predicate::str::contains("--accept-rollback")),
        );
    }
    tv.cmd()
        .args(["--accept-rollback", "list"])
        .assert()
        .success();
    let events = log(&tv);
    let accepted = events
        .iter()
        .find(|e| e["action"] == "rollback-accepted")
        .unwrap();
    assert!(
        accepted["detail"]["anchor_checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n4\n")
    );
    // Accepted once, the anchor follows the vault again.
    tv.cmd().arg("list").assert().success();
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn a_vault_swapped_for_another_copy_with_a_different_history_is_caught() {
    let tv = TestVault::new();
    with_record(&tv);
    let fork = tv.vault_bytes();
    tv.add(&["--witness", "A"]);
    // The fork grows to the same length along another path.
    let anchor_dir = tv.path("other-anchors");
    std::fs::write(tv.path("fork.tvault"), &fork).unwrap();
    let fork_path = tv.path("fork.tvault");
    tv.bare_cmd()
        .args([
            "--vault",
            fork_path.to_str().unwrap(),
            "--anchor-dir",
            anchor_dir.to_str().unwrap(),
            "--accept-missing-anchor",
        ])
        .arg("--passphrase-file")
        .arg(&tv.pass_file)
        .args(["add", "--witness", "B"])
        .assert()
        .success();
    std::fs::copy(&fork_path, &tv.vault).unwrap();
    tv.cmd().arg("list").assert().code(13);
}

#[test]
fn a_crash_between_commit_and_anchor_is_not_a_false_alarm() {
    let tv = TestVault::new();
    with_record(&tv);
    let anchors = tv.path("home/.local/state/tvault/anchors");
    let anchor = std::fs::read_dir(&anchors)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let stale = std::fs::read(&anchor).unwrap();
    tv.cmd().arg("list").assert().success();
    // As if the process died after the commit, before it rewrote the anchor.
    std::fs::write(&anchor, stale).unwrap();
    tv.cmd().arg("list").assert().success();
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn amend_keeps_every_earlier_version_readable_and_hashed() {
    let tv = TestVault::new();
    let id = with_record(&tv);
    let original = common::content(70_000, 3);
    let new_photo = tv.write("photo.jpg", b"a different photo");
    let st2 = tv.write("st2.txt", b"Corrected statement.\n");
    tv.cmd()
        .args([
            "amend",
            &id,
            "--text-file",
            st2.to_str().unwrap(),
            "--tag",
            "corrected",
        ])
        .assert()
        .success();
    tv.cmd()
        .args([
            "amend",
            &id,
            "--attach",
            new_photo.to_str().unwrap(),
            "--identity-file",
            &tv.identity_file("Named Later", None, &[]),
        ])
        .assert()
        .success();

    let out = tv.cmd().args(["history", &id, "--json"]).assert().success();
    let history = json(&out.get_output().stdout);
    assert_eq!(history.as_array().unwrap().len(), 3);
    let v1_photo = history[0]["attachments"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(history[1]["attachments"][0]["sha256"], v1_photo.as_str());
    assert_eq!(history[1]["attachments"][0]["carried_from"], 1);
    assert_ne!(history[2]["attachments"][0]["sha256"], v1_photo.as_str());
    assert_eq!(history[2]["statement"]["carried_from"], 2);

    // Every version reads back as it was.
    let show = |v: &str| {
        let out = tv
            .cmd()
            .args(["show", &id, "--version", v, "--json"])
            .assert()
            .success();
        json(&out.get_output().stdout)
    };
    assert_eq!(show("1")["statement"], "What happened that night.\n");
    assert_eq!(show("2")["statement"], "Corrected statement.\n");
    assert_eq!(
        show("2")["metadata"]["tags"],
        serde_json::json!(["corrected"])
    );
    assert_eq!(show("3")["statement"], "Corrected statement.\n");
    let out = tv
        .cmd()
        .args(["cat", &id, "photo.jpg", "--version", "1"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, original);
    let out = tv
        .cmd()
        .args(["cat", &id, "photo.jpg", "--version", "2"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, original);
    assert_eq!(tv.cat(&id, "photo.jpg"), b"a different photo");
    tv.cmd()
        .args(["show", &id, "--version", "9"])
        .assert()
        .code(1);
    let out = tv
        .cmd()
        .args(["show", &id, "--identity", "--json"])
        .assert()
        .success();
    assert_eq!(
        json(&out.get_output().stdout)["identity"]["name"],
        "Named Later"
    );
    let out = tv
        .cmd()
        .args(["show", &id, "--version", "1", "--identity", "--json"])
        .assert()
        .success();
    assert!(json(&out.get_output().stdout)["identity"].is_null());

    tv.cmd()
        .args(["amend", &id, "--remove-attachment", "photo.jpg"])
        .assert()
        .success();
    tv.cmd().args(["cat", &id, "photo.jpg"]).assert().code(1);
    tv.cmd()
        .args(["cat", &id, "photo.jpg", "--version", "3"])
        .assert()
        .success();
    tv.cmd()
        .args(["amend", &id, "--remove-attachment", "nope"])
        .assert()
        .code(1);
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn consistency_proofs_check_out_without_a_vault_and_catch_rewrites() {
    let tv = TestVault::new();
    with_record(&tv);
    let old = tv.path("old.checkpoint");
    tv.cmd()
        .args(["audit", "checkpoint", "-o", old.to_str().unwrap()])
        .assert()
        .success();
    tv.add(&["--witness", "Another"]);
    tv.cmd().arg("list").assert().success();
    let proof = tv.path("proof.json");
    tv.cmd()
        .args([
            "audit",
            "prove",
            "--from",
            old.to_str().unwrap(),
            "-o",
            proof.to_str().unwrap(),
        ])
        .assert()
        .success();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let key = json(&out.get_output().stdout)["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Checked by someone with no vault at all.
    let outsider = TestVault::empty();
    outsider
        .bare_cmd()
        .args([
            "audit",
            "check-proof",
            proof.to_str().unwrap(),
            "--signer",
            &key,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("grew from 3 to"));

    // A changed hash, a forged size, or the wrong key: exit 13 (or 2 for a malformed key).
    let text = std::fs::read_to_string(&proof).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = doc["proof"][0].as_str().unwrap().to_owned();
    let flipped = if first.starts_with('A') {
        first.replacen('A', "B", 1)
    } else {
        format!("A{}", &first[1..])
    };
    doc["proof"][0] = serde_json::Value::String(flipped);
    let bad = outsider.write("bad.json", doc.to_string().as_bytes());
    outsider
        .bare_cmd()
        .args([
            "audit",
            "check-proof",
            bad.to_str().unwrap(),
            "--signer",
            &key,
        ])
        .assert()
        .code(13);
    let forged = outsider.write(
        "forged.json",
        text.replacen("\\n3\\n", "\\n2\\n", 1).as_bytes(),
    );
    outsider
        .bare_cmd()
        .args([
            "audit",
            "check-proof",
            forged.to_str().unwrap(),
            "--signer",
            &key,
        ])
        .assert()
        .code(13);
    let other = TestVault::new();
    let out = other.cmd().args(["status", "--json"]).assert().success();
    let other_key = json(&out.get_output().stdout)["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    outsider
        .bare_cmd()
        .args([
            "audit",
            "check-proof",
            proof.to_str().unwrap(),
            "--signer",
            &other_key,
        ])
        .assert()
        .code(13);

    // A vault whose log was rewritten cannot prove it extends the old checkpoint.
    tv.conn()
        .execute(
            "UPDATE event SET leaf_hash = randomblob(32) WHERE seq = 1",
            [],
        )
        .unwrap();
    tv.cmd()
        .args(["--anchor-dir", tv.path("elsewhere").to_str().unwrap()])
        .args(["audit", "prove", "--from", old.to_str().unwrap()])
        .assert()
        .code(13);
}

#[test]
fn a_format_1_vault_gets_a_log_only_through_restart_log_and_says_what_is_lost() {
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/vault-v1.tvault", &tv.vault).unwrap();
    std::fs::write(&tv.pass_file, "fixture passphrase for format one\n").unwrap();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    assert!(json(&out.get_output().stdout)["signing_key"].is_null());
    // Records and no log: made before the log existed, or its log was removed. Nothing
    // tells the two apart, so nothing starts a log quietly.
    tv.cmd()
        .arg("list")
        .assert()
        .code(13)
        .stderr(predicate::str::contains("restart-log"));
    tv.cmd()
        .args(["audit", "restart-log", "--reason", ""])
        .assert()
        .code(2);
    tv.cmd()
        .args([
            "audit",
            "restart-log",
            "--reason",
            "upgrading a format 1 vault",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("WARNING"));
    tv.cmd().arg("list").assert().success();
    let events = log(&tv);
    assert_eq!(
        actions(&events),
        [
            // The operator's personal key, at their first unlock of an older vault.
            "operator-key-created",
            "signing-key-created",
            "log-restarted",
            "record-inventoried",
            "records-listed",
            "log-read"
        ]
    );
    assert_eq!(events[2]["detail"]["reason"], "upgrading a format 1 vault");
    assert_eq!(events[3]["record"], "a825217bda019d61e8fb362b9e38726f");
    // Once started, there is nothing to restart.
    tv.cmd()
        .args(["audit", "restart-log", "--reason", "again"])
        .assert()
        .code(1);
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    assert!(
        json(&out.get_output().stdout)["signing_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519")
    );
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn the_searched_event_counts_each_record_once_after_amends_and_shreds() {
    let tv = TestVault::new();
    let searched = |tv: &TestVault| {
        tv.cmd().args(["search", "night"]).assert().success();
        let events = log(tv);
        let event = events
            .iter()
            .rev()
            .find(|e| e["action"] == "searched")
            .expect("a searched event")
            .clone();
        let out = tv.cmd().args(["status", "--json"]).assert().success();
        let status = json(&out.get_output().stdout);
        // The same count `status` gives for the records table.
        assert_eq!(event["detail"]["records"], status["records"]);
        event["detail"]["records"].as_u64().unwrap()
    };
    assert_eq!(searched(&tv), 0);
    let first = with_record(&tv);
    let second = with_record(&tv);
    tv.add(&["--witness", "no statement"]);
    assert_eq!(searched(&tv), 3);
    // Versions are not records.
    for title in ["second", "third"] {
        tv.cmd()
            .args(["amend", &first, "--title", title])
            .assert()
            .success();
    }
    assert_eq!(searched(&tv), 3);
    tv.cmd()
        .args(["shred", &second, "--reason", "consent withdrawn"])
        .assert()
        .success();
    assert_eq!(searched(&tv), 2);
    tv.cmd()
        .args(["shred", &first, "--reason", "consent withdrawn"])
        .assert()
        .success();
    assert_eq!(searched(&tv), 1);
}
