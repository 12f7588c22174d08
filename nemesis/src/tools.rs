//! Root and system tools: what the netns backend needs from the machine.
//!
//! Why: a missing `iptables` or a run without root must end in one clear line (the CLI exits 2),
//! not in a cryptic `ip` error half-way through a setup. [`ensure_tools`] installs the Debian
//! packages `iproute2` and `iptables` with `apt-get` when it can (root on Debian), and otherwise
//! says exactly what to run.
//!
//! Commands: `apt-get install -y iproute2 iptables` (and `apt-get update` once if that fails).

use crate::cmd;
use crate::error::{Error, Result};

/// The programs the netns backend runs, with the Debian package of each.
pub const TOOLS: [(&str, &str); 3] = [
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("iptables-restore", "iptables"),
];

/// Whether we run as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `Err(Error::NotRoot)` unless we run as root.
pub fn require_root() -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot)
    }
}

/// The programs of [`TOOLS`] that are not installed.
pub fn missing_tools() -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|(program, _)| cmd::which(program).is_none())
        .map(|(program, _)| *program)
        .collect()
}

fn packages_for(missing: &[&str]) -> Vec<&'static str> {
    let mut pkgs: Vec<&'static str> = TOOLS
        .iter()
        .filter(|(p, _)| missing.contains(p))
        .map(|(_, pkg)| *pkg)
        .collect();
    pkgs.dedup();
    pkgs
}

fn is_debian() -> bool {
    std::path::Path::new("/etc/debian_version").exists() && cmd::which("apt-get").is_some()
}

/// Makes sure `ip`, `iptables` and `iptables-restore` exist: installs the missing packages with
/// `apt-get` when root on Debian; otherwise returns [`Error::MissingTools`] naming the exact
/// command to run. Returns the packages it installed (empty when nothing was missing).
pub fn ensure_tools() -> Result<Vec<String>> {
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let pkgs = packages_for(&missing);
    let install_line = format!("apt-get install -y {}", pkgs.join(" "));
    let error = |install: String| Error::MissingTools {
        missing: missing.join(", "),
        install,
    };
    if !is_debian() {
        return Err(error(format!(
            "your package manager (packages providing {}: iproute2, iptables)",
            missing.join(", ")
        )));
    }
    if !is_root() {
        return Err(error(format!("sudo {install_line}")));
    }
    let mut args = vec!["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y"];
    args.extend(pkgs.iter().copied());
    if cmd::run("env", &args, None).is_err() {
        cmd::run("apt-get", &["update"], None)?;
        cmd::run("env", &args, None)?;
    }
    let still = missing_tools();
    if !still.is_empty() {
        return Err(error(install_line));
    }
    Ok(pkgs.into_iter().map(String::from).collect())
}

/// Checks root and tools without installing anything (what a backend setup needs).
pub fn check() -> Result<()> {
    require_root()?;
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingTools {
        missing: missing.join(", "),
        install: format!("apt-get install -y {}", packages_for(&missing).join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_root_message_is_one_line_and_names_root() {
        let msg = Error::NotRoot.to_string();
        assert!(!msg.contains('\n'));
        assert!(msg.contains("root"), "{msg}");
        assert!(msg.contains("network namespaces"), "{msg}");
    }

    #[test]
    fn packages_are_deduplicated() {
        assert_eq!(
            packages_for(&["iptables", "iptables-restore"]),
            vec!["iptables"]
        );
        assert_eq!(packages_for(&["ip"]), vec!["iproute2"]);
    }
}
