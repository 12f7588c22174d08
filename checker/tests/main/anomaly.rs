//! Anomaly names in explanations: a stale read, a read of a value never written, and with
//! repeated values which write a read can be blamed on, only when real time proves it.

use checker::{check, Options, Verdict};

use crate::common::jsonl;

fn anomaly(text: &str) -> Option<String> {
    let r = check(&jsonl(text), &Options::default());
    assert_eq!(r.verdict, Verdict::Invalid);
    r.counterexample.unwrap().anomaly
}

#[test]
fn names_the_anomaly_of_a_read_and_only_when_real_time_proves_it() {
    // Stale: 1 is overwritten by 2 (invoked after 1 completed) before the read is invoked.
    let stale = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}"#;
    let a = anomaly(stale).expect("named");
    assert!(
        a.starts_with("a stale read: 1 (written by write 1 at line 1"),
        "{a}"
    );
    assert!(a.contains("overwritten by write 2"), "{a}");
    // The initial value read after a completed write: stale too.
    let absent = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":null}"#;
    assert!(anomaly(absent)
        .expect("named")
        .contains("saw the initial value"));
    // A value nobody wrote.
    let phantom = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":9}"#;
    assert!(anomaly(phantom).expect("named").contains("never written"));
    // A value only a failed cas wrote: the failure was a lie (a retry applied twice).
    let lied = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"cas","key":"k","value":[1,5]}
{"type":"fail","process":1,"f":"cas","key":"k","value":[1,5],"error":"error 22: expected 1, found 5"}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":5}"#;
    let a = anomaly(lied).expect("named");
    assert!(a.starts_with("a failed op took effect"), "{a}");
    assert!(
        a.contains("cas [1 5] at line 3") && a.contains("failed at line 4"),
        "{a}"
    );
    // A value written only after the read completed.
    let future = r#"{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":3}
{"type":"invoke","process":0,"f":"write","key":"k","value":3}
{"type":"ok","process":0,"f":"write","key":"k","value":3}"#;
    assert!(anomaly(future).expect("named").contains("from the future"));
    // Concurrent writes 1 and 2; a read saw 2 after both completed; a later read of 1 is stale.
    let observed = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"read","key":"k","value":null}
{"type":"ok","process":3,"f":"read","key":"k","value":2}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}"#;
    let a = anomaly(observed).expect("named");
    assert!(
        a.contains("a stale read: 1") && a.contains("read of 2"),
        "{a}"
    );
    // Invalid, but not by a read: two cas from the same value both ok. No read anomaly named.
    let double_cas = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"cas","key":"k","value":[1,2]}
{"type":"ok","process":1,"f":"cas","key":"k","value":[1,2]}
{"type":"invoke","process":2,"f":"cas","key":"k","value":[1,3]}
{"type":"ok","process":2,"f":"cas","key":"k","value":[1,3]}"#;
    assert_eq!(anomaly(double_cas), None);
}

#[test]
fn an_anomaly_with_repeated_values_names_a_write_only_when_no_other_write_of_the_value_explains_it()
{
    // Two writes of 1: the first is overwritten by 2 before the read, the second is concurrent
    // with the read. The read of 1 is explained by the second: valid, nothing to name.
    let valid = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"write","key":"k","value":1}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}
{"type":"ok","process":3,"f":"write","key":"k","value":1}"#;
    assert_eq!(
        check(&jsonl(valid), &Options::default()).verdict,
        Verdict::Valid
    );
    // Both writes of 1 overwritten before the read: a stale read, and both sources are named
    // with why each is ruled out.
    let stale = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"write","key":"k","value":1}
{"type":"ok","process":3,"f":"write","key":"k","value":1}
{"type":"invoke","process":4,"f":"write","key":"k","value":3}
{"type":"ok","process":4,"f":"write","key":"k","value":3}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}"#;
    let a = anomaly(stale).expect("named");
    assert!(a.starts_with("a stale read"), "{a}");
    assert!(
        a.contains("2 ops could have written") || a.contains("which 2"),
        "{a}"
    );
    assert!(
        a.contains("write 1 at line 1") && a.contains("write 1 at line 5"),
        "{a}"
    );
    assert_eq!(a.matches("overwritten by write 3").count(), 2, "{a}");
    // A second write of 1 that real time allows as the source of a read of 1, but a later read
    // of 2 (only w2 wrote 2, before w1' began) proves the state changed after that read: the
    // read of 2 is the one named, through the read of 1 it follows.
    let subtle = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
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
{"type":"ok","process":3,"f":"write","key":"k","value":1}"#;
    let a = anomaly(subtle).expect("named");
    assert!(a.starts_with("a stale read: 2 (written by write 2"), "{a}");
    assert!(a.contains("a change seen by the read of 1"), "{a}");
    // Real time leaves a source (w1' is concurrent with the read), but the cas that needs 1 must
    // come between w1' and the read: no order fits, and the text says which writes were possible.
    let open = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"write","key":"k","value":1}
{"type":"invoke","process":4,"f":"cas","key":"k","value":[1,3]}
{"type":"ok","process":4,"f":"cas","key":"k","value":[1,3]}
{"type":"invoke","process":5,"f":"read","key":"k","value":null}
{"type":"ok","process":5,"f":"read","key":"k","value":1}
{"type":"ok","process":3,"f":"write","key":"k","value":1}"#;
    let a = anomaly(open).expect("named");
    assert!(
        a.contains("real time alone leaves 1 possible (write 1 at line 5"),
        "{a}"
    );
    assert!(!a.starts_with("a stale read"), "{a}");
}

#[test]
fn an_acknowledged_overwrite_that_no_op_ever_saw_is_named_a_lost_write() {
    // 2 is acknowledged, then a read sees 1: 2 was never seen by anyone, a lost write.
    let lost = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}"#;
    let a = anomaly(lost).expect("named");
    assert!(a.starts_with("a stale read: 1"), "{a}");
    assert!(
        a.contains("no read or cas ever saw 2, although write 2 at line 3 by process 1 was acknowledged: a lost write"),
        "{a}"
    );
    // The same, but another read saw 2 before the stale one: 2 was not lost, only not seen by
    // the stale read.
    let seen = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1}
{"type":"ok","process":0,"f":"write","key":"k","value":1}
{"type":"invoke","process":1,"f":"write","key":"k","value":2}
{"type":"ok","process":1,"f":"write","key":"k","value":2}
{"type":"invoke","process":3,"f":"read","key":"k","value":null}
{"type":"ok","process":3,"f":"read","key":"k","value":2}
{"type":"invoke","process":2,"f":"read","key":"k","value":null}
{"type":"ok","process":2,"f":"read","key":"k","value":1}"#;
    let a = anomaly(seen).expect("named");
    assert!(a.starts_with("a stale read: 1"), "{a}");
    assert!(!a.contains("lost write"), "{a}");
}

#[test]
fn an_overwrite_seen_only_on_the_node_that_acknowledged_it_is_named_with_both_nodes() {
    // 2 is acknowledged by n1 and read back there; n2 then serves 1: lost, or never seen by n2.
    let one_side = r#"{"type":"invoke","process":0,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"ok","process":0,"f":"write","key":"k","value":1,"node":"n1"}
{"type":"invoke","process":1,"f":"write","key":"k","value":2,"node":"n1"}
{"type":"ok","process":1,"f":"write","key":"k","value":2,"node":"n1"}
{"type":"invoke","process":3,"f":"read","key":"k","value":null,"node":"n1"}
{"type":"ok","process":3,"f":"read","key":"k","value":2,"node":"n1"}
{"type":"invoke","process":2,"f":"read","key":"k","value":null,"node":"n2"}
{"type":"ok","process":2,"f":"read","key":"k","value":1,"node":"n2"}"#;
    let a = anomaly(one_side).expect("named");
    assert!(
        a.contains("2 was only ever returned by n1, which acknowledged write 2 (line 3), never by n2, which served the read: a lost write"),
        "{a}"
    );
    // n2 also returned 2 once: the write reached it, so it is not named lost.
    let both = one_side.replace(
        r#"{"type":"ok","process":3,"f":"read","key":"k","value":2,"node":"n1"}"#,
        r#"{"type":"ok","process":3,"f":"read","key":"k","value":2,"node":"n2"}"#,
    );
    let a = anomaly(&both).expect("named");
    assert!(!a.contains("lost write"), "{a}");
}
