//! Loading many files at once from inside rayon's global pool (as `faultline check` does) must
//! not deadlock the pool: the reader falls back to an in-pool path there.

use rayon::prelude::*;
use std::io::Write;
use std::time::Duration;

fn write_history(path: &std::path::Path, ops: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..ops {
        let p = i % 4;
        writeln!(
            w,
            r#"{{"type":"invoke","process":{p},"f":"write","key":"k","value":{i}}}"#
        )
        .expect("write");
        writeln!(
            w,
            r#"{{"type":"ok","process":{p},"f":"write","key":"k","value":{i}}}"#
        )
        .expect("write");
    }
    w.flush().expect("flush");
}

#[test]
fn many_large_files_load_in_parallel_inside_the_global_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<_> = (0..(2 * rayon::current_num_threads() + 2))
        .map(|i| {
            let path = dir.path().join(format!("h{i}.jsonl"));
            // Several batches each, so that a pipeline's bounded channels would fill up.
            write_history(&path, 60_000);
            path
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let counts: Vec<usize> = files
            .par_iter()
            .map(|p| {
                histories::load(p, histories::Format::Auto)
                    .expect("load")
                    .history
                    .ops
                    .len()
            })
            .collect();
        let _ = tx.send(counts);
    });
    let counts = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("loading files in parallel did not finish in 120 s: deadlock in the reader");
    assert!(counts.iter().all(|&n| n == 60_000), "{counts:?}");
}
