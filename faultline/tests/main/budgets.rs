//! `--time-limit` and `--memory-limit` hold on histories built to blow the search up: the
//! answer is `unknown` with the reason, in about the time given, and the checking process's
//! peak RSS (measured by the kernel, `wait4`'s `ru_maxrss`) stays under the limit plus the
//! overhead stated below.

use crate::support::bin;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a check process holds beyond the searches: the binary, its threads, the parsed
/// history, the allocator's slack (measured on a small file in the same test), plus what the
/// searches may add between two budget checks.
const OVERHEAD_MIB: u64 = 8;

/// A finished child: exit code, stdout, peak RSS in MiB, wall time.
struct Run {
    code: i32,
    stdout: String,
    peak_mib: u64,
    elapsed: Duration,
}

/// Runs `faultline ARGS` and measures the child alone (`wait4` on its PID).
fn run(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start faultline");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).expect("read stdout");
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let elapsed = started.elapsed();
    std::mem::forget(child); // already reaped by wait4
    assert!(
        libc::WIFEXITED(status),
        "faultline did not exit normally: {status}"
    );
    Run {
        code: libc::WEXITSTATUS(status),
        stdout: reader.join().expect("reader"),
        peak_mib: usage.ru_maxrss as u64 / 1024,
        elapsed,
    }
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    path
}

/// `n` concurrent ok appends of distinct strings, then a get that no order explains: every
/// order of the appends is a distinct text, so the memo grows until a budget stops it.
fn appends_blow_up(n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"invoke","process":{p},"f":"append","key":"k","value":"a{p};"}}"#
        ));
    }
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"ok","process":{p},"f":"append","key":"k","value":"a{p};"}}"#
        ));
    }
    lines.push(format!(
        r#"{{"type":"invoke","process":{n},"f":"get","key":"k","value":null}}"#
    ));
    lines.push(format!(
        r#"{{"type":"ok","process":{n},"f":"get","key":"k","value":"nope"}}"#
    ));
    lines
}

/// `n` concurrent ok writes of distinct values, then a read of a value they did not write
/// concurrent with all of them but one: the search tries every subset of the writes.
fn writes_blow_up(n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"invoke","process":{p},"f":"write","key":"k","value":{p}}}"#
        ));
    }
    lines.push(format!(
        r#"{{"type":"invoke","process":{n},"f":"read","key":"k","value":null}}"#
    ));
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"ok","process":{p},"f":"write","key":"k","value":{p}}}"#
        ));
    }
    lines.push(format!(
        r#"{{"type":"ok","process":{n},"f":"read","key":"k","value":1000}}"#
    ));
    lines
}

#[test]
fn the_memory_limit_holds_for_the_whole_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = write(dir.path(), "small.jsonl", &writes_blow_up(2));
    let base = run(&["check", small.to_str().unwrap()]);
    assert_eq!(
        base.code, 1,
        "a read of a value never written: {}",
        base.stdout
    );
    // Two keys blow up at once: the limit is for the file, not per key.
    let mut lines = appends_blow_up(24);
    lines.extend(
        appends_blow_up(24)
            .into_iter()
            .map(|l| l.replace(r#""key":"k""#, r#""key":"j""#)),
    );
    let appends = write(dir.path(), "appends.jsonl", &lines);
    let writes = write(dir.path(), "writes.jsonl", &writes_blow_up(40));
    for (file, limit_mib) in [(&appends, 32u64), (&writes, 32), (&appends, 128)] {
        let limit = limit_mib.to_string();
        let r = run(&[
            "check",
            file.to_str().unwrap(),
            "--memory-limit",
            &limit,
            "--time-limit",
            "120",
        ]);
        assert_eq!(r.code, 3, "unknown is exit 3: {}", r.stdout);
        assert!(r.stdout.contains("memory limit reached"), "{}", r.stdout);
        let bound = base.peak_mib + limit_mib + OVERHEAD_MIB;
        assert!(
            r.peak_mib <= bound,
            "{}: peak RSS {} MiB over the {limit_mib} MiB limit + {} MiB base + {OVERHEAD_MIB} MiB",
            file.display(),
            r.peak_mib,
            base.peak_mib
        );
        eprintln!(
            "{}: --memory-limit {limit_mib}: peak RSS {} MiB (base {} MiB), {:.1} s",
            file.display(),
            r.peak_mib,
            base.peak_mib,
            r.elapsed.as_secs_f64()
        );
    }
}

#[test]
fn the_time_limit_holds_and_covers_pruning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appends = write(dir.path(), "appends.jsonl", &appends_blow_up(24));
    let r = run(&["check", appends.to_str().unwrap(), "--time-limit", "1"]);
    assert_eq!(r.code, 3, "unknown is exit 3: {}", r.stdout);
    assert!(r.stdout.contains("time limit reached"), "{}", r.stdout);
    // "About the time given": the limit plus process start, parse and the last budget check;
    // generous, for a shared machine and a debug build.
    assert!(r.elapsed < Duration::from_secs(5), "took {:?}", r.elapsed);

    // A valid append-kv history with 20,000 unobserved info appends and 200 gets of texts up to
    // 130 KB (13 MB read in all): pruning is the costly step (a scan per info op and text read
    // would compare some 10^11 bytes); it must end well inside the limit, with the verdict.
    let mut lines = Vec::new();
    let mut text = String::new();
    for i in 0..20_000 {
        let piece = format!("x{i} ");
        lines.push(format!(
            r#"{{"type":"invoke","process":0,"f":"append","key":"k","value":"{piece}"}}"#
        ));
        lines.push(format!(
            r#"{{"type":"ok","process":0,"f":"append","key":"k","value":"{piece}"}}"#
        ));
        text.push_str(&piece);
        if i % 100 == 0 {
            lines.push(
                r#"{"type":"invoke","process":0,"f":"get","key":"k","value":null}"#.to_string(),
            );
            lines.push(format!(
                r#"{{"type":"ok","process":0,"f":"get","key":"k","value":"{text}"}}"#
            ));
        }
    }
    for p in 1..20_000 {
        lines.push(format!(
            r#"{{"type":"invoke","process":{p},"f":"append","key":"k","value":"u{p}!"}}"#
        ));
        lines.push(format!(
            r#"{{"type":"info","process":{p},"f":"append","key":"k","value":"u{p}!"}}"#
        ));
    }
    let valid = write(dir.path(), "valid.jsonl", &lines);
    let r = run(&["check", valid.to_str().unwrap(), "--time-limit", "5"]);
    assert_eq!(r.code, 0, "valid, within the limit: {}", r.stdout);
    assert!(r.elapsed < Duration::from_secs(8), "took {:?}", r.elapsed);
}

#[test]
fn out_of_range_limits_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = write(dir.path(), "small.jsonl", &writes_blow_up(2));
    for args in [
        ["--time-limit", "1e19"],
        ["--time-limit", "-1"],
        ["--time-limit", "inf"],
        ["--memory-limit", "18446744073709551615"],
    ] {
        let mut all = vec!["check", small.to_str().unwrap()];
        all.extend(args);
        let r = run(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
    }
}
