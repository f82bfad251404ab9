//! The seeded source of every random choice, and the FNV-1a 64 digest of a run.

use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::LatencyRange;

/// The world's single random source: ChaCha8 seeded from the world seed.
///
/// It counts its draws, and may switch streams at chosen draw counts: a branch
/// `(at, seed)` makes draw number `at` (0-based) and every later one come from
/// ChaCha8 seeded with `seed`. Exploration replays a run's prefix this way and draws fresh
/// randomness after it.
#[derive(Debug)]
pub(crate) struct SimRng {
    stream: ChaCha8Rng,
    draws: u64,
    /// Pending `(at, seed)` switches, the next one last.
    branches: Vec<(u64, u64)>,
}

impl SimRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            stream: ChaCha8Rng::seed_from_u64(seed),
            draws: 0,
            branches: Vec::new(),
        }
    }

    /// Switches to the stream of `seed` at each `(at, seed)` draw count, in increasing `at`
    /// (switches at counts already passed never happen).
    pub(crate) fn set_branches(&mut self, branches: &[(u64, u64)]) {
        self.branches = branches.iter().rev().copied().collect();
    }

    /// Draws made so far.
    pub(crate) fn draws(&self) -> u64 {
        self.draws
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        while let Some(&(at, seed)) = self.branches.last() {
            if at != self.draws {
                break;
            }
            self.stream = ChaCha8Rng::seed_from_u64(seed);
            self.branches.pop();
        }
        self.draws += 1;
        self.stream.next_u64()
    }

    /// Uniform in `range` (rejection sampling, no modulo bias); an empty range yields its start.
    pub(crate) fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        if range.start >= range.end {
            return range.start;
        }
        let span = range.end - range.start;
        let zone = (u64::MAX / span) * span;
        loop {
            let x = self.next_u64();
            if x < zone {
                return range.start + x % span;
            }
        }
    }

    /// True with `probability`; 0 (or NaN) and 1 consume no randomness.
    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        if probability.is_nan() || probability <= 0.0 {
            return false;
        }
        if probability >= 1.0 {
            return true;
        }
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < probability
    }

    /// Uniform in `[min, max]`; a fixed range consumes no randomness.
    pub(crate) fn latency(&mut self, range: LatencyRange) -> Duration {
        if range.min >= range.max {
            return range.min;
        }
        let span = nanos(range.max - range.min);
        range.min + Duration::from_nanos(self.range(0..span.saturating_add(1)))
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// FNV-1a 64-bit hash, folded over the run's events and scheduling choices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Digest(u64);

/// `PRIME_POWERS[k]` is `Digest::PRIME` to the power `k`, wrapping.
const PRIME_POWERS: [u64; 9] = {
    let mut powers = [1u64; 9];
    let mut k = 1;
    while k < 9 {
        powers[k] = powers[k - 1].wrapping_mul(Digest::PRIME);
        k += 1;
    }
    powers
};

impl Digest {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(crate) fn new() -> Self {
        Self(Self::OFFSET)
    }

    pub(crate) fn fold(&mut self, value: u64) {
        // FNV-1a over the 8 little-endian bytes. A zero byte only multiplies by PRIME, so the
        // high zero bytes of a small value (ids, sequence numbers) fold as one multiply by a
        // power of PRIME: the same value in fewer dependent steps.
        let significant = 8 - (value.leading_zeros() / 8) as usize;
        for byte in &value.to_le_bytes()[..significant] {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
        self.0 = self.0.wrapping_mul(PRIME_POWERS[8 - significant]);
    }

    /// FNV-1a over `bytes`, one byte at a time (a name, say).
    pub(crate) fn fold_bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub(crate) fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Digest, LatencyRange, SimRng};

    /// A latency is drawn uniformly in `[min, max]`: never outside, and spread over it.
    #[test]
    fn a_latency_is_drawn_within_its_range() {
        let mut rng = SimRng::new(3);
        let range = LatencyRange {
            min: Duration::from_millis(5),
            max: Duration::from_millis(10),
        };
        let draws: Vec<Duration> = (0..1000).map(|_| rng.latency(range)).collect();
        assert!(draws.iter().all(|d| range.min <= *d && *d <= range.max));
        let mean = draws.iter().sum::<Duration>() / 1000;
        assert!(
            Duration::from_millis(7) < mean && mean < Duration::from_millis(8),
            "{mean:?}"
        );
    }

    #[test]
    fn a_branch_replays_the_prefix_then_draws_the_child_stream() {
        let plain: Vec<u64> = {
            let mut rng = SimRng::new(7);
            (0..6).map(|_| rng.next_u64()).collect()
        };
        let child: Vec<u64> = {
            let mut rng = SimRng::new(99);
            (0..3).map(|_| rng.next_u64()).collect()
        };
        let mut rng = SimRng::new(7);
        rng.set_branches(&[(3, 99)]);
        let branched: Vec<u64> = (0..6).map(|_| rng.next_u64()).collect();
        assert_eq!(branched[..3], plain[..3]);
        assert_eq!(branched[3..], child[..]);
        assert_eq!(rng.draws(), 6);
    }

    /// The byte-by-byte FNV-1a the fast fold must match.
    fn fold_bytes(mut hash: u64, value: u64) -> u64 {
        for byte in value.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(Digest::PRIME);
        }
        hash
    }

    #[test]
    fn fold_matches_byte_by_byte_fnv1a() {
        let mut digest = Digest::new();
        let mut expected = Digest::OFFSET;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for shift in 0..64 {
            for value in [
                0,
                1,
                1 << shift,
                (1 << shift) - 1,
                x >> shift,
                u64::MAX >> shift,
            ] {
                digest.fold(value);
                expected = fold_bytes(expected, value);
                assert_eq!(digest.value(), expected, "value {value:#x}");
            }
            x = x.rotate_left(7) ^ 0xD1B5_4A32_D192_ED03;
        }
    }

    #[test]
    fn fold_bytes_is_fnv1a_of_the_bytes() {
        let mut digest = Digest::new();
        digest.fold_bytes(b"a");
        // The published FNV-1a 64 test vector of "a".
        assert_eq!(digest.value(), 0xaf63_dc4c_8601_ec8c);
        let mut whole = Digest::new();
        whole.fold_bytes(&7u64.to_le_bytes());
        let mut folded = Digest::new();
        folded.fold(7);
        assert_eq!(whole.value(), folded.value());
    }
}
