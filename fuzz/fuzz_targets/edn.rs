//! `histories::parse_reader(.., Format::Edn)` on any bytes: no panic, no hang, memory within
//! the bound of `faultline_fuzz::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| faultline_fuzz::parse(data, histories::Format::Edn));
