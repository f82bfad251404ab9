//! The simulator's crypto: randomness from the world's seed, time from the virtual clock.
//!
//! rustls asks its [`CryptoProvider`] for every random byte (client and server randoms,
//! session ids) and for each key exchange's ephemeral secret, and its [`TimeProvider`] for the
//! time certificates are checked against. Both are `&'static`/`Send + Sync`, and rustls only
//! calls them synchronously from inside a call into a connection, so each connection keeps its
//! own ChaCha stream (seeded from the provider's `random_seed`) and its clock, and installs
//! them in a thread-local [`Scope`] around each such call ([`Seeded::enter`]). The simulator
//! runs on one thread, so the draws of a handshake happen in one order, and a run replays bit
//! for bit. A call outside a scope fails (rustls reports it) rather than reading the OS.
//!
//! Signatures are the other source of randomness: ring's ECDSA and RSA-PSS signers draw from
//! the OS. Ed25519 signatures are deterministic, so the simulated provider accepts only
//! Ed25519 keys (see `super::config`).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::UnixTime;
use rustls::time_provider::TimeProvider;
use rustls::{NamedGroup, PeerMisbehaved};

use crate::Clock;

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// What the crypto of the connection being driven on this thread draws from.
struct Scope {
    rng: ChaCha20Rng,
    now: UnixTime,
}

/// A connection's deterministic crypto state: its random stream and its clock.
pub(crate) struct Seeded<C> {
    /// `None` only while installed in the thread-local scope.
    rng: Option<ChaCha20Rng>,
    clock: C,
    /// The wall time that virtual time zero stands for.
    epoch: Duration,
}

// Never pinned through: the clock is only called.
impl<C> Unpin for Seeded<C> {}

impl<C: Clock> Seeded<C> {
    pub(crate) fn new(seed: u64, clock: C, epoch: Duration) -> Self {
        Self {
            rng: Some(ChaCha20Rng::seed_from_u64(seed)),
            clock,
            epoch,
        }
    }

    /// Runs `f` with this connection's randomness and the virtual time installed for rustls.
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let Some(rng) = self.rng.take() else {
            return f(); // already installed (a nested call): the outer scope serves
        };
        let now = UnixTime::since_unix_epoch(self.epoch + self.clock.now());
        let previous = SCOPE.with(|scope| scope.replace(Some(Scope { rng, now })));
        // Restores the previous scope and takes the stream back, even if `f` panics.
        struct Restore<'a> {
            rng: &'a mut Option<ChaCha20Rng>,
            previous: Option<Scope>,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let ours = SCOPE.with(|scope| scope.replace(self.previous.take()));
                *self.rng = ours.map(|scope| scope.rng);
            }
        }
        let _restore = Restore {
            rng: &mut self.rng,
            previous,
        };
        f()
    }
}

impl<C> std::fmt::Debug for Seeded<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeded")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

fn fill(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    SCOPE.with(|scope| match scope.borrow_mut().as_mut() {
        Some(scope) => {
            scope.rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(GetRandomFailed),
    })
}

/// rustls' random source in the simulator: the installed connection's ChaCha stream.
#[derive(Debug)]
struct ScopedRandom;

impl SecureRandom for ScopedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(buf)
    }
}

/// rustls' clock in the simulator: the installed connection's virtual time.
#[derive(Debug)]
pub(crate) struct ScopedTime;

impl TimeProvider for ScopedTime {
    fn current_time(&self) -> Option<UnixTime> {
        SCOPE.with(|scope| scope.borrow().as_ref().map(|scope| scope.now))
    }
}

/// X25519 whose ephemeral secret comes from the installed stream (x25519-dalek: ring's key
/// exchange cannot be given a secret).
#[derive(Debug)]
struct ScopedX25519;

impl SupportedKxGroup for ScopedX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut secret = [0u8; 32];
        fill(&mut secret)?;
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer_pub_key
            .try_into()
            .map_err(|_| PeerMisbehaved::InvalidKeyShare)?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ring's cipher suites, verification algorithms and key loading, with the scoped random
/// source and X25519 as the only key exchange group.
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        kx_groups: vec![&ScopedX25519],
        secure_random: &ScopedRandom,
        ..ring
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct FixedClock(Duration);
    impl Clock for FixedClock {
        fn now(&self) -> Duration {
            self.0
        }
        fn sleep(&self, _: Duration) -> impl std::future::Future<Output = ()> + use<> {
            std::future::ready(())
        }
    }

    #[test]
    fn draws_replay_per_seed_and_fail_outside_a_scope() {
        let draw = |seed| {
            let mut seeded = Seeded::new(seed, FixedClock(Duration::from_secs(5)), Duration::ZERO);
            let mut first = [0u8; 16];
            let mut second = [0u8; 16];
            seeded.enter(|| fill(&mut first)).unwrap();
            let now = seeded.enter(|| ScopedTime.current_time());
            seeded.enter(|| fill(&mut second)).unwrap();
            assert_ne!(first, second, "the stream moves on between scopes");
            assert_eq!(now.unwrap().as_secs(), 5);
            (first, second)
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert!(fill(&mut [0u8; 4]).is_err());
        assert!(ScopedTime.current_time().is_none());
    }
}
