//! Derived items: transcripts, translations, redactions and summaries stored beside their
//! sources with a sealed lineage, read like attachments, marked stale when their source
//! changes, released in place of a withheld source, and carried through export and import.

mod common;

use common::{TestVault, contains, files_under, signer, typed};
use predicates::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Names the redaction masks: one in the translation, one in the transcript.
const SISTER: &str = "Gülnar Ablimit";
const BROTHER: &str = "Мерует Қасымұлы";
/// The brother's name as the translation spells it.
const BROTHER_EN: &str = "Meruyet Qasimuli";

fn json(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// A record with a statement and an audio attachment, for `advocacy` and `court`, whose
/// consent withholds the witness's identity (pseudonym) and all media.
fn interview(tv: &TestVault) -> String {
    let identity = tv.identity_file("Aygül Tursunova", None, &[]);
    let st = tv.write(
        "st.txt",
        b"The statement is in the recording; the witness asked to be called Nightingale.\n",
    );
    let audio = tv.write("interview.m4a", &typed("m4a", 6_000, 5));
    tv.add(&[
        "--witness",
        "Nightingale",
        "--identity-file",
        &identity,
        "--consent",
        "advocacy,court",
        "--identity-level",
        "pseudonym",
        "--media-consent",
        "none",
        "--language",
        "ug",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        audio.to_str().unwrap(),
    ])
}

/// The transcript of the audio (Uyghur), its English translation, and a redaction of the
/// translation masking both relatives' names. Returns the three texts.
fn derive_chain(tv: &TestVault, id: &str) -> (String, String) {
    let transcript = format!(
        "Мениң сиңлим {BROTHER} билән келди. {} йоқ.\n",
        SISTER.nfd().collect::<String>()
    );
    let translation = format!(
        "My sister {} came with {BROTHER_EN}. MERUYET was taken at night.\n",
        SISTER.nfd().collect::<String>()
    );
    let t = tv.write("transcript.txt", transcript.as_bytes());
    tv.cmd()
        .args([
            "derive",
            id,
            "--kind",
            "transcript",
            "--of",
            "interview.m4a",
        ])
        .args(["--language", "ug", "--method", "manual", "--text-file"])
        .arg(&t)
        .assert()
        .success();
    let tr = tv.write("translation.txt", translation.as_bytes());
    tv.cmd()
        .args([
            "derive",
            id,
            "--kind",
            "translation",
            "--of",
            "transcript-ug.txt",
        ])
        .args([
            "--language",
            "en",
            "--method",
            "deepl 2025-01",
            "--note",
            "checked by a native speaker",
            "--text-file",
        ])
        .arg(&tr)
        .assert()
        .success();
    let out = tv
        .cmd()
        .args([
            "--json",
            "redact",
            id,
            "--of",
            "translation-en.txt",
            "--mask",
            SISTER,
            BROTHER,
            BROTHER_EN,
        ])
        .assert()
        .success();
    let summary = json(&out);
    assert_eq!(summary["kind"], "redaction");
    assert_eq!(summary["name"], "redaction-en.txt");
    assert_eq!(summary["masks"], 3);
    (transcript, translation)
}

#[test]
fn a_transcript_a_translation_and_a_redaction_are_stored_with_their_lineage() {
    let tv = TestVault::new();
    let id = interview(&tv);
    let audio = tv.cat(&id, "interview.m4a");
    let (transcript, translation) = derive_chain(&tv, &id);

    // Each is read like an attachment, exactly as stored; the redaction masks both names
    // in every form, and the originals are unchanged.
    assert_eq!(tv.cat(&id, "transcript-ug.txt"), transcript.as_bytes());
    assert_eq!(tv.cat(&id, "translation-en.txt"), translation.as_bytes());
    let redacted = String::from_utf8(tv.cat(&id, "redaction-en.txt")).unwrap();
    assert_eq!(
        redacted,
        "My sister [REDACTED] came with [REDACTED]. [REDACTED] was taken at night.\n"
    );
    assert_eq!(tv.cat(&id, "interview.m4a"), audio);

    // Three derivations, three new versions; the statement and audio are carried.
    let out = tv.cmd().args(["--json", "history", &id]).assert().success();
    let versions = json(&out);
    assert_eq!(versions.as_array().unwrap().len(), 4);
    assert_eq!(versions[3]["attachments"][0]["carried_from"], 1);
    assert_eq!(versions[3]["derived"].as_array().unwrap().len(), 3);

    // `show` prints the tree under the audio.
    let out = tv.cmd().args(["show", &id]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let tree: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("derived items"))
        .skip(1)
        .take(4)
        .collect();
    assert_eq!(tree[0].trim(), "interview.m4a");
    assert!(
        tree[1].starts_with("   └─ transcript-ug.txt  transcript (ug) · manual"),
        "{text}"
    );
    assert!(
        tree[2].starts_with("      └─ translation-en.txt  translation (en) · deepl 2025-01"),
        "{text}"
    );
    assert!(
        tree[3]
            .starts_with("         └─ redaction-en.txt  redaction (en) · tvault redact, 3 mask(s)"),
        "{text}"
    );

    // The lineage in JSON: source by place and intake hash, operator and time.
    let out = tv.cmd().args(["--json", "show", &id]).assert().success();
    let shown = json(&out);
    let derived = shown["derived"].as_array().unwrap();
    let sha = |data: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
    assert_eq!(derived[0]["source"]["what"], "attachment");
    assert_eq!(derived[0]["source"]["name"], "interview.m4a");
    assert_eq!(derived[0]["source"]["sha256"], sha(&audio));
    assert_eq!(derived[0]["source"]["stored_at"], 1);
    assert_eq!(derived[1]["source"]["what"], "derived");
    assert_eq!(derived[1]["source"]["sha256"], sha(transcript.as_bytes()));
    assert_eq!(derived[1]["note"], "checked by a native speaker");
    assert_eq!(derived[2]["method"], "tvault redact");
    assert_eq!(derived[2]["operator"], derived[0]["operator"]);
    assert!(derived.iter().all(|d| d["stale"] == false));

    // The log shows each derivation, with no word of the masks.
    let out = tv.cmd().args(["--json", "log"]).assert().success();
    let log = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(log.matches("record-derived").count(), 3);
    assert!(!log.contains("Gülnar") && !log.contains("Ablimit"));
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn names_are_unique_sources_must_exist_and_redact_previews_without_storing() {
    let tv = TestVault::new();
    let id = interview(&tv);
    let t = tv.write("t.txt", b"words\n");
    let derive = |args: &[&str]| {
        tv.cmd()
            .args(["derive", &id])
            .args(args)
            .arg("--text-file")
            .arg(&t)
            .assert()
    };
    derive(&["--kind", "summary", "--of", "statement"]).success();
    // Taken by the summary, or by the attachment; an unknown source; not a plain name.
    derive(&["--kind", "summary", "--of", "statement"])
        .code(1)
        .stderr(predicates::str::contains("hint: choose another name"));
    derive(&[
        "--kind",
        "summary",
        "--of",
        "statement",
        "--name",
        "interview.m4a",
    ])
    .code(1);
    derive(&[
        "--kind",
        "summary",
        "--of",
        "nothing.txt",
        "--name",
        "s2.txt",
    ])
    .code(1)
    .stderr(predicates::str::contains("--of takes `statement`"));
    derive(&["--kind", "summary", "--of", "statement", "--name", "a/b"]).code(2);
    derive(&["--kind", "gist", "--of", "statement"]).code(2);

    // An audio is no text to redact; a mask that matches nothing stores nothing.
    tv.cmd()
        .args(["redact", &id, "--of", "interview.m4a", "--mask", "x"])
        .assert()
        .code(1);
    tv.cmd()
        .args(["redact", &id, "--of", "statement", "--mask", "Nobody"])
        .assert()
        .code(1);
    // The preview says what would go and stores nothing, but its read is logged.
    let before = json(&tv.cmd().args(["--json", "history", &id]).assert().success());
    let out = tv
        .cmd()
        .args([
            "redact",
            &id,
            "--of",
            "statement",
            "--mask",
            "NIGHTINGALE",
            "--preview",
        ])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(out.get_output().stdout.clone()).unwrap(),
        "line 1: Nightingale\n"
    );
    let after = json(&tv.cmd().args(["--json", "history", &id]).assert().success());
    assert_eq!(
        before.as_array().unwrap().len(),
        after.as_array().unwrap().len()
    );
    let log = String::from_utf8(
        tv.cmd()
            .args(["--json", "log"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(log.contains("\"preview\""), "the preview's read is logged");
}

#[test]
fn a_derivation_whose_source_changed_is_carried_as_stale_and_reported() {
    let tv = TestVault::new();
    let id = interview(&tv);
    derive_chain(&tv, &id);
    let s = tv.write("summary.txt", b"A summary.\n");
    tv.cmd()
        .args([
            "derive",
            &id,
            "--kind",
            "summary",
            "--of",
            "statement",
            "--text-file",
        ])
        .arg(&s)
        .assert()
        .success();
    // A new recording replaces the audio: its transcript, the translation and the
    // redaction go stale; the summary of the unchanged statement does not.
    let audio = tv.write("interview.m4a", &typed("m4a", 6_000, 9));
    tv.cmd()
        .args(["amend", &id, "--attach"])
        .arg(&audio)
        .assert()
        .success();
    let shown = json(&tv.cmd().args(["--json", "show", &id]).assert().success());
    let stale: Vec<(&str, bool)> = shown["derived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["stale"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        stale,
        [
            ("transcript-ug.txt", true),
            ("translation-en.txt", true),
            ("redaction-en.txt", true),
            ("summary.txt", false)
        ]
    );
    let out = tv.cmd().args(["show", &id]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(
        text.matches("[STALE: its source changed after it was made]")
            .count(),
        3,
        "{text}"
    );
    // Still readable; what is made from a stale item is stale from the start.
    assert!(!tv.cat(&id, "transcript-ug.txt").is_empty());
    tv.cmd()
        .args([
            "derive",
            &id,
            "--kind",
            "summary",
            "--of",
            "transcript-ug.txt",
        ])
        .args(["--name", "gist.txt", "--text-file"])
        .arg(&s)
        .assert()
        .success();
    let shown = json(&tv.cmd().args(["--json", "show", &id]).assert().success());
    assert_eq!(shown["derived"][4]["name"], "gist.txt");
    assert_eq!(shown["derived"][4]["stale"], true);
    tv.cmd().arg("verify").assert().success();
}

#[test]
fn a_derived_part_moved_onto_another_record_does_not_open() {
    let tv = TestVault::new();
    let a = interview(&tv);
    let b = interview(&tv);
    let t = tv.write("t.txt", b"the transcript of a\n");
    for id in [&a, &b] {
        tv.cmd()
            .args([
                "derive",
                id,
                "--kind",
                "transcript",
                "--of",
                "interview.m4a",
                "--text-file",
            ])
            .arg(&t)
            .assert()
            .success();
    }
    let conn = tv.conn();
    let bytes = |id: &str| hex::decode(id).unwrap();
    // Both transcripts are part 2 of version 2: b's is replaced by a's rows.
    conn.execute(
        "DELETE FROM chunk WHERE part_id IN (SELECT id FROM part WHERE record_id = ?1 AND version = 2)",
        [bytes(&b)],
    )
    .unwrap();
    let deleted = conn
        .execute(
            "DELETE FROM part WHERE record_id = ?1 AND version = 2",
            [bytes(&b)],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    let moved = conn
        .execute(
            "UPDATE part SET record_id = ?1 WHERE record_id = ?2 AND version = 2",
            [bytes(&b), bytes(&a)],
        )
        .unwrap();
    assert_eq!(moved, 1);
    drop(conn);
    let out = tv
        .cmd()
        .args(["cat", &b, "transcript.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(13));
    assert!(out.stdout.is_empty());
}

/// `export --purpose advocacy --prefer redaction` to a new age key, opened with
/// `open-export`. Returns the bundle, the folder and the key file.
fn export_for_advocacy(
    tv: &TestVault,
    name: &str,
    id: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let key = age::x25519::Identity::generate();
    let key_file = tv.write(
        &format!("{name}.key"),
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let bundle = tv.path(&format!("{name}.tar"));
    tv.cmd()
        .args([
            "export",
            "--purpose",
            "advocacy",
            "--prefer",
            "redaction",
            id,
        ])
        .arg("--recipient")
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let into = tv.path(name);
    tv.cmd()
        .arg("open-export")
        .arg(&bundle)
        .arg("--into")
        .arg(&into)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer(tv)])
        .assert()
        .success();
    (bundle, into, key_file)
}

/// The decrypted payload (the inner tar) of a bundle.
fn payload(bundle: &std::path::Path, key_file: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut outer = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut sealed = Vec::new();
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("payload.age") {
            entry.read_to_end(&mut sealed).unwrap();
        }
    }
    let identity: age::x25519::Identity = std::fs::read_to_string(key_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let decryptor = age::Decryptor::new(&sealed[..]).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

#[test]
fn an_advocacy_export_releases_the_redacted_translation_and_nothing_it_masked() {
    let tv = TestVault::new();
    let id = interview(&tv);
    let audio = tv.cat(&id, "interview.m4a");
    let (transcript, translation) = derive_chain(&tv, &id);
    let (bundle, into, key_file) = export_for_advocacy(&tv, "advocacy", &id);

    // The redacted translation leaves; the audio, the transcript and the translation stay
    // behind, listed as withheld with why.
    let base = format!("records/{id}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "tvault-export/v5");
    let rec = &manifest["records"][0];
    assert_eq!(rec["derived"], serde_json::json!(["redaction-en.txt"]));
    assert_eq!(rec["attachments"], serde_json::json!([]));
    let withheld: Vec<(String, String)> = manifest["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["what"].as_str().unwrap().to_owned(),
                w["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for item in [
        ("attachment", "interview.m4a"),
        ("derived", "transcript-ug.txt"),
        ("derived", "translation-en.txt"),
        ("identity", ""),
    ] {
        assert!(
            withheld.contains(&(item.0.into(), item.1.into())),
            "{item:?} in {withheld:?}"
        );
    }
    let released =
        std::fs::read_to_string(into.join(&base).join("derived/redaction-en.txt")).unwrap();
    assert_eq!(
        released,
        "My sister [REDACTED] came with [REDACTED]. [REDACTED] was taken at night.\n"
    );
    assert!(!into.join(&base).join("attachments").exists());

    // The lineage travels: every step up to the audio, which of them left, and no hash or
    // size of anything.
    let lineage: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.join(&base).join("lineage.json")).unwrap())
            .unwrap();
    assert_eq!(lineage, rec["lineage"]);
    let steps: Vec<(&str, &str, bool, &str)> = lineage
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap(),
                n["kind"].as_str().unwrap(),
                n["released"].as_bool().unwrap(),
                n["language"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("transcript-ug.txt", "transcript", false, "ug"),
            ("translation-en.txt", "translation", false, "en"),
            ("redaction-en.txt", "redaction", true, "en"),
        ]
    );
    assert_eq!(lineage[0]["source"], "attachment");
    assert_eq!(lineage[0]["source_name"], "interview.m4a");
    assert_eq!(lineage[0]["source_released"], false);
    assert_eq!(lineage[2]["method"], "tvault redact");
    assert!(!lineage.to_string().contains("sha256") && !lineage.to_string().contains("size"));
    let report = std::fs::read_to_string(into.join("REPORT.html")).unwrap();
    assert!(report.contains("Derived items and their lineage"));
    assert!(
        report.contains("<b>redaction-en.txt</b>: redaction"),
        "{report}"
    );

    // The canary scan: no byte of a masked name in any form, of the withheld texts or of
    // the audio, and no hash of them, in the bundle, its payload or anything opened.
    let sha = |data: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data));
    let mut canaries: Vec<Vec<u8>> = Vec::new();
    for name in [SISTER, BROTHER, BROTHER_EN] {
        for part in std::iter::once(name).chain(name.split(' ')) {
            for form in [part.nfc().collect::<String>(), part.nfd().collect()] {
                canaries.push(form.to_lowercase().into_bytes());
                canaries.push(form.to_uppercase().into_bytes());
                canaries.push(form.into_bytes());
            }
        }
    }
    canaries.push(audio[100..164].to_vec());
    for withheld in [&audio[..], transcript.as_bytes(), translation.as_bytes()] {
        canaries.push(sha(withheld).into_bytes());
    }
    let mut holders = vec![
        ("bundle".to_owned(), std::fs::read(&bundle).unwrap()),
        ("payload".to_owned(), payload(&bundle, &key_file)),
    ];
    for f in files_under(&into) {
        holders.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    for (holder, bytes) in &holders {
        for c in &canaries {
            assert!(
                !contains(bytes, c),
                "{holder} holds {:?}",
                String::from_utf8_lossy(c)
            );
        }
    }
}

#[test]
fn lineage_survives_export_and_import() {
    let tv = TestVault::new();
    let id = interview(&tv);
    derive_chain(&tv, &id);
    let (bundle, _, key_file) = export_for_advocacy(&tv, "bundle", &id);
    let hq = TestVault::new();
    hq.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer(&tv)])
        .assert()
        .success();
    let shown = json(&hq.cmd().args(["--json", "show", &id]).assert().success());
    let derived = shown["derived"].as_array().unwrap();
    assert_eq!(derived.len(), 1);
    let r = &derived[0];
    assert_eq!(r["name"], "redaction-en.txt");
    assert_eq!(r["kind"], "redaction");
    assert_eq!(r["method"], "tvault redact");
    assert_eq!(r["masks"], 3);
    assert_eq!(r["language"], "en");
    // Its source stayed behind: named, never hashed; the steps above it kept.
    assert_eq!(r["source"]["what"], "derived");
    assert_eq!(r["source"]["name"], "translation-en.txt");
    assert_eq!(r["source"]["sha256"], serde_json::Value::Null);
    let upstream: Vec<(&str, &str)> = r["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["kind"].as_str().unwrap(), u["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        upstream,
        [("translation", "deepl 2025-01"), ("transcript", "manual")]
    );
    assert_eq!(r["upstream"][1]["source_name"], "interview.m4a");
    assert_eq!(
        String::from_utf8(hq.cat(&id, "redaction-en.txt")).unwrap(),
        "My sister [REDACTED] came with [REDACTED]. [REDACTED] was taken at night.\n"
    );
    let text = String::from_utf8(
        hq.cmd()
            .args(["show", &id])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(
        text.contains("└─ redaction-en.txt  redaction (en) · tvault redact"),
        "{text}"
    );
    assert!(
        text.contains("(made from translation translation-en.txt (en), deepl 2025-01"),
        "{text}"
    );
    hq.cmd().arg("verify").assert().success();
    // Importing the same bundle again changes nothing.
    hq.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer(&tv)])
        .assert()
        .success();
}

#[test]
fn a_reviewed_redaction_of_the_statement_leaves_in_its_place_and_imports_without_it() {
    let tv = TestVault::new();
    let identity = tv.identity_file("Aygül Tursunova", None, &[]);
    let st = tv.write(
        "st.txt",
        format!("I am Aygül Tursunova. My neighbour {SISTER} saw it.\n").as_bytes(),
    );
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--identity-file",
        &identity,
        "--consent",
        "advocacy",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    tv.cmd()
        .args(["redact", &id, "--of", "statement", "--mask", SISTER])
        .assert()
        .success();
    let (bundle, into, key_file) = export_for_advocacy(&tv, "bundle", &id);
    let base = into.join(format!("records/{id}"));
    // The statement stays behind; its reviewed redaction leaves, the witness's own name
    // replaced by the automatic redaction too.
    assert!(!base.join("statement.txt").exists());
    assert_eq!(
        std::fs::read_to_string(base.join("derived/redaction.txt")).unwrap(),
        "I am Nightingale. My neighbour [REDACTED] saw it.\n"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.join("MANIFEST.json")).unwrap()).unwrap();
    let rec = &manifest["records"][0];
    assert!(rec["intake_sha256"].get("0").is_none());
    assert_eq!(rec["lineage"][0]["source"], "statement");
    assert_eq!(rec["lineage"][0]["source_released"], false);
    assert!(
        manifest["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["what"] == "statement"
                && w["why"].as_str().unwrap().contains("reviewed redaction"))
    );
    let payload = payload(&bundle, &key_file);
    for form in [SISTER.nfc().collect::<String>(), SISTER.nfd().collect()] {
        assert!(!contains(&payload, form.as_bytes()));
    }
    assert!(!contains(&payload, b"Tursunova"));

    let hq = TestVault::new();
    hq.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer(&tv)])
        .assert()
        .success();
    let shown = json(&hq.cmd().args(["--json", "show", &id]).assert().success());
    assert_eq!(shown["statement"], serde_json::Value::Null);
    assert_eq!(shown["derived"][0]["source"]["what"], "statement");
    assert_eq!(
        shown["derived"][0]["source"]["part"],
        serde_json::Value::Null
    );
    let text = String::from_utf8(
        hq.cmd()
            .args(["show", &id])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(
        text.contains("  statement  (not in this version)\n   └─ redaction.txt  redaction"),
        "{text}"
    );
}

/// Part numbers are unique within a version: an attachment added by `amend` beside a
/// carried one and a derived item does not take their numbers (once it did, and the export
/// named both attachments alike).
#[test]
fn parts_added_by_amend_take_numbers_no_listed_part_has() {
    let tv = TestVault::new();
    let a = tv.write("a.txt", b"first document\n");
    let id = tv.add(&[
        "--witness",
        "W",
        "--consent",
        "court",
        "--attach",
        a.to_str().unwrap(),
    ]);
    let t = tv.write("t.txt", b"a summary\n");
    tv.cmd()
        .args([
            "derive",
            &id,
            "--kind",
            "summary",
            "--of",
            "a.txt",
            "--text-file",
        ])
        .arg(&t)
        .assert()
        .success();
    let b = tv.write("b.txt", b"second document\n");
    tv.cmd()
        .args(["amend", &id, "--attach"])
        .arg(&b)
        .assert()
        .success();
    let history = json(&tv.cmd().args(["--json", "history", &id]).assert().success());
    let last = &history[2];
    let mut parts: Vec<u64> = last["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .chain(last["derived"].as_array().unwrap())
        .map(|p| p["part"].as_u64().unwrap())
        .collect();
    parts.sort();
    parts.dedup();
    assert_eq!(parts.len(), 3, "{last}");
    let opened = common::export_and_open(&tv, "court", &[&id, "--prefer", "summary"]);
    let manifest = opened.manifest();
    assert_eq!(
        manifest["records"][0]["attachments"],
        serde_json::json!(["a.txt", "b.txt"])
    );
    assert_eq!(
        manifest["records"][0]["derived"],
        serde_json::json!(["summary.txt"])
    );
    assert_eq!(
        opened.read(&format!("records/{id}/attachments/b.txt")),
        b"second document\n"
    );
}

#[test]
fn redacting_a_source_that_is_not_text_is_refused_and_its_read_logged() {
    let tv = TestVault::new();
    let id = interview(&tv);
    let reads = |tv: &TestVault| -> Vec<serde_json::Value> {
        json(&tv.cmd().args(["log", "--json"]).assert().success())
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["detail"]["redact"] == "not text")
            .cloned()
            .collect()
    };
    assert!(reads(&tv).is_empty());
    tv.cmd()
        .args([
            "redact",
            &id,
            "--of",
            "interview.m4a",
            "--mask",
            "Nightingale",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not UTF-8 text"));
    let logged = reads(&tv);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["action"], "attachment-read");
    // Nothing was stored: the record keeps its version.
    let shown = json(&tv.cmd().args(["show", &id, "--json"]).assert().success());
    assert_eq!(shown["version"], 1);
}

#[test]
fn a_method_naming_the_witness_leaves_redacted_like_the_metadata() {
    let tv = TestVault::new();
    let id = interview(&tv);
    let transcript = format!("Мениң сиңлим {BROTHER} билән келди.\n");
    let t = tv.write("transcript.txt", transcript.as_bytes());
    tv.cmd()
        .args([
            "derive",
            &id,
            "--kind",
            "transcript",
            "--of",
            "interview.m4a",
        ])
        .args([
            "--method",
            "manual, read back to Aygül Tursunova",
            "--text-file",
        ])
        .arg(&t)
        .assert()
        .success();
    tv.cmd()
        .args(["redact", &id, "--of", "transcript.txt", "--mask", BROTHER])
        .assert()
        .success();
    let (bundle, into, key_file) = export_for_advocacy(&tv, "advocacy", &id);
    let lineage: Vec<serde_json::Value> = files_under(&into)
        .iter()
        .filter(|f| f.ends_with(tvault::bundle::LINEAGE_FILE))
        .map(|f| serde_json::from_slice::<serde_json::Value>(&std::fs::read(f).unwrap()).unwrap())
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        lineage.iter().any(|n| n["method"]
            .as_str()
            .is_some_and(|m| m.starts_with("manual, read back to "))),
        "{lineage:?}"
    );
    for holder in [std::fs::read(&bundle).unwrap(), payload(&bundle, &key_file)] {
        for part in ["Aygül", "Tursunova"] {
            for form in [part.nfc().collect::<String>(), part.nfd().collect()] {
                assert!(!contains(&holder, form.as_bytes()), "{form} left");
            }
        }
    }
}
