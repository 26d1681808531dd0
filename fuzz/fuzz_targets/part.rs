//! tvault's age stanza and the part reader. The first byte picks a mode: 0 encrypts the rest
//! as a part and then flips the bits the last bytes name before reading it back (so damage
//! lands deep in real files); anything else reads the bytes as an age file. Reading never
//! panics, and a part is released only as the exact plaintext or not at all.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tvault::crypto::Key;
use tvault::crypto::part::{self, PartBinding, PartKey};
use tvault::record::RecordId;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes([3; 32]);
    let pk = PartKey {
        key: &key,
        binding: PartBinding {
            vault_id: [1; 16],
            record: RecordId([2; 16]),
            version: 1,
            part: 1,
        },
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        let split = rest.len().saturating_sub(8);
        let (plain, flips) = rest.split_at(split);
        let (sealed, mut file) = part::encrypt(&pk, &mut &plain[..], Vec::new())
            .ok()
            .unwrap();
        for pair in flips.chunks(2) {
            let at = u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]) as usize;
            if !file.is_empty() {
                let len = file.len();
                file[at % len] ^= 1 << (at % 8);
            }
        }
        let mut out = Vec::new();
        let read = part::open(
            &pk,
            file.as_slice(),
            sealed.size,
            sealed.padded_size,
            &sealed.sha256,
        )
        .and_then(|mut r| r.read_to_end(&mut out));
        if read.is_ok() {
            assert_eq!(out, plain, "other plaintext was released");
        }
    } else {
        let mut out = Vec::new();
        let size = rest.len() as u64 % 4096;
        if let Ok(mut r) = part::open(&pk, rest, size, size.max(1024), &[0; 32]) {
            let _ = r.read_to_end(&mut out);
        }
        let other = PartKey {
            key: &key,
            binding: PartBinding {
                part: 2,
                ..pk.binding
            },
        };
        let _ = part::rewrap_header(&pk, &other, rest);
    }
});
