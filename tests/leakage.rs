//! Nothing a witness said or is called reaches the disk in plaintext: unique canaries in every
//! field, the statement, an attachment's name and its content are absent from the vault file,
//! its journal, the vault's folder, HOME (anchors, an export, a backup) and TMPDIR, as ASCII,
//! UTF-16LE and base64, after add, list, show, search, cat, history, log, verify, amend,
//! export, backup, rekey and a run killed while writing.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestVault, contains, files_under};

/// The forms a canary could take on disk.
fn encodings(canary: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = canary.as_bytes();
    let mut out = vec![
        ("ascii".to_owned(), bytes.to_vec()),
        (
            "utf-16le".to_owned(),
            canary.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
    ];
    // base64 at each of the three alignments: keep only the characters that encode whole
    // groups of canary bytes, so the match does not depend on what precedes it.
    for shift in 0..3usize {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(bytes);
        let text = STANDARD.encode(&padded);
        let skip = if shift == 0 { 0 } else { 4 };
        let end = 4 * (padded.len() / 3);
        out.push((
            format!("base64+{shift}"),
            text.as_bytes()[skip..end].to_vec(),
        ));
    }
    out
}

#[test]
fn canaries_never_reach_the_disk() {
    let tv = TestVault::empty();
    tv.init()
        .args(["--operator", "CanaryOperatorQ7"])
        .assert()
        .success();
    let canaries = [
        "CanaryWitnessPseudonymK3",
        "CanaryTitleZ9",
        "CanaryInterviewerM2",
        "CanaryLocationAlmatyX5",
        "CanaryLangV8",
        "CanaryTagJ4",
        "CanaryRealNameOfWitnessH6",
        "CanaryContactPhoneP1",
        "CanaryStatementTextW0",
        "CanaryAttachmentContentB5",
        "CanaryFileNameN3",
        "CanaryOperatorQ7",
        "CanaryAliasOfWitnessR2",
    ];
    // The identity file is the operator's input, outside the folders scanned below.
    let identity = tv.identity_file(canaries[6], Some(canaries[7]), &[canaries[12]]);
    let statement = tv.write(
        "in-statement.txt",
        format!("Line one.\n{} said the guards came.\n", canaries[8]).as_bytes(),
    );
    let mut attachment = vec![0u8; 200_000];
    attachment.extend_from_slice(canaries[9].as_bytes());
    attachment.extend_from_slice(&[7u8; 100_000]);
    let attach_path = tv.path(&format!("in-{}.wav", canaries[10]));
    std::fs::write(&attach_path, &attachment).unwrap();

    let id = tv.add(&[
        "--witness",
        canaries[0],
        "--title",
        canaries[1],
        "--interviewer",
        canaries[2],
        "--date",
        "1999-12-31",
        "--location",
        canaries[3],
        "--language",
        canaries[4],
        "--tag",
        canaries[5],
        "--consent",
        "court",
        "--identity-file",
        &identity,
        "--text-file",
        statement.to_str().unwrap(),
        "--attach",
        attach_path.to_str().unwrap(),
    ]);
    tv.cmd().arg("list").assert().success();
    tv.cmd().args(["list", "--json"]).assert().success();
    tv.cmd()
        .args(["show", &id, "--identity"])
        .assert()
        .success();
    tv.cmd().args(["search", "guards"]).assert().success();
    tv.cmd().args(["search", canaries[3]]).assert().success();
    let name = format!("in-{}.wav", canaries[10]);
    assert_eq!(tv.cat(&id, &name), attachment);
    tv.cmd().args(["history", &id]).assert().success();
    tv.cmd().arg("log").assert().success();
    tv.cmd().arg("verify").assert().success();
    tv.cmd()
        .args(["amend", &id, "--title", "CanaryAmendedTitleU2"])
        .assert()
        .success();
    let exports = tv.path("home/exports");
    std::fs::create_dir_all(&exports).unwrap();
    let pass = tv.write("export-pass", b"an export passphrase for the leak test\n");
    tv.cmd()
        .args(["export", "-o"])
        .arg(exports.join("bundle.tar"))
        .args(["--purpose", "court", "--all", "--include-identity"])
        .arg("--export-passphrase-file")
        .arg(&pass)
        .assert()
        .success();
    tv.cmd()
        .args(["backup", "-o"])
        .arg(tv.path("home/backup.tvault"))
        .assert()
        .success();
    tv.cmd()
        .args(["rekey", "--reencrypt", "--yes"])
        .assert()
        .success();

    // A run killed in the middle: a big attachment whose content is a canary, stopped while
    // it is being written, leaves a hot journal beside the vault.
    let mut big = Vec::new();
    while big.len() < 8 << 20 {
        big.extend_from_slice(b"CanaryKilledAttachmentY6 ");
    }
    let big_path = tv.write("in-big.bin", &big);
    let mut child = tv
        .process()
        .args(["add", "--witness", "CanaryKilledWitnessZ5", "--attach"])
        .arg(&big_path)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill();
    child.wait().unwrap();

    // Everything tvault may have written: the vault's folder (file, journal) and TMPDIR.
    let mut scanned = files_under(tv.vault.parent().unwrap());
    scanned.extend(files_under(&tv.tmp));
    scanned.extend(files_under(&tv.path("home")));
    assert!(scanned.contains(&tv.vault));
    let mut canaries: Vec<&str> = canaries.to_vec();
    canaries.extend([
        "1999-12-31",
        "CanaryAmendedTitleU2",
        "CanaryKilledAttachmentY6",
        "CanaryKilledWitnessZ5",
    ]);
    for file in &scanned {
        let data = std::fs::read(file).unwrap();
        for canary in &canaries {
            for (form, needle) in encodings(canary) {
                assert!(
                    !contains(&data, &needle),
                    "{canary} found as {form} in {}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_encodings_would_find_a_plaintext_canary() {
    // The scan above is only meaningful if it can fail.
    let canary = "CanarySelfTest";
    for (form, needle) in encodings(canary) {
        let mut hay = b"xx".to_vec();
        match form.as_str() {
            "ascii" | "utf-16le" => hay.extend_from_slice(&needle),
            _ => {
                let shift: usize = form.trim_start_matches("base64+").parse().unwrap();
                let mut data = vec![b'q'; 3 + shift];
                data.extend_from_slice(canary.as_bytes());
                hay.extend_from_slice(STANDARD.encode(&data).as_bytes());
            }
        }
        assert!(contains(&hay, &needle), "{form}");
    }
}
