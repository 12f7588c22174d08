//! `faultline.log`: the harness's own log (tracing), in the run's store directory.
//!
//! The subscriber is installed before the run directory exists, so it writes into a slot that
//! [`open`] fills once the directory is there; until then, lines are dropped (nothing happens
//! before the directory is created but argument parsing). Every line is written unbuffered,
//! so the log survives a SIGKILL of the harness up to the last line.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

static SLOT: Mutex<Option<File>> = Mutex::new(None);

/// Directs the log to `path` (created or appended).
pub fn open(path: &Path) -> io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *SLOT.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    Ok(())
}

/// Stops writing to the current file.
pub fn close() {
    *SLOT.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// A `tracing_subscriber` writer into the slot.
pub struct RunLog;

impl Write for RunLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = SLOT.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the subscriber: `RUST_LOG` or `info` for faultline and nemesis, into the run's log.
pub fn install() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("faultline=info,nemesis=info,warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| RunLog)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_once_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::store::LOG);
        RunLog.write_all(b"dropped\n").unwrap();
        open(&path).unwrap();
        RunLog.write_all(b"kept\n").unwrap();
        close();
        RunLog.write_all(b"dropped too\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
    }
}
