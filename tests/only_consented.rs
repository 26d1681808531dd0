//! `export --only-consented`: a legal team exports every record whose consent covers the
//! purpose, and learns which were left out, without listing ids one by one.

mod common;

use common::TestVault;
use predicates::prelude::*;

#[test]
fn only_consented_exports_the_consenting_records_and_lists_the_rest_with_exit_3() {
    let tv = TestVault::new();
    let a = tv.add(&["--witness", "A", "--consent", "court"]);
    let b = tv.add(&["--witness", "B", "--consent", "archive,court"]);
    let c = tv.add(&["--witness", "C", "--consent", "archive"]);
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let export = |out: &str, extra: &[&str]| {
        let mut cmd = tv.cmd();
        cmd.args([
            "export",
            "--all",
            "--purpose",
            "court",
            "--recipient",
            &recipient,
        ])
        .arg("-o")
        .arg(tv.path(out))
        .args(extra);
        cmd.assert()
    };
    // Without it, one record without consent refuses the whole export.
    export("all.tar", &[]).code(1);
    assert!(!tv.path("all.tar").exists());

    let out = export("some.tar", &["--only-consented", "--json"]).code(3);
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["records"], 2);
    assert_eq!(summary["skipped"][0]["record"], c.as_str());
    assert!(
        summary["skipped"][0]["why"]
            .as_str()
            .unwrap()
            .contains("court")
    );
    assert!(tv.path("some.tar").exists());
    export("text.tar", &["--only-consented"])
        .code(3)
        .stderr(predicate::str::contains(format!("skipped {c}")));

    // The manifest names what left and what was skipped.
    let key_file = tv.write(
        "age.key",
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let into = tv.path("opened");
    tv.cmd()
        .arg("open-export")
        .arg(tv.path("some.tar"))
        .arg("--into")
        .arg(&into)
        .arg("--identity")
        .arg(&key_file)
        .arg("--trust-bundle-signer")
        .assert()
        .success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.join("MANIFEST.json")).unwrap()).unwrap();
    let ids: Vec<&str> = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&a.as_str()) && ids.contains(&b.as_str()) && ids.len() == 2);
    assert_eq!(manifest["skipped"][0]["record"], c.as_str());

    // Named records are exported or refused as named; --only-consented does not apply.
    tv.cmd()
        .args(["export", &a, "--only-consented", "--purpose", "court"])
        .args(["--recipient", &recipient, "-o"])
        .arg(tv.path("named.tar"))
        .assert()
        .code(2);
}
