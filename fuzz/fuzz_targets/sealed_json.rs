//! The JSON documents tvault reads after decrypting or from a bundle (sealed metadata,
//! events, manifests, receipts, and a field kit's signed manifest and receipt): any bytes
//! give a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<tvault::record::SealedMeta>(data);
    let _ = serde_json::from_slice::<tvault::record::WitnessIdentity>(data);
    let _ = serde_json::from_slice::<tvault::audit::Event>(data);
    let _ = serde_json::from_slice::<tvault::bundle::Manifest>(data);
    let _ = serde_json::from_slice::<tvault::bundle::Receipt>(data);
    let _ = serde_json::from_slice::<tvault::bundle::kit::Signed>(data);
    let _ = serde_json::from_slice::<tvault::bundle::kit::KitManifest>(data);
    let _ = serde_json::from_slice::<tvault::bundle::kit::KitReceipt>(data);
});
