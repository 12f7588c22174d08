//! `SystemSpec::parse` (faultline/src/spec.rs) on any text: no panic, no hang, memory within the
//! bound of `faultline_fuzz::spec`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| faultline_fuzz::spec(data));
