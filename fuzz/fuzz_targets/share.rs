//! A custodian share file as a stranger could hand it over: it parses or it is refused, never
//! panics; what parses prints back to text that parses to the same share.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::crypto::shares::{Share, combine_check};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(share) = Share::parse(text) {
        let again = Share::parse(&share.to_text()).expect("a printed share parses");
        assert_eq!(again.index, share.index);
        assert_eq!(again.split_id, share.split_id);
        let _ = combine_check(&[share, again]);
    }
});
