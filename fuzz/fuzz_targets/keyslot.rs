//! A keyslot as read from a file, every field chosen by the fuzzer: it opens or it does not,
//! KDF parameters out of bounds are refused before anything is allocated, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::crypto::{KdfParams, Keyslot, Passphrase, SlotKind, Split};
use zeroize::Zeroizing;

fn u32_at(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, x) in data.iter().skip(at).take(4).enumerate() {
        b[i] = *x;
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    // Small memory so a run stays fast: bounds are what is being tested.
    let kdf = KdfParams {
        m_kib: u32_at(data, 0) % (1 << 14).max(1) | (u32_at(data, 0) & 0x8000_0000),
        t: u32_at(data, 4) % 4 | (u32_at(data, 4) & 0x4000_0000),
        p: u32_at(data, 8) % 8,
    };
    let rest = &data[12..];
    let third = rest.len() / 3;
    let slot = Keyslot {
        slot_id: [5; 16],
        kind: match data[0] % 3 {
            0 => SlotKind::Passphrase,
            1 => SlotKind::Recovery,
            _ => SlotKind::Custodians,
        },
        kdf,
        weak_kdf: data[1] & 1 == 1,
        salt: rest[..third].to_vec(),
        wrapped: rest[third..2 * third].to_vec(),
        label: rest[2 * third..].to_vec(),
        split: (data[0] % 3 == 2).then(|| Split {
            threshold: data[2],
            shares: data[3],
        }),
        operator_key: None,
    };
    let passphrase = Passphrase::from_bytes(Zeroizing::new(b"fuzz".to_vec())).unwrap();
    let _ = slot.unlock(&[9; 16], &passphrase);
});
