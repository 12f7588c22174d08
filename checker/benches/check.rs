//! Criterion benchmarks of the checker on generated histories, with the targets they were built
//! for: cas-register 100 ops with ~15-20 info (< 5 ms), append-kv 2,000 ops (< 15 ms), kv
//! 1,000,000 ops over 1,000 keys (< 3 s; parse is measured by `faultline bench check`).

use checker::{check, synth, Options};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn benches(c: &mut Criterion) {
    let opts = Options::default();
    let cas = synth::cas_register(1);
    c.bench_function("cas-register 100 ops ~18 info", |b| {
        b.iter(|| check(&cas, &opts))
    });
    let append = synth::append_kv(1);
    c.bench_function("append-kv 2000 ops 50 clients 10 keys", |b| {
        b.iter(|| check(&append, &opts))
    });
    let big = synth::big_kv(1);
    let mut g = c.benchmark_group("large");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("kv 1M ops 1000 keys", |b| b.iter(|| check(&big, &opts)));
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
