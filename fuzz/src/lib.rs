//! What every fuzz target shares: a counting allocator and the checks run on each input.
//!
//! Each target must not panic (libFuzzer reports a crash), must not hang (`-timeout`), and must
//! not allocate more than `K * input.len() + C` bytes at its peak, for that target's `K` and `C`
//! ([`Bound`]). The allocator below counts the bytes currently allocated and the peak, and each
//! input's peak is measured from the bytes allocated just before it (state kept from earlier
//! inputs, such as rayon's pool, is not charged to it).
//!
//! With `FAULTLINE_FUZZ_MEASURE` set in the environment the bound is not asserted: each input
//! whose peak, or peak per input byte, is the highest seen so far is printed instead (how the
//! bounds in docs/fuzzing.md were chosen).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The system spec parser, compiled from faultline's own source file.
#[path = "../../faultline/src/spec.rs"]
#[allow(dead_code)]
pub mod spec_parser;

/// Counts the bytes allocated now and the highest count since the last reset.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is passed on to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A target's allocation bound: at most `per_byte * input.len() + fixed` bytes at the peak.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// K: bytes per byte of input.
    pub per_byte: usize,
    /// C: bytes whatever the input.
    pub fixed: usize,
}

/// The bound of the EDN, Porcupine and Jepsen log parsers.
pub const HISTORY_BOUND: Bound = Bound {
    per_byte: 64,
    fixed: 64 << 10,
};

/// The bound of the JSONL parser (and of `Format::Auto`, which may choose it): it parses a batch
/// of up to 16384 lines before validating them, and each line costs one parse result of about
/// 200 bytes however short it is, so the shortest lines (`"\n"`, `"{\n"`) cost the most per byte.
pub const JSONL_BOUND: Bound = Bound {
    per_byte: 256,
    fixed: 64 << 10,
};

/// The bound of the system spec parser: the `toml` crate takes up to about 310 bytes per input
/// byte on the worst inputs found (garbled arrays), in proportion to the input, and up to about
/// 180 KB whatever the input's size on some of them.
pub const SPEC_BOUND: Bound = Bound {
    per_byte: 512,
    fixed: 256 << 10,
};

fn measuring() -> bool {
    static MEASURE: OnceLock<bool> = OnceLock::new();
    *MEASURE.get_or_init(|| std::env::var_os("FAULTLINE_FUZZ_MEASURE").is_some())
}

/// Runs `f` on an input of `len` bytes and asserts its peak allocation is within `bound`.
pub fn bounded<T>(what: &str, len: usize, bound: Bound, f: impl FnOnce() -> T) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    drop(f());
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    if measuring() {
        // The highest peak, and the highest peak per input byte, seen so far (in hundredths).
        static PEAK_MAX: AtomicUsize = AtomicUsize::new(0);
        static RATIO_MAX: AtomicUsize = AtomicUsize::new(0);
        let ratio = peak.saturating_mul(100) / len.max(1);
        let new_peak = peak > PEAK_MAX.fetch_max(peak, Ordering::Relaxed);
        let new_ratio = ratio > RATIO_MAX.fetch_max(ratio, Ordering::Relaxed);
        if new_peak || new_ratio {
            eprintln!(
                "measure {what}: peak {peak} bytes for {len} input bytes ({}.{:02} per byte)",
                ratio / 100,
                ratio % 100
            );
        }
        return;
    }
    let limit = bound
        .per_byte
        .saturating_mul(len)
        .saturating_add(bound.fixed);
    assert!(
        peak <= limit,
        "{what}: {peak} bytes allocated at the peak for {len} bytes of input; the bound is \
         {} * len + {} = {limit}",
        bound.per_byte,
        bound.fixed
    );
}

/// Parses `data` as `format`: no panic, allocation within [`JSONL_BOUND`] or
/// [`HISTORY_BOUND`], and an error's line lies within the input.
pub fn parse(data: &[u8], format: histories::Format) {
    warm_up();
    let bound = match format {
        histories::Format::Jsonl | histories::Format::Auto => JSONL_BOUND,
        _ => HISTORY_BOUND,
    };
    bounded(&format!("{format}"), data.len(), bound, || {
        if let Err(e) = histories::parse_reader(data, "fuzz", format) {
            let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            assert!(
                e.line <= lines,
                "error at line {} beyond the input's {lines} lines: {e}",
                e.line
            );
            assert!(!e.message.is_empty(), "an error without a message");
        }
    });
}

/// Parses `data` (as UTF-8 text) as a system spec: no panic, allocation within [`SPEC_BOUND`].
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    bounded("spec", data.len(), SPEC_BOUND, || {
        spec_parser::SystemSpec::parse(text)
    });
}

/// One-time state (rayon's global pool, the JSONL pipeline's first threads) is set up before the
/// first measured input, so that it is not charged to that input.
fn warm_up() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let one = b"{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n";
        for format in [
            histories::Format::Jsonl,
            histories::Format::Edn,
            histories::Format::JepsenLog,
        ] {
            let _ = histories::parse_reader(&one[..], "warm-up", format);
        }
    });
}
