//! `always_assert!` and `sometimes_assert!`, and the per-iteration collector behind them; the
//! comparisons that report both sides (`always_le!` and friends) and the watermarks
//! (`sometimes_max!`, `sometimes_min!`) are in `assertions/numeric.rs`.
//!
//! The runner installs a collector in a thread-local around each iteration and merges what it
//! gathered into its own campaign's totals afterwards, so two campaigns running at the same
//! time (in parallel test threads, say) never see each other's counts. Outside a campaign the
//! macros still work: `always_assert!` panics on a false condition and `sometimes_assert!`
//! records nothing.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Once;

use crate::sim::{SimWorld, WeakSimWorld};
use crate::site::Site;

mod numeric;

pub use numeric::{comparison_failed, record_watermark, WatermarkValue};

/// Which macro an assertion was checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AssertionKind {
    /// [`always_assert!`](crate::always_assert): must hold every time it is checked.
    Always,
    /// [`sometimes_assert!`](crate::sometimes_assert): must hold at least once per campaign.
    Sometimes,
    /// [`sometimes_max!`](crate::sometimes_max): the highest value reached is recorded.
    Max,
    /// [`sometimes_min!`](crate::sometimes_min): the lowest value reached is recorded.
    Min,
}

impl AssertionKind {
    /// Whether this kind is a watermark ([`Max`](Self::Max) or [`Min`](Self::Min)).
    pub fn is_watermark(self) -> bool {
        matches!(self, AssertionKind::Max | AssertionKind::Min)
    }

    /// Whether `value` beats `best` for this kind (any value beats none; never for the
    /// non-watermark kinds).
    pub fn improves(self, value: i64, best: Option<i64>) -> bool {
        match (self, best) {
            (AssertionKind::Max | AssertionKind::Min, None) => true,
            (AssertionKind::Max, Some(best)) => value > best,
            (AssertionKind::Min, Some(best)) => value < best,
            _ => false,
        }
    }
}

impl fmt::Display for AssertionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AssertionKind::Always => "always",
            AssertionKind::Sometimes => "sometimes",
            AssertionKind::Max => "max",
            AssertionKind::Min => "min",
        })
    }
}

/// How often one named assertion was checked, and how often its condition was true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssertionStats {
    /// The macro it was checked with (the first one seen, if a name is used with both).
    pub kind: AssertionKind,
    /// Times the condition was evaluated.
    pub checks: u64,
    /// Times the condition was true (for a watermark, every check).
    pub hits: u64,
    /// The best value a watermark reached (highest for [`Max`](AssertionKind::Max), lowest
    /// for [`Min`](AssertionKind::Min)); `None` for the other kinds or before any check.
    pub best: Option<i64>,
}

impl AssertionStats {
    /// No checks yet.
    pub fn new(kind: AssertionKind) -> Self {
        Self {
            kind,
            checks: 0,
            hits: 0,
            best: None,
        }
    }

    /// Adds `other`'s counts to these, keeping the better watermark.
    pub fn merge(&mut self, other: &AssertionStats) {
        self.checks += other.checks;
        self.hits += other.hits;
        if let Some(value) = other.best {
            self.offer(value);
        }
    }

    /// Keeps `value` as the best if it beats it (watermarks only); true if it did.
    fn offer(&mut self, value: i64) -> bool {
        let better = self.kind.improves(value, self.best);
        if better {
            self.best = Some(value);
        }
        better
    }
}

/// Assertion counts by name.
pub type AssertionMap = BTreeMap<String, AssertionStats>;

/// What one iteration gathered.
#[derive(Debug)]
struct Collector {
    seed: u64,
    /// Each assertion's counts, in the order first seen, and whether its first hit (a
    /// sometimes-assertion's) was noted in `positions`.
    slots: Vec<Slot>,
    /// The slot of each name.
    by_name: BTreeMap<String, usize>,
    /// A direct-mapped cache from the address of a name (a literal, almost always) to its
    /// slot: one pointer comparison and one short string comparison per check, instead of a
    /// search of the map. Only a cache: a miss or a name at a reused address goes by name.
    by_address: [(usize, usize); ADDRESS_CACHE],
    /// The slot of each literal-named call site, by [`Site`] index (`usize::MAX`: not seen
    /// in this iteration yet).
    by_site: Vec<usize>,
    /// The world whose RNG position each discovery is noted at (exploration only).
    world: Option<WeakSimWorld>,
    positions: Positions,
}

/// Entries of [`Collector::by_address`] (a power of two).
const ADDRESS_CACHE: usize = 128;

#[derive(Debug)]
struct Slot {
    name: String,
    stats: AssertionStats,
    first_hit_noted: bool,
}

impl Collector {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            slots: Vec::new(),
            by_name: BTreeMap::new(),
            by_address: [(0, 0); ADDRESS_CACHE],
            by_site: Vec::new(),
            world: None,
            positions: Positions::default(),
        }
    }

    /// The slot of `name`, created for `kind` if new.
    fn slot(&mut self, name: &str, kind: AssertionKind) -> usize {
        let address = name.as_ptr() as usize;
        let entry = (address >> 3 ^ address >> 11) & (ADDRESS_CACHE - 1);
        let (cached, index) = self.by_address[entry];
        if cached == address && self.slots.get(index).is_some_and(|slot| slot.name == name) {
            return index;
        }
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => {
                let index = self.slots.len();
                self.by_name.insert(name.to_string(), index);
                self.slots.push(Slot {
                    name: name.to_string(),
                    stats: AssertionStats::new(kind),
                    first_hit_noted: false,
                });
                index
            }
        };
        self.by_address[entry] = (address, index);
        index
    }

    /// The slot of a literal-named call site: by the site's index, found by name the first
    /// time (a literal's text never changes, so nothing is compared after that).
    fn slot_at(&mut self, site: &Site, kind: AssertionKind) -> usize {
        let at = site.index();
        if let Some(&index) = self.by_site.get(at) {
            if index != usize::MAX {
                return index;
            }
        }
        let index = self.slot(site.name(), kind);
        if self.by_site.len() <= at {
            self.by_site.resize(at + 1, usize::MAX);
        }
        self.by_site[at] = index;
        index
    }

    /// The counts by name.
    fn take_assertions(&mut self) -> AssertionMap {
        self.by_address = [(0, 0); ADDRESS_CACHE];
        self.by_site.clear();
        self.by_name.clear();
        std::mem::take(&mut self.slots)
            .into_iter()
            .map(|slot| (slot.name, slot.stats))
            .collect()
    }
}

/// Where in one iteration's run (in world RNG draws) its discoveries happened.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    /// Each sometimes-assertion first true in the iteration, at that moment.
    pub first_hits: BTreeMap<String, u64>,
    /// Each watermark's best value in the iteration, and the moment it was first reached.
    pub bests: BTreeMap<String, (i64, u64)>,
}

thread_local! {
    static COLLECTOR: RefCell<Option<Collector>> = const { RefCell::new(None) };
    /// Set while the runner polls workloads: caught panics print nothing.
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    /// Where the last quiet panic happened (`file:line:col`).
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Counts one check of `name` (of call site `site`, if its name is a literal); `value` is a
/// watermark's value.
fn record(
    name: &str,
    site: Option<&Site>,
    kind: AssertionKind,
    condition: bool,
    value: Option<i64>,
) {
    let conflict = COLLECTOR.with(|c| {
        let mut c = c.borrow_mut();
        let collector = c.as_mut()?;
        let index = match site {
            Some(site) => collector.slot_at(site, kind),
            None => collector.slot(name, kind),
        };
        let slot = &mut collector.slots[index];
        if slot.stats.kind != kind {
            return Some(slot.stats.kind);
        }
        slot.stats.checks += 1;
        slot.stats.hits += u64::from(condition);
        let improved = value.is_some_and(|value| slot.stats.offer(value));
        let first_hit = kind == AssertionKind::Sometimes && condition && !slot.first_hit_noted;
        if !(first_hit || improved) || collector.world.is_none() {
            return None;
        }
        // A discovery: note the world RNG's position (exploration re-enters the run there).
        let draws = collector
            .world
            .as_ref()
            .and_then(WeakSimWorld::upgrade)
            .and_then(|world| world.rng_draws())?;
        let positions = &mut collector.positions;
        if first_hit && !positions.first_hits.contains_key(name) {
            positions.first_hits.insert(name.to_string(), draws);
        }
        if let (true, Some(value)) = (improved, value) {
            positions.bests.insert(name.to_string(), (value, draws));
        }
        // The flag only saves the search above; set once the first hit is in `positions`.
        collector.slots[index].first_hit_noted |= first_hit;
        None
    });
    if let Some(first) = conflict {
        // Counting one name as two kinds would judge neither right (an always-assertion's
        // failures hidden as misses of a sometimes, or the reverse): the iteration fails.
        panic!(
            "assertion {name:?} is used as {first} and as {kind}: give each assertion its own name"
        );
    }
}

/// Notes the RNG position of `world` at each discovery of the iteration being collected on
/// this thread (what [`collect`] returns as [`Positions`]).
pub(crate) fn watch_positions(world: &SimWorld) {
    COLLECTOR.with(|c| {
        if let Some(collector) = c.borrow_mut().as_mut() {
            collector.world = Some(world.downgrade());
        }
    });
}

/// Records one check of an `always` assertion; returns `condition`. Used by
/// [`always_assert!`](crate::always_assert).
#[doc(hidden)]
pub fn record_always(name: &str, condition: bool) -> bool {
    record(name, None, AssertionKind::Always, condition, None);
    condition
}

/// [`record_always`] for a call site whose name is a literal (its `static` [`Site`]).
#[doc(hidden)]
pub fn record_always_at(site: &Site, condition: bool) -> bool {
    record(
        site.name(),
        Some(site),
        AssertionKind::Always,
        condition,
        None,
    );
    condition
}

/// Records one check of a `sometimes` assertion (a hit if `condition`). Used by
/// [`sometimes_assert!`](crate::sometimes_assert); does nothing outside a campaign.
#[doc(hidden)]
pub fn record_sometimes(name: &str, condition: bool) {
    record(name, None, AssertionKind::Sometimes, condition, None);
}

/// [`record_sometimes`] for a call site whose name is a literal (its `static` [`Site`]).
#[doc(hidden)]
pub fn record_sometimes_at(site: &Site, condition: bool) {
    record(
        site.name(),
        Some(site),
        AssertionKind::Sometimes,
        condition,
        None,
    );
}

/// The seed of the iteration running on this thread, if any.
pub fn current_seed() -> Option<u64> {
    COLLECTOR.with(|c| c.borrow().as_ref().map(|c| c.seed))
}

/// Panics for a failed [`always_assert!`](crate::always_assert), naming the assertion, the
/// message and the seed.
///
/// # Panics
/// Always.
#[doc(hidden)]
#[track_caller]
pub fn always_failed(name: &str, message: fmt::Arguments<'_>) -> ! {
    match current_seed() {
        Some(seed) => panic!("always_assert!({name}) failed: {message} (seed {seed})"),
        None => panic!("always_assert!({name}) failed: {message} (outside a campaign)"),
    }
}

/// Runs `f` with a fresh collector for `seed` installed on this thread (restoring any
/// previous one afterwards, even on panic) and returns what it gathered.
pub(crate) fn collect<R>(seed: u64, f: impl FnOnce() -> R) -> (R, AssertionMap, Positions) {
    struct Restore(Option<Collector>);
    impl Drop for Restore {
        fn drop(&mut self) {
            COLLECTOR.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let fresh = Collector::new(seed);
    let _restore = Restore(COLLECTOR.with(|c| c.borrow_mut().replace(fresh)));
    let result = f();
    let (assertions, positions) = COLLECTOR.with(|c| {
        c.borrow_mut()
            .as_mut()
            .map(|c| {
                c.world = None;
                (c.take_assertions(), std::mem::take(&mut c.positions))
            })
            .unwrap_or_default()
    });
    (result, assertions, positions)
}

/// Makes panics on this thread print nothing (their location is kept for
/// [`take_panic_location`]) while `f` runs; other threads are unaffected.
pub(crate) fn quiet_panics<R>(f: impl FnOnce() -> R) -> R {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(|q| q.get()) {
                let location = info.location().map(|l| l.to_string());
                PANIC_LOCATION.with(|p| *p.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            QUIET_PANICS.with(|q| q.set(self.0));
        }
    }
    let _reset = Reset(QUIET_PANICS.with(|q| q.replace(true)));
    f()
}

/// The location of the last panic silenced on this thread, if any (and forgets it).
pub(crate) fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|p| p.borrow_mut().take())
}

/// Asserts that a condition holds every time it is checked.
///
/// `always_assert!(name, condition)` or `always_assert!(name, condition, "format", args...)`.
/// Each check is counted under `name` in the campaign report. When the condition is false it
/// panics with a message naming the assertion, the message and the iteration's seed; the
/// runner catches the panic and fails that iteration. Outside a campaign it panics the same
/// way (without a seed).
///
/// # Examples
/// ```
/// use moonpool::always_assert;
///
/// let replies = 3;
/// always_assert!("replies_bounded", replies <= 10, "got {replies} replies");
/// let caught = std::panic::catch_unwind(|| always_assert!("never", 1 > 2, "one is {}", 1));
/// assert!(caught.is_err());
/// ```
#[macro_export]
macro_rules! always_assert {
    // A literal name: the call site's `static` finds its counts without comparing names.
    ($name:literal, $cond:expr $(,)?) => {
        $crate::always_assert!($name, $cond, "{}", ::core::stringify!($cond))
    };
    ($name:literal, $cond:expr, $($arg:tt)+) => {{
        static SITE: $crate::site::Site = $crate::site::Site::new($name);
        if !$crate::testing::assertions::record_always_at(&SITE, $cond) {
            $crate::testing::assertions::always_failed($name, ::core::format_args!($($arg)+));
        }
    }};
    ($name:expr, $cond:expr $(,)?) => {
        $crate::always_assert!($name, $cond, "{}", ::core::stringify!($cond))
    };
    ($name:expr, $cond:expr, $($arg:tt)+) => {{
        let name: &str = $name;
        if !$crate::testing::assertions::record_always(name, $cond) {
            $crate::testing::assertions::always_failed(name, ::core::format_args!($($arg)+));
        }
    }};
}

/// Records that a condition was checked and, if true, reached.
///
/// `sometimes_assert!(name, condition)` or `sometimes_assert!(name, condition, "message")`
/// (the message, format arguments allowed, documents intent; it is never formatted). It never panics: at the end of a
/// campaign the [`SimulationBuilder`](crate::testing::SimulationBuilder) fails the campaign
/// if any sometimes-assertion (checked or declared) was never true. Outside a campaign it
/// records nothing.
///
/// # Examples
/// ```
/// use moonpool::sometimes_assert;
///
/// let queue_size = 0;
/// sometimes_assert!("queue_nonempty", queue_size > 0, "messages queued while disconnected");
/// ```
#[macro_export]
macro_rules! sometimes_assert {
    ($name:literal, $cond:expr $(,)?) => {{
        static SITE: $crate::site::Site = $crate::site::Site::new($name);
        $crate::testing::assertions::record_sometimes_at(&SITE, $cond)
    }};
    ($name:literal, $cond:expr, $($arg:tt)+) => {{
        if false {
            let _ = ::core::format_args!($($arg)+);
        }
        $crate::sometimes_assert!($name, $cond)
    }};
    ($name:expr, $cond:expr $(,)?) => {
        $crate::testing::assertions::record_sometimes($name, $cond)
    };
    ($name:expr, $cond:expr, $($arg:tt)+) => {{
        if false {
            let _ = ::core::format_args!($($arg)+);
        }
        $crate::testing::assertions::record_sometimes($name, $cond)
    }};
}
