//! Fuzz target `decode`: the body is `cxpulse::fuzzing::decode`, which the test suite also runs over
//! the committed corpus (tests/fuzz_corpora.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cxpulse::fuzzing::decode(data));
