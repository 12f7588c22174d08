//! The `faultline` binary as a user runs it: exit codes, messages, JSON, every format and model
//! both ways, and the in-memory register through real TCP.

use crate::support::{bin, faultline, fixture_arg as fixture, stderr, stdout, write_history};
use std::process::Command;

#[test]
fn every_fixture_exits_0_when_valid_and_1_when_invalid() {
    let pairs = [
        ("jsonl-cas-register", "jsonl"),
        ("jsonl-kv", "jsonl"),
        ("knossos-cas-register", "edn"),
        ("jepsen-log-register", "log"),
        ("porcupine-append-kv", "txt"),
        ("knossos-multi-register", "edn"),
        ("knossos-mutex", "edn"),
    ];
    for (base, ext) in pairs {
        let good = faultline(&["check", &fixture(&format!("{base}-valid.{ext}"))]);
        assert_eq!(good.status.code(), Some(0), "{base}: {}", stdout(&good));
        assert!(stdout(&good).contains("valid ("), "{base}");
        let bad = faultline(&["check", &fixture(&format!("{base}-invalid.{ext}"))]);
        assert_eq!(bad.status.code(), Some(1), "{base}: {}", stdout(&bad));
        assert!(stdout(&bad).contains("cannot be linearized"), "{base}");
    }
}

#[test]
fn json_names_the_key_the_failing_op_and_the_possible_states() {
    let o = faultline(&["check", "--json", &fixture("jsonl-kv-invalid.jsonl")]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &v["result"]["counterexample"];
    assert_eq!(v["result"]["valid"], false);
    assert_eq!(c["key"], "k1");
    assert_eq!(c["op"]["f"], "read");
    assert_eq!(c["op"]["call_line"], 7);
    assert_eq!(c["possible_states"][0], "1");
}

#[test]
fn bad_input_exits_2_naming_file_and_line() {
    for (name, line) in [
        ("garbled-bad-json.jsonl", 3),
        ("garbled-truncated-middle.jsonl", 3),
        ("garbled-no-invoke.jsonl", 3),
    ] {
        let o = faultline(&["check", &fixture(name)]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let text = stdout(&o);
        assert!(text.contains(&format!("{name}:{line}:")), "{text}");
    }
    let o = faultline(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    let o = faultline(&["check", "--model", "frob", &fixture("jsonl-kv-valid.jsonl")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("invalid value 'frob' for '--model <M>'"),
        "{err}"
    );
    assert!(
        err.contains("possible values: register, cas-register, kv"),
        "{err}"
    );
    let o = faultline(&["check", "--format", "xml", &fixture("jsonl-kv-valid.jsonl")]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn several_files_one_line_each_and_a_summary() {
    let o = faultline(&[
        "check",
        &fixture("jsonl-kv-valid.jsonl"),
        &fixture("knossos-mutex-valid.edn"),
        &fixture("garbled-truncated-middle.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(2), "unreadable input wins over valid");
    let text = stdout(&o);
    assert!(
        text.contains("3 files: 2 valid, 0 invalid, 0 unknown, 1 unreadable"),
        "{text}"
    );
    assert!(
        text.contains("jsonl-kv-valid.jsonl: valid (")
            && text.contains("; read 13 lines, 0 skipped"),
        "every summary line counts lines: {text}"
    );
    let o = faultline(&[
        "check",
        &fixture("jsonl-kv-invalid.jsonl"),
        &fixture("garbled-truncated-middle.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(1), "invalid wins over unreadable");
}

#[test]
fn format_model_and_initial_can_be_forced() {
    let o = faultline(&[
        "check",
        "--format",
        "edn",
        "--model",
        "cas-register",
        &fixture("knossos-cas-register-valid.edn"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let o = faultline(&[
        "check",
        "--format",
        "jsonl",
        &fixture("knossos-cas-register-valid.edn"),
    ]);
    assert_eq!(o.status.code(), Some(2), "EDN read as JSONL is bad input");
    // With initial value 0 the first read of "absent" in the kv fixture no longer fits.
    let o = faultline(&["check", "--initial", "0", &fixture("jsonl-kv-valid.jsonl")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn the_stateright_engine_gives_a_second_opinion() {
    let o = faultline(&[
        "check",
        "--engine",
        "stateright",
        &fixture("jsonl-cas-register-valid.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = faultline(&[
        "check",
        "--engine",
        "stateright",
        &fixture("jsonl-cas-register-invalid.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn leader_events_are_checked_for_election_safety() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("n1.log");
    let b = dir.path().join("n2.log");
    std::fs::write(
        &a,
        "{\"event\":\"leader\",\"node\":\"n1\",\"term\":1}\nlog text\n",
    )
    .unwrap();
    std::fs::write(&b, "{\"event\":\"leader\",\"node\":\"n2\",\"term\":2}\n").unwrap();
    let h = fixture("jsonl-kv-valid.jsonl");
    let args = |extra: &str| {
        vec![
            "check".to_string(),
            h.clone(),
            "--leader-events".into(),
            a.display().to_string(),
            extra.to_string(),
        ]
    };
    let o = Command::new(bin())
        .args(args(&b.display().to_string()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    std::fs::write(&b, "{\"event\":\"leader\",\"node\":\"n2\",\"term\":1}\n").unwrap();
    let o = Command::new(bin())
        .args(args(&b.display().to_string()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("term 1: two leaders, n1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn help_shows_examples() {
    let o = faultline(&["check", "--help"]);
    assert!(stdout(&o).contains("Examples:"));
}

#[test]
fn every_subcommand_with_a_verdict_states_its_exit_codes() {
    for cmd in [
        &["test", "--help"][..],
        &["check", "--help"],
        &["suite", "--help"],
        &["bugs", "--help"],
        &["report", "--help"],
        &["bench", "check", "--help"],
    ] {
        let o = faultline(cmd);
        assert_eq!(o.status.code(), Some(0), "{cmd:?}");
        let text = stdout(&o);
        assert!(text.contains("Exit status: 0 "), "{cmd:?}: {text}");
        assert!(text.contains("2 error"), "{cmd:?}: {text}");
    }
    for cmd in ["test", "check"] {
        let text = stdout(&faultline(&[cmd, "--help"]));
        assert!(text.contains("3 unknown"), "{cmd}: {text}");
    }
}

#[test]
fn unknown_names_are_usage_errors_listing_the_known_ones() {
    for (args, listed) in [
        (&["check", "--format", "xml", "x"][..], "jepsen-log"),
        (&["check", "--model", "frob", "x"], "multi-register"),
        (&["test", "--nemesis", "earthquake"], "isolate-leader"),
        (&["suite", "--only", "nope"], "re-election"),
        (&["bugs", "--only", "nope"], "commit-old-term"),
        (&["mem-register", "--bug", "nope"], "stale-read"),
    ] {
        let o = faultline(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("invalid value"), "{args:?}: {err}");
        assert!(err.contains(listed), "{args:?}: {err}");
    }
}

/// Writes `text` to a file named `name` in `dir`.
fn temp_history(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    write_history(dir.path(), name, text).display().to_string()
}

#[test]
fn a_history_without_operations_is_an_error_not_valid() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.jsonl", "", &[][..], 0, 0),
        (
            "header.jsonl",
            "{\"faultline\":1,\"model\":\"cas-register\"}\n",
            &[][..],
            1,
            0,
        ),
        (
            "no-ops.log",
            "INFO  jepsen.core - Running test\nINFO  jepsen.util - nothing to see\nWARN  jepsen.core - done\n",
            &[][..],
            3,
            3,
        ),
        ("empty.edn", "[]\n", &[][..], 1, 0),
        (
            "forced.log",
            "some line\nanother line\n",
            &["--format", "jepsen-log"][..],
            2,
            2,
        ),
    ];
    for (name, text, flags, lines, skipped) in cases {
        let path = temp_history(&dir, name, text);
        let mut args = vec!["check"];
        args.extend_from_slice(flags);
        args.push(&path);
        let o = faultline(&args);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stdout(&o));
        let want = format!(
            "{path}: error: no operations found (read {lines} line{}, {skipped} skipped)",
            if lines == 1 { "" } else { "s" }
        );
        assert!(stdout(&o).contains(&want), "{name}: {}", stdout(&o));
        assert!(!stdout(&o).contains("valid ("), "{name}");

        args.insert(1, "--json");
        let o = faultline(&args);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["valid"], "unknown", "{name}");
        assert!(v["error"].as_str().unwrap().contains("no operations found"));
        assert_eq!(v["read"]["lines"], lines, "{name}");
        assert_eq!(v["read"]["skipped_lines"], skipped, "{name}");
    }
    // Among other files it counts as unreadable; a real history beside it is still checked.
    let empty = temp_history(&dir, "empty.jsonl", "");
    let o = faultline(&["check", &fixture("jsonl-kv-valid.jsonl"), &empty]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("2 files: 1 valid, 0 invalid, 0 unknown, 1 unreadable"),
        "{}",
        stdout(&o)
    );
    let o = faultline(&["check", &fixture("jsonl-kv-invalid.jsonl"), &empty]);
    assert_eq!(o.status.code(), Some(1), "invalid still wins");
}

#[test]
fn skipped_lines_are_counted_in_text_and_json() {
    let log = fixture("jepsen-log-register-valid.log");
    let o = faultline(&["check", &log]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("; read 13 lines, 2 skipped"),
        "{}",
        stdout(&o)
    );
    let o = faultline(&["check", "--json", &log]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["read"]["skipped_lines"], 2);
    assert_eq!(v["read"]["lines"], 13);
    assert_eq!(v["read"]["torn_last_line"], serde_json::Value::Null);
    let o = faultline(&["check", "--json", &log, &fixture("jsonl-kv-valid.jsonl")]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"][0]["read"]["skipped_lines"], 2);
    assert_eq!(v["files"][1]["read"]["skipped_lines"], 0);
}

#[test]
fn a_torn_last_line_is_a_warning_and_the_ops_before_it_are_checked() {
    let o = faultline(&["check", &fixture("garbled-truncated.jsonl")]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("valid (") && stdout(&o).contains("1 ops"),
        "{}",
        stdout(&o)
    );
    let warning = format!(
        "{}:3: warning: the last line is cut off (",
        fixture("garbled-truncated.jsonl")
    );
    assert!(stderr(&o).contains(&warning), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the 1 complete operation before it was checked"),
        "{}",
        stderr(&o)
    );
    let o = faultline(&["check", "--json", &fixture("knossos-torn-last-line.edn")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["read"]["torn_last_line"]["line"], 6);
    assert!(
        stderr(&o).contains("knossos-torn-last-line.edn:6: warning:"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("the 2 complete operations before it were checked"));

    // A torn line after an invalid history: still invalid.
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(fixture("jsonl-kv-invalid.jsonl")).unwrap();
    text.push_str("{\"type\":\"invoke\",\"process\":9,\"f\":\"re");
    let path = temp_history(&dir, "torn-invalid.jsonl", &text);
    let o = faultline(&["check", &path]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("warning: the last line is cut off"));

    // The same cut line in the middle is an error naming it, and no warning.
    let o = faultline(&["check", &fixture("garbled-truncated-middle.jsonl")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("garbled-truncated-middle.jsonl:3: truncated JSON"),
        "{}",
        stdout(&o)
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // Only a torn line: no operations.
    let path = temp_history(&dir, "only-torn.jsonl", "{\"type\":\"invoke\",\"pro");
    let o = faultline(&["check", &path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("no operations found (read 1 line, 0 skipped)"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("the 0 complete operations before it were checked"));
}

#[test]
fn out_of_range_limits_are_errors_naming_the_flag_not_panics() {
    let h = fixture("jsonl-kv-valid.jsonl");
    for value in ["1e19", "inf", "NaN", "-1", "0", "31536001", "1e308"] {
        let flag = format!("--time-limit={value}");
        let o = faultline(&["check", &flag, &h]);
        assert_eq!(o.status.code(), Some(2), "--time-limit {value}");
        let err = stderr(&o);
        assert!(
            err.contains("--time-limit: expected seconds in (0, 31536000]"),
            "{value}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    for value in ["0", "1073741825", "18446744073709551615"] {
        let o = faultline(&["check", "--memory-limit", value, &h]);
        assert_eq!(o.status.code(), Some(2), "--memory-limit {value}");
        let err = stderr(&o);
        assert!(
            err.contains("--memory-limit: expected MiB in [1, 1073741824]"),
            "{value}: {err}"
        );
    }
    // The largest accepted values work.
    let o = faultline(&[
        "check",
        "--time-limit",
        "31536000",
        "--memory-limit",
        "1073741824",
        &h,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn the_time_limit_covers_reading_the_file() {
    // Millions of blank lines and one operation: reading takes tens of milliseconds or more,
    // checking the one operation microseconds. The report's time counts from where the time
    // limit starts, so it shows the reading.
    let dir = tempfile::tempdir().unwrap();
    let mut text = "\n".repeat(4_000_000);
    text.push_str("{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n");
    text.push_str("{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n");
    let path = temp_history(&dir, "blank.jsonl", &text);
    let o = faultline(&["check", "--json", &path]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ms = v["result"]["elapsed_ms"].as_f64().unwrap();
    assert!(
        ms >= 5.0,
        "elapsed {ms} ms: reading the file is not counted"
    );
    assert_eq!(v["read"]["lines"], 4_000_002);
}

#[test]
fn check_reads_maelstrom_workload_histories_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let header = r#"{"faultline":1,"nodes":["n1","n2"],"workload":{"name":"broadcast"}}"#;
    let ev = |kind: &str, p: u64, t: u64, f: &str, v: &str, node: &str| {
        format!(
            r#"{{"type":"{kind}","process":{p},"time":{t},"f":"{f}","value":{v},"node":"{node}"}}"#
        )
    };
    let heal = r#"{"type":"info","process":"nemesis","time":50,"f":"heal-all","value":null}"#;
    let body = |n2: &str| {
        [
            header.to_string(),
            ev("invoke", 0, 1, "broadcast", "1", "n1"),
            ev("ok", 0, 2, "broadcast", "1", "n1"),
            heal.to_string(),
            ev("invoke", 1, 60, "read", "null", "n1"),
            ev("ok", 1, 61, "read", "[1]", "n1"),
            ev("invoke", 2, 62, "read", "null", "n2"),
            ev("ok", 2, 63, "read", n2, "n2"),
        ]
        .join("\n")
    };
    let good = write_history(dir.path(), "good.jsonl", &body("[1]"));
    let out = faultline(&["check", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("broadcast: valid"),
        "{}",
        stdout(&out)
    );
    let bad = write_history(dir.path(), "bad.jsonl", &body("[]"));
    let out = faultline(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("n2 lost 1 of 1 acknowledged messages"),
        "{}",
        stdout(&out)
    );
    // A last line cut off by a crash is left out, with a warning naming it.
    let torn = write_history(
        dir.path(),
        "torn.jsonl",
        &format!("{}\n{{\"type\":", body("[1]")),
    );
    let out = faultline(&["check", torn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("torn.jsonl:9: warning"),
        "{}",
        stderr(&out)
    );
    // A broken line elsewhere is an error naming its line.
    let broken = write_history(
        dir.path(),
        "broken.jsonl",
        &body("[1]").replacen("\"time\":60", "\"time\":\"x\"", 1),
    );
    let out = faultline(&["check", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("broken.jsonl:5: field `time`"),
        "{}",
        stdout(&out)
    );
}
