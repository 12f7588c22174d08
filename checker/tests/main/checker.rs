//! The checker, tested both ways: every model and importer on a valid fixture and its broken
//! twin; generated histories and their stale-read twins; stateright as the oracle on random
//! small histories; the budget; explanations.

use checker::{check, check_stateright, oracle, synth, Options, Verdict};
use histories::{History, Op, Outcome, Value, F};
use proptest::prelude::*;
use std::time::Duration;

use crate::common::{fixture, jsonl};

#[test]
fn every_model_both_ways() {
    let cases = [
        ("jsonl-cas-register", "cas-register"),
        ("jsonl-kv", "kv"),
        ("knossos-cas-register", "cas-register"),
        ("jepsen-log-register", "cas-register"),
        ("porcupine-append-kv", "append-kv"),
        ("knossos-multi-register", "multi-register"),
        ("knossos-mutex", "mutex"),
    ];
    let ext = |base: &str| match base.split('-').next().unwrap() {
        "jsonl" => "jsonl",
        "jepsen" => "log",
        "porcupine" => "txt",
        _ => "edn",
    };
    for (base, model) in cases {
        let good = fixture(&format!("{base}-valid.{}", ext(base)));
        let bad = fixture(&format!("{base}-invalid.{}", ext(base)));
        let r = check(&good, &Options::default());
        assert_eq!(r.verdict, Verdict::Valid, "{base}: {}", r.render_text());
        assert_eq!(r.model, model, "{base}");
        let r = check(&bad, &Options::default());
        assert_eq!(r.verdict, Verdict::Invalid, "{base}: {}", r.render_text());
        let c = r.counterexample.as_ref().expect("a counterexample");
        // The smallest failing sub-history holds the op the explanation blames.
        assert!(
            c.minimal.iter().any(|o| o.call_line == c.op.call_line),
            "{base}: {}",
            c.text
        );
    }
}

#[test]
fn explains_a_stale_read_with_the_possible_states() {
    let r = check(
        &fixture("jsonl-cas-register-invalid.jsonl"),
        &Options::default(),
    );
    let c = r.counterexample.as_ref().unwrap();
    assert_eq!(c.op.f, "read");
    assert_eq!(c.op.call_line, 6);
    assert_eq!(c.possible_states, vec!["2".to_string()]);
    let text = r.render_text();
    assert!(
        text.contains(
            "read of 1 at line 6 by process 2 cannot be linearized: the register could only be 2"
        ),
        "{text}"
    );
    assert_eq!(
        c.minimal.len(),
        3,
        "write 1, write 2 and the read are all needed"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["counterexample"]["op"]["call_line"], 6);
}

#[test]
fn shrinks_to_the_failing_key_and_ops() {
    let mut h = synth::generate(synth::Params {
        ops: 400,
        clients: 6,
        keys: 3,
        info_prob: 0.05,
        flavor: synth::Flavor::Register,
        seed: 7,
    });
    assert_eq!(check(&h, &Options::default()).verdict, Verdict::Valid);
    assert!(synth::inject_stale_read(&mut h));
    let r = check(&h, &Options::default());
    assert_eq!(r.verdict, Verdict::Invalid);
    let c = r.counterexample.unwrap();
    assert!(c.minimal.len() < 20, "shrunk to {} ops", c.minimal.len());
}

#[test]
fn initial_value_is_configurable() {
    let mut h = fixture("jsonl-kv-invalid.jsonl");
    // Reading k1 as absent before any write is fine; with initial 0, absent is not.
    h.ops.truncate(0);
    let read = |v: Value| Op {
        id: 0,
        process: 0,
        f: F::Read,
        key: None,
        input: Value::Null,
        outcome: Outcome::Ok(v),
        call: 0,
        ret: Some(1),
        call_line: 1,
        ret_line: Some(2),
        call_time: None,
        ret_time: None,
        error: None,
        sent_to: None,
        served_by: None,
    };
    h.ops.push(read(Value::Null));
    assert_eq!(check(&h, &Options::default()).verdict, Verdict::Valid);
    let opts = Options {
        initial: Value::Int(0),
        ..Options::default()
    };
    assert_eq!(check(&h, &opts).verdict, Verdict::Invalid);
    h.ops[0] = read(Value::Int(0));
    assert_eq!(check(&h, &opts).verdict, Verdict::Valid);
}

/// Knossos' multi-register starts every register at a value (`(multi-register {:x 0 :y 0})`):
/// `--initial` gives it, as a scalar for every register or an object per register.
#[test]
fn multi_register_initial_values_apply_to_every_register_or_each_one() {
    let edn = |reads_after_write: bool| {
        // Process 1 reads x=0, y=0 while (or after) process 0 writes y=2.
        let mut lines = [
            "{:process 0, :type :invoke, :f :txn, :value [[:write :y 2]]}",
            "{:process 1, :type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]]}",
            "{:process 0, :type :ok, :f :txn, :value [[:write :y 2]]}",
            "{:process 1, :type :ok, :f :txn, :value [[:read :x 0] [:read :y 0]]}",
        ];
        if reads_after_write {
            lines.swap(1, 2);
        }
        let text = format!("[{}]", lines.join("\n"));
        histories::parse_reader(text.as_bytes(), "h.edn", histories::Format::Edn)
            .unwrap()
            .history
    };
    let with = |initial: Value| Options {
        initial,
        ..Options::default()
    };
    let concurrent = edn(false);
    let after = edn(true);
    // By default a register never written does not exist: reading 0 from it is a violation.
    assert_eq!(
        check(&concurrent, &Options::default()).verdict,
        Verdict::Invalid
    );
    for initial in [Value::Int(0), Value::Other(r#"{"x":0,"y":0}"#.into())] {
        let opts = with(initial.clone());
        assert_eq!(
            check(&concurrent, &opts).verdict,
            Verdict::Valid,
            "{initial:?}"
        );
        // The broken twin: the read starts after the write of y=2 completed.
        assert_eq!(
            check(&after, &opts).verdict,
            Verdict::Invalid,
            "{initial:?}"
        );
    }
    // Only x given a start: y does not exist, so reading y=0 is a violation.
    let only_x = with(Value::Other(r#"{"x":0}"#.into()));
    assert_eq!(check(&concurrent, &only_x).verdict, Verdict::Invalid);
}

#[test]
fn generated_bench_histories_are_valid_and_stale_twins_are_not() {
    for seed in 0..5 {
        let mut h = synth::cas_register(seed);
        let infos = h.ops.iter().filter(|o| o.outcome == Outcome::Info).count();
        assert!((10..=30).contains(&infos), "{infos} info ops");
        assert_eq!(
            check(&h, &Options::default()).verdict,
            Verdict::Valid,
            "seed {seed}"
        );
        if synth::inject_stale_read(&mut h) {
            assert_eq!(
                check(&h, &Options::default()).verdict,
                Verdict::Invalid,
                "seed {seed}"
            );
        }
        assert_eq!(
            check(&synth::append_kv(seed), &Options::default()).verdict,
            Verdict::Valid
        );
    }
}

#[test]
fn a_spent_budget_gives_unknown_with_size_and_concurrency() {
    // 40 concurrent info writes, each observed by a later read, then a read of a value nobody
    // wrote: to prove it invalid the search must try (nearly) every subset of the writes.
    let mut ops = Vec::new();
    let n = 40usize;
    let op = |id: usize, f: F, input: Value, outcome: Outcome, call: u64, ret: Option<u64>| Op {
        id,
        process: id as u64,
        f,
        key: None,
        input,
        outcome,
        call,
        ret,
        call_line: call + 1,
        ret_line: ret.map(|r| r + 1),
        call_time: None,
        ret_time: None,
        error: None,
        sent_to: None,
        served_by: None,
    };
    for i in 0..n {
        ops.push(op(
            i,
            F::Write,
            Value::Int(i as i64),
            Outcome::Info,
            i as u64,
            None,
        ));
    }
    for i in 0..=n {
        let v = if i == n { -1 } else { (n - 1 - i) as i64 };
        let t = (n + 2 * i) as u64;
        ops.push(op(
            n + i,
            F::Read,
            Value::Null,
            Outcome::Ok(Value::Int(v)),
            t,
            Some(t + 1),
        ));
    }
    let h = History {
        source: "pathological".into(),
        ops,
        ..Default::default()
    };
    let opts = Options {
        time_limit: Some(Duration::from_millis(200)),
        ..Options::default()
    };
    let r = check(&h, &opts);
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.render_text());
    assert!(
        r.unknown_reasons[0].contains("time limit"),
        "{:?}",
        r.unknown_reasons
    );
    assert!(
        r.unknown_reasons[0].contains("81 ops, concurrency 41"),
        "{:?}",
        r.unknown_reasons
    );
    let opts = Options {
        memory_limit_bytes: Some(1 << 16),
        ..Options::default()
    };
    let r = check(&h, &opts);
    assert!(
        r.unknown_reasons[0].contains("memory limit"),
        "{:?}",
        r.unknown_reasons
    );
}

#[test]
fn stateright_engine_agrees_on_the_fixtures() {
    for name in [
        "jsonl-cas-register-valid.jsonl",
        "jsonl-kv-valid.jsonl",
        "knossos-cas-register-valid.edn",
    ] {
        assert_eq!(
            check_stateright(&fixture(name), &Options::default()).verdict,
            Verdict::Valid,
            "{name}"
        );
    }
    for name in [
        "jsonl-cas-register-invalid.jsonl",
        "jsonl-kv-invalid.jsonl",
        "knossos-cas-register-invalid.edn",
    ] {
        assert_eq!(
            check_stateright(&fixture(name), &Options::default()).verdict,
            Verdict::Invalid,
            "{name}"
        );
    }
    let r = check_stateright(&fixture("knossos-mutex-valid.edn"), &Options::default());
    assert_eq!(r.verdict, Verdict::Unknown);
}

/// A small random concurrent history: `events` is a script of (process, op kind, value seed)
/// turned into invokes and completions with random outcomes; then maybe corrupted.
fn small_history(script: &[(u8, u8, u8, u8)], corrupt: bool) -> History {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: [Option<usize>; 3] = [None; 3];
    let mut value = Value::Null;
    let mut next = 1;
    let mut retired = [0u64; 3];
    for (pos, &(p, kind, v, outcome)) in script.iter().enumerate() {
        let pos = pos as u64;
        let p = (p % 3) as usize;
        match open[p] {
            None => {
                let (f, input) = match kind % 3 {
                    0 => (F::Read, Value::Null),
                    1 => {
                        next += 1;
                        (F::Write, Value::Int(next))
                    }
                    _ => (
                        F::Cas,
                        Value::List(vec![Value::Int((v % 4) as i64), Value::Int(next + 100)]),
                    ),
                };
                ops.push(Op {
                    id: ops.len(),
                    process: p as u64 + retired[p],
                    f,
                    key: None,
                    input,
                    outcome: Outcome::Info,
                    call: pos,
                    ret: None,
                    call_line: pos + 1,
                    ret_line: None,
                    call_time: None,
                    ret_time: None,
                    error: None,
                    sent_to: None,
                    served_by: None,
                });
                open[p] = Some(ops.len() - 1);
            }
            Some(i) => {
                open[p] = None;
                let op = &mut ops[i];
                // Apply at completion: a correct register.
                let result = match op.f {
                    F::Read => Outcome::Ok(value.clone()),
                    F::Write => {
                        value = op.input.clone();
                        Outcome::Ok(op.input.clone())
                    }
                    _ => match op.input.as_list() {
                        Some([from, to]) if *from == value => {
                            value = to.clone();
                            Outcome::Ok(op.input.clone())
                        }
                        _ => Outcome::Fail,
                    },
                };
                op.outcome = if outcome % 5 == 0 {
                    retired[p] += 10;
                    Outcome::Info
                } else {
                    result
                };
                if op.outcome != Outcome::Info {
                    op.ret = Some(pos);
                    op.ret_line = Some(pos + 1);
                }
            }
        }
        if ops.len() >= 10 && open.iter().all(Option::is_none) {
            break;
        }
    }
    if corrupt {
        if let Some(r) = ops
            .iter_mut()
            .rev()
            .find(|o| o.f == F::Read && matches!(o.outcome, Outcome::Ok(_)))
        {
            r.outcome = Outcome::Ok(Value::Int(match &r.outcome {
                Outcome::Ok(Value::Int(i)) => i + 1,
                _ => 2,
            }));
        }
    }
    History {
        source: "prop".into(),
        ops,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn our_verdict_equals_stateright(script in proptest::collection::vec((0u8..3, 0u8..3, 0u8..4, 0u8..10), 1..24), corrupt in any::<bool>()) {
        let h = small_history(&script, corrupt);
        let ours = check(&h, &Options::default()).verdict;
        let live: Vec<&Op> = h.ops.iter().collect();
        let theirs = oracle::linearizable(&Value::Null, &live).unwrap();
        prop_assert_eq!(ours == Verdict::Valid, theirs, "history: {:?}", h.ops);
        if !corrupt {
            prop_assert_eq!(ours, Verdict::Valid);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The Gibbons & Korach fast path and the WGL search agree, on valid read/write histories
    /// and on their stale-read twins.
    #[test]
    fn fast_path_equals_wgl(seed in any::<u64>(), ops in 5usize..60, clients in 1usize..6, stale in any::<bool>()) {
        let mut h = synth::generate(synth::Params { ops, clients, keys: 0, info_prob: 0.1, flavor: synth::Flavor::ReadWrite, seed });
        if stale {
            synth::inject_stale_read(&mut h);
        }
        let live: Vec<&Op> = h.ops.iter().filter(|o| o.outcome != Outcome::Fail).collect();
        let fast = checker::gk::decide(&Value::Null, &live);
        prop_assert!(fast.is_some(), "read/write with distinct values must take the fast path");
        let opts = Options { explain: false, ..Options::default() };
        let r = check(&h, &opts);
        let budget = checker::wgl::Budget::unlimited();
        let model = checker::models::cas_register::CasRegister;
        let wgl_valid = matches!(checker::wgl::search(&model, Value::Null, &live, &budget), checker::wgl::SearchResult::Valid);
        prop_assert_eq!(fast.unwrap(), wgl_valid, "fast path vs WGL on {:?}", h.ops);
        prop_assert_eq!(r.verdict == Verdict::Valid, wgl_valid);
    }
}

/// `n` concurrent writes of distinct values on `key` and a read, concurrent with all of them,
/// of a value none wrote: the search tries every subset of the writes before it gives up.
fn blow_up(key: &str, n: u64) -> String {
    let mut lines = Vec::new();
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"invoke","process":{p},"f":"write","key":"{key}","value":{p}}}"#
        ));
    }
    lines.push(format!(
        r#"{{"type":"invoke","process":{n},"f":"read","key":"{key}","value":null}}"#
    ));
    for p in 0..n {
        lines.push(format!(
            r#"{{"type":"ok","process":{p},"f":"write","key":"{key}","value":{p}}}"#
        ));
    }
    lines.push(format!(
        r#"{{"type":"ok","process":{n},"f":"read","key":"{key}","value":1000}}"#
    ));
    lines.join("\n")
}

#[test]
fn the_first_invalid_key_stops_the_others_unless_all_keys_are_asked_for() {
    // Key "a" is invalid at once; key "z" would search 2^40 subsets.
    let text = format!(
        "{}\n{}",
        blow_up("a", 1),
        blow_up("z", 40).replace("process\":", "process\":10")
    );
    let h = jsonl(&text);
    let opts = Options {
        time_limit: Some(std::time::Duration::from_secs(60)),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let r = check(&h, &opts);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(
        r.not_searched,
        vec!["key z".to_string()],
        "{}",
        r.render_text()
    );
    assert!(
        r.render_text().contains("not searched to the end"),
        "{}",
        r.render_text()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // With every key asked for, the small invalid one is still invalid and nothing is skipped
    // (the blow-up then ends at the limit: a short one here).
    let opts = Options {
        all_parts: true,
        time_limit: Some(std::time::Duration::from_millis(300)),
        ..Options::default()
    };
    let r = check(&jsonl(&blow_up("a", 1)), &opts);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.not_searched.is_empty());
    let r = check(&h, &opts);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.not_searched.is_empty(), "{:?}", r.not_searched);
    assert!(
        r.unknown_reasons
            .iter()
            .any(|u| u.contains("key z") && u.contains("time limit")),
        "{:?}",
        r.unknown_reasons
    );
}

#[test]
fn a_history_with_no_operations_is_not_valid() {
    let r = check(&History::default(), &Options::default());
    assert_eq!(r.verdict, Verdict::Unknown);
    assert_eq!(r.unknown_reasons, vec![checker::NO_OPERATIONS.to_string()]);
}
