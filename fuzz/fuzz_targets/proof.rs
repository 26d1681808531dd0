//! RFC 9162 proof verification with arbitrary sizes, indexes and hashes: never a panic (no
//! overflow, no out-of-range index), and a proof built from real leaves always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::audit;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().skip(at).take(8).enumerate() {
        b[i] = *x;
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let (m, n, index) = (u64_at(data, 0), u64_at(data, 8), u64_at(data, 16));
    let hashes: Vec<audit::Hash> = data
        .get(24..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    let first = hashes.first().copied().unwrap_or([0; 32]);
    let _ = audit::verify_consistency(m, n, &hashes, &first, &first);
    let _ = audit::verify_inclusion(index, n, &first, &hashes, &first);

    // Real trees from the hashes as leaves: every proof must verify.
    if !hashes.is_empty() && hashes.len() <= 64 {
        let size = hashes.len();
        let root = audit::root(&hashes);
        let i = (index % size as u64) as usize;
        let proof = audit::inclusion_proof(i, &hashes);
        assert!(audit::verify_inclusion(
            i as u64,
            size as u64,
            &hashes[i],
            &proof,
            &root
        ));
        let old = 1 + (m % size as u64) as usize;
        let proof = audit::consistency_proof(old, &hashes);
        let old_root = audit::root(&hashes[..old]);
        assert!(audit::verify_consistency(
            old as u64,
            size as u64,
            &proof,
            &old_root,
            &root
        ));
    }
});
