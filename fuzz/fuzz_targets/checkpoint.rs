//! Fuzz target `checkpoint`: the body is `cxpulse::fuzzing::checkpoint`, which the test suite also
//! runs over the committed corpus (tests/fuzz_corpora.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cxpulse::fuzzing::checkpoint(data));
