//! The stream reader against the age crate: the same bytes from the same files at every size
//! around chunk and batch boundaries, and the same verdict (refused) for every way a stream
//! can be cut, altered, extended or rearranged, with only whole authenticated batches
//! released before the failure.

use std::io::{Read, Write};

use age::secrecy::SecretString;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use super::{CHUNK, SEALED, decrypt_in_batches, open_header};

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) % 251) as u8 ^ seed)
        .collect()
}

fn encrypt(recipient: &dyn age::Recipient, plain: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    let mut writer = age::Encryptor::with_recipients(std::iter::once(recipient))
        .unwrap()
        .wrap_output(&mut file)
        .unwrap();
    writer.write_all(plain).unwrap();
    writer.finish().unwrap();
    file
}

/// The age crate's reading of `file`: the plaintext, or a failure.
fn by_age(identity: &dyn age::Identity, file: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    age::Decryptor::new_buffered(file)
        .map_err(|e| e.to_string())?
        .decrypt(std::iter::once(identity))
        .map_err(|e| e.to_string())?
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The stream reader's reading of `file`: the outcome, what it released, and how much of
/// the input was left unread.
fn by_stream(
    identity: &dyn age::Identity,
    file: &[u8],
    batch_chunks: usize,
) -> (Result<(), String>, Vec<u8>) {
    let mut released = Vec::new();
    match decrypt_in_batches(file, &[identity], batch_chunks, |plain| {
        plain.read_to_end(&mut released).map(drop)
    }) {
        Ok((result, rest)) => {
            if result.is_ok() {
                assert!(rest.is_empty(), "a good read consumes the whole file");
            }
            (result.map_err(|e| e.to_string()), released)
        }
        Err(e) => (Err(e.to_string()), released),
    }
}

/// The payload's cipher (RustCrypto's, where the reader uses ring's) and where the chunks
/// start.
fn cipher_of(identity: &dyn age::Identity, file: &[u8]) -> (ChaCha20Poly1305, usize) {
    let mut rest = file;
    let key = open_header(&mut rest, &[identity]).unwrap();
    (
        ChaCha20Poly1305::new((&*key).into()),
        file.len() - rest.len(),
    )
}

/// Seals `text` as chunk `counter` with the given last flag, as a forger holding the
/// payload key would.
fn seal(cipher: &ChaCha20Poly1305, counter: u64, last: bool, text: &[u8]) -> Vec<u8> {
    let n = super::super::chunk_nonce(counter, last);
    let mut sealed = text.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&n), &[], &mut sealed)
        .unwrap();
    sealed.extend_from_slice(&tag);
    sealed
}

/// Reads `file` with both readers in several batch sizes: both accept it with the same
/// plaintext, or both refuse it, the stream reader having released only an authentic prefix
/// made of whole batches of `original` (the plaintext of the untouched file).
fn same_verdict(identity: &dyn age::Identity, file: &[u8], original: &[u8], what: &str) {
    let age = by_age(identity, file);
    for batch_chunks in [1, 2, 3, 16] {
        let (outcome, released) = by_stream(identity, file, batch_chunks);
        match (&age, outcome) {
            (Ok(plain), Ok(())) => assert!(released == *plain, "{what}: different bytes"),
            (Err(_), Err(_)) => {
                assert!(
                    released.len() % (batch_chunks * CHUNK) == 0,
                    "{what}: released part of a batch ({batch_chunks} per batch)"
                );
                assert!(
                    original.starts_with(&released),
                    "{what}: released bytes that are not the original's"
                );
            }
            (age, ours) => panic!(
                "{what}, {batch_chunks} per batch: age {:?}, the stream reader {ours:?}",
                age.as_ref().map(Vec::len)
            ),
        }
    }
}

#[test]
fn files_written_by_age_read_back_byte_for_byte_at_every_boundary() {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let mut sizes = vec![0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK];
    // Exact batch boundaries, and one byte either side, for 1, 2, 3 and 16 chunks a batch.
    for chunks in [3, 4, 6, 9, 16, 32, 33] {
        sizes.extend([chunks * CHUNK - 1, chunks * CHUNK, chunks * CHUNK + 1]);
    }
    sizes.push(2_500_000);
    for len in sizes {
        let plain = content(len, len as u8);
        let file = encrypt(&recipient, &plain);
        assert!(by_age(&identity, &file).unwrap() == plain);
        for batch_chunks in [1, 2, 3, 16] {
            let (outcome, out) = by_stream(&identity, &file, batch_chunks);
            assert_eq!(outcome, Ok(()), "{len} bytes, {batch_chunks} per batch");
            assert!(out == plain, "{len} bytes, {batch_chunks} per batch");
        }
    }
}

#[test]
fn a_passphrase_file_opens_with_its_passphrase_only() {
    let plain = content(3 * CHUNK + 7, 5);
    let mut recipient = age::scrypt::Recipient::new(SecretString::from("correct horse".to_owned()));
    recipient.set_work_factor(4);
    let file = encrypt(&recipient, &plain);
    let identity = age::scrypt::Identity::new(SecretString::from("correct horse".to_owned()));
    assert_eq!(by_stream(&identity, &file, 2), (Ok(()), plain));
    let wrong = age::scrypt::Identity::new(SecretString::from("wrong horse".to_owned()));
    let mut called = false;
    let result = decrypt_in_batches(file.as_slice(), &[&wrong], 2, |_| called = true);
    assert!(matches!(
        result,
        Err(age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys)
    ));
    assert!(!called, "nothing is read without the key");
}

#[test]
fn the_first_matching_identity_of_several_opens_the_file() {
    let plain = content(CHUNK + 3, 9);
    let identity = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    let file = encrypt(&identity.to_public(), &plain);
    let mut out = Vec::new();
    let ids: [&dyn age::Identity; 2] = [&other, &identity];
    decrypt_in_batches(file.as_slice(), &ids, 2, |r| r.read_to_end(&mut out))
        .unwrap()
        .0
        .unwrap();
    assert!(out == plain);
    let result = decrypt_in_batches(file.as_slice(), &[&other], 2, |_| ());
    assert!(matches!(result, Err(age::DecryptError::NoMatchingKeys)));
}

#[test]
fn a_broken_header_is_refused_before_any_read() {
    let identity = age::x25519::Identity::generate();
    let file = encrypt(&identity.to_public(), &content(100, 1));
    let (_, start) = cipher_of(&identity, &file);
    // The MAC line, the stanza, the version line, and a header cut short.
    for at in [start - 20, 40, 5] {
        let mut flipped = file.clone();
        flipped[at] ^= 1;
        assert!(decrypt_in_batches(flipped.as_slice(), &[&identity], 2, |_| ()).is_err());
    }
    for cut in [start - 1, start - 17, 10] {
        assert!(decrypt_in_batches(&file[..cut], &[&identity], 2, |_| ()).is_err());
        assert!(by_age(&identity, &file[..cut]).is_err());
    }
}

/// A file of 4 full chunks and a partial one, and its plaintext.
fn five_chunks(identity: &age::x25519::Identity) -> (Vec<u8>, Vec<u8>) {
    let plain = content(4 * CHUNK + 20_000, 3);
    let file = encrypt(&identity.to_public(), &plain);
    (plain, file)
}

#[test]
fn a_cut_stream_fails_wherever_it_is_cut() {
    let identity = age::x25519::Identity::generate();
    let (plain, file) = five_chunks(&identity);
    let (_, start) = cipher_of(&identity, &file);
    for i in 0..5 {
        let boundary = start + i * SEALED;
        for cut in [boundary, boundary + 1, boundary + 16, boundary + SEALED - 1] {
            if cut < file.len() {
                same_verdict(&identity, &file[..cut], &plain, &format!("cut at {cut}"));
            }
        }
    }
    same_verdict(&identity, &file[..file.len() - 1], &plain, "last byte cut");
}

#[test]
fn a_flipped_byte_anywhere_in_the_payload_fails() {
    let identity = age::x25519::Identity::generate();
    let (plain, file) = five_chunks(&identity);
    let (_, start) = cipher_of(&identity, &file);
    for i in 0..5 {
        for at in [0, 1, CHUNK - 1, CHUNK, CHUNK + 15] {
            let at = start + i * SEALED + at;
            if at < file.len() {
                let mut flipped = file.clone();
                flipped[at] ^= 0x40;
                same_verdict(&identity, &flipped, &plain, &format!("byte {at} flipped"));
            }
        }
    }
    let mut flipped = file.clone();
    *flipped.last_mut().unwrap() ^= 1;
    same_verdict(&identity, &flipped, &plain, "last tag flipped");
}

#[test]
fn dropped_duplicated_swapped_or_appended_chunks_fail() {
    let identity = age::x25519::Identity::generate();
    let (plain, file) = five_chunks(&identity);
    let (cipher, start) = cipher_of(&identity, &file);
    let (header, payload) = file.split_at(start);
    let chunks: Vec<&[u8]> = payload.chunks(SEALED).collect();
    assert_eq!(chunks.len(), 5);
    let assemble = |order: &[usize]| -> Vec<u8> {
        let mut out = header.to_vec();
        for &i in order {
            out.extend_from_slice(chunks[i]);
        }
        out
    };
    for (what, order) in [
        ("first dropped", vec![1, 2, 3, 4]),
        ("middle dropped", vec![0, 1, 3, 4]),
        ("last dropped", vec![0, 1, 2, 3]),
        ("first duplicated", vec![0, 0, 1, 2, 3, 4]),
        ("middle duplicated", vec![0, 1, 2, 2, 3, 4]),
        ("last duplicated", vec![0, 1, 2, 3, 4, 4]),
        ("two swapped", vec![0, 2, 1, 3, 4]),
        ("swapped across batches", vec![0, 1, 3, 2, 4]),
        ("last moved to the middle", vec![0, 1, 4, 2, 3]),
        ("only the last", vec![4]),
        ("no chunk at all", vec![]),
    ] {
        same_verdict(&identity, &assemble(&order), &plain, what);
    }
    let whole = assemble(&[0, 1, 2, 3, 4]);
    assert_eq!(whole, file);
    for extra in [&[0u8][..], &[0; 16], &[7; SEALED]] {
        let mut appended = file.clone();
        appended.extend_from_slice(extra);
        same_verdict(&identity, &appended, &plain, "data appended");
    }
    // A well-formed chunk after the last one: authentic, but past the end.
    let mut appended = file.clone();
    appended.extend(seal(&cipher, 5, true, b"more"));
    same_verdict(&identity, &appended, &plain, "a sealed chunk appended");
    // The same file twice over.
    let mut twice = file.clone();
    twice.extend_from_slice(payload);
    same_verdict(&identity, &twice, &plain, "the payload twice");
}

#[test]
fn the_last_flag_counts_only_at_the_end() {
    let identity = age::x25519::Identity::generate();
    let (plain, file) = five_chunks(&identity);
    let (cipher, start) = cipher_of(&identity, &file);
    let header = &file[..start];
    let text = |i: usize| &plain[i * CHUNK..((i + 1) * CHUNK).min(plain.len())];
    let forge = |flags: &[(usize, bool)]| -> Vec<u8> {
        let mut out = header.to_vec();
        for (counter, &(i, last)) in flags.iter().enumerate() {
            out.extend(seal(&cipher, counter as u64, last, text(i)));
        }
        out
    };
    // The forger's stream as the writer makes it reads back: the forgery is faithful.
    let faithful = forge(&[(0, false), (1, false), (2, false), (3, false), (4, true)]);
    assert_eq!(faithful, file);
    for (what, flags) in [
        (
            "last flag set in the middle",
            vec![(0, false), (1, false), (2, true), (3, false), (4, true)],
        ),
        (
            "last flag set on a full chunk, then the rest",
            vec![(0, false), (1, true), (2, false), (3, false), (4, true)],
        ),
        (
            "last flag cleared at the end",
            vec![(0, false), (1, false), (2, false), (3, false), (4, false)],
        ),
        (
            "stream ends at a full chunk that is not last",
            vec![(0, false), (1, false), (2, false), (3, false)],
        ),
    ] {
        same_verdict(&identity, &forge(&flags), &plain, what);
    }
    // A stream ending with a full chunk flagged last is good (the size is a multiple of
    // the chunk), one ending in an empty last chunk after data is not.
    let exact = forge(&[(0, false), (1, false), (2, false), (3, true)]);
    same_verdict(&identity, &exact, &plain, "ends with a full last chunk");
    assert!(by_age(&identity, &exact).unwrap() == plain[..4 * CHUNK]);
    let mut empty_last = forge(&[(0, false), (1, false)]);
    empty_last.extend(seal(&cipher, 2, true, b""));
    same_verdict(
        &identity,
        &empty_last,
        &plain,
        "an empty last chunk after data",
    );
    assert!(by_age(&identity, &empty_last).is_err());
    // An empty file is one empty last chunk, and nothing else.
    let mut empty = header.to_vec();
    empty.extend(seal(&cipher, 0, true, b""));
    assert_eq!(by_stream(&identity, &empty, 2), (Ok(()), Vec::new()));
    assert_eq!(by_age(&identity, &empty), Ok(Vec::new()));
    let mut empty_not_last = header.to_vec();
    empty_not_last.extend(seal(&cipher, 0, false, b""));
    same_verdict(
        &identity,
        &empty_not_last,
        &plain,
        "an empty chunk not last",
    );
    // A last chunk too short to hold a tag.
    let mut short = forge(&[(0, false)]);
    short.extend_from_slice(&[1; 15]);
    same_verdict(&identity, &short, &plain, "a last chunk shorter than a tag");
}

#[test]
fn a_reader_left_early_stops_every_thread_and_returns_the_input() {
    let identity = age::x25519::Identity::generate();
    let plain = content(100 * CHUNK, 2);
    let file = encrypt(&identity.to_public(), &plain);
    let mut first = vec![0u8; 100];
    let (read, rest) = decrypt_in_batches(file.as_slice(), &[&identity], 1, |r| {
        r.read_exact(&mut first)
    })
    .unwrap();
    read.unwrap();
    assert_eq!(first, plain[..100]);
    // Read ahead at most the circulating buffers, not the whole file.
    assert!(rest.len() > file.len() / 2, "{} bytes left", rest.len());
}

#[test]
fn a_failure_stays_failed() {
    let identity = age::x25519::Identity::generate();
    let (_, file) = five_chunks(&identity);
    let mut flipped = file.clone();
    let at = file.len() - 100;
    flipped[at] ^= 1;
    let (errors, _) = decrypt_in_batches(flipped.as_slice(), &[&identity], 2, |r| {
        let mut sink = Vec::new();
        let first = r.read_to_end(&mut sink).is_err();
        let again = r.read(&mut [0u8; 10]).is_err();
        (first, again)
    })
    .unwrap();
    assert_eq!(errors, (true, true));
}
