//! The nemesis's integration tests, in one test binary: the end-to-end tests with real
//! namespaces, processes and iptables (`netns`), runs that must not touch each other
//! (`isolation`), and their shared fixture (`support`).
//!
//! Every test that needs root is ignored with a reason starting "needs root:"; run them with
//! `cargo test -p nemesis -- --include-ignored` as root.

mod isolation;
mod netns;
mod support;

/// Not a test: the entry point of helper processes, which re-execute this binary with
/// `--exact helper`. Does nothing unless `FL_NEMESIS_HELPER` is set.
#[test]
fn helper() {
    support::helper_main();
}
