//! What the integration tests share: the built binary, the workspace and its fixtures,
//! temporary histories, free loopback ports, and a process's output as text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `faultline` binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

/// Runs `faultline ARGS` to the end.
pub fn faultline(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run faultline")
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("faultline/ has a parent")
        .to_path_buf()
}

/// A history of `histories/testdata/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("histories/testdata").join(name)
}

/// [`fixture`] as an argument.
pub fn fixture_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_history(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a history");
    path
}

/// A free loopback port below the ephemeral range.
pub fn free_port() -> u16 {
    node::ports::free_loopback_port().expect("a free loopback port")
}

/// The process's stdout, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The process's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// raft-node must sit next to the faultline binary (`{bin}` in the spec).
pub fn ensure_raft_node() {
    let bin = raft_node();
    if bin.exists() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "node", "--bin", "raft-node"])
        .current_dir(workspace())
        .status()
        .expect("run cargo build -p node");
    assert!(status.success(), "cargo build -p node failed");
}

/// Where [`ensure_raft_node`] puts raft-node: next to the faultline binary.
pub fn raft_node() -> PathBuf {
    bin().with_file_name("raft-node")
}
