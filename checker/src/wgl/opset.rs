//! The memo's keys and hasher: how the search names a set of linearised ops (an exact bitset, a
//! 128-bit one, or a Zobrist fingerprint) and hashes it.
//!
//! Why a module of its own: these are the search's data representation, chosen per part by its
//! size, and they change for other reasons than the search's control flow in the parent module.

/// A fast, non-cryptographic hasher (FxHash's multiply-rotate) for the memo: the keys are
/// fingerprints, bitsets and model states built by the checker itself, not by an adversary.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
}

/// How the memo names a set of linearised ops.
pub(super) trait OpSet: Clone + Eq + std::hash::Hash {
    /// The empty set over `n` ops.
    fn empty(n: usize) -> Self;
    /// Adds or removes op `i` (it is a toggle).
    fn toggle(&mut self, i: usize);
    /// Bytes one memo key owns on the heap.
    fn bytes(&self) -> u64;
}

/// Exact: a bitset (Lowe's and Porcupine's representation), for parts of more than 128 ops.
impl OpSet for Box<[u64]> {
    fn empty(n: usize) -> Self {
        vec![0u64; n.div_ceil(64).max(1)].into()
    }
    fn toggle(&mut self, i: usize) {
        self[i / 64] ^= 1 << (i % 64);
    }
    fn bytes(&self) -> u64 {
        self.len() as u64 * 8
    }
}

/// Exact and allocation-free: a 128-bit bitset, for parts of at most 128 ops.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Bits128(u128);

impl OpSet for Bits128 {
    fn empty(n: usize) -> Self {
        debug_assert!(n <= 128);
        Bits128(0)
    }
    fn toggle(&mut self, i: usize) {
        self.0 ^= 1 << i;
    }
    fn bytes(&self) -> u64 {
        0
    }
}

/// Exact and allocation-free: a 256-bit bitset, for parts of 129 to 256 ops (a fingerprint
/// would be as cheap, but its `Invalid` needs a second, exact search).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Bits256([u128; 2]);

impl OpSet for Bits256 {
    fn empty(n: usize) -> Self {
        debug_assert!(n <= 256);
        Bits256([0; 2])
    }
    fn toggle(&mut self, i: usize) {
        self.0[i / 128] ^= 1 << (i % 128);
    }
    fn bytes(&self) -> u64 {
        0
    }
}

/// A 128-bit Zobrist fingerprint of the set: no allocation, fixed size, updated in O(1).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Fingerprint(u128);

impl OpSet for Fingerprint {
    fn empty(_n: usize) -> Self {
        Fingerprint(0)
    }
    fn toggle(&mut self, i: usize) {
        self.0 ^= zobrist(i);
    }
    fn bytes(&self) -> u64 {
        0
    }
}

/// The Zobrist fingerprint of op `i`.
fn zobrist(i: usize) -> u128 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    ((next() as u128) << 64) | next() as u128
}
