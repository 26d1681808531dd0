//! The file editor: someone who holds the vault file and `sqlite3` but no passphrase. They can
//! delete, copy and reorder rows and restore rows from older copies. Each attack below edits a
//! real vault with SQL and must fail closed: exit 13, and the file left exactly as the attacker
//! left it (nothing written, nothing "repaired").

mod common;

use common::TestVault;
use predicates::prelude::*;

fn with_records(tv: &TestVault) -> String {
    let st = tv.write("st.txt", b"What happened that night.\n");
    let att = tv.write("note.pdf", &common::content(10_000, 5));
    let id = tv.add(&[
        "--witness",
        "W",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);
    tv.add(&["--witness", "Other", "--consent", "court"]);
    id
}

fn anchors(tv: &TestVault) -> std::path::PathBuf {
    tv.path("home/.local/state/tvault/anchors")
}

fn remove_anchors(tv: &TestVault) {
    std::fs::remove_dir_all(anchors(tv)).unwrap();
}

/// Runs `args` and expects exit 13 with `message`, and the vault file unchanged.
fn refused(tv: &TestVault, args: &[&str], message: &str) {
    let before = tv.vault_bytes();
    tv.cmd()
        .args(args)
        .assert()
        .code(13)
        .stderr(predicate::str::contains(message));
    assert!(tv.vault_bytes() == before, "{args:?} wrote to the vault");
}

fn export_args(tv: &TestVault, out: &str) -> Vec<String> {
    let pass = tv.write("export-pass", b"an export passphrase for this test\n");
    [
        "export",
        "--all",
        "--purpose",
        "court",
        "-o",
        out,
        "--export-passphrase-file",
        pass.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn a_reset_log_is_refused_with_or_without_the_signing_key() {
    // Attack: NULL the signing key, delete every event and checkpoint, delete the anchor.
    // The header MAC covers the signing key and the log, so the vault no longer opens.
    let tv = TestVault::new();
    with_records(&tv);
    remove_anchors(&tv);
    let conn = tv.conn();
    conn.execute_batch(
        "UPDATE vault SET signing_public = NULL, signing_secret = NULL;
         DELETE FROM event; DELETE FROM checkpoint;",
    )
    .unwrap();
    drop(conn);
    for args in [&["list"][..], &["verify"], &["status"]] {
        if args == ["status"] {
            // No passphrase, no check of the MAC: status reports, and writes nothing.
            tv.cmd().args(args).assert().success();
            continue;
        }
        refused(&tv, args, "header");
    }
    // restart-log does not get around it: the header does not authenticate.
    refused(
        &tv,
        &["audit", "restart-log", "--reason", "attacker"],
        "header",
    );

    // Keeping the signing key and deleting only the log: the same.
    let tv = TestVault::new();
    with_records(&tv);
    remove_anchors(&tv);
    tv.conn()
        .execute_batch("DELETE FROM event; DELETE FROM checkpoint;")
        .unwrap();
    refused(&tv, &["list"], "header");
}

#[test]
fn a_shred_cannot_be_undone_from_an_older_copy() {
    let tv = TestVault::new();
    let id = with_records(&tv);
    let copy = tv.path("before-shred.tvault");
    std::fs::write(&copy, tv.vault_bytes()).unwrap();
    tv.cmd()
        .args(["shred", &id, "--reason", "consent withdrawn"])
        .assert()
        .success();
    // Attack: copy the record's rows back from the older copy and delete its tombstone.
    let conn = tv.conn();
    conn.execute("ATTACH DATABASE ?1 AS old", [copy.to_str().unwrap()])
        .unwrap();
    let raw = hex::decode(&id).unwrap();
    conn.execute(
        "INSERT INTO record_version SELECT * FROM old.record_version WHERE record_id = ?1",
        [&raw],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO part SELECT * FROM old.part WHERE record_id = ?1",
        [&raw],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO chunk SELECT * FROM old.chunk WHERE part_id IN
         (SELECT id FROM old.part WHERE record_id = ?1)",
        [&raw],
    )
    .unwrap();
    conn.execute("DELETE FROM tombstone WHERE record_id = ?1", [&raw])
        .unwrap();
    conn.execute("DETACH DATABASE old", []).unwrap();
    drop(conn);
    let out = tv.path("x.tar");
    let export = export_args(&tv, out.to_str().unwrap());
    let export: Vec<&str> = export.iter().map(String::as_str).collect();
    for args in [
        &["show", &id][..],
        &["cat", &id, "note.pdf"],
        &["list"],
        &["search", "night"],
        &export,
    ] {
        refused(&tv, args, "disagree with the custody log");
    }
    assert!(!out.exists());
    tv.cmd().arg("verify").assert().code(13);
}

#[test]
fn an_older_heads_row_or_header_cannot_be_replayed() {
    let tv = TestVault::new();
    let id = with_records(&tv);
    let old = tv.path("old.tvault");
    std::fs::write(&old, tv.vault_bytes()).unwrap();
    tv.cmd()
        .args(["amend", &id, "--title", "corrected"])
        .assert()
        .success();
    // Attack: the newest version removed, and the heads rows (which name version 2) put
    // back from the copy that knew only version 1.
    let conn = tv.conn();
    conn.execute("ATTACH DATABASE ?1 AS old", [old.to_str().unwrap()])
        .unwrap();
    let raw = hex::decode(&id).unwrap();
    conn.execute_batch(
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE version = 2);
         DELETE FROM part WHERE version = 2;
         DELETE FROM record_version WHERE version = 2;
         DELETE FROM head; INSERT INTO head SELECT * FROM old.head;",
    )
    .unwrap();
    let _ = raw;
    conn.execute("DETACH DATABASE old", []).unwrap();
    drop(conn);
    refused(&tv, &["show", &id], "header");
    // With the old header MAC too, the log (which names version 2) no longer matches it.
    let conn = tv.conn();
    conn.execute("ATTACH DATABASE ?1 AS old", [old.to_str().unwrap()])
        .unwrap();
    conn.execute_batch("UPDATE vault SET header_mac = (SELECT header_mac FROM old.vault);")
        .unwrap();
    conn.execute("DETACH DATABASE old", []).unwrap();
    drop(conn);
    refused(&tv, &["show", &id], "header");
}

#[test]
fn a_missing_anchor_stops_the_vault_until_accepted_on_record() {
    let tv = TestVault::new();
    with_records(&tv);
    let old = tv.vault_bytes();
    tv.add(&["--witness", "Later"]);
    // Attack: roll the vault back to the older copy and delete the anchor that would show it.
    std::fs::write(&tv.vault, &old).unwrap();
    remove_anchors(&tv);
    for args in [&["list"][..], &["verify"], &["show", "00"]] {
        tv.cmd().args(args).assert().code(13).stderr(
            predicate::str::contains("anchor checkpoint of this vault is missing")
                .and(predicate::str::contains("--accept-missing-anchor")),
        );
    }
    assert!(tv.vault_bytes() == old);
    // The owner who moved the vault on purpose says so; it is logged, and the anchor is
    // written again.
    tv.cmd()
        .args(["--accept-missing-anchor", "list"])
        .assert()
        .success();
    let out = tv.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "anchor-missing-accepted")
    );
    tv.cmd().arg("list").assert().success();
}

#[test]
fn the_header_of_an_older_release_cannot_be_used_to_restart_the_log() {
    // A vault of format 3 (header MAC version 1, which covers only the keyslots) is upgraded
    // at its first unlock. Afterwards, putting its old header back and removing the log
    // leaves a vault with records and no log: refused, and only restart-log, with a
    // passphrase and a reason, goes on from there.
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/vault-v3.tvault", &tv.vault).unwrap();
    std::fs::write(&tv.pass_file, "fixture passphrase for format three\n").unwrap();
    tv.cmd().arg("list").assert().success();
    remove_anchors(&tv);
    let conn = tv.conn();
    conn.execute(
        "ATTACH DATABASE ?1 AS old",
        ["tests/fixtures/vault-v3.tvault"],
    )
    .unwrap();
    conn.execute_batch(
        "UPDATE vault SET header_mac = (SELECT header_mac FROM old.vault),
                          signing_public = NULL, signing_secret = NULL;
         DELETE FROM event; DELETE FROM checkpoint; DELETE FROM head;
         UPDATE keyslot SET operator_public = NULL, operator_secret = NULL;",
    )
    .unwrap();
    conn.execute("DETACH DATABASE old", []).unwrap();
    drop(conn);
    refused(&tv, &["list"], "no custody log");
}
