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

/// Copies every node's log to stderr while it lives (`--log-stderr`): a thread reads what was
/// appended to each `nodes/<id>.log` every 200 ms and prints each complete line as `n1: line`.
/// Dropping it copies what is left and stops the thread.
pub struct LogCopy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogCopy {
    /// Starts copying the logs of `nodes` in `run_dir`.
    pub fn start(run_dir: &crate::store::RunDir, nodes: &[String]) -> LogCopy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let files: Vec<(String, std::path::PathBuf)> = nodes
            .iter()
            .map(|n| (n.clone(), run_dir.node_log(n)))
            .collect();
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut offsets = vec![0u64; files.len()];
            let mut partial = vec![Vec::new(); files.len()];
            loop {
                let last = flag.load(Ordering::Relaxed);
                for (i, (node, path)) in files.iter().enumerate() {
                    copy_new(node, path, &mut offsets[i], &mut partial[i]);
                }
                if last {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        LogCopy {
            stop,
            thread: Some(thread),
        }
    }
}

fn copy_new(node: &str, path: &Path, offset: &mut u64, partial: &mut Vec<u8>) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return;
    };
    if f.seek(SeekFrom::Start(*offset)).is_err() {
        return;
    }
    let mut buf = Vec::new();
    if let Ok(n) = f.read_to_end(&mut buf) {
        *offset += n as u64;
    }
    partial.extend_from_slice(&buf);
    let stderr = io::stderr();
    let mut out = stderr.lock();
    while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = partial.drain(..=nl).collect();
        let _ = write!(out, "{node}: {}", String::from_utf8_lossy(&line));
    }
}

impl Drop for LogCopy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
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
