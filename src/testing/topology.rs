//! [`WorkloadTopology`]: who a workload is and who else runs, and [`Shutdown`]: when to stop.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::sim::WeakSimWorld;

/// The address of the workload registered at `index` (0-based): `10.0.0.1`, `10.0.0.2`, ...
pub(crate) fn workload_ip(index: usize) -> String {
    let n = index + 1;
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// What a workload knows about the iteration's layout.
///
/// Workloads get IPs in registration order (`10.0.0.1` for the first, `10.0.0.2` for the
/// second, ...); `peer_ips` lists the others in that order.
#[derive(Clone)]
#[non_exhaustive]
pub struct WorkloadTopology {
    /// The name this workload was registered under.
    pub name: String,
    /// This workload's IP (its provider's source address).
    pub my_ip: String,
    /// The other workloads' IPs, in registration order.
    pub peer_ips: PeerIps,
    /// Fires when every other workload has finished or is waiting for it too: how a server
    /// loop knows its clients are done.
    pub shutdown: Shutdown,
    all_ips: Rc<[String]>,
    world: WeakSimWorld,
    iteration_key: u64,
}

// By hand, without the iteration key: it depends on the order iterations start in, and
// a `Debug` print of a topology must read the same on any number of threads.
impl fmt::Debug for WorkloadTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadTopology")
            .field("name", &self.name)
            .field("my_ip", &self.my_ip)
            .field("peer_ips", &self.peer_ips)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

/// The other workloads' IPs, in registration order: a view of the iteration's one IP list
/// without this workload's own, so a topology costs the same whatever the number of
/// workloads. Index it (`peer_ips[0]`) and iterate it as a slice.
#[derive(Clone)]
pub struct PeerIps {
    all: Rc<[String]>,
    skip: usize,
}

impl PeerIps {
    /// How many other workloads there are.
    pub fn len(&self) -> usize {
        self.all.len().saturating_sub(1)
    }

    /// Whether this workload is alone.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th other workload's IP.
    pub fn get(&self, i: usize) -> Option<&String> {
        let i = if i >= self.skip { i + 1 } else { i };
        self.all.get(i)
    }

    /// The first other workload's IP.
    pub fn first(&self) -> Option<&String> {
        self.get(0)
    }

    /// The IPs, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &String> + '_ {
        self.all
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != self.skip)
            .map(|(_, ip)| ip)
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: &str) -> bool {
        self.iter().any(|other| other == ip)
    }

    /// The IPs, copied into a `Vec`.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().cloned().collect()
    }
}

impl std::ops::Index<usize> for PeerIps {
    type Output = String;

    fn index(&self, i: usize) -> &String {
        match self.get(i) {
            Some(ip) => ip,
            None => panic!(
                "peer_ips[{i}]: there are only {} other workloads",
                self.len()
            ),
        }
    }
}

impl<'a> IntoIterator for &'a PeerIps {
    type Item = &'a String;
    type IntoIter = Box<dyn Iterator<Item = &'a String> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl fmt::Debug for PeerIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq<Vec<String>> for PeerIps {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl WorkloadTopology {
    pub(crate) fn new(
        index: usize,
        name: String,
        all_ips: Rc<[String]>,
        shutdown: Shutdown,
        world: WeakSimWorld,
        iteration_key: u64,
    ) -> Self {
        let my_ip = all_ips[index].clone();
        let peer_ips = PeerIps {
            all: all_ips.clone(),
            skip: index,
        };
        Self {
            name,
            my_ip,
            peer_ips,
            shutdown,
            all_ips,
            world,
            iteration_key,
        }
    }

    /// A number the workloads of this iteration share and no other iteration of the process
    /// has: the key for state they share outside the world (a campaign-wide ledger, say).
    ///
    /// The seed is not such a key: exploration runs a seed's children, and a seed list may
    /// repeat a seed, at the same time on other threads. The number itself depends on the
    /// order iterations start in, so use it only to tell iterations apart, never as data.
    pub fn iteration_key(&self) -> u64 {
        self.iteration_key
    }

    /// The iteration's world. Randomness drawn from it
    /// ([`SimWorld::random_range`](crate::SimWorld::random_range) and friends, and
    /// [`buggify!`](macro@crate::buggify)) is replayed by the seed and explored by
    /// [`explore`](crate::testing::SimulationBuilder::explore); randomness from a workload's
    /// own RNG seeded with the seed is replayed but not explored.
    pub fn world(&self) -> &WeakSimWorld {
        &self.world
    }

    /// Adds `n` to the iteration's message count (see
    /// [`SimWorld::count_messages`](crate::SimWorld::count_messages)); the report prints
    /// messages per second beside iterations per second. Nothing happens once the world is gone.
    pub fn count_messages(&self, n: u64) {
        if let Some(world) = self.world.upgrade() {
            world.count_messages(n);
        }
    }

    /// Every workload's IP, in registration order (this one included).
    pub fn all_ips(&self) -> &[String] {
        &self.all_ips
    }
}

#[derive(Debug)]
struct ShutdownState {
    total: usize,
    finished: usize,
    /// Workload index -> number of live `wait` futures of that workload that were polled.
    waiting: BTreeMap<usize, usize>,
    triggered: bool,
    wakers: Vec<Waker>,
}

impl ShutdownState {
    fn check(&mut self) {
        if !self.triggered && self.finished + self.waiting.len() >= self.total {
            self.triggered = true;
            for waker in self.wakers.drain(..) {
                waker.wake();
            }
        }
    }
}

/// The end-of-iteration signal of one workload (see [`WorkloadTopology::shutdown`]).
///
/// It fires once every workload of the iteration has either returned or is awaiting
/// [`wait`](Shutdown::wait) itself; once fired it stays fired. A server typically races
/// `accept` against `wait` and returns when `wait` wins.
#[derive(Clone)]
pub struct Shutdown {
    index: usize,
    state: Rc<RefCell<ShutdownState>>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Shutdown {
    /// One signal per workload of an iteration of `total` workloads.
    pub(crate) fn for_iteration(total: usize) -> Vec<Shutdown> {
        let state = Rc::new(RefCell::new(ShutdownState {
            total,
            finished: 0,
            waiting: BTreeMap::new(),
            triggered: false,
            wakers: Vec::new(),
        }));
        (0..total)
            .map(|index| Shutdown {
                index,
                state: state.clone(),
            })
            .collect()
    }

    /// Marks this workload as finished.
    pub(crate) fn finish(&self) {
        let mut state = self.state.borrow_mut();
        state.finished += 1;
        state.check();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.state.borrow().triggered
    }

    /// Completes when the signal fires; while pending, this workload counts as waiting.
    pub fn wait(&self) -> ShutdownWait {
        ShutdownWait {
            shutdown: self.clone(),
            registered: false,
        }
    }
}

/// The future of [`Shutdown::wait`]; dropping it un-registers the wait.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ShutdownWait {
    shutdown: Shutdown,
    registered: bool,
}

impl Future for ShutdownWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let index = self.shutdown.index;
        let state = self.shutdown.state.clone();
        let mut state = state.borrow_mut();
        if !self.registered {
            self.registered = true;
            *state.waiting.entry(index).or_insert(0) += 1;
            state.check();
        }
        if state.triggered {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for ShutdownWait {
    fn drop(&mut self) {
        if !self.registered {
            return;
        }
        let mut state = self.shutdown.state.borrow_mut();
        if let Some(count) = state.waiting.get_mut(&self.shutdown.index) {
            *count -= 1;
            if *count == 0 {
                state.waiting.remove(&self.shutdown.index);
            }
        }
    }
}
