//! Two-person exports: with `policy set export-approvals 2`, an export needs a second operator
//! who gives their own passphrase; both personal keys sign the manifest. Refusals leave no file
//! and a logged event. Attacks: one operator alone (no approver, oneself, a wrong passphrase,
//! an invented operator), someone who edits the vault file to drop the rule, and someone who
//! holds the vault's signing key and rebuilds a bundle without the second signature or with a
//! key of their own in its place.

#![allow(
    clippy::disallowed_methods,
    reason = "scratch bundles in a test's temp folder"
)]

mod common;
#[path = "common/forge.rs"]
mod forge;

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use common::TestVault;
use forge::*;
use predicates::prelude::*;
use tvault::audit::Event;

const BEN: &str = "seventeen purple walruses debate quantum tea";

/// A vault of amina's (who unlocks with the test's passphrase file) and bakhyt's, with one
/// record and the rule at two operators; and an age key to seal bundles to.
struct TwoPerson {
    tv: TestVault,
    ben: PathBuf,
    identity: age::x25519::Identity,
    identity_file: PathBuf,
}

fn two_person() -> TwoPerson {
    let tv = TestVault::empty();
    tv.init().args(["--operator", "amina"]).assert().success();
    let ben = tv.write("ben-pass", format!("{BEN}\n").as_bytes());
    tv.cmd()
        .args(["operator", "add", "bakhyt", "--new-passphrase-file"])
        .arg(&ben)
        .assert()
        .success();
    let st = tv.write("st.txt", b"They took my brother at the checkpoint.\n");
    tv.add(&[
        "--witness",
        "Heron",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    // Tightening the rule needs only the rule in force: one operator.
    tv.cmd()
        .args(["policy", "set", "export-approvals", "2"])
        .assert()
        .success()
        .stderr(predicate::str::contains("now need 2 operator"));
    let identity = age::x25519::Identity::generate();
    let identity_file = tv.write("id.key", identity.to_string().expose_secret().as_bytes());
    TwoPerson {
        tv,
        ben,
        identity,
        identity_file,
    }
}

impl TwoPerson {
    fn export(&self, name: &str, extra: &[&str]) -> (PathBuf, assert_cmd::assert::Assert) {
        let bundle = self.tv.path(name);
        let out = self
            .tv
            .cmd()
            .args(["export", "--all", "--purpose", "court", "-o"])
            .arg(&bundle)
            .arg("--recipient")
            .arg(self.identity.to_public().to_string())
            .args(extra)
            .assert();
        (bundle, out)
    }

    fn approved(&self, name: &str) -> PathBuf {
        let (bundle, out) = self.export(
            name,
            &[
                "--approver",
                "bakhyt",
                "--approver-passphrase-file",
                self.ben.to_str().unwrap(),
            ],
        );
        out.success().stderr(predicate::str::contains(
            "signed by the personal keys of amina (exporter), bakhyt (approver-1)",
        ));
        bundle
    }

    fn log(&self) -> Vec<Event> {
        let out = self.tv.cmd().args(["log", "--json"]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn operator_fingerprint(&self, name: &str) -> String {
        let out = self
            .tv
            .cmd()
            .args(["--json", "operator", "key", name])
            .assert()
            .success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["fingerprint"].as_str().unwrap().to_owned()
    }

    fn verify_export(
        &self,
        bundle: &Path,
        signer: &str,
        extra: &[&str],
    ) -> assert_cmd::assert::Assert {
        self.tv
            .bare_cmd()
            .arg("verify-export")
            .arg(bundle)
            .args(["--signer", signer, "--identity"])
            .arg(&self.identity_file)
            .args(extra)
            .assert()
    }
}

fn actions(events: &[Event], action: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.action.as_str() == action)
        .cloned()
        .collect()
}

/// Nothing but the vault, its pass files and keys in the folder: no bundle, no partial one.
fn no_bundle(tv: &TestVault) {
    let names: Vec<String> = std::fs::read_dir(tv.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tar"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn the_rule_is_shown_needs_enough_operators_and_is_logged() {
    let tv = TestVault::new();
    tv.cmd()
        .args(["policy", "set", "export-approvals", "2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs that many operators"));
    tv.cmd()
        .args(["policy", "set", "export-approvals", "10"])
        .assert()
        .code(2);
    tv.bare_cmd()
        .args(["--vault"])
        .arg(&tv.vault)
        .args(["policy", "show"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("export-approvals 1"));

    let t = two_person();
    t.tv.bare_cmd()
        .arg("--vault")
        .arg(&t.tv.vault)
        .args(["policy", "show"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("export-approvals 2"));
    let out = t.tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(status["export_approvals"], 2);
    let changed = actions(&t.log(), "policy-changed");
    assert_eq!(changed.len(), 1);
    let detail = changed[0].detail.as_ref().unwrap();
    assert_eq!(detail["from"], 1);
    assert_eq!(detail["to"], 2);

    // Loosening it needs the rule in force: an approver.
    t.tv.cmd()
        .args(["policy", "set", "export-approvals", "1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("needs 2 operators"));
    assert_eq!(actions(&t.log(), "approval-refused").len(), 1);
    // Nor may one operator remove the other, or add a third of their own making.
    t.tv.cmd()
        .args(["operator", "remove", "bakhyt"])
        .assert()
        .code(1);
    let mine = t.tv.write(
        "third-pass",
        b"copper harbour violin seventy lantern drift\n",
    );
    t.tv.cmd()
        .args(["operator", "add", "mallory", "--new-passphrase-file"])
        .arg(&mine)
        .assert()
        .code(1);
    // Nor split a way in among custodians whose shares one person could hold.
    let shares = t.tv.path("shares");
    t.tv.cmd()
        .args([
            "custodians",
            "split",
            "--threshold",
            "2",
            "--shares",
            "2",
            "-o",
        ])
        .arg(&shares)
        .assert()
        .code(1);
    assert!(!shares.exists() || std::fs::read_dir(&shares).unwrap().next().is_none());
    assert_eq!(actions(&t.log(), "approval-refused").len(), 3);
    assert!(actions(&t.log(), "operator-added").len() == 1);
    t.tv.cmd()
        .args([
            "custodians",
            "split",
            "--threshold",
            "2",
            "--shares",
            "2",
            "-o",
        ])
        .arg(&shares)
        .args(["--approver", "bakhyt", "--approver-passphrase-file"])
        .arg(&t.ben)
        .assert()
        .success();
    let split = actions(&t.log(), "custodians-split");
    assert_eq!(
        split[0].detail.as_ref().unwrap()["approvals"][1]["operator"],
        "bakhyt"
    );
    t.tv.cmd()
        .args([
            "policy",
            "set",
            "export-approvals",
            "1",
            "--approver",
            "bakhyt",
        ])
        .arg("--approver-passphrase-file")
        .arg(&t.ben)
        .assert()
        .success();
    let changed = actions(&t.log(), "policy-changed");
    assert_eq!(changed.len(), 2);
    assert_eq!(
        changed[1].detail.as_ref().unwrap()["approvals"][1]["operator"],
        "bakhyt"
    );
    t.tv.cmd().args(["verify"]).assert().success();
}

#[test]
fn refused_exports_leave_no_file_and_a_logged_refusal() {
    let t = two_person();
    let wrong =
        t.tv.write("wrong-pass", b"not bakhyts passphrase at all friends\n");
    let amina = t.tv.pass_file.to_str().unwrap().to_owned();
    let cases: [(&[&str], i32, &str); 4] = [
        (&[], 1, "needs 2 operators to sign, and 1 did"),
        (
            &["--approver", "amina", "--approver-passphrase-file", &amina],
            1,
            "another operator",
        ),
        (
            &[
                "--approver",
                "bakhyt",
                "--approver-passphrase-file",
                wrong.to_str().unwrap(),
            ],
            12,
            "wrong passphrase for the approver",
        ),
        (
            &[
                "--approver",
                "mallory",
                "--approver-passphrase-file",
                &amina,
            ],
            1,
            "no operator",
        ),
    ];
    for (i, (args, code, said)) in cases.iter().enumerate() {
        let (bundle, out) = t.export(&format!("refused-{i}.tar"), args);
        out.code(*code).stderr(predicate::str::contains(*said));
        assert!(!bundle.exists());
    }
    // No terminal to ask the approver on: exit 14, before anything is done.
    let (_, out) = t.export("refused-tty.tar", &["--approver", "bakhyt"]);
    out.code(14);
    no_bundle(&t.tv);

    let events = t.log();
    let refused = actions(&events, "export-refused");
    assert_eq!(refused.len(), 4);
    assert!(actions(&events, "export-intent").is_empty());
    for e in &refused {
        let d = e.detail.as_ref().unwrap();
        assert_eq!(d["for"], "export");
        assert_eq!(d["approvals_required"], 2);
        assert_eq!(d["request"]["purpose"], "court");
        assert!(d["why"].as_str().unwrap().starts_with("refused"));
        assert_eq!(e.operator, "amina");
    }

    // Someone with the vault file and sqlite3, without a passphrase, drops the rule: the
    // header MAC no longer matches, and the vault does not open.
    t.tv.conn()
        .execute("UPDATE vault SET export_approvals = NULL", [])
        .unwrap();
    let (bundle, out) = t.export("unruled.tar", &[]);
    out.code(13);
    assert!(!bundle.exists());
}

#[test]
fn a_two_person_bundle_carries_both_signatures_and_verify_export_requires_them() {
    let t = two_person();
    let bundle = t.approved("two.tar");
    let signer = common::signer(&t.tv);
    let amina = t.operator_fingerprint("amina");
    let bakhyt = t.operator_fingerprint("bakhyt");

    let out = t
        .verify_export(&bundle, &signer, &["--require-approvals", "2"])
        .success();
    let shown = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        shown.contains("manifest signed by 2 operator(s)"),
        "{shown}"
    );
    assert!(shown.contains(&amina) && shown.contains(&bakhyt), "{shown}");
    t.verify_export(
        &bundle,
        &signer,
        &[
            "--require-approvals",
            "2",
            "--operator-key",
            &amina,
            "--operator-key",
            &bakhyt,
        ],
    )
    .success();
    // Only the keys the reader named count.
    t.verify_export(
        &bundle,
        &signer,
        &["--require-approvals", "2", "--operator-key", &amina],
    )
    .code(13)
    .stderr(predicate::str::contains(
        "1 operator signature(s) by the keys you named",
    ));
    t.verify_export(&bundle, &signer, &["--require-approvals", "3"])
        .code(13);
    // Without the payload's key nothing inside it can be checked.
    t.tv.bare_cmd()
        .arg("verify-export")
        .arg(&bundle)
        .args(["--signer", &signer, "--require-approvals", "2"])
        .assert()
        .code(2);

    // The log names both, and the manifest the same two.
    let intent = actions(&t.log(), "export-intent").pop().unwrap();
    let approvals = &intent.detail.as_ref().unwrap()["approvals"];
    assert_eq!(approvals[0]["operator"], "amina");
    assert_eq!(approvals[1]["operator"], "bakhyt");
    assert_eq!(approvals[1]["role"], "approver-1");
    let inner = inner_files(&bundle, &t.identity);
    let names: Vec<&str> = inner.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "approvals/allowed_signers",
        "approvals/exporter.sig",
        "approvals/approver-1.sig",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    // The report a reader prints names both.
    let opened = t.tv.path("opened");
    t.tv.bare_cmd()
        .arg("open-export")
        .arg(&bundle)
        .args(["--signer", &signer, "--identity"])
        .arg(&t.identity_file)
        .arg("--into")
        .arg(&opened)
        .assert()
        .success();
    let report = std::fs::read_to_string(opened.join("REPORT.html")).unwrap();
    assert!(
        report.contains("Also signed by an approving operator (approver-1)"),
        "{report}"
    );
    assert!(report.contains(&bakhyt) && report.contains("every export needs 2 operators"));
    assert!(opened.join("approvals/approver-1.sig").is_file());
    // Who exported and who approved stays inside the payload.
    for (name, data) in outer_files(&bundle) {
        if name != "payload.age" {
            let text = String::from_utf8_lossy(&data);
            assert!(
                !text.contains("bakhyt") && !text.contains("amina"),
                "{name}"
            );
        }
    }
    // A bundle made under the rule of one still verifies, and fails a requirement of two.
    t.tv.cmd()
        .args([
            "policy",
            "set",
            "export-approvals",
            "1",
            "--approver",
            "bakhyt",
        ])
        .arg("--approver-passphrase-file")
        .arg(&t.ben)
        .assert()
        .success();
    let (single, out) = t.export("single.tar", &[]);
    out.success();
    t.verify_export(&single, &signer, &[]).success();
    t.verify_export(&single, &signer, &["--require-approvals", "2"])
        .code(13)
        .stderr(predicate::str::contains(
            "1 operator signature(s) over the manifest, 2 required",
        ));
}

/// The bundle's inner files with `edit` applied, rebuilt and signed by `forger` as the vault.
fn rebuilt(
    t: &TwoPerson,
    bundle: &Path,
    name: &str,
    forger: &Forger,
    edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) -> PathBuf {
    let mut files = inner_files(bundle, &t.identity);
    edit(&mut files);
    let out = t.tv.path(name);
    forger.bundle(&out, &files, &t.identity.to_public());
    out
}

fn manifest_of(files: &[(String, Vec<u8>)]) -> serde_json::Value {
    serde_json::from_slice(&files.iter().find(|(n, _)| n == "MANIFEST.json").unwrap().1).unwrap()
}

fn set_file(files: &mut Vec<(String, Vec<u8>)>, name: &str, data: Vec<u8>) {
    match files.iter_mut().find(|(n, _)| n == name) {
        Some(f) => f.1 = data,
        None => files.push((name.to_owned(), data)),
    }
}

#[test]
fn one_operator_with_the_vault_key_cannot_make_a_second_signature() {
    let t = two_person();
    let bundle = t.approved("two.tar");
    let amina = t.operator_fingerprint("amina");
    let bakhyt = t.operator_fingerprint("bakhyt");
    // The forger signs as the vault (as someone who coerced amina's passphrase could, with a
    // modified program); the reader names the forger's key as the signer, so only the
    // approvals are at stake here.
    let forger = Forger::new();
    let signer = forger.fingerprint();
    let strict = [
        "--require-approvals",
        "2",
        "--operator-key",
        &amina,
        "--operator-key",
        &bakhyt,
    ];

    // The approver's signature removed, the manifest still naming them.
    let dropped = rebuilt(&t, &bundle, "dropped.tar", &forger, |files| {
        files.retain(|(n, _)| n != "approvals/approver-1.sig");
    });
    t.verify_export(&dropped, &signer, &[])
        .code(13)
        .stderr(predicate::str::contains(
            "approver-1's signature is missing",
        ));

    // The approver removed everywhere (manifest, intent event, allowed signers): a bundle of
    // one signer, which a requirement of two refuses.
    let alone = rebuilt(&t, &bundle, "alone.tar", &forger, |files| {
        let mut m = manifest_of(files);
        m["approvals"].as_array_mut().unwrap().truncate(1);
        let mut event: serde_json::Value =
            serde_json::from_str(m["intent_event"].as_str().unwrap()).unwrap();
        event["detail"]["approvals"]
            .as_array_mut()
            .unwrap()
            .truncate(1);
        m["intent_event"] = serde_json::Value::String(event.to_string());
        let bytes = serde_json::to_vec_pretty(&m).unwrap();
        files.retain(|(n, _)| n != "approvals/approver-1.sig");
        let key = m["approvals"][0]["key"].as_str().unwrap().to_owned();
        set_file(
            files,
            "approvals/allowed_signers",
            format!("exporter namespaces=\"tvault-approval@v1\" {key}\n").into_bytes(),
        );
        set_file(files, "MANIFEST.json", bytes);
    });
    // The exporter's signature was over the old manifest: it fails too.
    t.verify_export(&alone, &signer, &[])
        .code(13)
        .stderr(predicate::str::contains(
            "exporter's signature over MANIFEST.json does not verify",
        ));

    // The manifest changed after both signed (another purpose): both signatures fail.
    let changed = rebuilt(&t, &bundle, "changed.tar", &forger, |files| {
        let mut m = manifest_of(files);
        m["purpose"] = "public".into();
        set_file(
            files,
            "MANIFEST.json",
            serde_json::to_vec_pretty(&m).unwrap(),
        );
    });
    t.verify_export(&changed, &signer, &[]).code(13);

    // Keys of the forger's own in both operators' places, every signature made anew: whole
    // and consistent, so only the operators' published keys tell it apart.
    let fakes = [
        ed25519_dalek::SigningKey::from_bytes(&[0x41; 32]),
        ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]),
    ];
    let impostor = rebuilt(&t, &bundle, "impostor.tar", &forger, |files| {
        let mut m = manifest_of(files);
        let mut event: serde_json::Value =
            serde_json::from_str(m["intent_event"].as_str().unwrap()).unwrap();
        for (i, fake) in fakes.iter().enumerate() {
            let line = tvault::bundle::key_line(&fake.verifying_key());
            m["approvals"][i]["key"] = line.clone().into();
            event["detail"]["approvals"][i]["key"] = line.into();
        }
        m["intent_event"] = serde_json::Value::String(event.to_string());
        let approvals: Vec<tvault::bundle::Approval> =
            serde_json::from_value(m["approvals"].clone()).unwrap();
        let bytes = serde_json::to_vec_pretty(&m).unwrap();
        set_file(
            files,
            "approvals/allowed_signers",
            tvault::bundle::signers_text(&approvals).into_bytes(),
        );
        for (a, fake) in approvals.iter().zip(&fakes) {
            set_file(
                files,
                &tvault::bundle::sig_name(&a.role),
                tvault::bundle::ssh_sign(fake, "tvault-approval@v1", &bytes).into_bytes(),
            );
        }
        set_file(files, "MANIFEST.json", bytes);
    });
    t.verify_export(&impostor, &signer, &["--require-approvals", "2"])
        .success();
    t.verify_export(&impostor, &signer, &strict)
        .code(13)
        .stderr(predicate::str::contains(
            "0 operator signature(s) by the keys you named",
        ));

    // The genuine bundle passes the strict check.
    t.verify_export(&bundle, &common::signer(&t.tv), &strict)
        .success();
}
