//! Headless Chromium, for the report's browser tests and `faultline bench report`.
//!
//! Debian's `chromium` package (`/usr/bin/chromium`), driven by its command line:
//! `--dump-dom` prints the DOM after the page's scripts ran (the timeline sets `data-lanes`,
//! `data-ready-ms` and adds `#fl-failing-marker` only when it has drawn), `--screenshot` saves a
//! PNG. Each run gets its own profile directory (so parallel tests do not share a lock) and a
//! deadline, after which the child is killed by its PID.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to run when Chromium is missing.
pub const INSTALL_HINT: &str = "apt-get update && apt-get install -y chromium";

/// Longest a single Chromium run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Chromium's path: `$FAULTLINE_CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// Chromium's path, installing Debian's package first when it is missing and we are root (as
/// the report tests need it). The error says exactly what to run.
pub fn ensure() -> Result<PathBuf> {
    // One install at a time: parallel tests would otherwise race for dpkg's lock.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find() {
        return Ok(p);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        eprintln!("faultline: chromium missing; running: {INSTALL_HINT}");
        let ok = Command::new("sh")
            .args([
                "-c",
                &format!("DEBIAN_FRONTEND=noninteractive {INSTALL_HINT}"),
            ])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            if let Some(p) = find() {
                return Ok(p);
            }
        }
    }
    bail!("headless Chromium is needed for the report's browser tests and was not found (and could not be installed); run as root: {INSTALL_HINT}")
}

fn run(args: &[String], timeout: Duration) -> Result<String> {
    let chromium = ensure()?;
    let profile = tempfile::tempdir().context("create a Chromium profile directory")?;
    let mut child = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", chromium.display()))?;
    let mut stdout = child.stdout.take().context("chromium stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("chromium exited with {status}");
    }
    Ok(out)
}

fn url(page: &Path) -> Result<String> {
    let abs = page
        .canonicalize()
        .with_context(|| format!("{}: cannot open", page.display()))?;
    Ok(format!("file://{}", abs.display()))
}

/// The DOM of `page` after its scripts ran.
pub fn dump_dom(page: &Path) -> Result<String> {
    run(
        &[
            "--window-size=1280,1400".into(),
            "--dump-dom".into(),
            url(page)?,
        ],
        RUN_TIMEOUT,
    )
}

/// The DOM of `page` after its scripts ran and `ms` of virtual time passed (timers and animation
/// frames run: for pages that react to events they send themselves).
pub fn dump_dom_after(page: &Path, ms: u32) -> Result<String> {
    run(
        &[
            "--window-size=1280,1400".into(),
            format!("--virtual-time-budget={ms}"),
            "--dump-dom".into(),
            url(page)?,
        ],
        RUN_TIMEOUT,
    )
}

/// Saves a screenshot of `page` to `png`.
pub fn screenshot(page: &Path, png: &Path, size: (u32, u32)) -> Result<()> {
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    run(
        &[
            format!("--window-size={},{}", size.0, size.1),
            format!("--screenshot={}", png.display()),
            url(page)?,
        ],
        RUN_TIMEOUT,
    )?;
    if !png.is_file() {
        bail!("chromium wrote no screenshot at {}", png.display());
    }
    Ok(())
}

/// The value of attribute `name` on the element with id `id` in a dumped DOM.
pub fn attr(dom: &str, id: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!(" {name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_from_the_element_with_the_id() {
        let dom = "<div id=\"a\" data-x=\"1\"></div><div data-lanes=\"7\" id=\"fl-timeline\" class=\"t\">";
        assert_eq!(attr(dom, "fl-timeline", "data-lanes").as_deref(), Some("7"));
        assert_eq!(attr(dom, "a", "data-x").as_deref(), Some("1"));
        assert_eq!(attr(dom, "a", "data-lanes"), None);
        assert_eq!(attr(dom, "zz", "data-x"), None);
    }
}
