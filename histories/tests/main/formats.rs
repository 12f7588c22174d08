//! Every format against the fixtures in `testdata/`, errors that name file:line:field, no panic
//! on any input (property tests), and the JSONL round trip.

use histories::{load, parse_reader, write_ops, Format, Outcome, Value, F};
use proptest::prelude::*;

use crate::common::fixture;

#[test]
fn detects_and_loads_every_fixture() {
    let cases = [
        ("jsonl-cas-register-valid.jsonl", Format::Jsonl, 6),
        ("jsonl-kv-valid.jsonl", Format::Jsonl, 6),
        ("knossos-cas-register-valid.edn", Format::Edn, 5),
        ("knossos-cas-register-invalid.edn", Format::Edn, 3),
        ("jepsen-log-register-valid.log", Format::JepsenLog, 5),
        ("porcupine-append-kv-valid.txt", Format::Porcupine, 5),
        ("knossos-multi-register-valid.edn", Format::Edn, 3),
        ("knossos-mutex-valid.edn", Format::Edn, 3),
    ];
    for (name, format, ops) in cases {
        let loaded = load(&fixture(name), Format::Auto).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.format, format, "{name}");
        assert_eq!(loaded.history.ops.len(), ops, "{name}");
        for (i, op) in loaded.history.ops.iter().enumerate() {
            assert_eq!(op.id, i);
        }
    }
}

#[test]
fn keeps_semantics_of_each_format() {
    let h = load(&fixture("jsonl-cas-register-valid.jsonl"), Format::Auto).unwrap();
    assert!(h.history.header.is_some());
    let ops = &h.history.ops;
    assert_eq!(ops[1].f, F::Cas);
    assert_eq!(
        ops[1].input,
        Value::List(vec![Value::Int(1), Value::Int(2)])
    );
    assert_eq!(ops[3].outcome, Outcome::Fail);
    assert_eq!(ops[4].outcome, Outcome::Info);
    assert_eq!(ops[4].ret, None);
    assert_eq!(ops[2].call_line, 5);
    assert_eq!(ops[2].ret_line, Some(6));
    assert_eq!(ops[2].call_time, Some(310));

    let kv = load(&fixture("jsonl-kv-valid.jsonl"), Format::Auto).unwrap();
    assert_eq!(
        kv.history.ops[1].outcome,
        Outcome::Ok(Value::Null),
        "null read = absent"
    );
    assert_eq!(kv.history.nemesis.len(), 1);
    assert_eq!(kv.history.nemesis[0].value["kind"], "isolate-one");

    let edn = load(&fixture("knossos-cas-register-valid.edn"), Format::Auto).unwrap();
    let last = edn.history.ops.last().unwrap();
    assert_eq!(
        last.outcome,
        Outcome::Ok(Value::Unknown),
        "nil read = not learned"
    );
    assert_eq!(last.call_line, 11);
    assert_eq!(edn.history.nemesis.len(), 1);

    let log = load(&fixture("jepsen-log-register-valid.log"), Format::Auto).unwrap();
    assert_eq!(
        log.stats.skipped_lines,
        2,
        "{:?} {:?}",
        log.stats,
        log.history
            .ops
            .iter()
            .map(|o| o.call_line)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        log.history.ops[2].error.as_deref(),
        Some("indeterminate: timeout")
    );

    let txn = load(&fixture("knossos-multi-register-valid.edn"), Format::Auto).unwrap();
    let Outcome::Ok(Value::List(micro)) = &txn.history.ops[2].outcome else {
        panic!("txn value")
    };
    assert_eq!(
        micro[0],
        Value::List(vec!["read".into_v(), "x".into_v(), Value::Unknown])
    );
}

trait IntoV {
    fn into_v(self) -> Value;
}
impl IntoV for &str {
    fn into_v(self) -> Value {
        Value::Str(self.to_string())
    }
}

#[test]
fn bad_files_name_file_line_and_field() {
    let e = load(&fixture("garbled-bad-json.jsonl"), Format::Auto).unwrap_err();
    assert!(
        e.to_string().contains("garbled-bad-json.jsonl:3: bad JSON"),
        "{e}"
    );
    let e = load(&fixture("garbled-truncated-middle.jsonl"), Format::Auto).unwrap_err();
    assert!(e.to_string().contains(":3: truncated JSON"), "{e}");
    let e = load(&fixture("garbled-no-invoke.jsonl"), Format::Auto).unwrap_err();
    assert!(
        e.to_string()
            .contains(":3: field \"type\": a completion with no invoke"),
        "{e}"
    );

    let parse = |text: &str| parse_reader(text.as_bytes(), "t.jsonl", Format::Jsonl);
    let e = parse("{\"type\":\"okk\",\"process\":1,\"f\":\"read\"}\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.jsonl:1: field \"type\": expected one of invoke, ok, fail, info, found \"okk\""
    );
    let e = parse("{\"type\":\"invoke\",\"process\":1,\"f\":\"frob\"}\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("field \"f\": expected one of read, write"),
        "{e}"
    );
    let two = "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n";
    assert!(parse(two)
        .unwrap_err()
        .to_string()
        .contains(":2: field \"process\""));
    let reuse = "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n{\"type\":\"info\",\"process\":1,\"f\":\"read\"}\n{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n";
    assert!(parse(reuse)
        .unwrap_err()
        .to_string()
        .contains("reused after"));
    let mismatch = "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"key\":\"a\"}\n{\"type\":\"ok\",\"process\":1,\"f\":\"write\",\"key\":\"a\"}\n";
    assert!(parse(mismatch)
        .unwrap_err()
        .to_string()
        .contains(":2: field \"f\": expected \"read\""));
    let key = "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"key\":\"a\"}\n{\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"key\":\"b\"}\n";
    assert!(parse(key)
        .unwrap_err()
        .to_string()
        .contains(":2: field \"key\""));
    let e = parse_reader(
        "[{:process 0 :type :invoke}".as_bytes(),
        "t.edn",
        Format::Edn,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("t.edn:1:"), "{e}");
}

#[test]
fn open_invokes_at_the_end_become_info() {
    let text = "{\"type\":\"invoke\",\"process\":1,\"f\":\"write\",\"value\":3}\n";
    let l = parse_reader(text.as_bytes(), "t", Format::Jsonl).unwrap();
    assert_eq!(l.stats.open_at_end, 1);
    assert_eq!(l.history.ops[0].outcome, Outcome::Info);
}

#[test]
fn write_ops_round_trips() {
    for name in [
        "jsonl-cas-register-valid.jsonl",
        "knossos-cas-register-valid.edn",
        "jsonl-kv-valid.jsonl",
    ] {
        let a = load(&fixture(name), Format::Auto).unwrap().history;
        let mut out = Vec::new();
        write_ops(&a.ops, &mut out).unwrap();
        let b = parse_reader(out.as_slice(), "rt", Format::Jsonl)
            .unwrap()
            .history;
        assert_eq!(a.ops.len(), b.ops.len());
        for (x, y) in a.ops.iter().zip(&b.ops) {
            assert_eq!(
                (x.f, &x.key, &x.input, x.process),
                (y.f, &y.key, &y.input, y.process)
            );
            let unknown_to_null = |o: &Outcome| match o {
                Outcome::Ok(Value::Unknown) => Outcome::Ok(Value::Null),
                o => o.clone(),
            };
            assert_eq!(unknown_to_null(&x.outcome), y.outcome);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for format in [Format::Auto, Format::Jsonl, Format::Edn, Format::JepsenLog, Format::Porcupine] {
            if let Err(e) = parse_reader(bytes.as_slice(), "fuzz", format) {
                let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                prop_assert!(e.line <= lines, "error line {} beyond input ({} lines)", e.line, lines);
            }
        }
    }

    #[test]
    fn no_parser_panics_on_mutated_fixtures(
        which in 0usize..4, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()
    ) {
        let names = ["jsonl-kv-valid.jsonl", "knossos-cas-register-valid.edn", "jepsen-log-register-valid.log", "porcupine-append-kv-valid.txt"];
        let mut bytes = std::fs::read(fixture(names[which])).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        let _ = parse_reader(bytes.as_slice(), "fuzz", Format::Auto);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow(depth in 200usize..5000) {
        let text = "[".repeat(depth);
        prop_assert!(parse_reader(text.as_bytes(), "deep", Format::Edn).is_err());
    }
}

#[test]
fn an_unreadable_file_keeps_the_io_error_as_its_source() {
    use std::error::Error as _;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/no-such-file.jsonl");
    let e = load(&path, Format::Auto).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("no-such-file.jsonl: cannot open: "),
        "{shown}"
    );
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(shown.ends_with(&io.to_string()), "{shown}");
    let bad = parse_reader(&b"{\"type\":\n"[..], "t", Format::Jsonl).unwrap_err();
    assert!(
        bad.source().is_some(),
        "the JSON parser's error is the source: {bad}"
    );
}
