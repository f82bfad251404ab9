//! [`buggify!`](crate::buggify!): FoundationDB's BUGGIFY, code paths that only fire in
//! simulation.
//!
//! A `buggify!()` call site is a place where the code may do something legal but unusual (a
//! tiny buffer, an early timeout, a spurious reconnect) to shake out bugs that the common path
//! hides. Inside a running [`SimWorld`](crate::SimWorld) with buggify on
//! ([`SimWorld::set_buggify`](crate::SimWorld::set_buggify); campaigns turn it on), each site
//! is enabled or not once per run (one site in four, drawn from the world's seed), and an
//! enabled site then fires with its probability (default 25 %) each time it is reached. Outside a simulation it is always
//! `false`, at the cost of one relaxed atomic load and a branch.
//!
//! # Examples
//! ```
//! use moonpool::buggify;
//!
//! fn batch_size() -> usize {
//!     if buggify!() { 1 } else { 64 * 1024 }
//! }
//! assert_eq!(batch_size(), 64 * 1024); // not in a simulation: never fires
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the randomness of buggify comes from: the running world.
pub(crate) trait Source {
    /// Whether `site` fires now, given its firing probability.
    fn fire(&self, site: &crate::site::Site, probability: f64) -> bool;
}

/// Worlds running on any thread: the fast gate outside simulations.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ACTIVE: RefCell<Option<Rc<dyn Source>>> = const { RefCell::new(None) };
}

/// Makes `source` answer this thread's `buggify!` calls until the guard drops.
pub(crate) fn enter(source: Rc<dyn Source>) -> Guard {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    let outer = ACTIVE.with(|active| active.replace(Some(source)));
    Guard { outer }
}

/// Restores the buggify source that was active before [`enter`].
pub(crate) struct Guard {
    outer: Option<Rc<dyn Source>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let outer = self.outer.take();
        ACTIVE.with(|active| *active.borrow_mut() = outer);
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `buggify!` expands to; use the macro.
#[doc(hidden)]
pub fn __fire(site: &crate::site::Site, probability: f64) -> bool {
    if RUNNING.load(Ordering::Relaxed) == 0 {
        return false;
    }
    // A shared borrow for the call (no reference count touched): a source never enters or
    // leaves a world, which is what borrows `ACTIVE` mutably.
    ACTIVE.with(|active| {
        active
            .borrow()
            .as_ref()
            .is_some_and(|source| source.fire(site, probability))
    })
}

/// `true` now and then inside a simulation, never outside one: see the
/// [module documentation](mod@crate::buggify).
///
/// `buggify!()` fires with probability 0.25 at an enabled site; `buggify!(p)` with `p`.
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::buggify!(0.25)
    };
    ($probability:expr) => {{
        static SITE: $crate::site::Site =
            $crate::site::Site::new(concat!(file!(), ":", line!(), ":", column!()));
        $crate::buggify::__fire(&SITE, $probability)
    }};
}
