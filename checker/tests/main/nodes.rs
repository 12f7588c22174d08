//! Explanations name the nodes when the history records them (the node that served a stale
//! read, the one that acknowledged the write it missed), in the text and in the JSON; the same
//! histories without nodes read exactly as they did before nodes were recorded.

use checker::explain::{answered, describe_op};
use checker::{check, Options, Verdict};

use crate::common::jsonl;

/// A follower answering a read: n1 acknowledged write 5 at 11.020 s, n2 served the read of
/// the older 3 at 12.301 s.
const STALE: &str = r#"{"type":"invoke","process":0,"time":10000000000,"f":"write","key":"k1","value":3,"node":"n1"}
{"type":"ok","process":0,"time":10500000000,"f":"write","key":"k1","value":3,"node":"n1"}
{"type":"invoke","process":1,"time":11000000000,"f":"write","key":"k1","value":5,"node":"n1"}
{"type":"ok","process":1,"time":11020000000,"f":"write","key":"k1","value":5,"node":"n1"}
{"type":"invoke","process":2,"time":12100000000,"f":"read","key":"k1","value":null,"node":"n2"}
{"type":"ok","process":2,"time":12301000000,"f":"read","key":"k1","value":3,"node":"n2"}"#;

/// The history without its `"node"` fields.
fn without_nodes(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("node");
            v.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The history with a `"node"` on every client event: `n<process mod 3 + 1>`.
fn with_nodes(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(p) = v["process"].as_u64() {
                v["node"] = format!("n{}", p % 3 + 1).into();
            }
            v.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An explanation with what nodes add taken out: " via nX" and the closing nodes sentence.
fn strip_nodes(text: &str) -> String {
    // `split`, not `lines`: a trailing newline is kept.
    text.split('\n')
        .map(|l| {
            let mut l = match l.find(". The read was ") {
                Some(at) => l[..at].to_string(),
                None => l.to_string(),
            };
            for n in 1..=3 {
                l = l.replace(&format!(" via n{n}"), "");
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn explained(text: &str) -> (String, String, serde_json::Value) {
    let r = check(&jsonl(text), &Options::default());
    assert_eq!(r.verdict, Verdict::Invalid, "{text}");
    let c = r.counterexample.expect("counterexample");
    let json = serde_json::to_value(&c).unwrap();
    (c.anomaly.unwrap_or_default(), c.text, json)
}

#[test]
fn a_stale_read_names_the_node_that_served_it_and_the_one_that_acknowledged_the_write() {
    let (anomaly, text, json) = explained(STALE);
    assert!(
        anomaly.starts_with(
            "a stale read: 3 (written by write 3 at line 1 by process 0 via n1, ok at line 2) had \
             been overwritten by write 5 at line 3 by process 1 via n1 (ok at line 4) before the \
             read of 3 at line 5 by process 2 via n2 was invoked"
        ),
        "{anomaly}"
    );
    assert!(
        anomaly.ends_with(
            ". The read was served by n2 at 12.301 s; write 3 (line 1) was acknowledged by n1 at \
             10.500 s; write 5 (line 3) was acknowledged by n1 at 11.020 s."
        ),
        "{anomaly}"
    );
    assert!(text.contains("read of 3 at line 5 by process 2 via n2 cannot be linearized"));
    // The JSON carries the nodes of every op it lists.
    assert_eq!(json["op"]["served_by"], "n2");
    assert_eq!(json["op"]["sent_to"], "n2");
    for o in json["minimal"].as_array().unwrap() {
        assert!(o["served_by"].is_string(), "{o}");
    }
}

#[test]
fn without_nodes_the_same_history_reads_as_before() {
    let (anomaly, text, json) = explained(&without_nodes(STALE));
    assert_eq!(
        anomaly,
        "a stale read: 3 (written by write 3 at line 1 by process 0, ok at line 2) had been \
         overwritten by write 5 at line 3 by process 1 (ok at line 4) before the read of 3 at \
         line 5 by process 2 was invoked (the read was invoked at line 5); no read or cas ever \
         saw 5, although write 5 at line 3 by process 1 was acknowledged: a lost write"
    );
    assert!(
        !text.contains(" via ") && !text.contains("served by"),
        "{text}"
    );
    assert!(json["op"].get("served_by").is_none(), "{json}");
    assert!(json["op"].get("sent_to").is_none(), "{json}");
}

/// Every kind of anomaly, with and without nodes: taking out what the nodes add gives exactly
/// the text without them.
#[test]
fn nodes_only_add_to_every_kind_of_explanation() {
    let cases = [
        // stale
        r#"{"type":"invoke","process":0,"time":1000,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"time":2000,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"time":3000,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"time":4000,"f":"write","key":"k","value":2}
{"type":"invoke","process":2,"time":5000,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"time":6000,"f":"read","key":"k","value":1}"#,
        // never written
        r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":9}"#,
        // a failed op took effect
        r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"cas","key":"k","value":[1,5]}
{"type":"fail","process":1,"f":"cas","key":"k","value":[1,5],"error":"error 22: expected 1, found 5"}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":5}"#,
        // from the future
        r#"{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":3}
{"type":"invoke","process":0,"f":"write","key":"k","value":3}
{"type":"ok","process":0,"f":"write","key":"k","value":3}"#,
        // stale through a read that saw a change, with an info write
        r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"write","key":"k","value":1}
{"type":"invoke","process":4,"f":"read","key":"k","value":null}
{"type":"invoke","process":5,"f":"read","key":"k","value":null}
{"type":"ok","process":5,"f":"read","key":"k","value":1}
{"type":"invoke","process":6,"f":"read","key":"k","value":null}
{"type":"ok","process":6,"f":"read","key":"k","value":2}
{"type":"ok","process":4,"f":"read","key":"k","value":2}
{"type":"info","process":3,"f":"write","key":"k","value":1}"#,
        // no read anomaly: two cas from one value
        r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"cas","key":"k","value":[1,2]}
{"type":"ok","process":1,"f":"cas","key":"k","value":[1,2]}
{"type":"invoke","process":2,"f":"cas","key":"k","value":[1,3]}
{"type":"ok","process":2,"f":"cas","key":"k","value":[1,3]}"#,
    ];
    for case in cases {
        let (plain_anomaly, plain_text, _) = explained(case);
        let (anomaly, text, _) = explained(&with_nodes(case));
        assert_eq!(strip_nodes(&anomaly), plain_anomaly, "{case}");
        assert_eq!(strip_nodes(&text), plain_text, "{case}");
        if !plain_anomaly.is_empty() {
            assert!(anomaly.contains(". The read was "), "{anomaly}");
            assert!(text.contains(" via n"), "{text}");
        }
    }
}

#[test]
fn a_failed_op_that_took_effect_names_the_node_that_answered_fail() {
    let lied = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"ok","process":0,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"invoke","process":1,"time":3000000,"f":"cas","key":"k","value":[1,5],"node":"n2"}
{"type":"fail","process":1,"time":4000000,"f":"cas","key":"k","value":[1,5],"node":"n3","error":"error 22"}
{"type":"invoke","process":2,"f":"read","key":"k","value":null,"node":"n1"}
{"type":"ok","process":2,"f":"read","key":"k","value":5,"node":"n1"}"#;
    let (anomaly, _, _) = explained(lied);
    assert!(
        anomaly
            .contains("written only by cas [1 5] at line 3 by process 1 via n3 (sent first to n2)"),
        "{anomaly}"
    );
    assert!(
        anomaly.ends_with(
            ". The read was served by n1; cas [1 5] (line 3) was answered as failed by n3 at 0.004 s."
        ),
        "{anomaly}"
    );
}

#[test]
fn each_outcome_says_how_its_node_answered() {
    let h = jsonl(
        r#"{"type":"invoke","process":0,"time":1000000000,"f":"write","value":1,"node":"n1"}
{"type":"ok","process":0,"time":1500000000,"f":"write","value":1,"node":"n1"}
{"type":"invoke","process":1,"f":"read","value":null,"node":"n1"}
{"type":"ok","process":1,"f":"read","value":1,"node":"n2"}
{"type":"invoke","process":2,"f":"cas","value":[1,2],"node":"n2"}
{"type":"info","process":2,"f":"cas","value":[1,2],"node":"n3"}
{"type":"invoke","process":3,"f":"write","value":7,"node":"n2"}
{"type":"fail","process":3,"f":"write","value":7}
{"type":"invoke","process":4,"f":"write","value":8}
{"type":"ok","process":4,"f":"write","value":8}"#,
    );
    let said: Vec<(String, Option<String>)> = h
        .ops
        .iter()
        .map(|o| (describe_op(o), answered(o)))
        .collect();
    assert_eq!(
        said,
        vec![
            (
                "write 1 at line 1 by process 0 via n1".into(),
                Some("acknowledged by n1 at 1.500 s".into())
            ),
            (
                "read of 1 at line 3 by process 1 via n2 (sent first to n1)".into(),
                Some("served by n2".into())
            ),
            (
                "cas [1 2] (info: may or may not have happened) at line 5 by process 2 via n3 \
                 (sent first to n2)"
                    .into(),
                Some("last sent to n3, which gave no definite answer".into())
            ),
            ("write 7 at line 7 by process 3 (sent to n2)".into(), None),
            ("write 8 at line 9 by process 4".into(), None),
        ]
    );
}
