//! The generators hold what they promise: counts, repeated values, determinism, and the
//! planted violation the checker finds.

use super::*;
use std::collections::{BTreeSet, HashMap};

fn count(h: &History, pred: impl Fn(&Op) -> bool) -> usize {
    h.ops.iter().filter(|o| pred(o)).count()
}

/// Ops sorted by call, ids dense, positions dense `0..events`, completions after calls.
fn well_formed(h: &History) {
    let mut positions = BTreeSet::new();
    for (i, op) in h.ops.iter().enumerate() {
        assert_eq!(op.id, i);
        if i > 0 {
            assert!(h.ops[i - 1].call < op.call);
        }
        assert!(positions.insert(op.call));
        let done = op.ret_line.expect("every op completes") - 1;
        assert!(done > op.call);
        assert!(positions.insert(done));
        assert_eq!(op.ret.is_none(), op.outcome == Outcome::Info);
        if let Some(r) = op.ret {
            assert_eq!(r, done);
        }
    }
    let events = positions.len() as u64;
    assert_eq!(
        positions.into_iter().collect::<Vec<_>>(),
        (0..events).collect::<Vec<_>>()
    );
}

/// One op at a time per process.
fn sequential_processes(h: &History) {
    let mut last_done: HashMap<u64, u64> = HashMap::new();
    for op in &h.ops {
        if let Some(&done) = last_done.get(&op.process) {
            assert!(done < op.call, "process {} overlaps itself", op.process);
        }
        // An info op's process never runs again.
        last_done.insert(op.process, op.ret.unwrap_or(u64::MAX));
    }
}

/// Replays the witness: every op takes effect inside its interval (an `info` op at most
/// once, after its call; an ok or fail op exactly once), and sequentially each ok op returns
/// what the history says and each fail op changes nothing. Returns the ops that disagree.
fn replay(h: &History, effects: &[(usize, u64)]) -> Vec<usize> {
    let mut seen = vec![0usize; h.ops.len()];
    let mut state: HashMap<Option<String>, Value> = HashMap::new();
    let mut wrong = Vec::new();
    let mut last = 0u64;
    for &(id, at) in effects {
        let op = &h.ops[id];
        assert!(at >= last, "effects in time order");
        last = at;
        seen[id] += 1;
        assert!(op.call < at, "op {id} takes effect after its call");
        if let Some(ret) = op.ret {
            assert!(at <= ret, "op {id} takes effect before its return");
        }
        let cell = state.entry(op.key.clone()).or_insert(Value::Null);
        let before = cell.clone();
        let got = apply(cell, op.f, &op.input);
        match &op.outcome {
            Outcome::Info => {}
            Outcome::Fail => assert_eq!(*cell, before, "op {id} failed yet changed the state"),
            recorded if *recorded != got => wrong.push(id),
            _ => {}
        }
    }
    for (id, op) in h.ops.iter().enumerate() {
        match op.outcome {
            Outcome::Info => assert!(seen[id] <= 1),
            _ => assert_eq!(seen[id], 1, "op {id} takes effect exactly once"),
        }
    }
    wrong
}

#[test]
fn the_witness_replays() {
    let sims = [
        kv_sim(50, 1_712, 10, 1, None),
        kv_sim(10, 370, 10, 2, None),
        kv_sim(50, 2_024, 10, 3, Some((4, 3))),
    ];
    for p in sims {
        let (h, effects) = simulate_with_witness(p, String::new());
        assert_eq!(replay(&h, &effects), Vec::<usize>::new());
    }
    for seed in 0..20 {
        for p in [5, 20] {
            let mut sim = kv_sim(p, 300, 0, seed, None);
            sim.kind = Kind::CasRegister;
            sim.info_prob = 0.2;
            sim.max_info = 20;
            let (h, effects) = simulate_with_witness(sim, String::new());
            assert!(h.ops.iter().any(|o| o.outcome == Outcome::Info));
            assert_eq!(replay(&h, &effects), Vec::<usize>::new());
        }
    }
}

#[test]
fn the_planted_read_is_the_only_one_the_witness_contradicts() {
    for seed in 0..5 {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_5ba1e);
        let key = rng.gen_range(0..10);
        let nth = rng.gen_range(2..6usize);
        let (mut h, effects) =
            simulate_with_witness(kv_sim(50, 2_024, 10, seed, Some((key, nth))), String::new());
        assert!(plant_stale_read(&mut h, &key_name(10, key)));
        let wrong = replay(&h, &effects);
        assert_eq!(wrong.len(), 1);
        assert_eq!(h.ops[wrong[0]].f, F::Get);
        assert_eq!(h.ops[wrong[0]].ok_value(), Some(&Value::Str(STALE.into())));
        assert_eq!(h.ops, porcupine_kv_violation(50, 2_024, 10, seed).ops);
    }
}

#[test]
fn the_same_seed_gives_the_same_history() {
    assert_eq!(
        porcupine_kv(50, 500, 10, 7).ops,
        porcupine_kv(50, 500, 10, 7).ops
    );
    assert_ne!(
        porcupine_kv(50, 500, 10, 7).ops,
        porcupine_kv(50, 500, 10, 8).ops
    );
    assert_eq!(
        porcupine_kv_violation(50, 500, 10, 3).ops,
        porcupine_kv_violation(50, 500, 10, 3).ops
    );
    assert_eq!(jepsen_etcd(4).ops, jepsen_etcd(4).ops);
    assert_eq!(knossos(10, 300, 5).ops, knossos(10, 300, 5).ops);
    assert_eq!(small(6).ops, small(6).ops);
}

#[test]
fn kv_counts_hold_and_values_repeat() {
    let h = porcupine_kv(50, 1_712, 10, 1);
    well_formed(&h);
    sequential_processes(&h);
    assert_eq!(h.ops.len(), 1_712);
    let keys: BTreeSet<_> = h.ops.iter().map(|o| o.key.clone()).collect();
    assert_eq!(keys.len(), 10);
    let processes: BTreeSet<_> = h.ops.iter().map(|o| o.process).collect();
    assert_eq!(processes.len(), 50);
    assert!(pending_at_once(&h) >= 40, "clients are kept busy");
    assert_eq!(count(&h, |o| o.outcome == Outcome::Info), 0);
    let gets: Vec<&Value> = h
        .ops
        .iter()
        .filter(|o| o.f == F::Get)
        .filter_map(Op::ok_value)
        .collect();
    let distinct: BTreeSet<_> = gets.iter().collect();
    assert!(gets.len() > 600);
    assert!(
        distinct.len() * 4 < gets.len(),
        "{} distinct of {}",
        distinct.len(),
        gets.len()
    );
    assert!(gets.iter().any(|v| v.as_str() == Some("")));
    let appends = count(&h, |o| o.f == F::Append && o.input.as_str() == Some("x"));
    assert!(appends > 200);
}

#[test]
fn the_violation_is_one_stale_read() {
    let good = porcupine_kv(50, 2_024, 10, 2);
    let bad = porcupine_kv_violation(50, 2_024, 10, 2);
    well_formed(&bad);
    assert_eq!(bad.ops.len(), 2_024);
    let z = |o: &Op| o.ok_value().and_then(Value::as_str) == Some(STALE);
    let planted = bad.ops.iter().filter(|o| o.f == F::Get && z(o)).count();
    // The gets between P1 and P2 may read "z" legitimately; exactly one reads it after P2.
    let p1 = bad
        .ops
        .iter()
        .find(|o| o.f == F::Put && o.input.as_str() == Some(STALE));
    let p1 = p1.expect("a put writes the marker");
    assert!(planted >= 1);
    assert_eq!(
        count(&bad, |o| o.f == F::Put && o.input.as_str() == Some(STALE)),
        1
    );
    assert!(good.ops.iter().all(|o| o.input.as_str() != Some(STALE)));
    assert!(p1.ret.is_some());
}

#[test]
fn etcd_counts_hold() {
    for seed in 0..20 {
        let h = jepsen_etcd(seed);
        well_formed(&h);
        sequential_processes(&h);
        assert!((80..=100).contains(&h.ops.len()));
        let info = count(&h, |o| o.outcome == Outcome::Info);
        assert!((5..=20).contains(&info), "seed {seed}: {info} info");
        let pending = pending_at_once(&h);
        assert!(
            (8..=25).contains(&pending),
            "seed {seed}: {pending} pending"
        );
        let cas = count(&h, |o| o.f == F::Cas);
        let cas_fail = count(&h, |o| o.f == F::Cas && o.outcome == Outcome::Fail);
        assert!(
            cas_fail * 5 >= cas * 2,
            "seed {seed}: {cas_fail} of {cas} cas fail"
        );
        assert!(h.ops.iter().all(|o| o.key.is_none()));
        let fresh = h.ops.iter().map(|o| o.process).max().unwrap_or(0);
        assert!(fresh >= 5, "timed-out processes come back under a new id");
    }
}

#[test]
fn knossos_counts_hold_and_values_repeat() {
    for (seed, (processes, ops)) in [(5, 100), (10, 500), (20, 1_000)].into_iter().enumerate() {
        let h = knossos(processes, ops, seed as u64);
        well_formed(&h);
        sequential_processes(&h);
        assert_eq!(h.ops.len(), ops);
        let fail = count(&h, |o| o.outcome == Outcome::Fail) as f64 / ops as f64;
        assert!((0.15..=0.35).contains(&fail), "fail share {fail}");
        let info = count(&h, |o| o.outcome == Outcome::Info);
        assert!((1..=6).contains(&info) || ops < 200, "{info} info");
        let values: BTreeSet<i64> = h
            .ops
            .iter()
            .filter(|o| o.f == F::Write)
            .filter_map(|o| o.input.as_int())
            .collect();
        assert!(values.iter().all(|v| (0..REGISTER_VALUES).contains(v)));
        assert!(count(&h, |o| o.f == F::Write) > 2 * values.len());
    }
}

#[test]
fn small_is_small() {
    for seed in 0..10 {
        let h = small(seed);
        well_formed(&h);
        assert!((24..=40).contains(&h.ops.len()));
    }
}

// These depend on the checker's soundness and completeness, not only on the generators.
#[test]
fn the_checker_agrees_with_what_was_planted() {
    let opts = crate::Options::default();
    let valid = [
        porcupine_kv(10, 370, 10, 1),
        porcupine_kv(50, 1_712, 10, 1),
        jepsen_etcd(1),
        jepsen_etcd(2),
        knossos(5, 100, 1),
        knossos(10, 300, 2),
        small(1),
    ];
    for h in &valid {
        let r = crate::check(h, &opts);
        assert_eq!(r.verdict, crate::Verdict::Valid, "{}", h.source);
    }
    let bad = porcupine_kv_violation(50, 2_024, 10, 1);
    let r = crate::check(&bad, &opts);
    assert_eq!(r.verdict, crate::Verdict::Invalid, "{}", bad.source);
}
