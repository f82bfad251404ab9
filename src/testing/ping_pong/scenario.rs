//! [`Scenario`]: what an iteration of the ping-pong campaign looks like, drawn from its seed.

use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::draw::{below, pick};
use crate::sim::{LatencyRange, NetworkConfig};

/// What an iteration looks like, drawn from its seed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Scenario {
    /// True for a calm network without faults (and no forced reconnections).
    pub calm: bool,
    /// The network of the iteration.
    pub network: NetworkConfig,
    /// Per burst, the probability that a client calls [`Peer::reconnect`](crate::Peer::reconnect) (hostile only).
    pub reconnect_probability: f64,
    /// In a third of the iterations, the client receives with
    /// [`Peer::recv_into`](crate::Peer::recv_into) into a buffer of this many bytes (12 to
    /// 20: about a reply), and on [`BufferTooSmall`](crate::peer::PeerError::BufferTooSmall)
    /// leaves the reply in the Peer while it sends its next burst; `None`: it uses
    /// [`Peer::recv`](crate::Peer::recv).
    pub reply_buffer: Option<usize>,
    /// Unreliable mode: the client ends by healing its network and requiring progress
    /// within a bound (see [`liveness_bound`](super::liveness_bound)). On in
    /// [`from_seed`](Self::from_seed); off in [`hostile_from_seed`](Self::hostile_from_seed),
    /// whose campaign reboots the server at random (a server down at the heal is no
    /// network fault).
    pub heal_at_end: bool,
    /// In a quarter of the iterations, a quarter of the requests ask for a large reply (their
    /// padding of `y`s, echoed twelve times: up to 18 KB, more than the Peer's 2 KiB first read
    /// chunk; unreliable mode's server only).
    pub large_replies: bool,
}

impl Scenario {
    /// The scenario of `seed`: calm one time in five, else [`NetworkConfig::hostile`] with
    /// refusal, stall and reset rates picked from a few levels each.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ce7_a810_0000_0001);
        if below(&mut rng, 5) == 0 {
            return Self {
                calm: true,
                network: NetworkConfig::default(),
                reconnect_probability: 0.0,
                reply_buffer: reply_buffer(&mut rng),
                heal_at_end: true,
                large_replies: below(&mut rng, 4) == 0,
            };
        }
        let mut network = NetworkConfig::hostile();
        network.connect_failure_probability = pick(&mut rng, &[0.05, 0.1, 0.3, 0.6]);
        network.connect_stall_probability = pick(&mut rng, &[0.0, 0.05, 0.2]);
        network.connect_stall = Duration::from_millis(pick(&mut rng, &[500, 2000, 10_000]));
        network.reset_probability = pick(&mut rng, &[0.0005, 0.002, 0.01]);
        network.send_buffer_bytes = pick(&mut rng, &[1024, 4096, 16_384]);
        network.write_latency = LatencyRange::new(
            Duration::from_micros(100),
            Duration::from_millis(pick(&mut rng, &[2, 20])),
        );
        let reconnect_probability = pick(&mut rng, &[0.0, 0.05, 0.2]);
        Self {
            calm: false,
            network,
            reconnect_probability,
            reply_buffer: reply_buffer(&mut rng),
            heal_at_end: true,
            large_replies: below(&mut rng, 4) == 0,
        }
    }

    /// The hostile campaign's scenario of `seed` (never calm): a network drawn from calm to
    /// hostile by [`NetworkConfig::random_for_seed`], with corruption (a bit flip in 0.2 %
    /// of the segments) in half the seeds, and forced reconnections as in
    /// [`from_seed`](Self::from_seed).
    pub fn hostile_from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ce7_a810_0000_0002);
        let mut network = NetworkConfig::random_for_seed(seed);
        if below(&mut rng, 2) == 0 {
            network.corrupt_probability = 0.002;
        }
        let reconnect_probability = pick(&mut rng, &[0.0, 0.05, 0.2]);
        Self {
            calm: false,
            network,
            reconnect_probability,
            reply_buffer: reply_buffer(&mut rng),
            heal_at_end: false,
            large_replies: below(&mut rng, 4) == 0,
        }
    }
}

/// [`Scenario::reply_buffer`]'s draw: a third of the iterations receive into a small buffer.
fn reply_buffer(rng: &mut ChaCha8Rng) -> Option<usize> {
    (below(rng, 3) == 0).then(|| 12 + below(rng, 9) as usize)
}
