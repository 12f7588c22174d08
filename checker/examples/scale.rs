//! Where the WGL search stops being fast: one register, 10,000 ops, growing client counts,
//! random linearization points. `cargo run --release -p checker --example scale`.

use checker::{check, synth, Options};
use std::time::{Duration, Instant};

fn main() {
    for (n, c, info) in [
        (10_000, 10, 0.01),
        (10_000, 20, 0.01),
        (10_000, 30, 0.0),
        (2_000, 10, 0.2),
    ] {
        let h = synth::random_register(n, c, info, 3);
        let t = Instant::now();
        let opts = Options {
            time_limit: Some(Duration::from_secs(20)),
            ..Options::default()
        };
        let r = check(&h, &opts);
        let conc = r.keys.first().map_or(0, |k| k.concurrency);
        println!(
            "{n} ops, {c} clients, info {info}: {:?} {} (max concurrency {conc})",
            t.elapsed(),
            r.verdict.as_str()
        );
    }
}
