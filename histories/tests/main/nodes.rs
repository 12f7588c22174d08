//! The `node` of an event: the node an op was sent to (invoke) and the one that answered it
//! (completion), read from JSONL and EDN, written back by `write_ops`, absent from the formats
//! that do not record it, and a clear error when it is not a string.

use histories::{load, parse_reader, write_ops, Format, Op, Outcome, Value};
use proptest::prelude::*;
use std::sync::Arc;

use crate::common::fixture;

fn nodes(op: &Op) -> (Option<&str>, Option<&str>) {
    (op.sent_to.as_deref(), op.served_by.as_deref())
}

const WITH_NODES: &str = r#"{"type":"invoke","process":0,"time":1000,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"ok","process":0,"time":2000,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"invoke","process":1,"time":3000,"f":"read","key":"k","value":null,"node":"n2"}
{"type":"ok","process":1,"time":4000,"f":"read","key":"k","value":1,"node":"n3"}
{"type":"invoke","process":2,"time":5000,"f":"cas","key":"k","value":[1,2],"node":"n3"}
{"type":"info","process":2,"time":6000,"f":"cas","key":"k","value":[1,2],"node":"n1","error":"timeout"}
{"type":"invoke","process":3,"time":7000,"f":"write","key":"k","value":4,"node":"n2"}
{"type":"fail","process":3,"time":8000,"f":"write","key":"k","value":4,"error":"not leader"}
{"type":"info","process":"nemesis","time":8500,"f":"kill","value":{"nodes":["n1"]},"node":"n1"}
{"type":"invoke","process":4,"time":9000,"f":"read","key":"k","value":null}
{"type":"ok","process":4,"time":9500,"f":"read","key":"k","value":1}
"#;

#[test]
fn jsonl_nodes_are_the_invokes_and_the_completions() {
    let h = parse_reader(WITH_NODES.as_bytes(), "n", Format::Jsonl)
        .unwrap()
        .history;
    let got: Vec<_> = h.ops.iter().map(nodes).collect();
    assert_eq!(
        got,
        vec![
            (Some("n1"), Some("n1")),
            (Some("n2"), Some("n3")),
            (Some("n3"), Some("n1")),
            (Some("n2"), None),
            (None, None),
        ]
    );
    // One shared copy of each name.
    assert!(Arc::ptr_eq(
        h.ops[0].sent_to.as_ref().unwrap(),
        h.ops[2].served_by.as_ref().unwrap()
    ));
    let names: Vec<String> = h.nodes().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
    assert_eq!(h.nemesis.len(), 1, "a nemesis event's node is ignored");
}

#[test]
fn write_ops_writes_the_nodes_back() {
    let a = parse_reader(WITH_NODES.as_bytes(), "n", Format::Jsonl)
        .unwrap()
        .history;
    let mut out = Vec::new();
    write_ops(&a.ops, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(r#""value":[1,2],"node":"n1","error":"timeout"}"#),
        "{text}"
    );
    let b = parse_reader(text.as_bytes(), "rt", Format::Jsonl)
        .unwrap()
        .history;
    let got: Vec<_> = b.ops.iter().map(nodes).collect();
    let want: Vec<_> = a.ops.iter().map(nodes).collect();
    assert_eq!(got, want);
    // Without nodes, nothing is written.
    let plain = load(&fixture("jsonl-kv-valid.jsonl"), Format::Auto)
        .unwrap()
        .history;
    let mut out = Vec::new();
    write_ops(&plain.ops, &mut out).unwrap();
    assert!(!String::from_utf8(out).unwrap().contains("\"node\""));
}

#[test]
fn formats_without_nodes_give_none_and_edn_reads_node() {
    for name in [
        "jsonl-kv-valid.jsonl",
        "knossos-cas-register-valid.edn",
        "jepsen-log-register-valid.log",
        "porcupine-append-kv-valid.txt",
    ] {
        let h = load(&fixture(name), Format::Auto).unwrap().history;
        assert!(h.nodes().is_empty(), "{name}");
        assert!(h.ops.iter().all(|o| nodes(o) == (None, None)), "{name}");
    }
    let edn = "{:type :invoke, :f :write, :process 0, :value 1, :node \"n1\"}\n\
               {:type :ok, :f :write, :process 0, :value 1, :node \"n2\"}\n\
               {:type :invoke, :f :read, :process 1, :value nil, :node :n3}\n\
               {:type :ok, :f :read, :process 1, :value 1, :node nil}\n";
    let h = parse_reader(edn.as_bytes(), "e", Format::Edn)
        .unwrap()
        .history;
    let got: Vec<_> = h.ops.iter().map(nodes).collect();
    assert_eq!(got, vec![(Some("n1"), Some("n2")), (Some("n3"), None)]);
}

#[test]
fn a_node_that_is_not_a_string_is_an_error_naming_the_line_and_field() {
    let bad = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":null}\n\
               {\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":1,\"node\":3}\n";
    let e = parse_reader(bad.as_bytes(), "b.jsonl", Format::Jsonl).unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.jsonl:2: field \"node\": expected a string (the node's name), found 3"
    );
    let bad = "{:type :invoke, :f :read, :process 0, :value nil, :node [1 2]}\n";
    let e = parse_reader(bad.as_bytes(), "b.edn", Format::Edn).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with("b.edn:1: field \":node\": expected a string"),
        "{shown}"
    );
}

#[test]
fn node_names_sort_naturally() {
    let mut names = vec!["n10", "n2", "n1", "m", "n02"];
    names.sort_by(|a, b| histories::natural_order(a, b));
    assert_eq!(names, ["m", "n1", "n02", "n2", "n10"]);
}

/// One generated op: process, value, its outcome (0 ok, 1 fail, 2 info), the invoke's node and
/// the completion's node.
type GenOp = (u8, i64, u8, Option<String>, Option<String>);

fn node_name() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (1u8..6).prop_map(|i| Some(format!("n{i}"))),
        // Any text at all: quotes, backslashes, unicode, empty.
        "\\PC{0,6}".prop_map(Some),
    ]
}

fn gen_ops() -> impl Strategy<Value = Vec<GenOp>> {
    proptest::collection::vec((0u8..4, -5i64..5, 0u8..3, node_name(), node_name()), 1..40)
}

/// The JSONL of `ops`, one after the other (each completes before the next starts); a process
/// whose op ends `info` is never used again, so each op gets a fresh process.
fn jsonl_of(ops: &[GenOp]) -> String {
    let mut s = String::new();
    for (i, (f, v, outcome, sent, served)) in ops.iter().enumerate() {
        let f = ["read", "write", "cas", "write"][*f as usize];
        let value = match f {
            "read" => serde_json::Value::Null,
            "cas" => serde_json::json!([v, v + 1]),
            _ => serde_json::json!(v),
        };
        let node = |n: &Option<String>| {
            n.as_ref()
                .map(|n| format!(",\"node\":{}", serde_json::to_string(n).unwrap()))
                .unwrap_or_default()
        };
        s += &format!(
            "{{\"type\":\"invoke\",\"process\":{i},\"f\":\"{f}\",\"value\":{value}{}}}\n",
            node(sent)
        );
        let (kind, out) = match (outcome, f) {
            (0, "read") => ("ok", serde_json::json!(v)),
            (0, _) => ("ok", value),
            (1, _) => ("fail", value),
            _ => ("info", value),
        };
        s += &format!(
            "{{\"type\":\"{kind}\",\"process\":{i},\"f\":\"{f}\",\"value\":{out}{}}}\n",
            node(served)
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Nodes survive parse, write_ops and parse again, whatever their text; every other field
    /// of the op survives too.
    #[test]
    fn nodes_round_trip_through_write_and_parse(ops in gen_ops()) {
        let text = jsonl_of(&ops);
        let a = parse_reader(text.as_bytes(), "p", Format::Jsonl).unwrap().history;
        prop_assert_eq!(a.ops.len(), ops.len());
        for (op, (_, _, outcome, sent, served)) in a.ops.iter().zip(&ops) {
            prop_assert_eq!(op.sent_to.as_deref(), sent.as_deref());
            prop_assert_eq!(op.served_by.as_deref(), served.as_deref());
            let kind = match op.outcome { Outcome::Ok(_) => 0, Outcome::Fail => 1, Outcome::Info => 2 };
            prop_assert_eq!(kind, *outcome);
        }
        let mut out = Vec::new();
        write_ops(&a.ops, &mut out).unwrap();
        let b = parse_reader(out.as_slice(), "rt", Format::Jsonl).unwrap().history;
        prop_assert_eq!(a.ops.len(), b.ops.len());
        for (x, y) in a.ops.iter().zip(&b.ops) {
            prop_assert_eq!(nodes(x), nodes(y));
            prop_assert_eq!((x.f, &x.key, &x.input, &x.outcome), (y.f, &y.key, &y.input, &y.outcome));
        }
    }

    /// A `node` of any JSON type but a string or null is an error naming line and field, never
    /// a panic or a silently dropped field.
    #[test]
    fn a_node_of_any_other_json_type_is_refused(
        node in prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            Just("true".to_string()),
            Just("[\"n1\"]".to_string()),
            Just("{\"id\":\"n1\"}".to_string()),
            Just("1.5".to_string()),
        ]
    ) {
        let text = format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"value\":null,\"node\":{node}}}\n"
        );
        let e = parse_reader(text.as_bytes(), "t", Format::Jsonl).unwrap_err();
        prop_assert!(e.to_string().starts_with("t:1: field \"node\":"), "{}", e);
    }
}

#[test]
fn a_null_node_is_no_node() {
    let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"node\":null}\n\
                {\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":null,\"node\":\"n1\"}\n";
    let h = parse_reader(text.as_bytes(), "t", Format::Jsonl)
        .unwrap()
        .history;
    assert_eq!(nodes(&h.ops[0]), (None, Some("n1")));
    assert_eq!(h.ops[0].outcome, Outcome::Ok(Value::Null));
}
