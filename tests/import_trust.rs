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
