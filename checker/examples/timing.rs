//! Times the checker on the synthetic histories: `cargo run --release -p checker --example timing`.

use checker::{check, synth, Options};
use std::time::Instant;

fn main() {
    let opts = Options::default();
    let t = Instant::now();
    let cas = synth::cas_register(1);
    let append = synth::append_kv(1);
    println!("generate small: {:?}", t.elapsed());
    let t = Instant::now();
    let big = synth::big_kv(1);
    println!("generate big_kv: {:?}", t.elapsed());
    let mut stale = big.clone();
    checker::synth::inject_stale_read(&mut stale);
    let t = Instant::now();
    let r = check(&stale, &opts);
    println!(
        "big_kv + stale read: {:?} {}",
        t.elapsed(),
        r.summary_line()
    );
    println!("{}", r.render_text());
    for (name, h) in [
        ("cas_register", &cas),
        ("append_kv", &append),
        ("big_kv", &big),
    ] {
        let t = Instant::now();
        let r = check(h, &opts);
        println!("{name}: {:?} {}", t.elapsed(), r.summary_line());
        let mut keys = r.keys.clone();
        keys.sort_by(|a, b| b.elapsed_ms.total_cmp(&a.elapsed_ms));
        for k in keys.iter().take(3) {
            println!(
                "   {:?} ops {} conc {} {} {:.2} ms",
                k.key, k.ops, k.concurrency, k.algorithm, k.elapsed_ms
            );
        }
    }
}
