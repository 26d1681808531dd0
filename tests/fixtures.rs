//! Vaults written by earlier formats still open, and read back exactly what was stored.

mod common;

use common::TestVault;

#[test]
fn a_format_1_vault_opens_and_reads_back_exactly() {
    let tv = TestVault::empty();
    std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
    std::fs::copy("tests/fixtures/vault-v1.tvault", &tv.vault).unwrap();
    std::fs::write(&tv.pass_file, "fixture passphrase for format one\n").unwrap();

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
    assert_eq!(tv.cat(id, "note.bin"), b"attachment bytes\x00\x01\x02");
}

#[test]
fn a_format_1_vault_can_be_rekeyed_both_ways() {
    for reencrypt in [false, true] {
        let tv = TestVault::empty();
        std::fs::create_dir_all(tv.vault.parent().unwrap()).unwrap();
        std::fs::copy("tests/fixtures/vault-v1.tvault", &tv.vault).unwrap();
        std::fs::write(&tv.pass_file, "fixture passphrase for format one\n").unwrap();
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
