//! Tests of the key hierarchy: padding, sealing, keyslots and the header MAC.

use super::*;

fn pass(s: &str) -> Passphrase {
    Passphrase::from_bytes(Zeroizing::new(s.as_bytes().to_vec())).unwrap()
}

#[test]
fn padme_rounds_up_little_and_never_down() {
    assert_eq!(padded_len(0), 1024);
    assert_eq!(padded_len(1024), 1024);
    for len in [
        1025u64,
        5000,
        65_535,
        65_537,
        1 << 30,
        (1 << 30) + 1,
        4_000_000_123,
    ] {
        let p = padded_len(len);
        assert!(p >= len);
        assert!((p - len) as f64 / len as f64 <= 0.12, "{len} -> {p}");
    }
    assert!(padded_len((1 << 30) + 1) - ((1 << 30) + 1) < (1 << 30) / 32);
}

#[test]
fn sealed_values_bind_their_aad() {
    let k = Key::random();
    let sealed = seal_padded(&k, b"a", b"hello");
    assert_eq!(open_padded(&k, b"a", &sealed).unwrap().as_slice(), b"hello");
    assert!(open_padded(&k, b"b", &sealed).is_none());
    assert!(open_padded(&Key::random(), b"a", &sealed).is_none());
    let mut flipped = sealed.clone();
    flipped[30] ^= 1;
    assert!(open_padded(&k, b"a", &flipped).is_none());
    assert_eq!(
        open_padded_in_place(&k, b"a", &mut sealed.clone()).unwrap(),
        b"hello"
    );
    assert!(open_padded_in_place(&k, b"b", &mut sealed.clone()).is_none());
    assert!(open_padded_in_place(&k, b"a", &mut flipped.clone()).is_none());
    assert!(open_padded_in_place(&k, b"a", &mut sealed[..20].to_vec()).is_none());
    // A reused buffer: a smaller value after a larger one, then a larger one again.
    let mut buf = SecretBuf::default();
    for value in [&b"a longer value"[..], b"hi", &[7; 300]] {
        let sealed = seal_padded(&k, b"a", value);
        let bytes = buf.resize(sealed.len());
        bytes.copy_from_slice(&sealed);
        assert_eq!(open_padded_in_place(&k, b"a", bytes).unwrap(), value);
    }
    assert!(open(&k, b"a", &sealed[..10]).is_none());
}

#[test]
fn the_parallel_hash_is_sha256() {
    use sha2::Digest as _;
    let data: Vec<u8> = (0..3 * ParallelSha256::BATCH + 12_345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    for split in [
        1,
        4096,
        ParallelSha256::BATCH - 1,
        ParallelSha256::BATCH + 1,
    ] {
        let mut hasher = ParallelSha256::new();
        for piece in data.chunks(split) {
            hasher.update(piece);
        }
        let expected: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(hasher.finish(), expected);
    }
    let empty: [u8; 32] = Sha256::digest(b"").into();
    assert_eq!(ParallelSha256::new().finish(), empty);
}

#[test]
fn an_operator_key_opens_only_with_its_own_slots_passphrase() {
    let vault_id = random_array();
    let keys = VaultKeys::derive(Key::random(), &vault_id);
    let kdf = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    let make = |p: &str| {
        Keyslot::create_keyed(
            &vault_id,
            SlotKind::Passphrase,
            kdf,
            true,
            &pass(p),
            &keys,
            p,
        )
        .unwrap()
    };
    let (mut a, kek_a) = make("ana's passphrase");
    let (mut b, kek_b) = make("ben's passphrase");
    assert!(matches!(a.operator_key(&vault_id, &kek_a), Some(None)));
    let key_a = ed25519_dalek::SigningKey::from_bytes(&random_array());
    let key_b = ed25519_dalek::SigningKey::from_bytes(&random_array());
    a.set_operator_key(&vault_id, &kek_a, &key_a);
    b.set_operator_key(&vault_id, &kek_b, &key_b);
    let opened = a.operator_key(&vault_id, &kek_a).unwrap().unwrap();
    assert_eq!(opened.to_bytes(), key_a.to_bytes());
    // Ben's passphrase key does not open Ana's, nor does the master key's family.
    assert!(a.operator_key(&vault_id, &kek_b).is_none());
    assert!(a.operator_key(&vault_id, &keys.meta).is_none());
    // Ben's sealed key moved into Ana's slot opens for neither.
    let mut swapped = a.clone();
    swapped.operator_key = b.operator_key.clone();
    assert!(swapped.operator_key(&vault_id, &kek_a).is_none());
    assert!(swapped.operator_key(&vault_id, &kek_b).is_none());
    // The header MAC covers the key.
    let mac = header_mac(&keys, &vault_id, &[a.clone(), b.clone()], None);
    assert!(!verify_header_mac(
        &keys,
        &vault_id,
        &[swapped, b],
        None,
        &mac
    ));
}

#[test]
fn aad_fields_cannot_be_shifted() {
    assert_ne!(aad("x", &[b"ab", b"c"]), aad("x", &[b"a", b"bc"]));
}

#[test]
fn passphrases_are_nfc_normalised_and_bounded() {
    // "é" precomposed and as e + combining acute accent.
    assert_eq!(
        pass("caf\u{e9}").expose_secret(),
        pass("cafe\u{301}").expose_secret()
    );
    let empty = Passphrase::from_bytes(Zeroizing::new(Vec::new()));
    assert_eq!(empty.unwrap_err(), PassphraseError::Empty);
    let bad = Passphrase::from_bytes(Zeroizing::new(vec![0xff, 0xfe]));
    assert_eq!(bad.unwrap_err(), PassphraseError::NotUtf8);
    let long = Passphrase::from_bytes(Zeroizing::new(vec![b'a'; MAX_PASSPHRASE_BYTES + 1]));
    assert_eq!(long.unwrap_err(), PassphraseError::TooLong);
}

#[test]
fn keyslot_opens_only_with_its_passphrase_and_unedited_parameters() {
    let vault_id = random_array();
    let keys = VaultKeys::derive(Key::random(), &vault_id);
    let kdf = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    let slot = Keyslot::create(
        &vault_id,
        SlotKind::Passphrase,
        kdf,
        true,
        &pass("right horse"),
        &keys,
        "ana",
    )
    .unwrap();
    let opened = slot
        .unlock(&vault_id, &pass("right horse"))
        .unwrap()
        .unwrap();
    assert_eq!(opened.vmk.expose_secret(), keys.vmk.expose_secret());
    assert_eq!(slot.label(&vault_id, &keys).as_deref(), Some("ana"));

    // Rewrapped for a new master key: the same passphrase opens the new key, not the old.
    let next = VaultKeys::derive(Key::random(), &vault_id);
    let rewrapped = slot.rewrap(&vault_id, &opened.kek, &next, "ana");
    let reopened = rewrapped
        .unlock(&vault_id, &pass("right horse"))
        .unwrap()
        .unwrap();
    assert_eq!(reopened.vmk.expose_secret(), next.vmk.expose_secret());
    assert_eq!(rewrapped.label(&vault_id, &next).as_deref(), Some("ana"));
    assert_eq!(rewrapped.label(&vault_id, &keys), None);
    assert!(
        slot.unlock(&vault_id, &pass("wrong horse"))
            .unwrap()
            .is_none()
    );

    let mut edited = slot.clone();
    edited.kdf.t = 2;
    assert!(
        edited
            .unlock(&vault_id, &pass("right horse"))
            .unwrap()
            .is_none()
    );
    let mut edited = slot.clone();
    edited.weak_kdf = false;
    assert!(
        edited
            .unlock(&vault_id, &pass("right horse"))
            .unwrap()
            .is_none()
    );

    let mac = header_mac(&keys, &vault_id, std::slice::from_ref(&slot), None);
    assert!(verify_header_mac(
        &keys,
        &vault_id,
        std::slice::from_ref(&slot),
        None,
        &mac
    ));
    let mut relabelled = slot.clone();
    relabelled.label[25] ^= 1;
    assert!(!verify_header_mac(
        &keys,
        &vault_id,
        &[relabelled],
        None,
        &mac
    ));

    // Version 2 covers the log's state: each field changes it, and neither version's
    // MAC passes as the other's.
    let state = HeaderState {
        signing_public: &[1; 32],
        signing_rotations: &[],
        checkpoint: "origin\n1\nroot\n",
        anchored: true,
        heads_root: [2; 32],
        kit: None,
        kits_root: None,
        export_approvals: None,
    };
    let slots = std::slice::from_ref(&slot);
    let v2 = header_mac(&keys, &vault_id, slots, Some(&state));
    assert!(verify_header_mac(
        &keys,
        &vault_id,
        slots,
        Some(&state),
        &v2
    ));
    assert!(!verify_header_mac(&keys, &vault_id, slots, None, &v2));
    assert!(!verify_header_mac(
        &keys,
        &vault_id,
        slots,
        Some(&state),
        &mac
    ));
    let changed = [
        HeaderState {
            signing_public: &[3; 32],
            ..state
        },
        HeaderState {
            signing_rotations: &[5; 128],
            ..state
        },
        HeaderState {
            checkpoint: "origin\n2\nroot\n",
            ..state
        },
        HeaderState {
            anchored: false,
            ..state
        },
        HeaderState {
            heads_root: [4; 32],
            ..state
        },
        HeaderState {
            kit: Some(b"sealed kit"),
            ..state
        },
        HeaderState {
            kits_root: Some([6; 32]),
            ..state
        },
        HeaderState {
            export_approvals: Some(2),
            ..state
        },
    ];
    for other in &changed {
        assert!(!verify_header_mac(
            &keys,
            &vault_id,
            slots,
            Some(other),
            &v2
        ));
    }
    // The rule's value is covered, not only whether there is one.
    let two = HeaderState {
        export_approvals: Some(2),
        ..state
    };
    let three = HeaderState {
        export_approvals: Some(3),
        ..state
    };
    let mac_two = header_mac(&keys, &vault_id, slots, Some(&two));
    assert!(!verify_header_mac(
        &keys,
        &vault_id,
        slots,
        Some(&three),
        &mac_two
    ));
}
