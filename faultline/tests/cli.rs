//! The `faultline` binary as a user runs it: exit codes, messages, JSON, every format and model
//! both ways, and the in-memory register through real TCP.

use std::path::PathBuf;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("run faultline")
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../histories/testdata")
        .join(name)
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

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
        ("garbled-truncated.jsonl", 3),
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("--model: unknown model \"frob\""));
    let o = faultline(&["check", "--format", "xml", &fixture("jsonl-kv-valid.jsonl")]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn several_files_one_line_each_and_a_summary() {
    let o = faultline(&[
        "check",
        &fixture("jsonl-kv-valid.jsonl"),
        &fixture("knossos-mutex-valid.edn"),
        &fixture("garbled-truncated.jsonl"),
    ]);
    assert_eq!(o.status.code(), Some(2), "unreadable input wins over valid");
    let text = stdout(&o);
    assert!(
        text.contains("3 files: 2 valid, 0 invalid, 0 unknown, 1 unreadable"),
        "{text}"
    );
    let o = faultline(&[
        "check",
        &fixture("jsonl-kv-invalid.jsonl"),
        &fixture("garbled-truncated.jsonl"),
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
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args(&b.display().to_string()))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    std::fs::write(&b, "{\"event\":\"leader\",\"node\":\"n2\",\"term\":1}\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
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
