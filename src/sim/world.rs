//! [`SimWorld`] and [`WeakSimWorld`]: the single owner of a simulation's state (no async here).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::Duration;

use super::config::NetworkConfig;
use super::error::SimError;
use super::events::{Event, EventQueue};
use super::executor::Executor;
use super::fault::Faults;
use super::net::NetState;
use super::process::Processes;
use super::provider::SimNetworkProvider;
use super::rng::{nanos, Digest, SimRng};
use super::slab::FixedHashMap;
use super::steps::StepLog;
use super::time::SimClock;

/// Default time budget: one hour of virtual time.
const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(3600);
/// Default livelock guard: polls allowed without virtual time advancing.
const DEFAULT_POLL_LIMIT: u64 = 10_000_000;

/// A deterministic simulated world: virtual clock, event queue, seeded RNG, network and tasks.
///
/// `SimWorld` is a cheap [`Clone`]able handle (an `Rc`); everything inside is owned by the world,
/// and the simulated objects it hands out (providers, clocks, streams, listeners) hold only a
/// [`WeakSimWorld`], so dropping the last `SimWorld` frees it all. The same seed always replays
/// the same run, event for event, with the same [`digest`](Self::digest).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use moonpool::{Clock, SimWorld};
///
/// let world = SimWorld::new(42);
/// let clock = world.clock();
/// world.block_on(async move { clock.sleep(Duration::from_secs(3600)).await }).unwrap();
/// assert_eq!(world.now(), Duration::from_secs(3600));
/// ```
#[derive(Clone)]
pub struct SimWorld {
    pub(crate) shared: Rc<Shared>,
}

/// A non-owning handle to a [`SimWorld`]; what simulated objects keep.
#[derive(Clone)]
pub struct WeakSimWorld {
    shared: Weak<Shared>,
}

/// Counters of a run, from [`SimWorld::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SimStats {
    /// Events taken off the queue (timers and deliveries, including no-ops).
    pub events_processed: u64,
    /// Task polls (the `block_on` future included).
    pub polls: u64,
    /// Tasks spawned.
    pub tasks_spawned: u64,
    /// Messages the workloads reported with [`SimWorld::count_messages`] (a workload's own
    /// unit: the ping-pong clients count their pings).
    pub messages: u64,
    /// Virtual time reached.
    pub sim_time: Duration,
}

/// Everything a world owns, split so that tasks can be polled without the state borrowed.
pub(crate) struct Shared {
    pub(crate) state: RefCell<WorldState>,
    pub(crate) exec: Executor,
    pub(crate) processes: Processes,
}

/// The world's mutable state. Never borrowed across a task poll.
pub(crate) struct WorldState {
    pub(crate) seed: u64,
    pub(crate) now: Duration,
    pub(crate) rng: SimRng,
    pub(crate) events: EventQueue,
    pub(crate) digest: Digest,
    pub(crate) config: NetworkConfig,
    pub(crate) time_budget: Duration,
    pub(crate) poll_limit: u64,
    pub(crate) stats: SimStats,
    /// Polls since virtual time last advanced (the livelock guard).
    pub(crate) polls_at_now: u64,
    /// Pending timers by id, with the waker of their `Sleep` (looked up only, never
    /// iterated).
    pub(crate) timers: FixedHashMap<u64, Waker>,
    pub(crate) next_timer: u64,
    pub(crate) net: NetState,
    pub(crate) faults: Faults,
    /// The per-step record, while [`SimWorld::record_steps`] is on.
    pub(crate) steps: Option<Box<StepLog>>,
}

impl WorldState {
    /// Takes the next event off the queue, advances time to it and applies it.
    pub(crate) fn process_next_event(&mut self) -> Option<Duration> {
        let (time, seq, event) = self.events.pop()?;
        assert!(time >= self.now, "event queue went back in time");
        if time > self.now {
            self.now = time;
            self.polls_at_now = 0;
        }
        self.stats.events_processed += 1;
        self.digest.fold(nanos(time));
        self.digest.fold(seq);
        for part in event.digest_parts() {
            self.digest.fold(part);
        }
        if let Some(steps) = &mut self.steps {
            steps.event(time, seq, event, self.rng.draws(), self.digest.value());
        }
        match event {
            Event::Timer { id } => {
                if let Some(waker) = self.timers.remove(&id) {
                    waker.wake();
                }
            }
            Event::Deliver { conn, to } => self.deliver(conn, to),
            Event::Retransmit { conn, to } => self.retransmit_timeout(conn, to),
            Event::Heal => self.heal(false),
        }
        Some(time)
    }
}

impl WorldState {
    /// The IP of host `name`: a registered name, or `localhost`.
    pub(crate) fn resolve(&self, name: &str) -> Option<std::net::IpAddr> {
        if name.eq_ignore_ascii_case("localhost") {
            return Some(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        }
        self.net.names.get(&name.to_ascii_lowercase()).copied()
    }
}

impl SimWorld {
    /// A world with the calm default [`NetworkConfig`].
    pub fn new(seed: u64) -> Self {
        Self::build(seed, NetworkConfig::default())
    }

    /// A world with `config`.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `config` fails [`NetworkConfig::validate`].
    pub fn with_config(seed: u64, config: NetworkConfig) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self::build(seed, config))
    }

    fn build(seed: u64, config: NetworkConfig) -> Self {
        let faults = Faults::for_config(&config);
        let state = WorldState {
            seed,
            now: Duration::ZERO,
            rng: SimRng::new(seed),
            events: EventQueue::default(),
            digest: Digest::new(),
            config,
            time_budget: DEFAULT_TIME_BUDGET,
            poll_limit: DEFAULT_POLL_LIMIT,
            stats: SimStats::default(),
            polls_at_now: 0,
            timers: FixedHashMap::default(),
            next_timer: 0,
            net: NetState::default(),
            faults,
            steps: None,
        };
        Self {
            shared: Rc::new(Shared {
                state: RefCell::new(state),
                exec: Executor::default(),
                processes: Processes::default(),
            }),
        }
    }

    /// Runs `f` with the state borrowed. Never call while a task is being polled by `f`.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut WorldState) -> R) -> R {
        f(&mut self.shared.state.borrow_mut())
    }

    /// A weak handle to this world.
    pub fn downgrade(&self) -> WeakSimWorld {
        WeakSimWorld {
            shared: Rc::downgrade(&self.shared),
        }
    }

    /// The seed this world was built with.
    pub fn seed(&self) -> u64 {
        self.with_state(|s| s.seed)
    }

    /// Virtual time since the world started (starts at zero, never goes back).
    pub fn now(&self) -> Duration {
        self.with_state(|s| s.now)
    }

    /// The world's virtual clock.
    pub fn clock(&self) -> SimClock {
        SimClock::new(self.downgrade())
    }

    /// A provider whose outgoing connections come from `ip`.
    ///
    /// An `ip` that does not parse is not an error here: that provider's connects fail with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn provider(&self, ip: &str) -> SimNetworkProvider {
        SimNetworkProvider::with_ip(self.downgrade(), ip)
    }

    /// Registers the host name `name` (case-insensitive) for `ip` in the world's DNS, so
    /// `"name:port"` addresses reach it; a later registration of the same name replaces it.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] if `ip` does not parse or `name` is empty.
    ///
    /// # Examples
    /// ```
    /// use moonpool::{NetworkProvider, SimWorld};
    ///
    /// let world = SimWorld::new(1);
    /// world.register_name("db", "10.0.0.5").unwrap();
    /// let db = world.provider("10.0.0.5");
    /// let app = world.provider("10.0.0.6");
    /// let listener = world.block_on(async move { db.bind("db:5432").await }).unwrap().unwrap();
    /// let stream = world.block_on(async move { app.connect("db:5432").await }).unwrap();
    /// assert!(stream.is_ok());
    /// # drop(listener);
    /// ```
    pub fn register_name(&self, name: &str, ip: &str) -> Result<(), SimError> {
        let parsed = ip.parse().map_err(|_| SimError::InvalidConfig {
            reason: format!("register_name: {ip:?} is not an IP address"),
        })?;
        if name.is_empty() {
            return Err(SimError::InvalidConfig {
                reason: "register_name: empty host name".into(),
            });
        }
        self.with_state(|s| s.net.names.insert(name.to_ascii_lowercase(), parsed));
        Ok(())
    }

    /// Sets the latest virtual time the world may reach (default one hour); a run whose next
    /// event lies beyond it stops with [`SimError::TimeBudgetExceeded`].
    pub fn set_time_budget(&self, budget: Duration) {
        self.with_state(|s| s.time_budget = budget);
    }

    /// Sets how many polls may happen without virtual time advancing (default ten million)
    /// before a run stops with [`SimError::Livelock`].
    pub fn set_poll_limit(&self, polls: u64) {
        self.with_state(|s| s.poll_limit = polls);
    }

    /// FNV-1a 64 digest of every event processed and every scheduling choice made so far.
    ///
    /// Two runs with the same seed and the same code have the same digest.
    pub fn digest(&self) -> u64 {
        self.with_state(|s| s.digest.value())
    }

    /// Adds `n` to the run's message count ([`SimStats::messages`]): how a workload tells
    /// the campaign report how much work it did, printed as messages per second.
    ///
    /// # Examples
    /// ```
    /// let world = moonpool::SimWorld::new(1);
    /// world.count_messages(3);
    /// world.count_messages(2);
    /// assert_eq!(world.stats().messages, 5);
    /// ```
    pub fn count_messages(&self, n: u64) {
        self.with_state(|s| s.stats.messages = s.stats.messages.saturating_add(n));
    }

    /// The first of the simulator's self-checks that failed in this world, if any: a
    /// simulator bug, not a fault of the code under test. Today one check: a socket closed
    /// after a FIN or RST reached it had acted on it (end of stream, or the reset). A
    /// campaign fails an iteration whose world reports one.
    ///
    /// ```
    /// use moonpool::SimWorld;
    ///
    /// let world = SimWorld::new(1);
    /// assert_eq!(world.broken_invariant(), None);
    /// ```
    pub fn broken_invariant(&self) -> Option<String> {
        self.with_state(|s| s.net.broken.clone())
    }

    /// Counters of the run so far.
    pub fn stats(&self) -> SimStats {
        self.with_state(|s| SimStats {
            sim_time: s.now,
            ..s.stats
        })
    }

    /// A uniform draw from the world RNG.
    pub fn random_u64(&self) -> u64 {
        self.with_state(|s| s.rng.next_u64())
    }

    /// True with `probability` (clamped to `0.0..=1.0`, NaN is false), drawn from the world RNG.
    pub fn random_bool(&self, probability: f64) -> bool {
        self.with_state(|s| s.rng.chance(probability))
    }

    /// A uniform draw in `range` from the world RNG; an empty range returns `range.start`.
    pub fn random_range(&self, range: std::ops::Range<u64>) -> u64 {
        self.with_state(|s| s.rng.range(range))
    }

    /// Draws made from the world RNG so far (a position in the run that exploration can
    /// branch at); `None` while the state is borrowed (a check made from inside the network).
    pub(crate) fn rng_draws(&self) -> Option<u64> {
        self.shared.state.try_borrow().ok().map(|s| s.rng.draws())
    }

    /// From draw number `at` on, each `(at, seed)` switches the world RNG to the stream of
    /// `seed` (increasing `at`; see `SimRng::set_branches`).
    pub(crate) fn set_rng_branches(&self, branches: &[(u64, u64)]) {
        self.with_state(|s| s.rng.set_branches(branches));
    }

    /// The network configuration of this world.
    pub fn network_config(&self) -> NetworkConfig {
        self.with_state(|s| s.config.clone())
    }
}

impl fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SimWorld");
        if let Ok(state) = self.shared.state.try_borrow() {
            d.field("seed", &state.seed).field("now", &state.now);
        }
        d.field("tasks", &self.shared.exec.task_count())
            .finish_non_exhaustive()
    }
}

impl WeakSimWorld {
    /// The world, if it is still alive.
    pub fn upgrade(&self) -> Option<SimWorld> {
        self.shared.upgrade().map(|shared| SimWorld { shared })
    }

    /// The world, or [`SimError::WorldDropped`].
    ///
    /// # Errors
    /// [`SimError::WorldDropped`] if every [`SimWorld`] handle was dropped.
    pub fn try_upgrade(&self) -> Result<SimWorld, SimError> {
        self.upgrade().ok_or(SimError::WorldDropped)
    }

    /// The world, or an [`io::Error`] of kind `NotConnected` (for provider methods).
    pub(crate) fn io_upgrade(&self) -> io::Result<SimWorld> {
        self.upgrade()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, SimError::WorldDropped))
    }
}

impl fmt::Debug for WeakSimWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSimWorld")
            .field("alive", &(self.shared.strong_count() > 0))
            .finish()
    }
}
