//! Tests of the facade through the library: batches, the listing digest, snippets.

use std::collections::BTreeSet;

use zeroize::Zeroizing;

use super::snippet::Matcher;
use super::*;
use crate::digest;
use crate::record::{Metadata, RecordId, RecordIdPrefix, WitnessIdentity};

fn scratch_vault(dir: &Path) -> Vault {
    let passphrase =
        Passphrase::from_bytes(Zeroizing::new(b"scratch vault passphrase".to_vec())).unwrap();
    Vault::create(
        &dir.join("v.tvault"),
        &passphrase,
        &CreateOptions {
            kdf: KdfParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            weak_kdf: true,
            operator: "tester",
            anchor_dir: None,
            recovery: None,
        },
    )
    .unwrap()
}

fn intake(witness: &str, statement: &'static [u8]) -> Intake<'static> {
    let mut meta = Metadata::default();
    meta.witness = witness.into();
    Intake {
        meta,
        identity: WitnessIdentity::default(),
        statement: Some(Box::new(statement)),
        attachments: Vec::new(),
    }
}

/// An amendment that replaces the statement and nothing else.
fn new_statement() -> Amendment<'static> {
    Amendment {
        meta: MetaEdit::default(),
        witness_name: None,
        witness_contact: None,
        witness_aliases: None,
        statement: Some(Box::new(&b"the harbour master"[..])),
        attachments: Vec::new(),
        remove: Vec::new(),
    }
}

#[test]
fn a_batch_is_stored_whole_or_not_at_all_and_scans_find_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = scratch_vault(dir.path());
    let events = |v: &Vault| store::event_count(v.store.conn()).unwrap();
    let before = events(&vault);
    let err = vault.add_many([intake("A", b"fine"), intake("B", b"\xff\xfe not text")]);
    assert!(matches!(err, Err(Error::StatementNotUtf8)));
    assert_eq!(store::record_count(vault.store.conn()).unwrap(), 0);
    assert_eq!(events(&vault), before);

    let n = 300;
    let ids = vault
        .add_many((0..n).map(|i| intake(&format!("W{i}"), b"the lighthouse keeper")))
        .unwrap();
    assert_eq!(ids.len(), n);
    assert_eq!(
        events(&vault),
        before + n as u64,
        "one event each, one checkpoint"
    );
    // Every record is seen once, whatever share of the table it lies in.
    let listed = vault.list(&Filter::default()).unwrap();
    let mut seen: Vec<RecordId> = listed.iter().map(|r| r.id).collect();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(vault.search("LIGHTHOUSE").unwrap().len(), n);
    assert_eq!(vault.search("w299").unwrap().len(), 1);
}

#[test]
fn the_digest_follows_every_write_and_is_rebuilt_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = scratch_vault(dir.path());
    let big: &'static [u8] = Box::leak(
        format!(
            "{} needle-in-a-big-one",
            "x".repeat(digest::TEXT_MAX as usize)
        )
        .into_boxed_str(),
    )
    .as_bytes();
    let mut ids = vault
        .add_many((0..40).map(|i| intake(&format!("W{i}"), b"the lighthouse keeper")))
        .unwrap();
    ids.push(vault.add(intake("Large", big)).unwrap());
    let stored = |v: &Vault| {
        (0..=255u8)
            .filter(|b| store::digest(v.store.conn(), *b, 0).unwrap().is_some())
            .count()
    };
    let buckets: BTreeSet<u8> = ids.iter().map(digest::bucket).collect();
    assert_eq!(stored(&vault), buckets.len(), "writers fill the digest");
    let found = |v: &mut Vault, q: &str| -> Vec<(RecordId, u32)> {
        let mut hits: Vec<_> = v
            .search(q)
            .unwrap()
            .iter()
            .map(|h| (h.record.id, h.record.version))
            .collect();
        hits.sort();
        hits
    };
    assert_eq!(
        found(&mut vault, "needle-in-a-big").len(),
        1,
        "large statements too"
    );

    // An amendment replaces the entry; the old text is no longer found.
    let older = store::digest(vault.store.conn(), digest::bucket(&ids[0]), 1).unwrap();
    let prefix: RecordIdPrefix = ids[0].to_string().parse().unwrap();
    vault.amend(&prefix, new_statement()).unwrap();
    assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);
    assert_eq!(found(&mut vault, "lighthouse").len(), 39);

    // A shredded record leaves the digest in the same transaction.
    let prefix: RecordIdPrefix = ids[1].to_string().parse().unwrap();
    vault.shred(&prefix, "consent withdrawn").unwrap();
    assert_eq!(found(&mut vault, "lighthouse").len(), 38);
    assert_eq!(vault.list(&Filter::default()).unwrap().len(), 40);

    // Damaged, swapped, missing or outdated buckets are rebuilt from the records, and
    // stored again.
    let expected_list = |v: &mut Vault| {
        let mut l: Vec<_> = v
            .list(&Filter::default())
            .unwrap()
            .iter()
            .map(|r| (r.id, r.version, r.summary.meta.witness.clone()))
            .collect();
        l.sort();
        l
    };
    let before = expected_list(&mut vault);
    let live: BTreeSet<u8> = before.iter().map(|(id, _, _)| digest::bucket(id)).collect();
    let mut b = live.iter().copied();
    let (b1, b2, b3) = (b.next().unwrap(), b.next().unwrap(), b.next().unwrap());
    let conn = vault.store.conn();
    let blob = store::digest(conn, b1, 0).unwrap().unwrap();
    let mut flipped = blob.clone();
    flipped[40] ^= 1;
    store::set_digest(conn, b1, 0, Some(&flipped)).unwrap();
    store::set_digest(conn, b2, 0, Some(&blob)).unwrap();
    store::set_digest(conn, b3, 1, None).unwrap();
    assert_eq!(expected_list(&mut vault), before);
    assert_eq!(found(&mut vault, "lighthouse").len(), 38);
    assert_eq!(stored(&vault), live.len());
    let conn = vault.store.conn();
    assert_ne!(store::digest(conn, b1, 0).unwrap().unwrap(), flipped);
    assert!(store::digest(conn, b3, 1).unwrap().is_some());
    // A bucket's older blob (from before the amendment) opens, but is not current.
    let b0 = digest::bucket(&ids[0]);
    store::set_digest(vault.store.conn(), b0, 1, older.as_deref()).unwrap();
    assert_eq!(found(&mut vault, "lighthouse").len(), 38);
    assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);

    // A rekey clears the digest (sealed under the old key); the next reader rebuilds it.
    let plan = vault.plan_rekey(&[], None).unwrap();
    vault.rekey(plan, false, &mut |_, _| {}).unwrap();
    assert_eq!(stored(&vault), 0);
    assert_eq!(expected_list(&mut vault), before);
    assert_eq!(stored(&vault), live.len());
    assert_eq!(found(&mut vault, "harbour"), vec![(ids[0], 2)]);
}

fn snippet(text: &str, needle: &str) -> Option<zeroize::Zeroizing<String>> {
    Matcher::new(needle).snippet(text)
}

#[test]
fn snippets_find_case_insensitively_and_stay_on_one_line() {
    let text = "First line.\nThe SOLDIERS came at night and took him away to the camp.";
    let s = snippet(text, "soldiers").unwrap();
    assert!(s.contains("SOLDIERS came"), "{}", s.as_str());
    assert!(!s.contains('\n'));
    assert!(snippet(text, "tanks").is_none());
    assert!(snippet("İstanbul", "i̇stanbul").is_some());
    // ASCII text is searched in place: the same answers, at the edges too.
    assert_eq!(
        snippet("LightHouse", "lighthouse").unwrap().as_str(),
        "LightHouse"
    );
    assert_eq!(
        snippet("a llighthousE", "lighthouse").unwrap().as_str(),
        "a llighthousE"
    );
    assert!(snippet("lighthous", "lighthouse").is_none());
    assert!(snippet("l", "lighthouse").is_none());
    // A Kelvin sign lowercases to an ASCII k: not ASCII, so searched as before.
    assert!(snippet("\u{212A}ey", "key").is_some());
}

#[test]
fn a_part_written_twice_to_one_place_is_a_constraint_error_never_a_storage_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = scratch_vault(dir.path());
    let path = vault.store.path().to_owned();
    let place = store::PartPlace {
        record: RecordId([7; 16]),
        version: 1,
        part: 0,
    };
    let tx = vault.store.write().unwrap();
    vault
        .s
        .write_part(&tx, &path, place, &mut &b"first"[..])
        .unwrap();
    let err = vault
        .s
        .write_part(&tx, &path, place, &mut &b"second"[..])
        .unwrap_err();
    // The database's own error, not one turned into text on the way (which would read as a
    // failing disk).
    assert!(err.is_constraint(), "{err:?}");
    assert!(!err.is_storage(), "{err:?}");
}

#[test]
fn a_shredded_records_earlier_copy_opens_with_this_vaults_keys_until_a_rekey() {
    use crate::store::{PartPlace, PartReader};
    // Any rekey replaces K_wrap, and the shredded record's parts are not rewrapped: its
    // wrapped file keys elsewhere are then sealed under a key no keyslot here opens.
    // `--reencrypt` (SECURITY.md, "Shredding") gives the remaining parts new file keys too.
    for reencrypt in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut vault = scratch_vault(dir.path());
        let id = vault.add(intake("W", b"what the witness saw")).unwrap();
        vault.add(intake("V", b"another statement")).unwrap();
        // A backup made before the shred, as it stays on some other disk.
        let earlier = dir.path().join("earlier.tvault");
        std::fs::copy(dir.path().join("v.tvault"), &earlier).unwrap();
        let prefix: RecordIdPrefix = id.to_string().parse().unwrap();
        vault.shred(&prefix, "consent withdrawn").unwrap();

        // Whether this vault's K_wrap unwraps the file key of a part the earlier copy holds.
        let opens = |vault: &Vault| -> bool {
            let copy = Store::open(&earlier).unwrap();
            let places: Vec<PartPlace> = (0..4)
                .map(|part| PartPlace {
                    record: id,
                    version: 1,
                    part,
                })
                .filter(|p| store::stored_part(copy.conn(), p).unwrap().is_some())
                .collect();
            assert!(!places.is_empty(), "the earlier copy holds the record");
            places.into_iter().any(|place| {
                let stored = store::stored_part(copy.conn(), &place).unwrap().unwrap();
                let key = vault.s.part_key(place);
                age::Decryptor::new_buffered(PartReader::new(copy.conn(), stored))
                    .unwrap()
                    .decrypt(std::iter::once(&key as &dyn age::Identity))
                    .is_ok()
            })
        };
        assert!(
            opens(&vault),
            "the shred changed no key: the earlier copy's record opens with today's keys"
        );
        let plan = vault.plan_rekey(&[], None).unwrap();
        vault.rekey(plan, reencrypt, &mut |_, _| {}).unwrap();
        assert!(
            !opens(&vault),
            "after the rekey (reencrypt: {reencrypt}) it no longer does"
        );
    }
}

/// What `list_each` hands over, in order, and how many records came before its flush (the
/// fronts' part), if there was one.
fn listing(vault: &mut Vault) -> (Vec<(RecordId, u32)>, Option<usize>) {
    let (mut all, mut flushed) = (Vec::new(), None);
    vault
        .list_each(
            &Filter::default(),
            |r| (r.id, r.version),
            |item| {
                match item {
                    Some(record) => all.push(record),
                    None => flushed = Some(all.len()),
                }
                Ok(())
            },
            || false,
        )
        .unwrap();
    (all, flushed)
}

#[test]
fn list_starts_from_the_fronts_and_rebuilds_any_that_are_missing_or_stale() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = scratch_vault(dir.path());
    let ids = vault
        .add_many((0..120).map(|i| {
            let mut r = intake(&format!("W{i}"), b"the lighthouse keeper");
            // Every fifth undated: listed by its intake date.
            if i % 5 != 0 {
                let date = format!("20{:02}-{:02}-{:02}", 10 + i % 13, 1 + i % 12, 1 + i % 28);
                r.meta.date = Some(date.parse().unwrap());
            }
            r
        }))
        .unwrap();
    let mut per_bucket = std::collections::BTreeMap::<u8, usize>::new();
    for id in &ids {
        *per_bucket.entry(digest::bucket(id)).or_default() += 1;
    }
    assert!(
        per_bucket.values().any(|&n| n > digest::FRONT),
        "some fronts hold only part of their bucket"
    );
    // The listing order, worked out here from the summaries.
    let in_order = |v: &mut Vault| {
        let mut keyed: Vec<_> = v
            .list(&Filter::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                let s = &r.summary;
                let date = s
                    .meta
                    .date
                    .as_ref()
                    .map_or(&s.created_at[..10], |d| d.as_str());
                ((date.to_owned(), s.created_at.clone(), r.id), r.version)
            })
            .collect();
        keyed.sort();
        keyed
            .into_iter()
            .map(|((_, _, id), v)| (id, v))
            .collect::<Vec<_>>()
    };
    let expected = in_order(&mut vault);
    assert_eq!(expected.len(), 120);

    let (all, flushed) = listing(&mut vault);
    assert_eq!(all, expected);
    let first = flushed.expect("the fronts are current: their records come first");
    assert!(first >= digest::FRONT && first < all.len(), "{first}");

    let conn = vault.store.conn();
    let fronts = |conn: &rusqlite::Connection| {
        (0..=255u8)
            .filter_map(|b| store::digest(conn, b, digest::Kind::Front as u8).unwrap())
            .count()
    };
    assert_eq!(fronts(conn), per_bucket.len(), "writers store the fronts");

    // Without fronts (a vault from before them) every bucket is read first, and the fronts
    // are stored for the next listing.
    for b in 0..=255u8 {
        store::set_digest(conn, b, digest::Kind::Front as u8, None).unwrap();
    }
    assert_eq!(listing(&mut vault), (expected.clone(), None));
    assert_eq!(fronts(vault.store.conn()), per_bucket.len());
    assert_eq!(listing(&mut vault), (expected.clone(), Some(first)));

    // A front put back from before an amendment opens, but was taken from other versions;
    // one moved from another bucket does not open. Neither is used, and both are replaced.
    // The first record is undated: its new version lists it by a later intake time.
    let amended = ids[0];
    let b1 = digest::bucket(&amended);
    let (b2, b3) = {
        let mut b = per_bucket.keys().copied().filter(|&b| b != b1);
        (b.next().unwrap(), b.next().unwrap())
    };
    let old = store::digest(vault.store.conn(), b1, digest::Kind::Front as u8).unwrap();
    let moved = store::digest(vault.store.conn(), b3, digest::Kind::Front as u8).unwrap();
    let prefix: RecordIdPrefix = amended.to_string().parse().unwrap();
    vault.amend(&prefix, new_statement()).unwrap();
    // An undated record moves to its new version's intake time.
    let expected = in_order(&mut vault);
    assert!(expected.contains(&(amended, 2)));
    let conn = vault.store.conn();
    store::set_digest(conn, b1, digest::Kind::Front as u8, old.as_deref()).unwrap();
    store::set_digest(conn, b2, digest::Kind::Front as u8, moved.as_deref()).unwrap();
    assert_eq!(listing(&mut vault), (expected.clone(), None));
    let conn = vault.store.conn();
    assert_ne!(
        store::digest(conn, b1, digest::Kind::Front as u8).unwrap(),
        old
    );
    assert_ne!(
        store::digest(conn, b2, digest::Kind::Front as u8).unwrap(),
        moved
    );
    let (all, flushed) = listing(&mut vault);
    assert_eq!(all, expected);
    let first = flushed.expect("the fronts are current again");

    // A reader that went away stops the listing once the fronts' part is out; the listing
    // was logged before anything was shown.
    let events = store::event_count(vault.store.conn()).unwrap();
    let mut shown = 0;
    let err = vault.list_each(
        &Filter::default(),
        |_| (),
        |item| {
            shown += usize::from(item.is_some());
            Ok(())
        },
        || true,
    );
    assert!(matches!(err, Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe));
    assert_eq!(shown, first);
    assert_eq!(store::event_count(vault.store.conn()).unwrap(), events + 1);
}
