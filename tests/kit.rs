//! Field kits through the real binary: a kit records testimony sealed to headquarters and
//! cannot read it back; headquarters takes in only bundles it can trust (its own kit, signed,
//! whole, with a log that only grew), and only its own receipt deletes anything on a kit.
//!
//! Headquarters is a [`TestVault`]; a kit is a second file in the same folder, with its own
//! passphrase file, run with the same HOME and TMPDIR.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{CHEAP_KDF, KIT_PASSPHRASE, TestVault, contains, content, files_under};
use predicates::prelude::*;
use sha2::Digest;

const REFUSAL: &str = "this is a field kit: records can be read only at headquarters";

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).expect("stdout is one JSON document")
}

/// A field kit made by `hq`, run in `hq`'s environment.
struct Kit<'a> {
    hq: &'a TestVault,
    path: PathBuf,
    pass: PathBuf,
}

impl<'a> Kit<'a> {
    /// `kit create NAME` at `hq`, with cheap KDF parameters.
    fn create(hq: &'a TestVault, name: &str) -> Kit<'a> {
        let pass = hq.write(
            &format!("{name}.pass"),
            format!("{KIT_PASSPHRASE}\n").as_bytes(),
        );
        let path = hq.path(&format!("{name}.tvault"));
        hq.cmd()
            .args(["kit", "create", name, "-o"])
            .arg(&path)
            .arg("--new-passphrase-file")
            .arg(&pass)
            .args(CHEAP_KDF)
            .assert()
            .success();
        Kit { hq, path, pass }
    }

    /// The same kit's passphrase, on another file of it (a copy kept somewhere else).
    fn at(&self, path: PathBuf) -> Kit<'a> {
        Kit {
            hq: self.hq,
            path,
            pass: self.pass.clone(),
        }
    }

    /// `tvault --vault KIT --passphrase-file KP …`
    fn cmd(&self) -> Command {
        let mut cmd = self.hq.bare_cmd();
        cmd.arg("--vault")
            .arg(&self.path)
            .arg("--passphrase-file")
            .arg(&self.pass);
        cmd
    }

    /// `add` on the kit; returns the new record id.
    fn add(&self, args: &[&str]) -> String {
        let out = self.cmd().arg("add").args(args).assert().success();
        let id = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let id = id.trim().to_owned();
        assert_eq!(id.len(), 32, "add prints a full id: {id:?}");
        id
    }

    /// `add` of a short statement (`seed` makes it distinct).
    fn add_statement(&self, seed: u8) -> String {
        let st = self.hq.write(
            &format!("st-{seed}.txt"),
            format!("Statement number {seed}, recorded in the field.\n").as_bytes(),
        );
        self.add(&[
            "--witness",
            &format!("W{seed}"),
            "--consent",
            "court",
            "--text-file",
            st.to_str().unwrap(),
        ])
    }

    /// `kit send -o NAME` in the test folder; returns the bundle's path.
    fn send(&self, name: &str) -> PathBuf {
        let out = self.hq.path(name);
        self.cmd()
            .args(["kit", "send", "-o"])
            .arg(&out)
            .assert()
            .success();
        out
    }

    fn confirm(&self, receipt: &Path) -> assert_cmd::assert::Assert {
        self.cmd().args(["kit", "confirm"]).arg(receipt).assert()
    }

    /// The record ids `list --json` shows on the kit.
    fn ids(&self) -> Vec<String> {
        let out = self.cmd().args(["list", "--json"]).assert().success();
        json(&out.get_output().stdout)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn journal(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push("-journal");
        PathBuf::from(name)
    }
}

/// `import BUNDLE --json` at `hq`.
fn import(hq: &TestVault, bundle: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    hq.cmd()
        .arg("import")
        .arg(bundle)
        .arg("--json")
        .args(extra)
        .assert()
}

/// Imports `bundle`, which must succeed; returns its summary.
fn imported(hq: &TestVault, bundle: &Path) -> serde_json::Value {
    json(&import(hq, bundle, &[]).success().get_output().stdout)
}

fn receipt_of(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".receipt");
    PathBuf::from(name)
}

/// The record ids `list --json` shows at `tv`.
fn hq_ids(tv: &TestVault) -> Vec<String> {
    let out = tv.cmd().args(["list", "--json"]).assert().success();
    json(&out.get_output().stdout)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every event `log --json` shows, with the given vault and passphrase file.
fn log(mut cmd: Command) -> Vec<serde_json::Value> {
    let out = cmd.args(["log", "--json"]).assert().success();
    json(&out.get_output().stdout).as_array().unwrap().clone()
}

fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Each entry of a tar file: name, where its data starts, and its size.
fn tar_entries(bytes: &[u8]) -> Vec<(String, usize, usize)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                e.raw_file_position() as usize,
                e.size() as usize,
            )
        })
        .collect()
}

/// A copy of `bundle` with one byte flipped in the middle of its entry `name`.
fn flipped(tv: &TestVault, bundle: &Path, name: &str, out: &str) -> PathBuf {
    let mut bytes = std::fs::read(bundle).unwrap();
    let (_, start, size) = tar_entries(&bytes)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("the bundle has no {name}"));
    assert!(size > 0);
    bytes[start + size / 2] ^= 0x01;
    tv.write(out, &bytes)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn kit_round_trip_delivers_exact_bytes_with_provenance_and_empties_the_kit() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let statement = b"The bus was stopped at the checkpoint at dawn.\n";
    let st = hq.write("st.txt", statement);
    let attachment = content(64 << 20, 7);
    let att = hq.write("interview.m4a", &attachment);
    let id = kit.add(&[
        "--witness",
        "W1",
        "--title",
        "At the checkpoint",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);
    assert_eq!(kit.ids(), std::slice::from_ref(&id));

    let bundle = kit.send("east-1.tkit");
    let summary = imported(&hq, &bundle);
    assert_eq!(summary["imported"], serde_json::json!([id]));
    assert_eq!(summary["held"], 0);
    let receipt = receipt_of(&bundle);
    assert!(
        receipt.exists(),
        "import writes the receipt beside the bundle"
    );
    kit.confirm(&receipt).success();

    // The kit is empty.
    assert!(kit.ids().is_empty());
    let out = kit.cmd().args(["list", "--json"]).assert().success();
    assert_eq!(json(&out.get_output().stdout), serde_json::json!([]));

    // Headquarters reads it, with where it came from.
    let shown = hq.cmd().args(["show", &id]).assert().success();
    let shown = String::from_utf8(shown.get_output().stdout.clone()).unwrap();
    assert!(shown.contains("The bus was stopped at the checkpoint at dawn."));
    assert!(
        shown.contains("recorded on field kit east by field"),
        "show names the kit and its operator: {shown}"
    );
    let out = hq.cmd().args(["show", &id, "--json"]).assert().success();
    let doc = json(&out.get_output().stdout);
    assert_eq!(doc["origin"]["field_kit"], "east");
    assert_eq!(doc["origin"]["kit_operator"], "field");
    let history = hq.cmd().args(["history", &id]).assert().success();
    let history = String::from_utf8(history.get_output().stdout.clone()).unwrap();
    assert!(
        history.contains("recorded on field kit east by field"),
        "history names the kit: {history}"
    );
    assert!(hq.cat(&id, "interview.m4a") == attachment, "exact bytes");
    hq.cmd().arg("verify").assert().success();
    kit.cmd().arg("verify").assert().success();
}

#[test]
fn a_kit_and_its_bundle_hold_no_canary_and_its_log_no_plaintext_hash() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let canaries: [&str; 6] = [
        "CANARYSTATEMENTqzx41",
        "CANARYTITLEqzx42",
        "CANARYPSEUDONYMqzx43",
        "CANARYREALNAMEqzx44",
        "CANARYATTACHMENTqzx45",
        "CANARYFILENAMEqzx46",
    ];
    let statement = format!("The witness said {} twice.\n", canaries[0]);
    let st = hq.write("st.txt", statement.as_bytes());
    let mut attachment = canaries[4].repeat(100).into_bytes();
    attachment.extend(content(50_000, 3));
    let att = hq.write(&format!("{}.jpg", canaries[5]), &attachment);
    let identity = hq.identity_file(canaries[3], None, &[]);
    let id = kit.add(&[
        "--witness",
        canaries[2],
        "--title",
        canaries[1],
        "--identity-file",
        &identity,
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);

    let scan = |when: &str, extra: &[PathBuf]| {
        let mut files = vec![kit.path.clone(), kit.journal()];
        files.extend(files_under(&hq.tmp));
        files.extend(extra.iter().cloned());
        for file in files.iter().filter(|f| f.exists()) {
            let bytes = std::fs::read(file).unwrap();
            for canary in canaries {
                assert!(
                    !contains(&bytes, canary.as_bytes()),
                    "{when}: {canary} is in {}",
                    file.display()
                );
            }
        }
    };
    scan("after add", &[]);
    let bundle = kit.send("east.tkit");
    scan("after kit send", std::slice::from_ref(&bundle));

    // Whoever has the kit's passphrase reads its log: no canary, and no hash of the
    // plaintext to confirm a known file with.
    let kit_log = log(kit.cmd())
        .iter()
        .map(|e| e.to_string())
        .collect::<String>();
    for canary in canaries {
        assert!(!kit_log.contains(canary), "the kit's log holds {canary}");
    }
    imported(&hq, &bundle);
    let out = hq.cmd().args(["show", &id, "--json"]).assert().success();
    let doc = json(&out.get_output().stdout);
    let mut hashes = vec![
        sha256_hex(statement.as_bytes()),
        sha256_hex(&attachment),
        doc["statement_sha256"].as_str().unwrap().to_owned(),
    ];
    hashes.extend(
        doc["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["sha256"].as_str().unwrap().to_owned()),
    );
    assert!(hashes.contains(&sha256_hex(&attachment)) && hashes.len() == 4);
    for hash in &hashes {
        assert!(
            !kit_log.contains(hash.as_str()),
            "the kit's log holds the plaintext hash {hash}"
        );
    }
}

#[test]
fn reading_commands_on_a_kit_exit_2_without_asking_for_a_passphrase() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let st = hq.write("st.txt", b"Text.\n");
    let att = hq.write("a.bin", &content(1000, 1));
    let id = kit.add(&[
        "--witness",
        "W",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);
    let before = std::fs::read(&kit.path).unwrap();
    let st = st.to_str().unwrap();
    let age_key = age::x25519::Identity::generate().to_public().to_string();
    let out = hq.path("out.tar");
    let out = out.to_str().unwrap();
    let commands: [&[&str]; 8] = [
        &["show", &id],
        &["cat", &id, "a.bin"],
        &["search", "Text"],
        &[
            "export",
            &id,
            "--purpose",
            "court",
            "-o",
            out,
            "--recipient",
            &age_key,
        ],
        &["amend", &id, "--text-file", st],
        &["history", &id],
        &["shred", &id, "--reason", "test"],
        &["rekey", "--yes"],
    ];
    for args in commands {
        // No passphrase source and no terminal: anything that asked would exit 14.
        hq.bare_cmd()
            .arg("--vault")
            .arg(&kit.path)
            .arg("--no-input")
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(REFUSAL));
        kit.cmd()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(REFUSAL));
    }
    assert!(
        std::fs::read(&kit.path).unwrap() == before,
        "a refused command changes nothing on the kit"
    );
    assert!(!Path::new(out).exists());
}

/// Asserts that importing `bundle` at `hq` is refused (13) and imports nothing.
fn assert_refused(hq: &TestVault, bundle: &Path, why: &str) {
    let ids = hq_ids(hq);
    let events = log(hq.cmd()).len();
    import(hq, bundle, &[]).code(13);
    assert_eq!(hq_ids(hq), ids, "{why}: nothing imported");
    let log = log(hq.cmd());
    // Since the count: the refused import, then the listing and this reading of the log.
    assert!(
        !actions(&log[events..]).contains(&"record-imported".to_owned()),
        "{why}: the log has no record-imported"
    );
    assert!(
        !actions(&log[events..]).contains(&"kit-imported".to_owned()),
        "{why}: the log has no kit-imported"
    );
}

#[test]
fn a_bundle_from_a_revoked_kit_is_refused_unless_accepted_with_a_reason() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let id = kit.add_statement(1);
    hq.cmd()
        .args(["kit", "revoke", "east", "--reason", "seized at the border"])
        .assert()
        .success();
    let bundle = kit.send("east.tkit");
    assert_refused(&hq, &bundle, "revoked kit");
    import(&hq, &bundle, &[])
        .code(13)
        .stderr(predicate::str::contains("was revoked"));
    let out = import(
        &hq,
        &bundle,
        &["--accept-revoked", "--reason", "the kit came back to us"],
    )
    .success();
    assert_eq!(
        json(&out.get_output().stdout)["imported"],
        serde_json::json!([id])
    );
    let log = log(hq.cmd());
    let accepted = log
        .iter()
        .find(|e| e["action"] == "kit-revoked-accepted")
        .expect("the log has kit-revoked-accepted");
    assert_eq!(accepted["detail"]["reason"], "the kit came back to us");
}

#[test]
fn a_bundle_from_a_kit_of_another_vault_is_refused() {
    let hq = TestVault::new();
    let _ours = Kit::create(&hq, "east");
    let other_hq = TestVault::new();
    let theirs = Kit::create(&other_hq, "east");
    theirs.add_statement(1);
    let bundle = theirs.send("theirs.tkit");
    assert_refused(&hq, &bundle, "another vault's kit");
    import(&hq, &bundle, &[])
        .code(13)
        .stderr(predicate::str::contains(
            "not from a field kit of this vault",
        ));
}

#[test]
fn a_rewound_kit_and_a_replayed_bundle_are_refused() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    kit.add_statement(1);
    let first = kit.send("first.tkit");
    // A copy of the kit as it was, kept at another path.
    let copy = hq.path("copy.tvault");
    std::fs::copy(&kit.path, &copy).unwrap();
    kit.add_statement(2);
    let second = kit.send("second.tkit");
    assert_eq!(
        imported(&hq, &second)["imported"].as_array().unwrap().len(),
        2
    );

    // The older bundle, replayed after the newer one.
    assert_refused(&hq, &first, "replayed bundle");
    import(&hq, &first, &[])
        .code(13)
        .stderr(predicate::str::contains(
            "older than the one already imported",
        ));

    // The old copy records something else and sends: its log forks from the one imported.
    // (Whoever restores it accepts that its anchor is missing, as the kit would ask.)
    let rewound = kit.at(copy);
    rewound
        .cmd()
        .args(["--accept-missing-anchor", "list"])
        .assert()
        .success();
    rewound.add_statement(3);
    let forked = rewound.send("forked.tkit");
    assert_refused(&hq, &forked, "rewound kit");
    import(&hq, &forked, &[])
        .code(13)
        .stderr(predicate::str::contains("does not extend"));
}

#[test]
fn a_bundle_altered_by_one_byte_is_refused() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let st = hq.write("st.txt", b"Text.\n");
    let att = hq.write("a.bin", &content(5000, 2));
    let id = kit.add(&[
        "--witness",
        "W",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        att.to_str().unwrap(),
    ]);
    let bundle = kit.send("east.tkit");
    for (n, entry) in [
        format!("records/{id}/part-1.age"),
        format!("records/{id}/part-0.age"),
        format!("records/{id}/meta.age"),
        "manifest.age".to_owned(),
        "FORMAT".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let altered = flipped(&hq, &bundle, entry, &format!("altered-{n}.tkit"));
        assert_refused(&hq, &altered, entry);
    }
    // The bundle as sent still imports.
    assert_eq!(imported(&hq, &bundle)["imported"], serde_json::json!([id]));
}

#[test]
fn importing_the_same_bundle_twice_imports_nothing_the_second_time() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    kit.add_statement(1);
    kit.add_statement(2);
    let bundle = kit.send("east.tkit");
    assert_eq!(
        imported(&hq, &bundle)["imported"].as_array().unwrap().len(),
        2
    );
    let ids = hq_ids(&hq);
    let again = imported(&hq, &bundle);
    assert_eq!(again["imported"], serde_json::json!([]));
    assert_eq!(again["held"], 2);
    assert_eq!(hq_ids(&hq), ids);
}

/// A receipt whose body was edited by `edit`, signature kept.
fn edited_receipt(
    tv: &TestVault,
    receipt: &Path,
    name: &str,
    edit: impl Fn(&str) -> String,
) -> PathBuf {
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(receipt).unwrap()).unwrap();
    let body = doc["body"].as_str().unwrap().to_owned();
    let changed = edit(&body);
    assert_ne!(changed, body, "{name}: the edit changes the body");
    doc["body"] = changed.into();
    tv.write(name, doc.to_string().as_bytes())
}

#[test]
fn a_forged_receipt_deletes_nothing() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let id = kit.add_statement(1);
    let bundle = kit.send("east.tkit");
    imported(&hq, &bundle);
    let receipt = receipt_of(&bundle);

    // One hex digit of the record id changed.
    let digit = if id.starts_with('0') { "1" } else { "0" };
    let other_id = format!("{digit}{}", &id[1..]);
    let forged_id = edited_receipt(&hq, &receipt, "id.receipt", |b| b.replace(&id, &other_id));
    // The kit log size changed.
    let forged_size = edited_receipt(&hq, &receipt, "size.receipt", |b| {
        let doc: serde_json::Value = serde_json::from_str(b).unwrap();
        let size = doc["kit_log_size"].as_u64().unwrap();
        b.replace(
            &format!("\"kit_log_size\": {size}"),
            &format!("\"kit_log_size\": {}", size + 1),
        )
    });
    // The genuine body, signed by a key that is not headquarters'.
    let forged_key = {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
        let body = doc["body"].as_str().unwrap().to_owned();
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let mut msg = b"tvault kit receipt v1\0".to_vec();
        msg.extend_from_slice(body.as_bytes());
        let sig = ed25519_dalek::Signer::sign(&key, &msg);
        doc["signature"] =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sig.to_bytes())
                .into();
        hq.write("key.receipt", doc.to_string().as_bytes())
    };
    // A genuine receipt from another headquarters, for its own kit of the same name.
    let other_hq = TestVault::new();
    let theirs = Kit::create(&other_hq, "east");
    theirs.add_statement(1);
    let their_bundle = theirs.send("theirs.tkit");
    imported(&other_hq, &their_bundle);
    let not_json = hq.write("garbage.receipt", b"this is not a receipt\n");

    for forged in [
        forged_id,
        forged_size,
        forged_key,
        receipt_of(&their_bundle),
        not_json,
    ] {
        kit.confirm(&forged).code(13);
        assert_eq!(
            kit.ids(),
            std::slice::from_ref(&id),
            "{}: nothing deleted",
            forged.display()
        );
    }
    kit.cmd().arg("verify").assert().success();
    // The genuine receipt still confirms.
    kit.confirm(&receipt).success();
    assert!(kit.ids().is_empty());
}

#[test]
fn sending_again_carries_only_the_records_not_yet_confirmed() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    kit.add_statement(1);
    kit.add_statement(2);
    let first = kit.send("first.tkit");
    assert_eq!(
        imported(&hq, &first)["imported"].as_array().unwrap().len(),
        2
    );
    kit.confirm(&receipt_of(&first)).success();
    assert!(kit.ids().is_empty());

    let third = kit.add_statement(3);
    let second = kit.send("second.tkit");
    let records: std::collections::BTreeSet<String> = tar_entries(&std::fs::read(&second).unwrap())
        .into_iter()
        .filter_map(|(name, _, _)| {
            name.strip_prefix("records/")
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        records.into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&third)
    );
    let summary = imported(&hq, &second);
    assert_eq!(summary["imported"], serde_json::json!([third]));
    assert_eq!(summary["held"], 0);
    assert_eq!(hq_ids(&hq).len(), 3);
    kit.confirm(&receipt_of(&second)).success();
    assert!(kit.ids().is_empty());
}

fn fingerprint(tv: &TestVault) -> String {
    common::signer(tv)
}

#[test]
fn after_hq_rekeys_a_kit_bundle_imports_and_its_receipt_confirms() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let before = fingerprint(&hq);
    hq.cmd().args(["rekey", "--yes"]).assert().success();
    assert_ne!(fingerprint(&hq), before, "rekey rotated the signing key");

    let id = kit.add_statement(1);
    let bundle = kit.send("east.tkit");
    assert_eq!(imported(&hq, &bundle)["imported"], serde_json::json!([id]));
    hq.cmd().args(["show", &id]).assert().success();
    kit.confirm(&receipt_of(&bundle)).success();
    assert!(kit.ids().is_empty());
}

#[test]
fn a_file_editor_cannot_swap_or_remove_a_kits_records_or_unmake_it() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let a = kit.add_statement(1);
    let b = kit.add_statement(2);
    let c = kit.add_statement(3);
    kit.cmd().arg("verify").assert().success();
    // The kit as it is, with its anchor: each attack below starts from it.
    let anchors = hq.dir.path().join("home/.local/state/tvault/anchors");
    let saved: Vec<(PathBuf, Vec<u8>)> = std::iter::once(kit.path.clone())
        .chain(files_under(&anchors))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(saved.len() >= 3, "the kit and both anchors");
    let restore = || {
        for (path, bytes) in &saved {
            std::fs::write(path, bytes).unwrap();
        }
        kit.cmd().arg("verify").assert().success();
    };
    let conn = || rusqlite::Connection::open(&kit.path).unwrap();
    let id = |hex: &str| hex::decode(hex).unwrap();

    // Swap the metadata of two records.
    {
        let conn = conn();
        let meta = |r: &[u8]| -> Vec<u8> {
            conn.query_row(
                "SELECT meta FROM record_version WHERE record_id = ?1",
                [r],
                |row| row.get(0),
            )
            .unwrap()
        };
        let (meta_a, meta_b) = (meta(&id(&a)), meta(&id(&b)));
        assert_ne!(meta_a, meta_b);
        let set = "UPDATE record_version SET meta = ?2 WHERE record_id = ?1";
        conn.execute(set, rusqlite::params![id(&a), meta_b])
            .unwrap();
        conn.execute(set, rusqlite::params![id(&b), meta_a])
            .unwrap();
    }
    kit.cmd().arg("verify").assert().code(13);
    kit.cmd()
        .args(["kit", "send", "-o"])
        .arg(hq.path("swapped.tkit"))
        .assert()
        .code(13);
    assert!(!hq.path("swapped.tkit").exists());

    // Remove one record's rows.
    restore();
    {
        let conn = conn();
        let c = id(&c);
        conn.execute(
            "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1)",
            [&c],
        )
        .unwrap();
        conn.execute("DELETE FROM part WHERE record_id = ?1", [&c])
            .unwrap();
        let n = conn
            .execute("DELETE FROM record_version WHERE record_id = ?1", [&c])
            .unwrap();
        assert_eq!(n, 1);
    }
    kit.cmd().arg("verify").assert().code(13);

    // Make it look like a vault.
    restore();
    conn().execute("UPDATE vault SET kit = NULL", []).unwrap();
    kit.cmd().arg("list").assert().code(13);
    kit.cmd().arg("verify").assert().code(13);
    kit.cmd().args(["show", &a]).assert().code(13);
}

#[test]
fn once_headquarters_holds_everything_the_kit_keeps_no_trace_of_what_it_recorded() {
    let hq = TestVault::new();
    let kit = Kit::create(&hq, "east");
    let first = kit.add_statement(1);
    let bundle = kit.send("b1.tkit");
    import(&hq, &bundle, &[]).success();
    // Recorded after the send: a receipt for the first record leaves it, and the log.
    let second = kit.add_statement(2);
    kit.confirm(&receipt_of(&bundle)).success();
    assert_eq!(kit.ids(), vec![second.clone()]);
    assert!(actions(&log(kit.cmd())).contains(&"record-delivered".to_owned()));

    // Once headquarters holds the second too, nothing is left and the log starts again.
    let bundle = kit.send("b2.tkit");
    import(&hq, &bundle, &[]).success();
    kit.confirm(&receipt_of(&bundle)).success();
    assert!(kit.ids().is_empty());
    let events = log(kit.cmd());
    assert_eq!(actions(&events)[0], "kit-log-restarted");
    let text = serde_json::to_string(&events).unwrap();
    for id in [&first, &second] {
        assert!(!text.contains(id.as_str()), "the log still names {id}");
    }
    let conn = rusqlite::Connection::open(&kit.path).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("tombstone"), 0);
    assert_eq!(count("record_version"), 0);
    drop(conn);
    let bytes = std::fs::read(&kit.path).unwrap();
    for id in [&first, &second] {
        assert!(
            !common::contains(&bytes, &hex::decode(id).unwrap()),
            "the kit file still holds the id {id}"
        );
    }

    // The restarted kit goes on: its next bundle imports, and its receipt confirms.
    let third = kit.add_statement(3);
    let next = kit.send("b3.tkit");
    assert_eq!(imported(&hq, &next)["imported"], serde_json::json!([third]));
    kit.confirm(&receipt_of(&next)).success();
    assert!(kit.ids().is_empty());
    assert_eq!(hq_ids(&hq).len(), 3);
}
