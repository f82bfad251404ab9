//! [`Site`]: a macro call site that caches where its state lives.

use std::sync::atomic::{AtomicUsize, Ordering};

/// One call site of `buggify!` or of an assertion macro with a literal name: the name, and
/// a small index handed out the first time the site is reached, so a world (or an
/// iteration's assertion counts) finds the site's state by position instead of by name.
///
/// The index is only a lookup key: which index a site gets depends on which thread got
/// there first, but everything that reaches a simulation (a buggify draw, an assertion's
/// counts) is still keyed by name.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    name: &'static str,
    /// 0 until assigned, then the index plus one.
    index: AtomicUsize,
}

/// The next site index to hand out.
static NEXT_SITE: AtomicUsize = AtomicUsize::new(0);

impl Site {
    /// A site named `name` (`buggify!`'s `file:line:column`, an assertion's name).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            index: AtomicUsize::new(0),
        }
    }

    /// The site's name.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The site's index, assigned on first use.
    pub(crate) fn index(&self) -> usize {
        match self.index.load(Ordering::Relaxed) {
            0 => {
                let fresh = NEXT_SITE.fetch_add(1, Ordering::Relaxed) + 1;
                match self
                    .index
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh - 1,
                    // Another thread assigned it meanwhile: the number drawn here goes unused.
                    Err(assigned) => assigned - 1,
                }
            }
            assigned => assigned - 1,
        }
    }
}
