//! Helpers shared by the modules of this test binary.

use std::path::PathBuf;

/// The path of a fixture in `testdata/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}
