//! `open-export` checks and writes in one pass over the payload: a payload changed after the
//! bundle was signed leaves nothing behind, neither the folder nor the hidden one it was
//! written into, and is tampering (exit 13), never "not for that key".

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::TestVault;
use predicates::prelude::*;

/// The names in the test's folder, sorted.
fn names(tv: &TestVault) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(tv.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

/// The entries of an outer tar, in order: name and bytes.
fn entries(bundle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bundle);
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// `bundle` with `payload.age` replaced by `payload`, everything else as signed.
fn with_payload(bundle: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in entries(bundle) {
        let data = if name == "payload.age" {
            payload.to_vec()
        } else {
            data
        };
        tar.append(
            &tvault::bundle::header(&name, data.len() as u64).unwrap(),
            data.as_slice(),
        )
        .unwrap();
    }
    tar.into_inner().unwrap()
}

/// Seals `plain` to `recipient` as age does.
fn seal(plain: &[u8], recipient: &age::x25519::Recipient) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plain).unwrap();
    w.finish().unwrap();
    out
}

/// A one-record bundle sealed to a new key: the vault, the bundle, the key and its file.
fn exported() -> (TestVault, PathBuf, age::x25519::Identity, PathBuf) {
    let tv = TestVault::new();
    let st = tv.write("st.txt", b"I saw them take him away.\n");
    let id = tv.add(&[
        "--witness",
        "Nightingale",
        "--consent",
        "court",
        "--text-file",
        st.to_str().unwrap(),
    ]);
    let key = age::x25519::Identity::generate();
    let key_file = tv.write(
        "age.key",
        secrecy::ExposeSecret::expose_secret(&key.to_string()).as_bytes(),
    );
    let bundle = tv.path("bundle.tar");
    tv.cmd()
        .args(["export", &id, "--purpose", "court", "--recipient"])
        .arg(key.to_public().to_string())
        .arg("-o")
        .arg(&bundle)
        .assert()
        .success();
    (tv, bundle, key, key_file)
}

/// Runs `verify-export` and `open-export` with the key on `bundle`; both must exit 13 at the
/// outer sums, and nothing may be left beside the files there before.
fn refused_at_the_outer_sums(tv: &TestVault, bundle: &Path, key_file: &Path, what: &str) {
    let before = names(tv);
    for command in ["verify-export", "open-export"] {
        let mut cmd = tv.cmd();
        cmd.arg(command).arg(bundle);
        if command == "open-export" {
            cmd.arg("--into").arg(tv.path("opened"));
        }
        cmd.arg("--identity")
            .arg(key_file)
            .args(["--signer", &common::signer(tv)])
            .assert()
            .code(13)
            .stderr(predicate::str::contains(
                "outer SHA256SUMS: payload.age does not match its checksum",
            ));
        assert_eq!(names(tv), before, "{what}: {command} left something behind");
    }
}

#[test]
fn a_payload_changed_after_signing_leaves_nothing_and_is_tampering() {
    let (tv, bundle, key, key_file) = exported();
    let signed = std::fs::read(&bundle).unwrap();
    let payload = entries(&signed)
        .into_iter()
        .find(|(n, _)| n == "payload.age")
        .unwrap()
        .1;
    let plain = {
        let decryptor = age::Decryptor::new(payload.as_slice()).unwrap();
        let mut r = decryptor
            .decrypt(std::iter::once(&key as &dyn age::Identity))
            .unwrap();
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).unwrap();
        plain
    };
    // The payload sits right after the first 512-byte header of the outer tar.
    let at = |offset: usize| 512 + offset;
    let flipped = |offset: usize| {
        let mut bytes = signed.clone();
        bytes[at(offset)] ^= 1;
        bytes
    };
    let stranger = age::x25519::Identity::generate().to_public();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // In the header's stanza: the file key no longer unwraps, which alone would read as
        // "not for that key".
        ("a byte of the stanza", flipped(40)),
        ("a byte of the header's MAC", flipped(150)),
        ("a byte of the last chunk", flipped(payload.len() - 1)),
        // Sealed anew by someone who can open it but holds no signing key: the same content,
        // and other content.
        (
            "resealed",
            with_payload(&signed, &seal(&plain, &key.to_public())),
        ),
        ("resealed, altered", {
            let mut other = plain.clone();
            let n = other.len();
            other[n / 2] ^= 1;
            with_payload(&signed, &seal(&other, &key.to_public()))
        }),
        // Sealed to another key: tampering, not the reader's mistake.
        (
            "sealed to a stranger",
            with_payload(&signed, &seal(&plain, &stranger)),
        ),
    ];
    for (what, bytes) in cases {
        std::fs::write(&bundle, &bytes).unwrap();
        refused_at_the_outer_sums(&tv, &bundle, &key_file, what);
    }
    // The signed bundle itself opens.
    std::fs::write(&bundle, &signed).unwrap();
    tv.cmd()
        .arg("open-export")
        .arg(&bundle)
        .arg("--into")
        .arg(tv.path("opened"))
        .arg("--identity")
        .arg(&key_file)
        .args(["--signer", &common::signer(&tv)])
        .assert()
        .success();
    assert!(tv.path("opened").join("MANIFEST.json").exists());
}
