//! Field kit attacks that need the library's insides to stage: a bundle re-signed by a key
//! the kit was not given (the sender holds headquarters' recipient, not the kit's key), and a
//! kit that reuses a record id another kit delivered.

use std::io::Read;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::*;
use crate::bundle::kit::{KIT_MANIFEST_ENTRY, KitBundleWriter, KitManifest, Signed};
use crate::error::ImportRefusal;
use crate::record::{Metadata, RecordId, RecordIdPrefix, WitnessIdentity};

const KDF: KdfParams = KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

fn pass(text: &str) -> Passphrase {
    Passphrase::from_bytes(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

fn hq(dir: &Path) -> Vault {
    Vault::create(
        &dir.join("hq.tvault"),
        &pass("headquarters passphrase"),
        &CreateOptions {
            kdf: KDF,
            weak_kdf: true,
            operator: "hq",
            anchor_dir: None,
            recovery: None,
        },
    )
    .unwrap()
}

fn kit(hq: &mut Vault, dir: &Path, name: &str) -> Vault {
    let path = dir.join(format!("{name}.tvault"));
    hq.create_kit(
        name,
        &path,
        &pass("kit passphrase"),
        &KitOptions {
            kdf: KDF,
            weak_kdf: true,
            operator: "field",
        },
    )
    .unwrap();
    Vault::open(&path, &pass("kit passphrase"), &OpenOptions::default()).unwrap()
}

fn record(kit: &mut Vault, statement: &'static [u8]) -> RecordId {
    let mut meta = Metadata::default();
    meta.witness = "W".into();
    kit.add(Intake {
        meta,
        identity: WitnessIdentity::default(),
        statement: Some(Box::new(statement)),
        attachments: Vec::new(),
    })
    .unwrap()
}

/// Every entry of a kit bundle, in order.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn records_at(v: &Vault) -> u64 {
    store::record_count(v.store.conn()).unwrap()
}

#[test]
fn a_kit_seals_everything_to_headquarters_and_keeps_no_key_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = hq(dir.path());
    let mut kit = kit(&mut hq, dir.path(), "east");
    let id = record(&mut kit, b"typed in the field");
    let row = store::current_version(kit.store.conn(), &id)
        .unwrap()
        .unwrap();
    for blob in [&row.meta, &row.identity] {
        assert!(blob.starts_with(b"age-encryption.org/v1\n-> X25519 "));
    }
    assert!(matches!(kit.s.open_meta(&row), Err(Error::Integrity(_))));
    assert!(matches!(
        kit.show(
            &RecordIdPrefix::from_str(&id.to_string()).unwrap(),
            None,
            false
        ),
        Err(Error::FieldKit)
    ));
    // Nor can it derive from what it recorded, or redact it.
    let prefix = RecordIdPrefix::from_str(&id.to_string()).unwrap();
    let derivation = super::Derivation {
        kind: crate::record::DerivedKind::Transcript,
        of: "statement".into(),
        name: None,
        content: Box::new(&b"words"[..]),
        text: true,
        language: None,
        method: None,
        note: None,
    };
    assert!(matches!(
        kit.derive(&prefix, derivation),
        Err(Error::FieldKit)
    ));
    let request = super::RedactRequest {
        of: "statement".into(),
        masks: vec!["field".into()],
        regexes: Vec::new(),
        name: None,
    };
    assert!(matches!(
        kit.redact(&prefix, &request),
        Err(Error::FieldKit)
    ));
    assert!(matches!(
        kit.redact_preview(&prefix, &request),
        Err(Error::FieldKit)
    ));
}

#[test]
fn a_bundle_signed_by_another_key_is_refused_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = hq(dir.path());
    let mut kit = kit(&mut hq, dir.path(), "east");
    record(&mut kit, b"typed in the field");
    let genuine = dir.path().join("genuine.tkit");
    kit.kit_send(&genuine).unwrap();

    // Whoever holds headquarters' recipient (never the kit's key) re-signs the manifest.
    let identity = hq.s.kit_rows(hq.store.conn()).unwrap()[0]
        .1
        .age_identity()
        .unwrap();
    let mut files = entries(&genuine);
    let sealed = &files[1].1;
    let decryptor = age::Decryptor::new_buffered(sealed.as_slice()).unwrap();
    let mut opened = Vec::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut opened)
        .unwrap();
    let signed: Signed = serde_json::from_slice(&opened).unwrap();
    let manifest: KitManifest = serde_json::from_str(&signed.body).unwrap();
    let other = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let forged = Signed::sign_manifest(&manifest, &other).to_json();
    let mut resealed = Vec::new();
    let recipient = identity.to_public();
    let mut w = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .unwrap()
        .wrap_output(&mut resealed)
        .unwrap();
    std::io::Write::write_all(&mut w, forged.as_bytes()).unwrap();
    w.finish().unwrap();
    files[1].1 = resealed;
    let path = dir.path().join("forged.tkit");
    let mut writer = KitBundleWriter::create(&path).unwrap();
    for (name, data) in files.iter().skip(1) {
        assert!(name != KIT_MANIFEST_ENTRY || data.len() > 100);
        writer
            .add(name, data.len() as u64, data.as_slice())
            .unwrap();
    }
    writer.finish().unwrap();

    let before = store::event_count(hq.store.conn()).unwrap();
    let err = hq
        .import_kit(&path, KitImportOptions::default(), &mut |_, _| {})
        .unwrap_err();
    assert!(
        matches!(&err, Error::KitCheck { why, .. } if why.contains("not signed by the key")),
        "{err}"
    );
    assert_eq!(records_at(&hq), 0);
    assert_eq!(store::event_count(hq.store.conn()).unwrap(), before);

    // The genuine bundle imports.
    let summary = hq
        .import_kit(&genuine, KitImportOptions::default(), &mut |_, _| {})
        .unwrap();
    assert_eq!(summary.imported.len(), 1);
}

#[test]
fn a_record_id_another_kit_delivered_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = hq(dir.path());
    let mut east = kit(&mut hq, dir.path(), "east");
    let mut west = kit(&mut hq, dir.path(), "west");
    record(&mut east, b"from the east");
    let bundle = dir.path().join("east.tkit");
    east.kit_send(&bundle).unwrap();
    hq.import_kit(&bundle, KitImportOptions::default(), &mut |_, _| {})
        .unwrap();
    let id = store::current_versions(hq.store.conn()).unwrap()[0].record;

    // West, coerced, claims east's record id with a record of its own.
    record(&mut west, b"from the west");
    let west_id = store::current_versions(west.store.conn()).unwrap()[0].record;
    let west_log = west.s.kit_log(west.store.conn()).unwrap();
    let mut claimed = west_log.added[&west_id.to_string()].1.clone();
    claimed.id = id.to_string();
    let west_kit_id = west.s.vault_id;
    assert!(matches!(
        hq.kit_decision(&id, &west_kit_id, &claimed),
        Err(Error::ImportRefused {
            why: ImportRefusal::OtherSource,
            ..
        })
    ));
    // East sending it again is fine: it is held already.
    let east_kit_id = east.s.vault_id;
    let east_log = east.s.kit_log(east.store.conn()).unwrap();
    assert!(matches!(
        hq.kit_decision(&id, &east_kit_id, &east_log.added[&id.to_string()].1),
        Ok(kit_import::Decision::Held)
    ));
}

#[test]
fn once_a_kit_saw_headquarters_rotate_its_key_the_old_key_signs_no_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = hq(dir.path());
    let mut kit = kit(&mut hq, dir.path(), "east");
    record(&mut kit, b"first");
    let old = hq.s.signing.clone();
    let plan = hq.plan_rekey(&[], None).unwrap();
    hq.rekey(plan, false, &mut |_, _| {}).unwrap();

    let bundle = dir.path().join("b1.tkit");
    kit.kit_send(&bundle).unwrap();
    let receipt = hq
        .import_kit(&bundle, KitImportOptions::default(), &mut |_, _| {})
        .unwrap()
        .receipt;
    // Signed by the new key, with the rotation from the key the kit pinned.
    assert_eq!(
        kit.kit_confirm(receipt.as_bytes()).unwrap().deleted.len(),
        1
    );

    // The same kind of receipt for a new record, signed by the rotated-away key.
    let id = record(&mut kit, b"second");
    let bundle = dir.path().join("b2.tkit");
    kit.kit_send(&bundle).unwrap();
    let genuine: Signed = serde_json::from_str(
        &hq.import_kit(&bundle, KitImportOptions::default(), &mut |_, _| {})
            .unwrap()
            .receipt,
    )
    .unwrap();
    let body: crate::bundle::kit::KitReceipt = serde_json::from_str(&genuine.body).unwrap();
    let forged = Signed::sign_receipt(&body, &old, &[]).to_json();
    assert!(matches!(
        kit.kit_confirm(forged.as_bytes()),
        Err(Error::KitCheck { .. })
    ));
    assert!(
        store::current_version(kit.store.conn(), &id)
            .unwrap()
            .is_some()
    );
    // The kit reopens with its new pin, and the genuine receipt still confirms.
    drop(kit);
    let mut kit = Vault::open(
        &dir.path().join("east.tvault"),
        &pass("kit passphrase"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(
        kit.kit_confirm(genuine.to_json().as_bytes())
            .unwrap()
            .deleted,
        vec![id.to_string()]
    );
}

#[test]
fn a_restart_whose_anchor_was_not_yet_rewritten_still_opens_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("anchors");
    std::fs::create_dir(&anchors).unwrap();
    let mut hq = hq(dir.path());
    drop(kit(&mut hq, dir.path(), "east"));
    let path = dir.path().join("east.tvault");
    let open = || {
        Vault::open(
            &path,
            &pass("kit passphrase"),
            &OpenOptions {
                anchor_dir: Some(&anchors),
                ..OpenOptions::default()
            },
        )
    };
    let mut kit = open().unwrap();
    record(&mut kit, b"first");
    let anchor = kit.s.anchor.clone().unwrap();
    let bundle = dir.path().join("b1.tkit");
    kit.kit_send(&bundle).unwrap();
    let receipt = hq
        .import_kit(&bundle, KitImportOptions::default(), &mut |_, _| {})
        .unwrap()
        .receipt;
    let before_restart = std::fs::read(&anchor).unwrap();
    assert!(kit.kit_confirm(receipt.as_bytes()).unwrap().log_restarted);
    drop(kit);

    // Stopped after the commit, before the anchor was rewritten.
    std::fs::write(&anchor, &before_restart).unwrap();
    drop(open().unwrap());
    // Any other anchor that the log does not extend is still a rollback.
    let mut other = open().unwrap();
    record(&mut other, b"second");
    let later = std::fs::read(&anchor).unwrap();
    drop(other);
    std::fs::write(&anchor, &before_restart).unwrap();
    assert!(matches!(open(), Err(Error::Rollback { .. })));
    std::fs::write(&anchor, &later).unwrap();
    drop(open().unwrap());
}
