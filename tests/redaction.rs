//! Automatic redaction in exports: the witness's real name, its parts and aliases, in any
//! script, normalisation form or inflection, leave no trace in the statement, the metadata or
//! text attachments; documents that cannot be redacted stay behind; the manifest and the
//! export's output say that nobody reviewed the result.

mod common;

use common::{Opened, TestVault, contains, export_and_open, files_under, typed};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

const NAME: &str = "Aygül Sidorova";
const CYRILLIC: &str = "Айгүл Сидорова";
const UYGHUR: &str = "ئايگۈل سىدوروۋا";
/// A registered name of short parts: caught as a whole only.
const SHORT: &str = "Li Na";
const CONTACT: &str = "+7 700 123 4567";

/// Every spelling of `text` a leak could take: each normalisation form, in upper and lower
/// case.
fn spellings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for form in [
        text.nfc().collect::<String>(),
        text.nfd().collect(),
        text.nfkc().collect(),
        text.nfkd().collect(),
    ] {
        out.push(form.to_uppercase());
        out.push(form.to_lowercase());
        out.push(form);
    }
    out
}

/// A record whose witness goes by a Latin name, a Cyrillic and an Arabic-script alias and a
/// short registered name, with the names in its statement (partly in NFD), title, tags,
/// location and a text attachment, and a PDF beside it.
fn witness_everywhere(tv: &TestVault) -> String {
    let identity = tv.identity_file(NAME, Some(CONTACT), &[CYRILLIC, UYGHUR, SHORT]);
    let statement = format!(
        "My name is {}. Айгүлдің інісі was taken; гражданки Сидоровой no news. \
         ئايگۈلنىڭ ئاكىسى. SIDOROVA, Aygul signed. li-na is my registered name. \
         Call {CONTACT}. The neighbours stayed.\n",
        NAME.nfd().collect::<String>()
    );
    let st = tv.write("st.txt", statement.as_bytes());
    let notes = tv.write(
        "notes-Aygul.txt",
        format!(
            "Interview notes: {} cried; AYGÜL asked for water.\n",
            NAME.nfkd().collect::<String>()
        )
        .as_bytes(),
    );
    let pdf = tv.write("scan.pdf", &typed("pdf", 4_000, 3));
    let photo = tv.write("photo of Aygül Sidorova.jpg", &typed("jpeg", 4_000, 4));
    tv.add(&[
        "--witness",
        "Nightingale",
        "--identity-file",
        &identity,
        "--consent",
        "court",
        "--identity-level",
        "named",
        "--title",
        "Interview with Aygül Sidorova",
        "--tag",
        "sidorova-family",
        "--location",
        "Sidorova's house",
        "--text-file",
        st.to_str().unwrap(),
        "--attach",
        notes.to_str().unwrap(),
        "--attach",
        pdf.to_str().unwrap(),
        "--attach",
        photo.to_str().unwrap(),
    ])
}

/// Every file the recipient holds: the bundle and everything it opened into.
fn everything(o: &Opened) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(&o.into)
        .into_iter()
        .chain([o.bundle.clone()])
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect()
}

#[test]
fn every_name_and_alias_in_any_form_is_replaced_in_every_text_that_leaves() {
    let tv = TestVault::new();
    let id = witness_everywhere(&tv);
    let notes_recorded = tv.cat(&id, "notes-Aygul.txt");
    let opened = export_and_open(&tv, "b", &["--all"]);
    let base = format!("records/{id}");

    // The statement, word for word.
    let statement = String::from_utf8(opened.read(&format!("{base}/statement.txt"))).unwrap();
    assert_eq!(
        statement,
        "My name is Nightingale. Nightingale інісі was taken; гражданки Nightingale no news. \
         Nightingale ئاكىسى. Nightingale signed. Nightingale is my registered name. \
         Call +Nightingale. The neighbours stayed.\n"
    );
    let notes =
        String::from_utf8(opened.read(&format!("{base}/attachments/notes-Nightingale.txt")))
            .unwrap();
    assert_eq!(
        notes,
        "Interview notes: Nightingale cried; Nightingale asked for water.\n"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&opened.read(&format!("{base}/metadata.json"))).unwrap();
    assert_eq!(meta["metadata"]["title"], "Interview with Nightingale");
    assert_eq!(
        meta["metadata"]["tags"],
        serde_json::json!(["Nightingale-family"])
    );
    assert_eq!(meta["metadata"]["location"], "Nightingale's house");

    // No name, part of one, alias or the contact, in any spelling, anywhere.
    let mut needles: Vec<String> =
        vec![NAME.into(), CYRILLIC.into(), UYGHUR.into(), CONTACT.into()];
    for name in [NAME, CYRILLIC, UYGHUR] {
        needles.extend(name.split(' ').map(str::to_owned));
    }
    needles.extend([
        "Aygul".into(),
        "Sidorov".into(),
        "Сидоров".into(),
        "Li Na".into(),
        "li-na".into(),
    ]);
    for (file, bytes) in everything(&opened) {
        for needle in &needles {
            for spelling in spellings(needle) {
                assert!(
                    !contains(&bytes, spelling.as_bytes()),
                    "{} holds {spelling:?}",
                    file.display()
                );
            }
        }
    }

    // The manifest says what changed, that it was automatic, and that nobody reviewed it; the
    // PDF, which cannot be redacted, stayed behind.
    let manifest = opened.manifest();
    let record = &manifest["records"][0];
    assert_eq!(record["statement_redacted"], true);
    assert_eq!(
        record["redaction"],
        serde_json::json!({
            "method": "automatic",
            "reviewed": false,
            "changed": ["metadata.json", "statement.txt", "attachments/notes-Nightingale.txt"],
        })
    );
    // File names are redacted too, the withheld photo's included.
    assert_eq!(
        record["attachments"],
        serde_json::json!(["notes-Nightingale.txt"])
    );
    assert!(
        manifest["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "photo of Nightingale.jpg")
    );
    let report = String::from_utf8(opened.read("REPORT.html")).unwrap();
    assert!(
        report.contains(
            "replaced by the pseudonym or label, automatically (not reviewed by a person)"
        )
    );
    let pdf = manifest["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "scan.pdf")
        .expect("the PDF is listed as withheld");
    assert!(pdf["why"].as_str().unwrap().contains("--include-documents"));
    assert!(
        !opened
            .into
            .join(format!("{base}/attachments/scan.pdf"))
            .exists()
    );

    // The redacted attachment is listed with the hash of what it holds now, and the hash of
    // what was recorded is nowhere.
    let sums = String::from_utf8(opened.read("SHA256SUMS")).unwrap();
    assert!(sums.contains(&format!(
        "{}  {base}/attachments/notes-Nightingale.txt",
        hex::encode(Sha256::digest(notes.as_bytes()))
    )));
    let recorded: [u8; 32] = Sha256::digest(&notes_recorded).into();
    {
        use base64::Engine;
        let forms = [
            recorded.to_vec(),
            hex::encode(recorded).into_bytes(),
            base64::engine::general_purpose::STANDARD
                .encode(recorded)
                .into_bytes(),
        ];
        for (file, bytes) in everything(&opened) {
            for form in &forms {
                assert!(
                    !contains(&bytes, form),
                    "{} holds the intake hash",
                    file.display()
                );
            }
        }
    }

    // The operator is told, in JSON as in words, to review before sending.
    assert_eq!(opened.summary["redacted"][0]["record"], id.as_str());
    assert_eq!(opened.summary["redacted"][0]["reviewed"], false);
    assert!(
        opened.summary["warning"]
            .as_str()
            .unwrap()
            .contains("Review")
    );
}

#[test]
fn the_operator_is_told_to_review_and_documents_leave_only_when_asked() {
    let tv = TestVault::new();
    let id = witness_everywhere(&tv);
    let key = age::x25519::Identity::generate();
    let out = tv
        .cmd()
        .args([
            "-q",
            "export",
            "--all",
            "--purpose",
            "court",
            "--include-documents",
        ])
        .args(["--recipient", &key.to_public().to_string()])
        .arg("-o")
        .arg(tv.path("b.tar"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    // Even with --quiet.
    assert!(stderr.contains("REVIEW:"), "{stderr}");
    assert!(stderr.contains("nobody has reviewed"), "{stderr}");
    let out = tv
        .cmd()
        .args(["export", "--all", "--purpose", "court"])
        .args(["--recipient", &key.to_public().to_string()])
        .arg("-o")
        .arg(tv.path("c.tar"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        stderr.contains(&format!(
            "replaced the witness's names in {}: metadata.json, statement.txt, attachments/notes-Nightingale.txt (automatic, not reviewed)",
            &id[..12]
        )),
        "{stderr}"
    );

    // Asked for, the PDF leaves as recorded (named in the withheld list no more); the texts
    // are still redacted.
    let opened = export_and_open(&tv, "docs", &["--all", "--include-documents"]);
    let base = format!("records/{id}");
    assert_eq!(
        opened.read(&format!("{base}/attachments/scan.pdf")),
        typed("pdf", 4_000, 3)
    );
    assert!(
        !opened.manifest()["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "scan.pdf")
    );
    let statement = String::from_utf8(opened.read(&format!("{base}/statement.txt"))).unwrap();
    assert!(statement.starts_with("My name is Nightingale."));

    // The bundle imports into another vault: the redacted attachment is checked against the
    // signed sums, not against an intake hash the bundle does not carry.
    let hq = TestVault::new();
    hq.cmd()
        .arg("import")
        .arg(&opened.bundle)
        .arg("--identity")
        .arg(&opened.key_file)
        .args(["--signer", &common::signer(&tv)])
        .assert()
        .success();
    let notes = String::from_utf8(hq.cat(&id, "notes-Nightingale.txt")).unwrap();
    assert_eq!(
        notes,
        "Interview notes: Nightingale cried; Nightingale asked for water.\n"
    );
}

#[test]
fn a_named_witness_exported_with_identity_is_not_redacted() {
    let tv = TestVault::new();
    let id = witness_everywhere(&tv);
    let opened = export_and_open(&tv, "named", &["--all", "--include-identity"]);
    let base = format!("records/{id}");
    let statement = String::from_utf8(opened.read(&format!("{base}/statement.txt"))).unwrap();
    assert!(statement.contains("Сидоровой"));
    let record = &opened.manifest()["records"][0];
    assert!(record.get("redaction").is_none());
    assert_eq!(record["statement_redacted"], false);
    assert!(opened.summary.get("warning").is_none());
    assert_eq!(opened.summary["redacted"], serde_json::json!([]));
    assert!(
        opened
            .into
            .join(format!("{base}/attachments/scan.pdf"))
            .exists()
    );
}

#[test]
fn a_text_attachment_too_large_to_redact_stays_behind() {
    let tv = TestVault::new();
    let identity = tv.identity_file(NAME, None, &[]);
    let mut big = b"Aygul Sidorova wrote this. ".repeat((16 << 20) / 27 + 1);
    big.truncate((16 << 20) + 1);
    let big = tv.write("diary.txt", &big);
    let small = tv.write("small.txt", b"Aygul Sidorova\n");
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--identity-file",
        &identity,
        "--consent",
        "court",
        "--attach",
        big.to_str().unwrap(),
        "--attach",
        small.to_str().unwrap(),
    ]);
    let opened = export_and_open(&tv, "b", &["--all"]);
    let manifest = opened.manifest();
    let withheld = manifest["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "diary.txt")
        .expect("listed");
    assert!(
        withheld["why"]
            .as_str()
            .unwrap()
            .contains("too large to redact")
    );
    assert_eq!(
        opened.read(&format!("records/{id}/attachments/small.txt")),
        b"Nightingale\n"
    );
    assert!(
        !opened
            .into
            .join(format!("records/{id}/attachments/diary.txt"))
            .exists()
    );
}
