//! Opening a vault file that anyone may have written (seeded with a real vault): unlocking,
//! listing, reading every record and verifying give results or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::vault::{Filter, OpenOptions};
use tvault::{RecordIdPrefix, Vault};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.tvault");
    std::fs::write(&path, data).unwrap();
    let passphrase = tvault::crypto::Passphrase::from_bytes(Zeroizing::new(
        b"fixture passphrase for format three".to_vec(),
    ))
    .unwrap();
    let Ok(mut vault) = Vault::open(&path, &passphrase, &OpenOptions::default()) else {
        return;
    };
    if let Ok(records) = vault.list(&Filter::default()) {
        for r in records {
            let prefix: RecordIdPrefix = r.id.to_string().parse().unwrap();
            let Ok(view) = vault.show(&prefix, None, true) else {
                continue;
            };
            for a in &view.sealed.attachments {
                let _ = vault.cat(
                    &prefix,
                    None,
                    a.name.as_deref().unwrap_or(""),
                    &mut std::io::sink(),
                );
            }
        }
    }
    let _ = vault.verify(false, &mut |_, _| {});
});
