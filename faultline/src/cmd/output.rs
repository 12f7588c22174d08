//! Terminal output helpers: quiet on a broken pipe (as ripgrep is), progress on stderr.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// True when `err` (anywhere in its chain) is a broken pipe: `faultline check ... | head`.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `err` and its causes, outermost first, joined by `: ` (as `{:#}` prints them), leaving out a
/// cause whose text its parent's message already ends with (an error that prints its source
/// and also returns it as `source()`).
pub fn chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let line = cause.to_string();
        if text.ends_with(&line) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&line);
    }
    text
}

/// Writes `text` to stdout; a broken pipe comes back as an error the caller turns into exit 0.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints "still working" lines on stderr while a long job runs, so a long check never looks hung.
///
/// Silent for the first `quiet_for`; then one line every `every`. Stops when dropped, at once:
/// the thread waits on a channel with a timeout, and dropping the sender wakes it.
pub struct Progress {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts the progress thread for a job described by `what` ("checking 3 files").
    pub fn start(what: String, quiet_for: Duration, every: Duration) -> Progress {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let started = Instant::now();
            let mut next = quiet_for;
            loop {
                let wait = next.saturating_sub(started.elapsed());
                match stopped.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        eprintln!(
                            "faultline: {what}: {:.0} s elapsed",
                            started.elapsed().as_secs_f64()
                        );
                        next += every.max(Duration::from_millis(100));
                    }
                    // Told to stop, or the Progress is gone.
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Progress {
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug)]
    struct Repeats(io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "open x: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_chain_is_printed_once_per_cause() {
        let err: anyhow::Result<()> = Err(io::Error::other("gone")).context("read y");
        assert_eq!(chain(&err.unwrap_err()), "read y: gone");
        let err: anyhow::Result<()> = Err(Repeats(io::Error::other("denied"))).context("start n1");
        assert_eq!(chain(&err.unwrap_err()), "start n1: open x: denied");
    }
}
