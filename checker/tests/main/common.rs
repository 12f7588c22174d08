//! Helpers shared by the modules of this test binary: fixtures and inline histories.

use histories::{load, Format, History};
use std::path::{Path, PathBuf};

/// A fixture of `histories/testdata`, loaded in the format it is detected as.
pub fn fixture(name: &str) -> History {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../histories/testdata")
        .join(name);
    load(&p, Format::Auto)
        .unwrap_or_else(|e| panic!("{e}"))
        .history
}

/// A JSONL history given inline.
pub fn jsonl(text: &str) -> History {
    histories::parse_reader(text.as_bytes(), "inline.jsonl", Format::Jsonl)
        .unwrap_or_else(|e| panic!("{e}"))
        .history
}

/// A directory of this crate's `testdata/`.
pub fn testdata(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(dir)
}
