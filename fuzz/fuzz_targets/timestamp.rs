//! RFC 3161 timestamp responses and certificates from outside (`audit timestamp add`, a
//! bundle's `timestamps/`): parsing and checking never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tvault::audit::timestamp::{parse_certificates, token_of_response, verify_response, verify_token};

fuzz_target!(|data: &[u8]| {
    let anchors = parse_certificates(data).unwrap_or_default();
    let _ = verify_response(data, &anchors, &anchors);
    let _ = verify_token(data, &anchors, &anchors);
    let _ = token_of_response(data);
});
