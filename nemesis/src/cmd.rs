//! Running `ip` and `iptables` as commands.
//!
//! Why commands and not netlink: see the crate docs ("Why `ip` and `iptables` are commands").
//! Every call goes through [`run`], so an error always names the full command line and its stderr,
//! and `tracing` at debug level shows every command the nemesis runs.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Runs `program args...`, feeding `stdin` if given; returns stdout on success.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let command = display(program, args);
    tracing::debug!(%command, "run");
    let resolved = which(program).unwrap_or_else(|| PathBuf::from(program));
    let mut child = Command::new(resolved)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| Error::io(format!("writing stdin of `{command}`"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for `{command}`"), e))?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip args...`.
pub(crate) fn ip(args: &[&str]) -> Result<String> {
    run("ip", args, None)
}

/// Runs `program args...` inside the network namespace `netns` (via `ip netns exec`).
pub(crate) fn in_netns(
    netns: &str,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    let mut full = vec!["netns", "exec", netns, program];
    full.extend_from_slice(args);
    run("ip", &full, stdin)
}

fn display(program: &str, args: &[&str]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Whether `program` is found in `PATH` or in the sbin directories (root's tools live there and
/// a non-login shell may not have them in `PATH`).
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
