//! Arbitrary bytes as a `POST /order` body, through `NewOrder::parse_json`.
//!
//! Besides "never panics" (a panic, an overflow with debug assertions, a stack overflow or a
//! hang is a crash), every input is checked by the domain's oracle
//! (`orders_domain::oracle::check_parse`, shared with the property tests): an accepted order
//! keeps every rule and survives the queue round trip; only non-JSON is `invalid_json`; a
//! validation failure lists well-formed, distinct errors and answers 400; parsing is
//! deterministic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orders_domain::oracle::check_parse(data);
});
