//! Signed checkpoints and consistency proofs as text from outside: parsing and checking
//! never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::audit::{Checkpoint, ConsistencyProof};

fuzz_target!(|data: &[u8]| {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Checkpoint::verify(text, &key);
    }
    if let Ok(proof) = serde_json::from_slice::<ConsistencyProof>(data) {
        let _ = proof.check(&key);
    }
});
