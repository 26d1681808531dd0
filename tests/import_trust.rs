//! Import trust: a bundle never replaces or widens what a vault holds of a record. Versions of
//! a record held here come only from the vault and signer first trusted for it, only as the
//! next version, and never with wider consent unless the operator says so, on record.

mod common;

use std::path::PathBuf;

use common::TestVault;
use predicates::prelude::*;

/// One age key every bundle here is sealed to (X25519: fast, unlike a scrypt passphrase).
fn age_key() -> &'static (String, String) {
    static KEY: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let id = age::x25519::Identity::generate();
        let secret = secrecy::ExposeSecret::expose_secret(&id.to_string()).to_owned();
        (secret, id.to_public().to_string())
    })
}

fn key_file(tv: &TestVault) -> PathBuf {
    tv.write("age.key", format!("{}\n", age_key().0).as_bytes())
}

fn fingerprint(tv: &TestVault) -> String {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    doc["signing_key_fingerprint"].as_str().unwrap().to_owned()
}

/// Exports `id` (or every record) from `tv` for `purpose` into a new bundle.
fn export(tv: &TestVault, id: Option<&str>, purpose: &str, name: &str) -> PathBuf {
    let out = tv.path(name);
    let mut cmd = tv.cmd();
    cmd.arg("export");
    match id {
        Some(id) => cmd.arg(id),
        None => cmd.arg("--all"),
    };
    cmd.args([
        "--purpose",
        purpose,
        "--override-consent",
        "--reason",
        "test",
    ])
    .arg("-o")
    .arg(&out)
    .args(["--recipient", &age_key().1])
    .assert()
    .success();
    out
}

fn import(
    tv: &TestVault,
    bundle: &PathBuf,
    signer: &str,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    tv.cmd()
        .arg("import")
        .arg(bundle)
        .arg("--identity")
        .arg(key_file(tv))
        .args(["--signer", signer])
        .args(extra)
        .assert()
}

fn show(tv: &TestVault, id: &str) -> serde_json::Value {
    let out = tv.cmd().args(["show", id, "--json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Field vault A records R (court only); HQ vault B imports it.
fn field_and_hq() -> (TestVault, TestVault, String) {
    let field = TestVault::new();
    let st = field.write("st.txt", b"The statement as recorded in the field.\n");
    let id = field.add(&[
        "--witness",
        "W",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    let hq = TestVault::new();
    let bundle = export(&field, Some(&id), "court", "to-hq.tar");
    import(&hq, &bundle, &fingerprint(&field), &[]).success();
    (field, hq, id)
}

#[test]
fn a_record_recorded_here_is_not_overwritten_or_widened_by_another_vault() {
    let (field, hq, id) = field_and_hq();
    // HQ amends: a new statement, and consent widened to every purpose.
    let st = hq.write("new.txt", b"Something else entirely.\n");
    hq.cmd()
        .args(["amend", &id, "--text-file", st.to_str().unwrap()])
        .args(["--consent", "archive,advocacy,public,un,court"])
        .assert()
        .success();
    let back = export(&hq, Some(&id), "court", "back.tar");
    let hq_key = fingerprint(&hq);
    let before = std::fs::read(&field.vault).unwrap();

    // Attack: the field vault imports it with HQ's correct signer.
    import(&field, &back, &hq_key, &[])
        .code(13)
        .stderr(predicate::str::contains("--trust-source"));
    // Trusting the source is not enough: the consent would widen.
    import(&field, &back, &hq_key, &["--trust-source"])
        .code(13)
        .stderr(predicate::str::contains("--accept-consent-change"));
    assert!(
        std::fs::read(&field.vault).unwrap() == before,
        "nothing imported"
    );
    assert_eq!(show(&field, &id)["version"], 1);
    // The consent held here still refuses a public export.
    field
        .cmd()
        .args(["export", &id, "--purpose", "public", "-o"])
        .arg(field.path("public.tar"))
        .args(["--recipient", &age_key().1])
        .assert()
        .failure();

    // The operator who means it says both, and the log keeps the old and new consent.
    import(
        &field,
        &back,
        &hq_key,
        &["--trust-source", "--accept-consent-change"],
    )
    .success();
    let shown = show(&field, &id);
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["origin"]["signer_fingerprint"], hq_key.as_str());
    let out = field.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let imported = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "record-imported")
        .unwrap();
    assert_eq!(imported["detail"]["trust_source"], true);
    assert_eq!(
        imported["detail"]["consent_change"]["old"]["purposes"],
        serde_json::json!(["court"])
    );
    let out = field.cmd().args(["history", &id]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("imported from vault"));
}

#[test]
fn hq_amendments_flow_back_once_trusted_and_only_from_that_source() {
    let (field, hq, id) = field_and_hq();
    let hq_key = fingerprint(&hq);
    hq.cmd()
        .args(["amend", &id, "--title", "transcribed"])
        .assert()
        .success();
    let v2 = export(&hq, Some(&id), "court", "v2.tar");
    import(&field, &v2, &hq_key, &["--trust-source"]).success();
    // Pinned now: HQ's next amendment needs no flag, and importing it twice changes nothing.
    hq.cmd()
        .args(["amend", &id, "--title", "translated"])
        .assert()
        .success();
    let v3 = export(&hq, Some(&id), "court", "v3.tar");
    import(&field, &v3, &hq_key, &[]).success();
    import(&field, &v3, &hq_key, &[])
        .success()
        .stdout(predicate::str::contains("imported 0"));
    assert_eq!(show(&field, &id)["version"], 3);

    // Another vault that got the record from HQ cannot add to it here, even signed
    // correctly by itself.
    let other = TestVault::new();
    import(&other, &v3, &hq_key, &[]).success();
    other
        .cmd()
        .args(["amend", &id, "--title", "someone else's"])
        .assert()
        .success();
    let v4 = export(&other, Some(&id), "court", "v4.tar");
    let before = std::fs::read(&field.vault).unwrap();
    import(&field, &v4, &fingerprint(&other), &["--trust-source"])
        .code(13)
        .stderr(predicate::str::contains("another vault or signer"));
    assert!(std::fs::read(&field.vault).unwrap() == before);
}

#[test]
fn versions_cannot_jump_and_a_shredded_record_does_not_come_back() {
    let (field, hq, id) = field_and_hq();
    let hq_key = fingerprint(&hq);
    for title in ["a", "b", "c", "d"] {
        hq.cmd()
            .args(["amend", &id, "--title", title])
            .assert()
            .success();
    }
    // Version 5 for a record at version 1 here: refused.
    let v5 = export(&hq, Some(&id), "court", "v5.tar");
    import(&field, &v5, &hq_key, &["--trust-source"])
        .code(13)
        .stderr(predicate::str::contains("next version here is 2"));
    assert_eq!(show(&field, &id)["version"], 1);

    // The field vault shreds the record; the bundle does not bring it back.
    field
        .cmd()
        .args(["shred", &id, "--reason", "consent withdrawn"])
        .assert()
        .success();
    let first = export(&hq, Some(&id), "court", "again.tar");
    import(&field, &first, &hq_key, &["--trust-source"])
        .code(13)
        .stderr(predicate::str::contains("shredded"));
    field.cmd().args(["show", &id]).assert().failure();
}

#[test]
fn a_different_version_under_a_held_number_is_refused_not_skipped() {
    let (field, hq, id) = field_and_hq();
    // Both vaults make their own version 2.
    field
        .cmd()
        .args(["amend", &id, "--title", "field's own"])
        .assert()
        .success();
    let st = hq.write("hq.txt", b"HQ's different statement.\n");
    hq.cmd()
        .args(["amend", &id, "--text-file", st.to_str().unwrap()])
        .assert()
        .success();
    let theirs = export(&hq, Some(&id), "court", "theirs.tar");
    import(&field, &theirs, &fingerprint(&hq), &["--trust-source"])
        .code(13)
        .stderr(predicate::str::contains(
            "differs from the version 2 held here",
        ));
}

#[test]
fn a_bundle_whose_versions_are_all_held_is_still_verified_in_full() {
    let (field, hq, id) = field_and_hq();
    let bundle = field.path("to-hq.tar");
    let signer = fingerprint(&field);
    let imports = |tv: &TestVault| {
        let out = tv.cmd().args(["log", "--json"]).assert().success();
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .matches("record-imported")
            .count()
    };
    // The same bundle again: nothing new, nothing imported.
    let out = import(&hq, &bundle, &signer, &["--json"]).success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (summary["imported"].as_u64(), summary["skipped"].as_u64()),
        (Some(0), Some(1))
    );

    // One byte of the payload's ciphertext flipped: the records are still all held here, and
    // the bundle is refused all the same.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let size = std::str::from_utf8(&bytes[124..135]).unwrap();
    let payload_len = usize::from_str_radix(size.trim_matches(char::from(0)).trim(), 8).unwrap();
    bytes[512 + payload_len / 2] ^= 0x01;
    let tampered = hq.write("tampered.tar", &bytes);
    let before = imports(&hq);
    import(&hq, &tampered, &signer, &[]).code(13);
    assert_eq!(imports(&hq), before, "a refused bundle imports nothing");
    assert_eq!(show(&hq, &id)["version"], 1);
}

/// The import memos stored in `tv`'s file: tag and sealed memo, by tag.
fn memos(tv: &TestVault) -> Vec<(Vec<u8>, Vec<u8>)> {
    let conn = tv.conn();
    let mut stmt = conn
        .prepare("SELECT tag, sealed FROM import_memo ORDER BY tag")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Imports `bundle` into `tv` with `signer` named; returns (imported, skipped).
fn imported(tv: &TestVault, bundle: &PathBuf, signer: &str) -> (u64, u64) {
    let out = import(tv, bundle, signer, &["--json"]).success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    (
        summary["imported"].as_u64().unwrap(),
        summary["skipped"].as_u64().unwrap(),
    )
}

/// A bundle imported in full leaves a sealed memo of what it held; importing the same bundle
/// again with nothing new checks its outer files, its payload's hash and that its header opens
/// for the key given, from the memo, without decrypting it (the memo is then left as it was:
/// a full import writes it anew). A memo that does not open counts for nothing, and a shred
/// leaves none.
#[test]
fn a_bundle_imported_again_is_checked_against_its_memo() {
    let (field, hq, id) = field_and_hq();
    let bundle = field.path("to-hq.tar");
    let signer = fingerprint(&field);
    let first = memos(&hq);
    assert_eq!(first.len(), 1, "the first import leaves one memo");
    let raw_id = hex::decode(&id).unwrap();
    assert!(
        !common::contains(&first[0].1, &raw_id),
        "sealed, not in the clear"
    );

    assert_eq!(imported(&hq, &bundle, &signer), (0, 1));
    assert_eq!(memos(&hq), first, "taken from the memo: not written again");

    // Another key: the payload must still open for the key given.
    let stranger = age::x25519::Identity::generate();
    let stranger = hq.write(
        "stranger.key",
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&stranger.to_string())
        )
        .as_bytes(),
    );
    hq.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--identity")
        .arg(&stranger)
        .args(["--signer", &signer])
        .assert()
        .code(12)
        .stderr(predicate::str::contains("not for that key"));

    // A damaged memo is as good as none: the full import runs, and writes it anew.
    hq.conn()
        .execute(
            "UPDATE import_memo SET sealed = zeroblob(length(sealed))",
            [],
        )
        .unwrap();
    assert_eq!(imported(&hq, &bundle, &signer), (0, 1));
    let rewritten = memos(&hq);
    assert_eq!(rewritten.len(), 1);
    assert_eq!(rewritten[0].0, first[0].0, "the same bundle, the same tag");
    assert_ne!(rewritten[0].1, first[0].1);
    assert_eq!(imported(&hq, &bundle, &signer), (0, 1));
    assert_eq!(memos(&hq), rewritten);

    // A shred leaves no memo naming the record, and the bundle is refused as a shredded
    // record's, memo or not.
    hq.cmd()
        .args(["shred", &id, "--reason", "consent withdrawn"])
        .assert()
        .success();
    assert!(memos(&hq).is_empty());
    import(&hq, &bundle, &signer, &[])
        .code(13)
        .stderr(predicate::str::contains("shredded"));
    assert!(memos(&hq).is_empty(), "a refused import leaves no memo");
}

/// Someone who edits the file with sqlite3 gains nothing from a memo: a memo moved under
/// another tag does not open, and a version removed behind the log's back is found as it is
/// without one. A rekey leaves no memo (they were keyed by the old master key).
#[test]
fn a_memo_hides_no_edit_of_the_vault_and_a_rekey_leaves_none() {
    let (field, hq, id) = field_and_hq();
    let bundle = field.path("to-hq.tar");
    let signer = fingerprint(&field);
    // A second bundle of the same record (another export): a memo of its own.
    let again = export(&field, Some(&id), "court", "again.tar");
    assert_eq!(imported(&hq, &again, &signer), (0, 1));
    let two = memos(&hq);
    assert_eq!(two.len(), 2);
    // Each memo moved under the other's tag: neither opens, both imports run in full.
    let conn = hq.conn();
    for ((tag, _), (_, sealed)) in two.iter().zip(two.iter().rev()) {
        conn.execute(
            "UPDATE import_memo SET sealed = ?2 WHERE tag = ?1",
            rusqlite::params![tag, sealed],
        )
        .unwrap();
    }
    drop(conn);
    assert_eq!(imported(&hq, &bundle, &signer), (0, 1));
    assert_eq!(imported(&hq, &again, &signer), (0, 1));
    let rewritten = memos(&hq);
    assert!(
        rewritten.iter().all(|m| !two.contains(m)),
        "both written anew"
    );

    hq.cmd().args(["rekey", "--yes"]).assert().success();
    assert!(memos(&hq).is_empty());
    assert_eq!(imported(&hq, &bundle, &signer), (0, 1));
    assert_eq!(memos(&hq).len(), 1);

    // The record removed with sqlite3: the memo still names its version, and the import finds
    // the vault disagreeing with its log, as it would without one.
    let conn = hq.conn();
    for sql in [
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1)",
        "DELETE FROM part WHERE record_id = ?1",
        "DELETE FROM record_version WHERE record_id = ?1",
    ] {
        conn.execute(sql, [hex::decode(&id).unwrap()]).unwrap();
    }
    drop(conn);
    import(&hq, &bundle, &signer, &[])
        .code(13)
        .stderr(predicate::str::contains("log"));
}

#[test]
fn a_signer_pinned_here_needs_no_flag_and_any_other_still_does() {
    let (field, hq, id) = field_and_hq();
    let key = key_file(&hq);
    let import_unnamed = |bundle: &PathBuf| {
        hq.cmd()
            .arg("import")
            .arg(bundle)
            .arg("--identity")
            .arg(&key)
            .assert()
    };
    // The field vault's next version: its source and signer are pinned at HQ for this record.
    field
        .cmd()
        .args(["amend", &id, "--title", "second interview"])
        .assert()
        .success();
    let v2 = export(&field, Some(&id), "court", "v2.tar");
    import_unnamed(&v2)
        .success()
        .stderr(predicate::str::contains("WARNING").not());
    assert_eq!(show(&hq, &id)["version"], 2);
    let out = hq.cmd().args(["log", "--json"]).assert().success();
    let log: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let last_import = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == "record-imported")
        .unwrap();
    assert_eq!(last_import["detail"]["signer_trust"], "pinned");
    // Again, from its memo: still pinned, still no flag needed.
    let memo = memos(&hq);
    import_unnamed(&v2)
        .success()
        .stderr(predicate::str::contains("WARNING").not())
        .stdout(predicate::str::contains("(1 already here)"));
    assert_eq!(memos(&hq), memo);

    // A vault HQ never imported from needs a named signer.
    let stranger = TestVault::new();
    stranger.add(&["--witness", "S", "--consent", "court"]);
    let theirs = export(&stranger, None, "court", "stranger.tar");
    let before = hq.vault_bytes();
    import_unnamed(&theirs)
        .code(2)
        .stderr(predicate::str::contains("--signer"));
    assert!(hq.vault_bytes() == before);
}

fn records_shown(tv: &TestVault) -> u64 {
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    doc["records"].as_u64().unwrap()
}

/// `status` reads a tally kept by triggers, not a count of the rows: it must follow every way
/// records come and go, an import that starts a record at its second version included.
#[test]
fn the_record_tally_follows_add_amend_import_and_shred() {
    let (field, hq, id) = field_and_hq();
    field
        .cmd()
        .args(["amend", &id, "--title", "second interview"])
        .assert()
        .success();
    assert_eq!(records_shown(&field), 1);
    let other = field.add(&["--witness", "O", "--consent", "court"]);
    assert_eq!(records_shown(&field), 2);

    // A vault that never saw version 1 takes the record at version 2.
    let fresh = TestVault::new();
    let bundle = export(&field, Some(&id), "court", "v2.tar");
    import(&fresh, &bundle, &fingerprint(&field), &[]).success();
    assert_eq!(show(&fresh, &id)["version"], 2);
    assert_eq!(records_shown(&fresh), 1);
    assert_eq!(records_shown(&hq), 1);

    for (gone, left) in [(&id, 1), (&other, 0)] {
        field
            .cmd()
            .args(["shred", gone, "--reason", "consent withdrawn"])
            .assert()
            .success();
        assert_eq!(records_shown(&field), left);
    }
    field.cmd().arg("verify").assert().success();
}

/// The tally is plaintext and outside the header MAC: whoever edits the file can make `status`
/// show another number, and nothing else. `verify` says so, and a shred still goes through.
#[test]
fn an_edited_record_tally_misleads_only_status_and_verify_reports_it() {
    let (field, _hq, id) = field_and_hq();
    field
        .conn()
        .execute("UPDATE vault SET records = 0", [])
        .unwrap();
    assert_eq!(records_shown(&field), 0);
    field
        .cmd()
        .arg("verify")
        .assert()
        .code(13)
        .stderr(predicate::str::contains(
            "the record tally that status shows says 0",
        ));
    field.cmd().args(["list"]).assert().success();
    field
        .cmd()
        .args(["shred", &id, "--reason", "consent withdrawn"])
        .assert()
        .success();
    assert_eq!(records_shown(&field), 0);
}

/// An import stores the statements in batches, encrypted on a thread of their own while the
/// bundle is read (debug builds use batches of three): every record gets its own statement
/// back, whichever batch it fell in, a record without one stays without, and the listing and
/// search see the statements as imported. The versions are inserted a few to a statement in
/// debug builds, too.
#[test]
fn every_record_keeps_its_own_statement_across_the_import_batches() {
    let field = TestVault::new();
    let mut ids = Vec::new();
    for i in 0..8 {
        let mut args = vec![
            "--witness".to_owned(),
            format!("W{i}"),
            "--consent".to_owned(),
            "court".to_owned(),
        ];
        if i != 5 {
            let st = field.write(
                &format!("st{i}.txt"),
                format!("Statement number {i}, in batch {}.\n", i / 3).as_bytes(),
            );
            args.extend(["--text-file".to_owned(), st.to_str().unwrap().to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ids.push(field.add(&args));
    }
    let hq = TestVault::new();
    let bundle = export(&field, None, "court", "all.tar");
    import(&hq, &bundle, &fingerprint(&field), &[]).success();
    for (i, id) in ids.iter().enumerate() {
        let shown = show(&hq, id);
        assert_eq!(shown["metadata"]["witness"], format!("W{i}"), "{shown}");
        let expected = (i != 5).then(|| format!("Statement number {i}, in batch {}.\n", i / 3));
        assert_eq!(
            shown["statement"].as_str().map(str::to_owned),
            expected,
            "{shown}"
        );
    }
    let out = hq.cmd().args(["search", "number 7"]).assert().success();
    let found = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(found.contains("W7") && !found.contains("W6"), "{found}");
    // The versions were inserted a few to a statement: the tally counts each record once.
    assert_eq!(records_shown(&hq), 8);
    hq.cmd().arg("verify").assert().success();
}
