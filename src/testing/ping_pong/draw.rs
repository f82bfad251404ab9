//! The campaign's random draws from a ChaCha8 stream: an integer below a bound, a choice, a
//! chance. The only `u64` to `[0, 1)` conversion in `testing`.

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;

/// A draw in `0..n` (`0` for `n == 0`); modulo, so very slightly biased, which the campaign does
/// not mind (and its recorded streams depend on).
pub(super) fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

/// True with probability `p`; draws nothing when `p <= 0` (or NaN).
pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && unit(rng.next_u64()) < p
}

/// One of `choices`, uniformly.
pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, choices: &[T]) -> T {
    choices[below(rng, choices.len() as u64) as usize]
}

/// The top 53 bits of `x` as a float in `[0, 1)`.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}
