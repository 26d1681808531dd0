//! The parallel reader against the age crate: the same bytes from the same files, and a
//! failure (releasing at most an authenticated prefix) for every way a stream can be cut,
//! altered or rearranged.

use std::io::{Read, Write};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use super::{CHUNK, Expected, ReadFailure, chunk_nonce, decrypt_in_batches, payload_key};
use crate::crypto::Key;
use crate::crypto::part::{self, MismatchError, PartBinding, PartKey};
use crate::record::RecordId;

const SEALED: usize = CHUNK + 16;

fn binding(part: u32) -> PartBinding {
    PartBinding {
        vault_id: [7; 16],
        record: RecordId([9; 16]),
        version: 1,
        part,
    }
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) % 251) as u8 ^ seed)
        .collect()
}

/// An age file split where its header ends (after the `---` MAC line); all header if it
/// has no end.
fn split(file: &[u8]) -> (&[u8], &[u8]) {
    let end = file
        .windows(5)
        .position(|w| w == b"\n--- ")
        .and_then(|mac| Some(mac + 1 + file[mac + 1..].iter().position(|&b| b == b'\n')? + 1))
        .unwrap_or(file.len());
    file.split_at(end)
}

/// How a read ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    /// Authentic but not the content the manifest describes.
    Mismatch,
    /// Not authentic, cut short, or not an age file.
    Broken,
}

/// Reads `file` with the parallel reader: how it ended, and what it released.
fn read(
    key: &PartKey<'_>,
    file: &[u8],
    expected: &Expected,
    batch_chunks: usize,
) -> (Outcome, Vec<u8>) {
    let (header, mut payload) = split(file);
    let mut out = Vec::new();
    let result = decrypt_in_batches(key, header, &mut payload, expected, &mut out, batch_chunks);
    let outcome = match result {
        Ok(()) => Outcome::Ok,
        Err(ReadFailure::Input(e)) if e.get_ref().is_some_and(|i| i.is::<MismatchError>()) => {
            Outcome::Mismatch
        }
        Err(ReadFailure::Input(_)) => Outcome::Broken,
        Err(ReadFailure::Output(e)) => panic!("writing to a Vec failed: {e}"),
    };
    (outcome, out)
}

/// A part written by the current writer (the age crate), and what its manifest says.
fn sealed_part(key: &PartKey<'_>, plain: &[u8]) -> (Vec<u8>, Expected) {
    let (sealed, file) = part::encrypt(key, &mut &plain[..], Vec::new()).unwrap();
    let expected = Expected {
        size: sealed.size,
        padded_size: sealed.padded_size,
        sha256: sealed.sha256,
    };
    (file, expected)
}

/// Where chunk `i` of the payload starts in the file (after the 16-byte nonce).
fn chunk_at(file: &[u8], i: usize) -> usize {
    split(file).0.len() + 16 + i * SEALED
}

/// Re-seals plaintext `text` as chunk `counter` of `file`'s payload with the given last
/// flag, as a forger holding the payload key would.
fn forge_chunk(key: &PartKey<'_>, file: &[u8], counter: u64, last: bool, text: &[u8]) -> Vec<u8> {
    let (header, payload) = split(file);
    let nonce: [u8; 16] = payload[..16].try_into().unwrap();
    let payload_key = payload_key(key, header, &nonce).unwrap();
    let cipher = ChaCha20Poly1305::new((&*payload_key).into());
    let n = chunk_nonce(counter, last);
    let mut sealed = text.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&n), &[], &mut sealed)
        .unwrap();
    sealed.extend_from_slice(&tag);
    sealed
}

#[test]
fn parts_written_by_age_read_back_byte_for_byte_in_any_batch_size() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    for len in [
        0,
        1,
        1000,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        3 * CHUNK,
        200_000,
        2_500_000,
    ] {
        let plain = content(len, 1);
        let (file, expected) = sealed_part(&key, &plain);
        // The age crate's own reading of the same file: the content, then zero padding.
        let mut by_age = Vec::new();
        age::Decryptor::new_buffered(file.as_slice())
            .unwrap()
            .decrypt(std::iter::once(&key as &dyn age::Identity))
            .unwrap()
            .read_to_end(&mut by_age)
            .unwrap();
        assert_eq!(by_age.len() as u64, expected.padded_size);
        assert_eq!(by_age[..len], plain[..]);
        for batch_chunks in [1, 2, 3, 16] {
            let (outcome, out) = read(&key, &file, &expected, batch_chunks);
            assert_eq!(
                outcome,
                Outcome::Ok,
                "{len} bytes, {batch_chunks} per batch"
            );
            assert!(out == plain, "{len} bytes, {batch_chunks} per batch");
        }
        // Another place, or another key, opens nothing.
        let elsewhere = PartKey {
            key: &secret,
            binding: binding(2),
        };
        assert_eq!(
            read(&elsewhere, &file, &expected, 2),
            (Outcome::Broken, Vec::new())
        );
    }
}

#[test]
fn an_empty_payload_reads_as_empty_and_is_still_authenticated() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    // Parts are padded, so their payload is never empty; an age file can be.
    let mut file = Vec::new();
    let writer = age::Encryptor::with_recipients(std::iter::once(&key as &dyn age::Recipient))
        .unwrap()
        .wrap_output(&mut file)
        .unwrap();
    writer.finish().unwrap();
    let mut expected = Expected {
        size: 0,
        padded_size: 0,
        sha256: sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new()).into(),
    };
    assert_eq!(chunk_at(&file, 0) + 16, file.len(), "one empty chunk");
    assert_eq!(read(&key, &file, &expected, 2), (Outcome::Ok, Vec::new()));
    let mut flipped = file.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(read(&key, &flipped, &expected, 2).0, Outcome::Broken);
    assert_eq!(
        read(&key, &file[..file.len() - 1], &expected, 2).0,
        Outcome::Broken
    );
    expected.sha256[0] ^= 1;
    assert_eq!(read(&key, &file, &expected, 2).0, Outcome::Mismatch);
}

/// A multi-batch part for the tamper tests: 5 chunks of 64 KiB (and padding), 2 per batch.
fn five_chunks(key: &PartKey<'_>) -> (Vec<u8>, Vec<u8>, Expected) {
    let plain = content(4 * CHUNK + 20_000, 3);
    let (file, expected) = sealed_part(key, &plain);
    assert_eq!(expected.padded_size.div_ceil(CHUNK as u64), 5);
    assert_eq!(
        file.len(),
        chunk_at(&file, 4) + (expected.padded_size as usize - 4 * CHUNK) + 16
    );
    (plain, file, expected)
}

/// Checks that a read of an altered file failed as `outcome` and released at most whole
/// authenticated batches of the true content, never its last one.
fn fails_with_a_prefix(
    key: &PartKey<'_>,
    file: &[u8],
    expected: &Expected,
    plain: &[u8],
    outcome: Outcome,
    what: &str,
) {
    let (got, out) = read(key, file, expected, 2);
    assert_eq!(got, outcome, "{what}");
    assert_eq!(out, plain[..out.len()], "{what}: not a prefix");
    assert_eq!(out.len() % (2 * CHUNK), 0, "{what}: part of a batch");
    assert!(
        out.len() < plain.len(),
        "{what}: the last batch was released"
    );
}

#[test]
fn a_flipped_byte_anywhere_fails() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (plain, file, expected) = five_chunks(&key);
    let header_len = split(&file).0.len();
    let mut places = vec![10, header_len - 3, header_len, header_len + 15];
    for i in 0..5 {
        places.extend([chunk_at(&file, i), chunk_at(&file, i) + 1000]);
        places.push((chunk_at(&file, i + 1) - 1).min(file.len() - 1));
    }
    for at in places {
        let mut flipped = file.clone();
        flipped[at] ^= 0x20;
        fails_with_a_prefix(
            &key,
            &flipped,
            &expected,
            &plain,
            Outcome::Broken,
            &format!("byte {at}"),
        );
    }
}

#[test]
fn a_cut_stream_fails_wherever_it_is_cut() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (plain, file, expected) = five_chunks(&key);
    let mut cuts = vec![0, 30, split(&file).0.len() + 8];
    for i in 0..5 {
        let edge = chunk_at(&file, i);
        cuts.extend([edge - 1, edge, edge + 1]);
    }
    cuts.push(file.len() - 1);
    for cut in cuts {
        fails_with_a_prefix(
            &key,
            &file[..cut],
            &expected,
            &plain,
            Outcome::Broken,
            &format!("cut at {cut}"),
        );
    }
    // Bytes after the end are refused too.
    let mut longer = file.clone();
    longer.push(0);
    fails_with_a_prefix(
        &key,
        &longer,
        &expected,
        &plain,
        Outcome::Broken,
        "a byte appended",
    );
}

#[test]
fn dropped_duplicated_reordered_or_foreign_chunks_fail() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (plain, file, expected) = five_chunks(&key);
    let chunk = |f: &[u8], i: usize| f[chunk_at(f, i)..chunk_at(f, i) + SEALED].to_vec();
    let with_chunks = |chunks: &[Vec<u8>], last: &[u8]| {
        let mut f = file[..chunk_at(&file, 0)].to_vec();
        for c in chunks {
            f.extend_from_slice(c);
        }
        f.extend_from_slice(last);
        f
    };
    let last = &file[chunk_at(&file, 4)..];
    let c: Vec<Vec<u8>> = (0..4).map(|i| chunk(&file, i)).collect();
    // Rebuilt unchanged, it reads: the cases below differ only in the chunks.
    assert_eq!(
        read(&key, &with_chunks(&c, last), &expected, 2),
        (Outcome::Ok, plain.clone())
    );

    let dropped = with_chunks(&[c[0].clone(), c[1].clone(), c[3].clone()], last);
    fails_with_a_prefix(
        &key,
        &dropped,
        &expected,
        &plain,
        Outcome::Broken,
        "chunk 2 dropped",
    );
    let duplicated = with_chunks(
        &[
            c[0].clone(),
            c[1].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
        ],
        last,
    );
    fails_with_a_prefix(
        &key,
        &duplicated,
        &expected,
        &plain,
        Outcome::Broken,
        "chunk 1 twice",
    );
    let swapped = with_chunks(
        &[c[0].clone(), c[2].clone(), c[1].clone(), c[3].clone()],
        last,
    );
    fails_with_a_prefix(
        &key,
        &swapped,
        &expected,
        &plain,
        Outcome::Broken,
        "chunks 1 and 2 swapped",
    );
    let last_dropped = with_chunks(&c, &[]);
    fails_with_a_prefix(
        &key,
        &last_dropped,
        &expected,
        &plain,
        Outcome::Broken,
        "last chunk dropped",
    );

    // A chunk at the same place in another part under the same key and binding: another
    // file key, another payload key.
    let (_, other, other_expected) = five_chunks(&key);
    assert_eq!(other_expected.padded_size, expected.padded_size);
    let foreign = with_chunks(
        &[c[0].clone(), c[1].clone(), c[2].clone(), chunk(&other, 3)],
        last,
    );
    fails_with_a_prefix(
        &key,
        &foreign,
        &expected,
        &plain,
        Outcome::Broken,
        "chunk 3 from another part",
    );
}

#[test]
fn a_last_chunk_in_the_middle_fails_even_when_it_authenticates_there() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (plain, file, expected) = five_chunks(&key);
    let text = &plain[2 * CHUNK..3 * CHUNK];
    let at = chunk_at(&file, 2);
    // The forger's chunk with the right flag reads: the forgery below is made correctly.
    let mut honest = file.clone();
    honest[at..at + SEALED].copy_from_slice(&forge_chunk(&key, &file, 2, false, text));
    assert_eq!(
        read(&key, &honest, &expected, 2),
        (Outcome::Ok, plain.clone())
    );

    let mut flagged = file.clone();
    flagged[at..at + SEALED].copy_from_slice(&forge_chunk(&key, &file, 2, true, text));
    fails_with_a_prefix(
        &key,
        &flagged,
        &expected,
        &plain,
        Outcome::Broken,
        "last flag on chunk 2",
    );
    // A stream that ends early with a last chunk where it was cut.
    let mut short = file[..at].to_vec();
    short.extend_from_slice(&forge_chunk(&key, &file, 2, true, text));
    fails_with_a_prefix(
        &key,
        &short,
        &expected,
        &plain,
        Outcome::Broken,
        "ends at chunk 2",
    );
    // And the real last chunk without its flag.
    let tail = &by_age(&key, &file)[4 * CHUNK..];
    let mut unflagged = file[..chunk_at(&file, 4)].to_vec();
    unflagged.extend_from_slice(&forge_chunk(&key, &file, 4, false, tail));
    fails_with_a_prefix(
        &key,
        &unflagged,
        &expected,
        &plain,
        Outcome::Broken,
        "no last flag",
    );
}

/// The age crate's plaintext of `file`, padding included.
fn by_age(key: &PartKey<'_>, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    age::Decryptor::new_buffered(file)
        .unwrap()
        .decrypt(std::iter::once(key as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn a_content_that_does_not_match_its_manifest_withholds_its_last_batch() {
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (plain, file, expected) = five_chunks(&key);
    let mut wrong = expected;
    wrong.sha256[5] ^= 1;
    fails_with_a_prefix(
        &key,
        &file,
        &wrong,
        &plain,
        Outcome::Mismatch,
        "another hash",
    );
    // All but the last batch were released: the hash is known only at the end.
    assert_eq!(read(&key, &file, &wrong, 2).1.len(), 4 * CHUNK);
    let shorter = Expected {
        size: expected.size - 1,
        ..expected
    };
    fails_with_a_prefix(
        &key,
        &file,
        &shorter,
        &plain,
        Outcome::Mismatch,
        "a shorter size",
    );
    let smaller = Expected {
        padded_size: expected.size - 1,
        ..expected
    };
    assert_eq!(
        read(&key, &file, &smaller, 2),
        (Outcome::Mismatch, Vec::new())
    );

    // Authentic but with a byte of padding that is not zero.
    let mut tail = by_age(&key, &file)[4 * CHUNK..].to_vec();
    *tail.last_mut().unwrap() = 1;
    let mut padded = file[..chunk_at(&file, 4)].to_vec();
    padded.extend_from_slice(&forge_chunk(&key, &file, 4, true, &tail));
    fails_with_a_prefix(
        &key,
        &padded,
        &expected,
        &plain,
        Outcome::Mismatch,
        "padding not zero",
    );
}

#[test]
fn a_failing_output_stops_the_read() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let secret = Key::random();
    let key = PartKey {
        key: &secret,
        binding: binding(1),
    };
    let (_, file, expected) = five_chunks(&key);
    let (header, mut payload) = split(&file);
    let result = decrypt_in_batches(&key, header, &mut payload, &expected, &mut Full, 1);
    assert!(matches!(result, Err(ReadFailure::Output(_))));
}
