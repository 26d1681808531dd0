//! Vaults written by earlier formats still open, and read back exactly what was stored.

mod common;

use common::TestVault;

/// A test vault holding a copy of a frozen fixture, with its passphrase.
fn from_fixture(file: &str, passphrase: &str) -> TestVault {
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    std::fs::copy(format!("tests/fixtures/{file}"), &tv.vault).unwrap();
    std::fs::write(&tv.pass_file, format!("{passphrase}\n")).unwrap();
    tv
}

/// `status --json` with no passphrase at hand (which upgrades an older format in place).
fn bare_status(tv: &TestVault) -> serde_json::Value {
    let out = tv
        .bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["status", "--json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The format 1 fixture (made before the custody log), with the one step that upgrades it:
/// `audit restart-log` (a vault holding records without a log never gets one quietly).
fn v1_vault() -> TestVault {
    let tv = from_fixture("vault-v1.tvault", "fixture passphrase for format one");
    tv.cmd().arg("list").assert().code(13);
    tv.cmd()
        .args(["audit", "restart-log", "--reason", "format 1 fixture"])
        .assert()
        .success();
    tv
}

#[test]
fn a_format_1_vault_opens_and_reads_back_exactly() {
    let tv = v1_vault();

    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(status["vault_id"], "ef82338d2202dd58b7c421a19aa74573");
    assert_eq!(status["records"], 1);

    let id = "a825217bda019d61e8fb362b9e38726f";
    let out = tv
        .cmd()
        .args(["show", id, "--identity", "--json"])
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        shown["statement"],
        "Statement of the fixture witness.\nSecond line: ünïcödé.\n"
    );
    assert_eq!(shown["operator"], "fixture-operator");
    assert_eq!(shown["metadata"]["witness"], "Kestrel");
    assert_eq!(shown["metadata"]["date"], "2020-02-02");
    assert_eq!(
        shown["metadata"]["consent"]["purposes"],
        serde_json::json!(["archive", "court"])
    );
    assert_eq!(shown["metadata"]["consent"]["identity_level"], "named");
    assert_eq!(shown["metadata"]["consent"]["media"]["voice"], true);
    assert_eq!(shown["identity"]["name"], "Fixture Real Name");
    assert_eq!(shown["identity"]["contact"], "fixture@example.org");
    // Sealed before aliases existed: it decodes, with none.
    assert_eq!(shown["identity"]["aliases"], serde_json::json!([]));
    assert_eq!(tv.cat(id, "note.bin"), b"attachment bytes\x00\x01\x02");
}

#[test]
fn a_format_1_vault_can_be_rekeyed_both_ways() {
    for reencrypt in [false, true] {
        let tv = v1_vault();
        let mut cmd = tv.cmd();
        cmd.args(["rekey", "--yes"]);
        if reencrypt {
            cmd.arg("--reencrypt");
        }
        cmd.assert().success();
        tv.cmd().arg("verify").assert().success();
        let id = "a825217bda019d61e8fb362b9e38726f";
        assert_eq!(tv.cat(id, "note.bin"), b"attachment bytes\x00\x01\x02");
    }
}

const V3_ID: &str = "39b6649726073ee56052987606bf26f1";

fn v3_vault() -> TestVault {
    from_fixture("vault-v3.tvault", "fixture passphrase for format three")
}

#[test]
fn a_format_3_vault_opens_for_each_way_in_and_reads_back_exactly() {
    let tv = v3_vault();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(status["vault_id"], "80d2df14d0412f2f2e1a9b2d9337c58a");
    // Opening upgrades it in place (format 4 adds the listing digest, format 5 the heads and
    // a header MAC that covers the log, format 6 the field kit columns, format 7 rebuilds the
    // keyslot table for custodians, format 8 adds operators' personal keys, format 9 the export
    // rule, format 10 the timestamp tables, format 11 the record tally, format 12 the
    // listing's fronts, format 13 the import memos; the first unlock writes them once the
    // tables agree with the log).
    assert_eq!(status["format_version"], 13);
    // The tally format 11 adds counts what the rows hold: one record of two versions (the
    // shredded one is gone).
    assert_eq!(status["records"], 1);

    let out = tv
        .cmd()
        .args(["show", V3_ID, "--identity", "--json"])
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        shown["statement"],
        "Statement of the format three witness.\nSecond line: ünïcödé.\n"
    );
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["metadata"]["title"], "Format three record, amended");
    assert_eq!(shown["identity"]["name"], "Third Real Name");
    assert_eq!(tv.cat(V3_ID, "note.bin"), b"attachment bytes\x00\x01\x02");
    assert_eq!(tv.cat(V3_ID, "extra.txt"), b"second attachment\n");
    // The first search fills the digest from the records; the second reads it.
    for _ in 0..2 {
        let out = tv
            .cmd()
            .args(["search", "ünïcödé", "--json"])
            .assert()
            .success();
        let hits: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
        assert_eq!(hits[0]["id"], V3_ID);
        assert_eq!(hits[0]["version"], 2);
    }
    let out = tv.cmd().args(["verify", "--json"]).assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("consent withdrawn (fixture)")),
        "{report}"
    );

    // The second operator, and the recovery code, still open it.
    let second = tv.write("pass2", b"second fixture operator passphrase\n");
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(&second)
        .arg("list")
        .assert()
        .success();
    let new_pass = tv.write(
        "new-pass",
        b"a new passphrase after recovery of format three\n",
    );
    tv.cmd()
        .args(["recover", "--operator", "fixture-operator"])
        .arg("--recovery-code-file")
        .arg("tests/fixtures/vault-v3.recovery")
        .arg("--new-passphrase-file")
        .arg(&new_pass)
        .assert()
        .success();
}

#[test]
fn a_version_1_bundle_verifies_and_opens() {
    let tv = TestVault::empty();
    tv.bare_cmd()
        .args([
            "verify-export",
            "tests/fixtures/export-v1.tar",
            "--identity",
        ])
        .arg("tests/fixtures/export-v1.key")
        .args([
            "--signer",
            "SHA256:8ZZj6ostch4qK1j2R0FAHb7smbt0Lvgu1fwC2Wyu3d0",
        ])
        .assert()
        .success();
    let into = tv.path("opened");
    tv.bare_cmd()
        .args(["open-export", "tests/fixtures/export-v1.tar", "--into"])
        .arg(&into)
        .arg("--identity")
        .arg("tests/fixtures/export-v1.key")
        .args([
            "--signer",
            "SHA256:8ZZj6ostch4qK1j2R0FAHb7smbt0Lvgu1fwC2Wyu3d0",
        ])
        .assert()
        .success();
    let base = into.join("records").join(V3_ID);
    assert_eq!(
        std::fs::read_to_string(base.join("statement.txt")).unwrap(),
        "Statement of the format three witness.\nSecond line: ünïcödé.\n"
    );
    assert_eq!(
        std::fs::read(base.join("attachments/note.bin")).unwrap(),
        b"attachment bytes\x00\x01\x02"
    );
    assert!(!base.join("identity.json").exists());
}

#[test]
fn a_format_3_vault_whose_tables_disagree_with_its_log_is_not_upgraded() {
    let tv = v3_vault();
    // Someone without the passphrase removes the newest version before the first unlock by
    // this tvault: the log says version 2, so the upgrade refuses, and nothing is read.
    let conn = rusqlite::Connection::open(&tv.vault).unwrap();
    let raw = hex::decode(V3_ID).unwrap();
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
    tv.cmd()
        .args(["show", V3_ID])
        .assert()
        .code(13)
        .stderr(predicates::str::contains("disagree with the custody log"));
}

#[test]
fn restart_log_refuses_a_format_3_vault_whose_log_is_there() {
    let tv = v3_vault();
    tv.cmd()
        .args(["audit", "restart-log", "--reason", "not needed"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("nothing to restart"));
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn a_version_2_bundle_verifies_opens_and_imports() {
    const SIGNER: &str = "SHA256:y2qlLqbIOSFbrXFmZph7kDBF4b6mV30ytrsoP2ax7wE";
    let tv = TestVault::new();
    let bundle = "tests/fixtures/export-v2.tar";
    let key = "tests/fixtures/export-v2.key";
    tv.bare_cmd()
        .args([
            "verify-export",
            bundle,
            "--identity",
            key,
            "--signer",
            SIGNER,
        ])
        .assert()
        .success();
    let into = tv.path("opened");
    tv.bare_cmd()
        .args([
            "open-export",
            bundle,
            "--identity",
            key,
            "--signer",
            SIGNER,
            "--into",
        ])
        .arg(&into)
        .assert()
        .success();
    let base = into
        .join("records")
        .join("65f0b59cea29412bceddbc9200b2ba6e");
    assert_eq!(
        std::fs::read_to_string(base.join("statement.txt")).unwrap(),
        "Statement of the bundle two witness, Heron.\n"
    );
    assert_eq!(
        std::fs::read(base.join("attachments/letter.txt")).unwrap(),
        b"a document\n"
    );
    assert!(!base.join("attachments/face.jpg").exists());
    tv.cmd()
        .args(["import", bundle, "--identity", key, "--signer", SIGNER])
        .assert()
        .success();
    tv.cmd()
        .args(["show", "65f0b59cea29412bceddbc9200b2ba6e"])
        .assert()
        .success();
}

#[test]
fn a_format_3_vault_takes_a_custodians_split_after_its_upgrade() {
    let tv = v3_vault();
    tv.cmd()
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
    let new_pass = tv.write(
        "new-pass",
        b"a new passphrase from the custodians of format three\n",
    );
    tv.bare_cmd()
        .arg("--vault")
        .arg(&tv.vault)
        .args(["recover", "--operator", "fixture-operator"])
        .arg("--share")
        .arg(tv.path("shares").join("share-1-of-2.txt"))
        .arg("--share")
        .arg(tv.path("shares").join("share-2-of-2.txt"))
        .arg("--new-passphrase-file")
        .arg(&new_pass)
        .assert()
        .success();
    let mut cmd = tv.bare_cmd();
    cmd.arg("--vault")
        .arg(&tv.vault)
        .arg("--passphrase-file")
        .arg(&new_pass)
        .args(["show", V3_ID])
        .assert()
        .success();
    // The old passphrase no longer opens it.
    tv.cmd().arg("verify").assert().code(12);
}

const V4_SIGNER: &str = "SHA256:SL2uVncrs8rVqlP8QXVGEORfyMO4vceqWXPUbXUXW8c";
const V8_ID: &str = "7d19b2a319606f24a036c32545c5f661";

#[test]
fn a_version_4_bundle_verifies_opens_and_imports() {
    let tv = TestVault::new();
    let bundle = "tests/fixtures/export-v4.tar";
    let key = "tests/fixtures/export-v4.key";
    let out = tv
        .bare_cmd()
        .args(["--json", "verify-export", bundle, "--identity", key])
        .args(["--signer", V4_SIGNER])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["export_id"], "629581fff64f454d48a8e5bed5e913a2");
    // No operators' signatures in this format: a requirement for them fails.
    assert_eq!(report["approvals"], serde_json::json!([]));
    tv.bare_cmd()
        .args([
            "verify-export",
            bundle,
            "--identity",
            key,
            "--signer",
            V4_SIGNER,
        ])
        .args(["--require-approvals", "1"])
        .assert()
        .code(13);
    let into = tv.path("opened");
    tv.bare_cmd()
        .args([
            "open-export",
            bundle,
            "--identity",
            key,
            "--signer",
            V4_SIGNER,
            "--into",
        ])
        .arg(&into)
        .assert()
        .success();
    let base = into.join("records").join(V8_ID);
    assert_eq!(
        std::fs::read(base.join("derived/transcript.txt")).unwrap(),
        b"a transcript of the interview\n"
    );
    assert!(base.join("lineage.json").is_file());
    tv.cmd()
        .args(["import", bundle, "--identity", key, "--signer", V4_SIGNER])
        .assert()
        .success();
    assert_eq!(
        tv.cat(V8_ID, "transcript.txt"),
        b"a transcript of the interview\n"
    );
}

#[test]
fn a_format_8_vault_opens_and_its_exports_carry_the_operators_signature() {
    let tv = from_fixture("vault-v8.tvault", "fixture passphrase for bundle four");
    tv.cmd()
        .args(["--accept-missing-anchor", "show", V8_ID])
        .assert()
        .success();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(status["format_version"], 13);
    assert_eq!(status["export_approvals"], 1);
    assert_eq!(tv.cat(V8_ID, "letter.txt"), b"a document\n");
    let identity = age::x25519::Identity::generate();
    let key = tv.write(
        "id.key",
        age::secrecy::ExposeSecret::expose_secret(&identity.to_string()).as_bytes(),
    );
    let bundle = tv.path("new.tar");
    tv.cmd()
        .args(["export", "--all", "--purpose", "court", "-o"])
        .arg(&bundle)
        .arg("--recipient")
        .arg(identity.to_public().to_string())
        .assert()
        .success();
    tv.bare_cmd()
        .arg("verify-export")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key)
        .args(["--signer", V4_SIGNER, "--require-approvals", "1"])
        .assert()
        .success();
    tv.cmd().arg("verify").assert().success();
}

const V10_ID: &str = "cd746f0b28de26f330fccc91d69e5693";
const V10_SECOND: &str = "c0da169d9cc60bdfadb0490492b680e6";

#[test]
fn a_format_10_vault_opens_with_its_records_tallied() {
    let tv = from_fixture("vault-v10.tvault", "fixture passphrase for format ten");
    // Opening upgrades it without a passphrase: format 11 counts the records once.
    let status = || bare_status(&tv);
    let status_now = status();
    assert_eq!(status_now["format_version"], 13);
    assert_eq!(status_now["vault_id"], "15b72b59137b8ffa649ed9cf75688845");
    assert_eq!(status_now["records"], 2);

    let out = tv
        .cmd()
        .args(["--accept-missing-anchor", "show", V10_ID, "--json"])
        .assert()
        .success();
    let shown: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["metadata"]["title"], "Format ten record, amended");
    assert_eq!(
        shown["statement"],
        "Statement of the format ten witness.\nSecond line: ünïcödé.\n"
    );
    assert_eq!(tv.cat(V10_ID, "letter.txt"), b"a document\n");
    assert!(tv.ids().contains(V10_SECOND));
    tv.cmd().arg("verify").assert().success();

    // The tally follows the records from here on.
    tv.cmd()
        .args(["shred", V10_SECOND, "--reason", "fixture"])
        .assert()
        .success();
    assert_eq!(status()["records"], 1);
}

const V11_ID: &str = "5f82b779ec9dcb7aa4c653d53af37c92";

#[test]
fn a_format_11_vault_keeps_its_digest_and_lists_from_fronts_after_one_full_read() {
    let tv = from_fixture("vault-v11.tvault", "fixture passphrase for format eleven");
    let kinds = |tv: &TestVault| -> Vec<(i64, i64)> {
        let conn = tv.conn();
        let mut stmt = conn
            .prepare("SELECT kind, count(*) FROM digest GROUP BY kind ORDER BY kind")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let listing = |tv: &TestVault| {
        let out = tv
            .cmd()
            .args(["--accept-missing-anchor", "list"])
            .assert()
            .success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    // Opening upgrades it without a passphrase: format 12 keeps the digest's rows as they
    // were, three buckets of summaries and texts, and adds no front.
    let status = bare_status(&tv);
    assert_eq!(status["format_version"], 13);
    assert_eq!(status["vault_id"], "83f61e635be24f1ba1a3698bfcc5ee5c");
    assert_eq!(kinds(&tv), [(0, 3), (1, 3)]);

    // The first listing reads every bucket and stores their fronts; the next starts from
    // them. Both list the same, by date, the undated record by its intake date.
    let first = listing(&tv);
    assert_eq!(kinds(&tv), [(0, 3), (1, 3), (2, 3)]);
    assert_eq!(listing(&tv), first);
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 4, "{first}");
    assert!(
        lines[0].starts_with("0387a3c1e821  2023-01-02  Plover"),
        "{first}"
    );
    assert!(
        lines[1].starts_with("5f82b779ec9d  2024-07-07  Heron "),
        "{first}"
    );
    assert!(
        lines[1].contains("Format eleven record, amended"),
        "{first}"
    );
    assert!(
        lines[2].starts_with("9c9e1d81e8b3  -           Avocet"),
        "{first}"
    );
    assert!(lines[3].starts_with("1a3efb3784bb  shredded"), "{first}");
    assert_eq!(
        tv.cat(V11_ID, "letter.txt"),
        b"a document\n",
        "the records read back"
    );
    tv.cmd().arg("verify").assert().success();
}

/// Imports the version 4 bundle into `tv` again; returns (imported, skipped).
fn import_v4_again(tv: &TestVault) -> (u64, u64) {
    let out = tv
        .cmd()
        .args(["--accept-missing-anchor", "--json", "import"])
        .args(["tests/fixtures/export-v4.tar", "--identity"])
        .args(["tests/fixtures/export-v4.key", "--signer", V4_SIGNER])
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    (
        summary["imported"].as_u64().unwrap(),
        summary["skipped"].as_u64().unwrap(),
    )
}

#[test]
fn a_format_12_vault_imports_a_bundle_again_in_full_once_then_from_its_memo() {
    let tv = from_fixture("vault-v12.tvault", "fixture passphrase for format twelve");
    let memos = |tv: &TestVault| -> Vec<Vec<u8>> {
        let conn = tv.conn();
        let mut stmt = conn.prepare("SELECT sealed FROM import_memo").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    // Opening upgrades it without a passphrase: format 13 adds the memo table, empty.
    let status = bare_status(&tv);
    assert_eq!(status["format_version"], 13);
    assert_eq!(status["vault_id"], "3d870d86b67013089c132d714a78f5f5");
    assert!(memos(&tv).is_empty());
    // The bundle it imported under format 12, again: verified in full (no memo yet), which
    // leaves a memo; then from that memo, which stays as it was.
    assert_eq!(import_v4_again(&tv), (0, 1));
    let memo = memos(&tv);
    assert_eq!(memo.len(), 1);
    assert_eq!(import_v4_again(&tv), (0, 1));
    assert_eq!(memos(&tv), memo);
    tv.cmd()
        .args(["show", V8_ID])
        .assert()
        .success()
        .stdout(predicates::str::contains("Bundle four record"));
    tv.cmd().arg("verify").assert().success();
}
