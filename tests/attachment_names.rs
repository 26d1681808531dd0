//! Attachment names that tar, `sha256sum` or another operating system treat specially: a
//! newline, a backslash, Windows-reserved characters, names longer than tar's 100-byte name
//! field. The bundle delivers each under a safe name, lists the name it was recorded under, and
//! verifies and opens like any other.

mod common;

use common::TestVault;

#[test]
fn awkward_attachment_names_export_verify_and_open() {
    let tv = TestVault::new();
    let long = format!("{}.pdf", "interview-notes-".repeat(10));
    let names = [
        "line\nbreak.txt",
        "back\\slash.txt",
        "what?.txt",
        long.as_str(),
    ];
    let dir = tv.path("in");
    std::fs::create_dir(&dir).unwrap();
    let mut args = vec![
        "--witness".to_owned(),
        "W".into(),
        "--consent".into(),
        "court".into(),
    ];
    for (i, n) in names.iter().enumerate() {
        let p = dir.join(n);
        std::fs::write(&p, format!("document {i}\n")).unwrap();
        args.push("--attach".into());
        args.push(p.to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = tv.add(&args);

    let key = age::x25519::Identity::generate();
    let bundle = tv.path("b.tar");
    tv.cmd()
        .args(["export", &id, "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    let key_file = tv.write(
        "age.key",
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let signer = common::signer(&tv);
    tv.cmd()
        .arg("verify-export")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer])
        .assert()
        .success();
    let into = tv.path("opened");
    tv.cmd()
        .arg("open-export")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer])
        .arg("--into")
        .arg(&into)
        .assert()
        .success();
    let delivered: Vec<_> = std::fs::read_dir(into.join("records").join(&id).join("attachments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(delivered.len(), names.len(), "{delivered:?}");
    for name in &delivered {
        assert!(name.len() <= 100, "{name}");
        assert!(!name.contains(['\n', '\\', '?']), "{name:?}");
    }
    // The manifest keeps the recorded names.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(into.join("MANIFEST.json")).unwrap()).unwrap();
    let text = manifest.to_string();
    for n in names {
        let quoted = serde_json::to_string(n).unwrap();
        assert!(text.contains(&quoted), "{n:?} in {text}");
    }

    // Imported elsewhere, each attachment has its recorded name back.
    let hq = TestVault::new();
    hq.cmd()
        .arg("import")
        .arg(&bundle)
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &signer])
        .assert()
        .success();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            hq.cat(&id, n),
            format!("document {i}\n").into_bytes(),
            "{n:?}"
        );
    }
}
