//! Memory in proportion to the input: a few bytes of input never allocate megabytes. A counting
//! allocator (this test binary's own) measures the peak of one parse.
//!
//! The one test binary of this crate besides `tests/main`: the allocator counts every
//! allocation of the process, and a parse allocates on threads of its own (the JSONL pipeline,
//! rayon), so neither a thread-local count nor a lock inside this file would keep the other
//! tests' allocations out of the measurement if they ran in the same binary.

use histories::{parse_reader, Format};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time (the test harness runs tests on several threads).
static MEASURE: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated above the starting point while parsing `text`.
fn peak_of(text: &str, format: Format) -> usize {
    let _one = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up: rayon's pool and other one-time state are not the input's.
    let _ = parse_reader(&b"{}\n"[..], "warm", format);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let _ = parse_reader(text.as_bytes(), "t", format);
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

#[test]
fn a_large_process_number_does_not_allocate_a_slot_per_process() {
    let small = "{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n";
    let large = "{\"type\":\"invoke\",\"process\":65535,\"f\":\"read\"}\n";
    let base = peak_of(small, Format::Jsonl);
    let peak = peak_of(large, Format::Jsonl);
    // One slot of the open-op vector per process up to 65535 would be over 1 MiB.
    assert!(
        peak < base + (64 << 10),
        "process 65535: {peak} bytes at peak, process 1: {base}"
    );
    let edn = "{:process 65000, :type :invoke, :f :read}\n";
    let peak = peak_of(edn, Format::Edn);
    assert!(peak < 256 << 10, "EDN process 65000: {peak} bytes at peak");
}
