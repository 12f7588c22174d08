//! WGL against stateright's `LinearizabilityTester` on small register histories whose ops take
//! effect at random points inside their intervals (with `info` and `fail` ops), valid and with
//! planted anomalies (a stale read, a read of a value never written).

use checker::{check, oracle, synth, Options, Verdict};
use histories::{Op, Outcome, Value, F};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn wgl_equals_stateright(seed in any::<u64>(), ops in 1usize..11, clients in 1usize..4, anomaly in 0u8..3) {
        let mut h = synth::random_register(ops, clients, 0.2, seed);
        match anomaly {
            1 => { synth::inject_stale_read(&mut h); }
            2 => {
                if let Some(r) = h.ops.iter_mut().find(|o| o.f == F::Read && matches!(o.outcome, Outcome::Ok(_))) {
                    r.outcome = Outcome::Ok(Value::Int(-7));
                }
            }
            _ => {}
        }
        let live: Vec<&Op> = h.ops.iter().filter(|o| o.outcome != Outcome::Fail).collect();
        let expected = oracle::linearizable(&Value::Null, &live).expect("register ops");
        let opts = Options { model: Some("cas-register".into()), ..Options::default() };
        let r = check(&h, &opts);
        prop_assert_eq!(r.verdict, if expected { Verdict::Valid } else { Verdict::Invalid }, "{:?}", h.ops);
        if anomaly == 0 {
            prop_assert!(expected, "generated histories are valid by construction");
        }
        if r.verdict == Verdict::Invalid {
            prop_assert!(r.counterexample.is_some());
        }
    }
}

#[test]
fn generated_histories_have_the_promised_shape() {
    let h = synth::cas_register(7);
    assert_eq!(h.ops.len(), 100);
    let infos = h.ops.iter().filter(|o| o.outcome == Outcome::Info).count();
    assert!((8..=30).contains(&infos), "{infos} info ops");
    assert!(h.ops.iter().enumerate().all(|(i, o)| o.id == i));
    assert!(h.ops.windows(2).all(|w| w[0].call < w[1].call));
    assert!(h.ops.iter().all(|o| o.call_time.is_some()));
    assert_eq!(check(&h, &Options::default()).verdict, Verdict::Valid);
    let mut stale = h.clone();
    if synth::inject_stale_read(&mut stale) {
        assert_eq!(check(&stale, &Options::default()).verdict, Verdict::Invalid);
    }
    assert_eq!(synth::cas_register(7).ops, h.ops, "deterministic");
}

#[test]
fn a_stale_read_shrinks_to_write_overwrite_read() {
    let mut h = synth::random_register(400, 6, 0.02, 11);
    assert!(synth::inject_stale_read(&mut h));
    let r = check(&h, &Options::default());
    assert_eq!(r.verdict, Verdict::Invalid);
    let c = r.counterexample.expect("explained");
    assert!(c.text.contains("cannot be linearized"), "{}", c.text);
    assert!(c.minimal_complete);
    assert!(
        c.minimal.len() <= 4,
        "minimal sub-history of {} ops:\n{}",
        c.minimal.len(),
        c.text
    );
    // The longest prefix comes from the whole key: it is longer than the minimal history.
    assert!(c.longest_prefix.len() > c.minimal.len(), "{}", c.text);
    let json = serde_json::to_value(&c).expect("serialises");
    assert!(json["minimal"].is_array());
}
