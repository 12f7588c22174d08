//! Load time of a 1,000,000-op (2,000,000-line) JSONL history: prints figures, asserts only on
//! what was loaded (speed targets are not asserted on a shared machine). A figure, not a test:
//! run it with `cargo run -p histories --release --example load_speed`.

use histories::{load, Format, Outcome};
use std::io::Write;
use std::time::Instant;

/// Writes `ops` ops by 10 interleaved processes over 8 keys: writes, reads, cas, some fails.
fn write_history(path: &std::path::Path, ops: u64) {
    let file = std::fs::File::create(path).expect("create");
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "{{\"faultline\":1,\"test\":\"speed\"}}").expect("write");
    let mut index = 0u64;
    let mut line = |w: &mut std::io::BufWriter<std::fs::File>,
                    ty: &str,
                    p: u64,
                    f: &str,
                    key: u64,
                    value: &str| {
        writeln!(
            w,
            "{{\"index\":{index},\"type\":\"{ty}\",\"process\":{p},\"time\":{},\"f\":\"{f}\",\"key\":\"k{key}\",\"value\":{value}}}",
            index * 1000
        )
        .expect("write");
        index += 1;
    };
    // Pairs of processes overlap: invoke a, invoke b, complete a, complete b.
    let mut i = 0;
    while i < ops {
        let a = i % 10;
        let b = (i + 1) % 10;
        let key = (i / 2) % 8;
        let v = i as i64;
        line(&mut w, "invoke", a, "write", key, &v.to_string());
        line(&mut w, "invoke", b, "cas", key, &format!("[{v},{}]", v + 1));
        line(&mut w, "ok", a, "write", key, &v.to_string());
        if i % 7 == 0 {
            line(&mut w, "fail", b, "cas", key, &format!("[{v},{}]", v + 1));
        } else {
            line(&mut w, "ok", b, "cas", key, &format!("[{v},{}]", v + 1));
        }
        i += 2;
    }
    w.flush().expect("flush");
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    write_history(&path, 1_000_000);
    let size = std::fs::metadata(&path).expect("metadata").len();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let loaded = load(&path, Format::Auto).expect("load");
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        assert_eq!(loaded.history.ops.len(), 1_000_000);
        assert_eq!(loaded.stats.events, 2_000_000);
        assert!(matches!(loaded.history.ops[0].outcome, Outcome::Ok(_)));
        println!("loaded 1,000,000 ops ({size} bytes) in {secs:.3} s");
    }
    println!("best: {best:.3} s");
}
