//! Run-shaped synthetic histories for measuring the page (size, render time) at scale.
//!
//! The checker's generators (`checker::synth`) make histories shaped for the search (many keys,
//! microsecond "times"); a report's cost depends on a run's shape instead: tens of clients,
//! millisecond latencies over minutes, a few `info` ops that retire their process, growing
//! values, and a nemesis schedule. Valid or not does not matter for size and speed.

use histories::{History, NemesisEvent, Op, Outcome, Value, F};

/// Clients of the sample run.
const CLIENTS: u64 = 50;
/// Length of the sample run.
const RUN_NS: u64 = 300_000_000_000;

/// `ops` ops by 50 clients over 300 s, latency 1-10 ms, 1% `info`, 8 keys, a partition every
/// 30 s for 10 s.
pub fn run_shaped(ops: usize) -> History {
    let mut h = History {
        source: format!("sample run ({ops} ops)"),
        ..History::default()
    };
    let mut next_process = CLIENTS;
    let mut procs: Vec<u64> = (0..CLIENTS).collect();
    let step_ns = RUN_NS / ops.max(1) as u64;
    for id in 0..ops {
        let slot = id % CLIENTS as usize;
        let call_time = id as u64 * step_ns;
        let latency = 1_000_000 + (id as u64 * 7919 % 9_000_000);
        let n = id as i64;
        let (f, input, outcome) = match id % 3 {
            0 => (F::Read, Value::Null, Outcome::Ok(Value::Int(n / 3))),
            1 => (F::Write, Value::Int(n), Outcome::Ok(Value::Int(n))),
            _ => (
                F::Cas,
                Value::List(vec![Value::Int(n - 1), Value::Int(n)]),
                Outcome::Fail,
            ),
        };
        let info = id % 100 == 99;
        h.ops.push(Op {
            id,
            process: procs[slot],
            f,
            key: Some(format!("k{}", id % 8)),
            input,
            outcome: if info { Outcome::Info } else { outcome },
            call: 2 * id as u64,
            ret: (!info).then_some(2 * id as u64 + 1),
            call_line: 2 * id as u64 + 1,
            ret_line: Some(2 * id as u64 + 2),
            call_time: Some(call_time),
            ret_time: Some(call_time + latency),
            error: info.then(|| "timeout".to_string()),
            sent_to: None,
            served_by: None,
        });
        if info {
            procs[slot] = next_process;
            next_process += 1;
        }
    }
    for (i, start) in (0..RUN_NS).step_by(30_000_000_000).enumerate() {
        let groups = serde_json::json!({"kind": "random-halves", "groups": [["n1", "n2"], ["n3", "n4", "n5"]]});
        h.nemesis.push(NemesisEvent {
            time: Some(start + 10_000_000_000),
            f: "start-partition".into(),
            value: groups,
            line: 0,
        });
        h.nemesis.push(NemesisEvent {
            time: Some(start + 20_000_000_000),
            f: "heal".into(),
            value: serde_json::Value::Null,
            line: 0,
        });
        let _ = i;
    }
    h
}
