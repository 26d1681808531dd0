//! Export bundle verification over arbitrary bytes (seeded with a real bundle): outer tar,
//! signatures, the age payload and the inner tar. Never a panic, and nothing is written
//! outside the folder it is opened into.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use tvault::bundle::{SignerTrust, Unlock, verify_bundle};

const IDENTITY: &str = include_str!("../../tests/fixtures/export-v1.key");

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.tar");
    std::fs::write(&path, data).unwrap();
    let line = IDENTITY
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let identity = age::x25519::Identity::from_str(line).unwrap();
    let unlock = Unlock::Identities(vec![Box::new(identity)]);
    let into = dir.path().join("opened");
    let _ = verify_bundle(&path, &SignerTrust::BundleOnly, Some(&unlock), Some(&into));
    // Whatever was opened stays inside `into`.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            name == "bundle.tar" || name == "opened",
            "{name:?} written outside"
        );
    }
});
