//! The curious recipient: someone who holds a legitimate bundle and its key, and guesses.
//! Nothing withheld may be confirmable from what the bundle carries: no hash of a withheld
//! attachment, of the statement before its real name was replaced, or of an earlier version.

mod common;

use common::{TestVault, contains};
use sha2::{Digest, Sha256};

fn forms(data: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let raw: [u8; 32] = Sha256::digest(data).into();
    vec![
        raw.to_vec(),
        hex::encode(raw).into_bytes(),
        hex::encode_upper(raw).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(raw)
            .into_bytes(),
    ]
}

fn files_of(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    common::files_under(dir)
}

/// Exports `id` for a court, sealed to a new age key, and opens the bundle as its recipient
/// would (signer named as the sender gave it): the bundle, and the folder it opened into.
fn export_and_open(tv: &TestVault, id: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = age::x25519::Identity::generate();
    let key_file = tv.write(
        "age.key",
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let bundle = tv.path("bundle.tar");
    tv.cmd()
        .args(["export", id, "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let out = tv.cmd().args(["status", "--json"]).assert().success();
    let status: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let into = tv.path("opened");
    tv.cmd()
        .arg("open-export")
        .arg(&bundle)
        .arg("--into")
        .arg(&into)
        .arg("--identity")
        .arg(&key_file)
        .args([
            "--signer",
            status["signing_key_fingerprint"].as_str().unwrap(),
        ])
        .assert()
        .success();
    (bundle, into)
}

#[test]
fn a_bundle_carries_no_hash_of_anything_it_withholds() {
    let tv = TestVault::new();
    let identity = tv.write(
        "identity.toml",
        b"name = \"Aygul Tursunova\"\ncontact = \"a@example.org\"\n",
    );
    let first = b"First account, by Aygul Tursunova.\n".to_vec();
    let second = b"Second account: I am Aygul Tursunova and I saw it.\n".to_vec();
    let photo = common::content(5_000, 9);
    let letter = b"a letter that may leave\n".to_vec();
    let st1 = tv.write("st1.txt", &first);
    let st2 = tv.write("st2.txt", &second);
    let photo_path = tv.write("face.jpg", &photo);
    let letter_path = tv.write("letter.txt", &letter);
    let out = tv
        .cmd()
        .args(["add", "--witness", "Nightingale", "--consent", "court"])
        .arg("--identity-file")
        .arg(&identity)
        .arg("--text-file")
        .arg(&st1)
        .arg("--attach")
        .arg(&photo_path)
        .arg("--attach")
        .arg(&letter_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    tv.cmd()
        .args(["amend", &id, "--text-file"])
        .arg(&st2)
        .assert()
        .success();
    // Reading the withheld photo puts its hash in the log, on an event about this record.
    tv.cmd()
        .args(["cat", &id, "face.jpg", "-o"])
        .arg(tv.path("seen.jpg"))
        .assert()
        .success();

    let (bundle, into) = export_and_open(&tv, &id);

    // What left: the redacted statement and the letter, and nothing else of content.
    let base = into.join("records").join(&id);
    let delivered = std::fs::read_to_string(base.join("statement.txt")).unwrap();
    assert!(!delivered.contains("Aygul"), "the real name left");
    assert!(!base.join("attachments/face.jpg").exists());
    assert_eq!(
        std::fs::read(base.join("attachments/letter.txt")).unwrap(),
        letter
    );

    // Withheld: the photo, the statement as recorded (both versions). None of their hashes,
    // in any spelling, is anywhere in the bundle or in what it decrypts to.
    let mut haystacks = vec![(bundle.clone(), std::fs::read(&bundle).unwrap())];
    for f in files_of(&into) {
        haystacks.push((f.clone(), std::fs::read(&f).unwrap()));
    }
    for (what, data) in [
        ("the withheld photo", &photo),
        ("the statement before redaction", &second),
        ("the earlier version's statement", &first),
    ] {
        for form in forms(data) {
            for (file, bytes) in &haystacks {
                assert!(
                    !contains(bytes, &form),
                    "{} holds a hash of {what}",
                    file.display()
                );
            }
        }
    }
    // The letter that did leave is listed with its hash, so the test looks where hashes are.
    let letter_hex = hex::encode(Sha256::digest(&letter));
    let manifest = std::fs::read_to_string(into.join("MANIFEST.json")).unwrap();
    assert!(manifest.contains(&letter_hex));
}

#[test]
fn an_anonymous_witness_travels_under_a_label_without_pseudonym_interviewer_or_place() {
    let tv = TestVault::new();
    let st = tv.write(
        "st.txt",
        b"Nightingale told Interviewer Okonkwo what happened in Placeville.\n",
    );
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--interviewer",
        "Okonkwo",
        "--location",
        "Placeville",
        "--consent",
        "court",
        "--identity-level",
        "anonymous",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    let (bundle, into) = export_and_open(&tv, &id);
    let base = into.join("records").join(&id);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(base.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["metadata"]["witness"], "witness-1");
    assert!(meta["metadata"]["interviewer"].is_null());
    assert!(meta["metadata"]["location"].is_null());
    let statement = std::fs::read_to_string(base.join("statement.txt")).unwrap();
    assert!(statement.starts_with("witness-1 told"), "{statement}");
    let manifest = std::fs::read_to_string(into.join("MANIFEST.json")).unwrap();
    for what in ["\"pseudonym\"", "\"interviewer\"", "\"location\""] {
        assert!(manifest.contains(what), "{what} not listed as withheld");
    }
    // The pseudonym, interviewer and place are nowhere in what the recipient holds. (The
    // statement itself still names the interviewer: redaction covers the witness only.)
    for f in files_of(&into).into_iter().chain([bundle.clone()]) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, b"Nightingale"), "{}", f.display());
        if !f.ends_with("statement.txt") {
            assert!(!contains(&bytes, b"Okonkwo"), "{}", f.display());
            assert!(!contains(&bytes, b"Placeville"), "{}", f.display());
        }
    }
}
