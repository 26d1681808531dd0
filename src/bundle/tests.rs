//! Tests of the bundle reader against hand-made bundles, good and hostile.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::*;
use crate::audit::{self, Checkpoint};
use crate::progress::Tally;
use age::secrecy::ExposeSecret;

/// A signed bundle built from an inner tar made by `inner`, sealed to a fresh X25519 key.
struct Fixture {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    identity: String,
}

/// The intent event of the fixture export: first in its vault's log.
fn intent_leaf(export_id: &str) -> Vec<u8> {
    audit::Event {
        seq: 0,
        time: "2026-01-01T00:00:00Z".into(),
        operator: "op".into(),
        action: audit::Action::ExportIntent,
        record: None,
        version: None,
        parts: Vec::new(),
        detail: Some(serde_json::json!({ "export_id": export_id })),
        salt: "00".into(),
        operator_sig: None,
    }
    .leaf()
}

fn bundle_with(inner: impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str)) -> Fixture {
    bundle_sealed_to(inner, age::x25519::Identity::generate())
}

/// [`bundle_with`], sealed to `identity`.
fn bundle_sealed_to(
    inner: impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str),
    identity: age::x25519::Identity,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let vault_id = [3u8; 16];
    let export_id = "00112233445566778899aabbccddeeff";
    let leaf = intent_leaf(export_id);
    let root = audit::leaf_hash(&leaf);
    let checkpoint = Checkpoint::sign(&audit::origin(&vault_id), 1, &root, &key);
    let recipient = identity.to_public();

    let mut tar = tar::Builder::new(Vec::new());
    inner(&mut tar, &key, export_id);
    let inner_bytes = tar.into_inner().unwrap();
    let bundle = dir.path().join("bundle.tar");
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut w = encryptor
        .wrap_output(BundleWriter::create(&bundle).unwrap())
        .unwrap();
    w.write_all(&inner_bytes).unwrap();
    let writer = w.finish().unwrap();
    let public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
        ssh_key::public::Ed25519PublicKey(key.verifying_key().to_bytes()),
    ));
    let files = OuterFiles {
        checkpoint: checkpoint.note.clone(),
        receipt: Receipt {
            format: Receipt::FORMAT.into(),
            event: None,
            leaf_hash: Some({
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(root)
            }),
            export_id: Some(export_id.into()),
            index: 0,
            tree_size: 1,
            proof: Vec::new(),
            rotations: Vec::new(),
        },
        signer_line: public.to_openssh().unwrap(),
        export_id: export_id.into(),
        seal: SealKind::Keys {
            age: true,
            ssh: false,
        },
        approvals: Vec::new(),
        timestamps: None,
    };
    let sha256 = writer.finish(&files, &key).unwrap();
    assert_eq!(
        sha256,
        <[u8; 32]>::from(Sha256::digest(std::fs::read(&bundle).unwrap()))
    );
    Fixture {
        bundle,
        identity: identity.to_string().expose_secret().to_owned(),
        dir,
    }
}

/// An inner tar entry: name, type, content.
type Entry = (&'static str, tar::EntryType, Vec<u8>);

/// The one record the fixtures' manifests list.
const RECORD: &str = "abababababababababababababababab";
const STATEMENT: &str = "records/abababababababababababababababab/statement.txt";

/// A well-formed inner tar, signed, with the given extra entries added before it.
fn inner_with(extra: Vec<Entry>) -> impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str) {
    inner_with_intent(extra, None)
}

/// [`inner_with`], its manifest holding `intent` instead of the logged intent event.
fn inner_with_intent(
    extra: Vec<Entry>,
    intent: Option<Vec<u8>>,
) -> impl FnOnce(&mut tar::Builder<Vec<u8>>, &SigningKey, &str) {
    move |tar, key, export_id| {
        let mut sums = BTreeMap::new();
        for (name, kind, data) in &extra {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(data.len() as u64);
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append(&h, data.as_slice()).unwrap();
            sums.insert((*name).to_owned(), Sha256::digest(data).into());
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            export_id: export_id.into(),
            vault_id: hex::encode([3u8; 16]),
            purpose: "court".into(),
            reason: None,
            operator: "op".into(),
            time: "2026-01-01T00:00:00Z".into(),
            records: vec![ManifestRecord {
                id: RECORD.into(),
                version: 1,
                witness: "w".into(),
                consent: Default::default(),
                consent_overridden: false,
                intake_sha256: BTreeMap::new(),
                statement_redacted: false,
                redaction: None,
                identity_included: false,
                attachments: Vec::new(),
                recorded_names: BTreeMap::new(),
                derived: Vec::new(),
                recorded_derived_names: BTreeMap::new(),
                lineage: Vec::new(),
            }],
            withheld: Vec::new(),
            skipped: Vec::new(),
            intent_event: Some(
                String::from_utf8(intent.unwrap_or_else(|| intent_leaf(export_id))).unwrap(),
            ),
            approvals: Vec::new(),
            approvals_required: None,
        };
        let m = serde_json::to_vec(&manifest).unwrap();
        tar.append(
            &header("MANIFEST.json", m.len() as u64).unwrap(),
            m.as_slice(),
        )
        .unwrap();
        sums.insert("MANIFEST.json".into(), Sha256::digest(&m).into());
        let text = sums_text(&sums);
        let sig = ssh_sign(key, INNER_NAMESPACE, text.as_bytes());
        tar.append(
            &header("SHA256SUMS", text.len() as u64).unwrap(),
            text.as_bytes(),
        )
        .unwrap();
        tar.append(
            &header("SHA256SUMS.sig", sig.len() as u64).unwrap(),
            sig.as_bytes(),
        )
        .unwrap();
    }
}

fn unlock(f: &Fixture) -> Unlock {
    let ids = age::IdentityFile::from_buffer(f.identity.as_bytes())
        .unwrap()
        .into_identities()
        .unwrap()
        .into_iter()
        .map(|i| i as Box<dyn age::Identity>)
        .collect();
    Unlock::Identities(ids)
}

#[test]
fn a_sealed_intent_event_other_than_the_logged_one_is_refused() {
    let unlock = |f: &Fixture| {
        Unlock::Identities(vec![Box::new(
            f.identity.parse::<age::x25519::Identity>().unwrap(),
        )])
    };
    let good = bundle_with(inner_with(Vec::new()));
    assert!(
        verify_bundle(
            &good.bundle,
            &SignerTrust::BundleOnly,
            Some(&unlock(&good)),
            None
        )
        .is_ok()
    );
    let other = intent_leaf("ffffffffffffffffffffffffffffffff");
    let bad = bundle_with(inner_with_intent(Vec::new(), Some(other)));
    // Without the key only the receipt is checked, and it is the logged one.
    assert!(verify_bundle(&bad.bundle, &SignerTrust::BundleOnly, None, None).is_ok());
    let err = verify_bundle(
        &bad.bundle,
        &SignerTrust::BundleOnly,
        Some(&unlock(&bad)),
        None,
    )
    .unwrap_err();
    assert_eq!(err.step, "MANIFEST.json");
}

#[test]
fn an_unfinished_bundle_leaves_nothing_and_an_existing_file_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.tar");
    let mut writer = BundleWriter::create(&path).unwrap();
    writer.write_all(&[7u8; 100_000]).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a partial file"
    );
    assert!(!path.exists());
    drop(writer);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    std::fs::write(&path, b"someone else's file").unwrap();
    assert!(BundleWriter::create(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
}

#[test]
fn a_well_formed_bundle_verifies_and_opens() {
    let f = bundle_with(inner_with(vec![(
        STATEMENT,
        tar::EntryType::Regular,
        b"hello".to_vec(),
    )]));
    let into = f.dir.path().join("out");
    let (report, _) = verify_bundle(
        &f.bundle,
        &SignerTrust::BundleOnly,
        Some(&unlock(&f)),
        Some(&into),
    )
    .unwrap();
    assert!(report.payload_checked);
    assert_eq!(std::fs::read(into.join(STATEMENT)).unwrap(), b"hello");
    // Only the folder: the hidden one it was written into took its name.
    assert_eq!(std::fs::read_dir(f.dir.path()).unwrap().count(), 2);
}

#[test]
fn a_report_larger_than_the_small_file_limit_streams_through() {
    // A report of some ten thousand records passes 16 MiB; it is checked and written as it
    // streams, never held whole.
    let report = vec![b'x'; (super::SMALL_FILE_LIMIT + 1) as usize];
    let f = bundle_with(inner_with(vec![
        (STATEMENT, tar::EntryType::Regular, b"hello".to_vec()),
        ("REPORT.html", tar::EntryType::Regular, report.clone()),
    ]));
    let into = f.dir.path().join("out");
    verify_bundle(
        &f.bundle,
        &SignerTrust::BundleOnly,
        Some(&unlock(&f)),
        Some(&into),
    )
    .unwrap();
    assert_eq!(std::fs::read(into.join("REPORT.html")).unwrap(), report);
}

#[test]
fn hostile_inner_entries_are_refused_and_nothing_is_written() {
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        (
            "traversal",
            vec![("records/../../evil", tar::EntryType::Regular, b"x".to_vec())],
        ),
        (
            "absolute",
            vec![("/tmp/tvault-evil", tar::EntryType::Regular, b"x".to_vec())],
        ),
        (
            "outside records",
            vec![("evil.txt", tar::EntryType::Regular, b"x".to_vec())],
        ),
        (
            "symlink",
            vec![("records/ab/link", tar::EntryType::Symlink, Vec::new())],
        ),
        (
            "hard link",
            vec![("records/ab/link", tar::EntryType::Link, Vec::new())],
        ),
        (
            "device",
            vec![("records/ab/dev", tar::EntryType::Block, Vec::new())],
        ),
        (
            "fifo",
            vec![("records/ab/fifo", tar::EntryType::Fifo, Vec::new())],
        ),
        (
            "duplicate",
            vec![
                ("records/ab/a.txt", tar::EntryType::Regular, b"1".to_vec()),
                ("records/ab/a.txt", tar::EntryType::Regular, b"2".to_vec()),
            ],
        ),
    ];
    for (what, extra) in cases {
        let f = bundle_with(inner_with(extra));
        let into = f.dir.path().join("out");
        let err = verify_bundle(
            &f.bundle,
            &SignerTrust::BundleOnly,
            Some(&unlock(&f)),
            Some(&into),
        )
        .unwrap_err();
        assert_eq!(err.step, "read the inner tar", "{what}: {err}");
        assert!(!into.exists(), "{what}");
        assert!(!f.dir.path().parent().unwrap().join("evil").exists());
        assert!(!Path::new("/tmp/tvault-evil").exists());
    }
}

#[test]
fn an_altered_inner_file_is_caught_by_the_inner_sums() {
    let f = bundle_with(|tar, key, export_id| {
        let builder = inner_with(vec![(STATEMENT, tar::EntryType::Regular, b"true".to_vec())]);
        // Build it, then replace the statement's bytes after the sums were taken.
        let mut scratch = tar::Builder::new(Vec::new());
        builder(&mut scratch, key, export_id);
        let bytes = scratch.into_inner().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            if name.ends_with("statement.txt") {
                data = b"fake".to_vec();
            }
            tar.append(&header(&name, data.len() as u64).unwrap(), data.as_slice())
                .unwrap();
        }
    });
    let err =
        verify_bundle(&f.bundle, &SignerTrust::BundleOnly, Some(&unlock(&f)), None).unwrap_err();
    assert_eq!(err.step, "inner SHA256SUMS", "{err}");
}

/// The same one-record payload, sealed anew (age's file key is random, so the ciphertext
/// differs) to `identity`, with `statement` as the record's statement.
fn one_record(statement: &[u8], identity: &age::x25519::Identity) -> Fixture {
    let identity = identity.to_string().expose_secret().parse().unwrap();
    bundle_sealed_to(
        inner_with(vec![(
            STATEMENT,
            tar::EntryType::Regular,
            statement.to_vec(),
        )]),
        identity,
    )
}

fn x25519(f: &Fixture) -> age::x25519::Identity {
    f.identity.parse().unwrap()
}

/// Nothing but the bundle is left in its folder: no opened folder, no hidden one.
fn only_the_bundle(f: &Fixture) -> bool {
    std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .eq([std::ffi::OsString::from("bundle.tar")])
}

#[test]
fn a_bundle_renamed_over_the_path_after_the_first_pass_cannot_matter() {
    let first = one_record(b"first", &age::x25519::Identity::generate());
    let second = one_record(b"second", &x25519(&first));
    let bundle = VerifiedBundle::open(
        &first.bundle,
        &SignerTrust::BundleOnly,
        Some(&unlock(&first)),
        &mut Tally::silent(),
    )
    .unwrap();
    // Another bundle, by the same signer and for the same key, now has the name.
    std::fs::rename(&second.bundle, &first.bundle).unwrap();
    let into = first.dir.path().join("out");
    bundle
        .write_into(&unlock(&first), &into, &mut Tally::silent())
        .unwrap();
    assert_eq!(std::fs::read(into.join(STATEMENT)).unwrap(), b"first");
}

#[test]
fn a_bundle_rewritten_in_place_between_passes_is_refused_and_nothing_is_kept() {
    let identity = age::x25519::Identity::generate();
    let original = one_record(b"first", &identity);
    // The same signed content sealed again, and other content by the same signer.
    let resealed = std::fs::read(&one_record(b"first", &identity).bundle).unwrap();
    let other = std::fs::read(&one_record(b"second", &identity).bundle).unwrap();
    for (what, bytes, step) in [
        ("resealed", resealed, "payload.age"),
        ("other", other, "inner SHA256SUMS"),
    ] {
        let f = one_record(b"first", &identity);
        let bundle = VerifiedBundle::open(
            &f.bundle,
            &SignerTrust::BundleOnly,
            Some(&unlock(&f)),
            &mut Tally::silent(),
        )
        .unwrap();
        // The open file itself changes (same inode), as a writer on the same disk could.
        std::fs::write(&f.bundle, &bytes).unwrap();
        let into = f.dir.path().join("out");
        let err = bundle
            .write_into(&unlock(&f), &into, &mut Tally::silent())
            .unwrap_err();
        assert_eq!(err.step, step, "{what}: {err}");
        assert!(only_the_bundle(&f), "{what}: something was left");

        // What a caller such as import got is not to be kept: the pass fails.
        let mut seen = Vec::new();
        let mut visit =
            |_: &Path, _: u64, data: &mut dyn Read| data.read_to_end(&mut seen).map(|_| ());
        let err = bundle
            .read_files(&unlock(&f), &mut visit, &mut Tally::silent())
            .unwrap_err();
        assert_eq!(err.step, step, "{what}: {err}");
    }
    drop(original);
}

#[test]
fn a_payload_for_another_key_is_not_tampering() {
    let f = one_record(b"first", &age::x25519::Identity::generate());
    let stranger = Unlock::Identities(vec![Box::new(age::x25519::Identity::generate())]);
    let passphrase = Unlock::Passphrase("a passphrase".to_owned().into());
    for unlock in [stranger, passphrase] {
        let err =
            verify_bundle(&f.bundle, &SignerTrust::BundleOnly, Some(&unlock), None).unwrap_err();
        assert_eq!(err.kind, BundleFailure::NotForKey, "{err}");
        assert!(matches!(
            crate::Error::from(err),
            crate::Error::BundleNotForKey
        ));
    }
    // A damaged payload is still tampering.
    let mut bytes = std::fs::read(&f.bundle).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&f.bundle, &bytes).unwrap();
    let err =
        verify_bundle(&f.bundle, &SignerTrust::BundleOnly, Some(&unlock(&f)), None).unwrap_err();
    assert_eq!(err.kind, BundleFailure::Integrity, "{err}");
}

#[test]
fn every_alias_of_a_listed_name_is_refused_as_tampering() {
    for alias in [
        "records/abababababababababababababababab/./statement.txt",
        "records//abababababababababababababababab/statement.txt",
        "records/abababababababababababababababab//statement.txt",
        "records/abababababababababababababababab/statement.txt/",
        "records/abababababababababababababababab\\statement.txt",
        "./records/abababababababababababababababab/statement.txt",
        "records/abababababababababababababababab/../abababababababababababababababab/statement.txt",
    ] {
        // Alone, or beside the name it stands for; listed in the signed sums either way.
        for with_plain in [false, true] {
            let mut extra = vec![(alias, tar::EntryType::Regular, b"alias".to_vec())];
            if with_plain {
                extra.insert(0, (STATEMENT, tar::EntryType::Regular, b"plain".to_vec()));
            }
            let f = bundle_with(inner_with(extra));
            let into = f.dir.path().join("out");
            let err = verify_bundle(
                &f.bundle,
                &SignerTrust::BundleOnly,
                Some(&unlock(&f)),
                Some(&into),
            )
            .unwrap_err();
            assert_eq!(err.step, "read the inner tar", "{alias}: {err}");
            assert!(err.detail.contains("not a plain relative name"), "{err}");
            assert!(only_the_bundle(&f), "{alias}");
        }
    }
    assert_eq!(read::canonical_name(STATEMENT.as_bytes()), Some(STATEMENT));
}

#[test]
fn files_the_manifest_does_not_list_are_refused_though_signed() {
    let other = "records/cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd/statement.txt";
    for name in [
        "records/abababababababababababababababab/extra.txt",
        "records/abababababababababababababababab/identity.json",
        "records/abababababababababababababababab/attachments/unlisted.pdf",
        "records/abababababababababababababababab/attachments/sub/x.pdf",
        // Derived items and their lineage only where the manifest lists them.
        "records/abababababababababababababababab/derived/unlisted.pdf",
        "records/abababababababababababababababab/lineage.json",
        other,
    ] {
        let f = bundle_with(inner_with(vec![(
            name,
            tar::EntryType::Regular,
            b"x".to_vec(),
        )]));
        let into = f.dir.path().join("out");
        let err = verify_bundle(
            &f.bundle,
            &SignerTrust::BundleOnly,
            Some(&unlock(&f)),
            Some(&into),
        )
        .unwrap_err();
        assert_eq!(err.step, "MANIFEST.json", "{name}: {err}");
        // An attachment's file name is the witness's material: never in a message.
        assert!(!err.detail.contains("unlisted.pdf") && !err.detail.contains("x.pdf"));
        assert!(only_the_bundle(&f), "{name}");
    }
}

#[test]
fn allowed_signers_names_one_principal_and_one_key() {
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let other = SigningKey::from_bytes(&[6u8; 32]);
    let line = |k: &SigningKey| {
        let mut public = ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(k.verifying_key().to_bytes()),
        ));
        public.set_comment("tvault/00");
        public.to_openssh().unwrap()
    };
    let ns = format!("namespaces=\"{OUTER_NAMESPACE},{INNER_NAMESPACE}\"");
    let good = format!("{PRINCIPAL} {ns} {}\n", line(&key));
    let (vk, _, _, _) = read::signer(good.as_bytes(), &SignerTrust::BundleOnly, &[]).unwrap();
    assert_eq!(vk, key.verifying_key());
    for bad in [
        format!("{good}{PRINCIPAL} {ns} {}\n", line(&other)),
        format!("{PRINCIPAL} {ns} {}\n{good}", line(&other)),
        format!("{good}\n"),
        format!("# a comment\n{good}"),
        format!("{PRINCIPAL},{PRINCIPAL} {ns} {}\n", line(&key)),
        format!("{PRINCIPAL},other {ns} {}\n", line(&key)),
        format!("* {ns} {}\n", line(&key)),
        format!("{PRINCIPAL} {}\n", line(&key)),
        format!("{PRINCIPAL} cert-authority,{ns} {}\n", line(&key)),
        format!("{PRINCIPAL} namespaces=\"*\" {}\n", line(&key)),
        good.trim_end().to_owned(),
        good.replace('\n', "\r\n"),
    ] {
        let err = read::signer(bad.as_bytes(), &SignerTrust::BundleOnly, &[]).unwrap_err();
        assert_eq!(err.step, "identify the signer", "{bad:?}");
    }
}

#[test]
fn a_signature_by_another_key_than_allowed_signers_names_is_refused() {
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let other = SigningKey::from_bytes(&[6u8; 32]);
    let msg = b"the signed text";
    let by_key = ssh_sign(&key, OUTER_NAMESPACE, msg);
    let by_other = ssh_sign(&other, OUTER_NAMESPACE, msg);
    let vk = key.verifying_key();
    use format::SigCheck;
    assert_eq!(
        ssh_verify(&vk, OUTER_NAMESPACE, msg, by_key.as_bytes()),
        SigCheck::Good
    );
    assert_eq!(
        ssh_verify(&vk, OUTER_NAMESPACE, msg, by_other.as_bytes()),
        SigCheck::OtherKey
    );
    assert_eq!(
        ssh_verify(&vk, INNER_NAMESPACE, msg, by_key.as_bytes()),
        SigCheck::Bad
    );
    assert_eq!(
        ssh_verify(&vk, OUTER_NAMESPACE, b"other text", by_key.as_bytes()),
        SigCheck::Bad
    );
}

#[test]
fn attachment_names_travel_safely() {
    use super::file_names;
    let long = format!("{}.pdf", "é".repeat(80));
    let names = file_names(&[
        "photo.jpg",
        "line\nbreak.txt",
        "back\\slash.txt",
        "a?.txt",
        "a_.txt",
        "..",
        "trailing. ",
        &long,
    ]);
    assert_eq!(
        names[..7],
        [
            "photo.jpg",
            "line_break.txt",
            "back_slash.txt",
            "a_.txt",
            "a_ (2).txt",
            "_",
            "trailing_"
        ]
    );
    assert!(names[7].len() <= super::format::MAX_FILE_NAME && names[7].ends_with("é.pdf"));
    for n in &names {
        assert!(super::read::canonical_name(n.as_bytes()).is_some(), "{n}");
    }
}

/// `f`'s bundle with `payload.age` replaced by `payload`, everything else as signed.
fn with_payload(f: &Fixture, payload: &[u8]) {
    let bytes = std::fs::read(&f.bundle).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut tar = tar::Builder::new(Vec::new());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name == "payload.age" {
            data = payload.to_vec();
        }
        tar.append(&header(&name, data.len() as u64).unwrap(), data.as_slice())
            .unwrap();
    }
    std::fs::write(&f.bundle, tar.into_inner().unwrap()).unwrap();
}

#[test]
fn a_payload_swapped_after_signing_is_tampering_whatever_fails_first_and_nothing_is_left() {
    let identity = age::x25519::Identity::generate();
    // Another payload for the same key and signer, and one for a stranger's key: neither is
    // the payload the outer sums list.
    let payload_of = |f: &Fixture| {
        let bytes = std::fs::read(&f.bundle).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut e = archive.entries().unwrap().next().unwrap().unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        data
    };
    let same_key = payload_of(&one_record(b"second", &identity));
    let stranger = payload_of(&one_record(b"first", &age::x25519::Identity::generate()));
    for (what, payload) in [("same key", same_key), ("stranger", stranger)] {
        let f = one_record(b"first", &identity);
        with_payload(&f, &payload);
        let into = f.dir.path().join("out");
        for into in [None, Some(into.as_path())] {
            let err = verify_bundle(&f.bundle, &SignerTrust::BundleOnly, Some(&unlock(&f)), into)
                .unwrap_err();
            assert_eq!(err.step, "outer SHA256SUMS", "{what}: {err}");
            assert_eq!(err.kind, BundleFailure::Integrity, "{what}");
            assert!(only_the_bundle(&f), "{what}: something was left");
        }
        // Without a key the first reading hashes it, as before.
        let err = verify_bundle(&f.bundle, &SignerTrust::BundleOnly, None, None).unwrap_err();
        assert_eq!(err.step, "outer SHA256SUMS", "{what}: {err}");
    }
}

#[test]
fn a_staging_pass_hands_on_only_names_a_bundle_can_hold() {
    let odd = "records/abababababababababababababababab/extra.txt";
    let f = bundle_with(inner_with(vec![
        (STATEMENT, tar::EntryType::Regular, b"hello".to_vec()),
        (odd, tar::EntryType::Regular, b"x".to_vec()),
    ]));
    let mut seen = Vec::new();
    let mut visit = |rel: &Path, _: u64, data: &mut dyn Read| {
        seen.push(rel.to_owned());
        std::io::copy(data, &mut std::io::sink()).map(|_| ())
    };
    let visit: &mut Visitor<'_> = &mut visit;
    let unlock = unlock(&f);
    let err = read::VerifiedBundle::check(
        &f.bundle,
        &SignerTrust::BundleOnly,
        Some((&unlock, Some(visit))),
        &mut Tally::silent(),
    )
    .err()
    .unwrap();
    assert_eq!(err.step, "MANIFEST.json", "{err}");
    assert!(seen.contains(&PathBuf::from(STATEMENT)), "{seen:?}");
    assert!(!seen.contains(&PathBuf::from(odd)), "{seen:?}");
    for name in [
        STATEMENT,
        "MANIFEST.json",
        "REPORT.html",
        "approvals/exporter.sig",
        "records/abababababababababababababababab/attachments/a.pdf",
        "records/abababababababababababababababab/derived/a.txt",
        "records/abababababababababababababababab/lineage.json",
    ] {
        assert!(payload::stageable(name), "{name}");
    }
    for name in [
        odd,
        "records/ABABABABABABABABABABABABABABABAB/statement.txt",
        "records/abab/statement.txt",
        "records/abababababababababababababababab/attachments/sub/a.pdf",
        "records/abababababababababababababababab/attachments",
        "approvals/a/b",
        "other.txt",
    ] {
        assert!(!payload::stageable(name), "{name}");
    }
}

#[test]
fn threaded_writer_delivers_every_byte_in_order() {
    let mut writer = ThreadedWriter::new(Vec::new());
    let mut expected = Vec::new();
    // Small and large writes, across several batches.
    for i in 0..2000u32 {
        let piece = vec![(i % 251) as u8; (i as usize * 37) % 1500 + 1];
        writer.write_all(&piece).unwrap();
        expected.extend_from_slice(&piece);
    }
    // Writes larger than a batch are taken a batch at a time.
    for seed in 0..3u8 {
        let piece: Vec<u8> = (0..600 * 1024).map(|i| (i % 253) as u8 ^ seed).collect();
        writer.write_all(&piece).unwrap();
        expected.extend_from_slice(&piece);
    }
    let written = writer.finish().unwrap();
    assert_eq!(written.len(), expected.len());
    assert!(written == expected);
}

#[test]
fn threaded_writer_reports_its_worker_failing() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = ThreadedWriter::new(Full);
    let failed = (0..100)
        .map(|_| writer.write_all(&[0u8; 64 * 1024]))
        .find_map(Result::err)
        .or_else(|| writer.finish().err())
        .expect("a write into a full disk fails");
    assert_eq!(failed.kind(), std::io::ErrorKind::StorageFull);
}
