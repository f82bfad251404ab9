//! Which seeds a campaign runs: a [`SeedSource`] that computes each seed from its index, so a
//! campaign of `u64::MAX` iterations costs no memory up front.

use super::builder::{SeedPlan, SimulationBuilder};

/// The seeds of a campaign, in order: each computed from its index when it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeedSource {
    /// `start, start + 1, ...`: `len` seeds.
    Range {
        /// The first seed.
        start: u64,
        /// How many seeds.
        len: u64,
    },
    /// Exactly these seeds, in this order (already in memory: the caller listed them).
    List(Vec<u64>),
}

impl SeedSource {
    /// The seeds `start..start + n`, saturating: never past `u64::MAX - 1`.
    pub(crate) fn span(start: u64, n: u64) -> Self {
        Self::Range {
            start,
            len: n.min(u64::MAX - start),
        }
    }

    /// The seeds of `range` (none if it is empty or reversed).
    pub(crate) fn range(range: std::ops::Range<u64>) -> Self {
        Self::Range {
            start: range.start,
            len: range.end.saturating_sub(range.start),
        }
    }

    /// How many seeds there are.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Range { len, .. } => *len,
            Self::List(seeds) => seeds.len() as u64,
        }
    }

    /// The seed at `index`, or `None` past the end.
    pub(crate) fn get(&self, index: u64) -> Option<u64> {
        match self {
            // `start + index < start + len <= u64::MAX`: no overflow.
            Self::Range { start, len } => (index < *len).then(|| start + index),
            Self::List(seeds) => seeds.get(usize::try_from(index).ok()?).copied(),
        }
    }
}

/// The seeds a campaign runs and how it judges them.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The seeds, in order.
    pub source: SeedSource,
    /// Stop at the shortest prefix that reaches every sometimes-assertion.
    pub until_covered: bool,
    /// The seeds come from the builder (not a `MOONPOOL_SEED` replay): coverage may be
    /// required.
    pub from_plan: bool,
}

/// The seeds to run: from `MOONPOOL_SEED` / `MOONPOOL_SEEDS` if read and set, else the plan.
///
/// # Panics
/// If a variable read does not parse.
pub(crate) fn resolve(b: &SimulationBuilder) -> Resolved {
    if b.seed_from_env {
        if let Ok(text) = std::env::var("MOONPOOL_SEED") {
            let seed = text
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("MOONPOOL_SEED={text:?} is not a u64"));
            return Resolved {
                source: SeedSource::List(vec![seed]),
                until_covered: false,
                from_plan: false,
            };
        }
        if let Ok(text) = std::env::var("MOONPOOL_SEEDS") {
            let range = parse_range(&text)
                .unwrap_or_else(|| panic!("MOONPOOL_SEEDS={text:?} is not a range like 100..200"));
            return Resolved {
                source: SeedSource::range(range),
                until_covered: false,
                from_plan: true,
            };
        }
    }
    let (source, until_covered) = match &b.plan {
        SeedPlan::Iterations(n) => (SeedSource::span(b.base_seed, *n), false),
        SeedPlan::List(source) => (source.clone(), false),
        SeedPlan::UntilCovered(max) => (SeedSource::span(b.base_seed, *max), true),
    };
    Resolved {
        source,
        until_covered,
        from_plan: true,
    }
}

/// `start..end` with two decimal `u64`s.
fn parse_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (start, end) = text.trim().split_once("..")?;
    Some(start.trim().parse().ok()?..end.trim().parse().ok()?)
}
