//! Which seeds a campaign runs: a [`SeedSource`] that computes each seed from its index, so a
//! campaign of `u64::MAX` iterations costs no memory up front.

use super::builder::{SeedPlan, SimulationBuilder};
use super::partition::{CampaignConfigError, Partition};

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

    /// The `len` seeds from `index` `start` on (within this source's length).
    pub(crate) fn part(&self, start: u64, len: u64) -> Self {
        match self {
            Self::Range { start: first, .. } => Self::Range {
                start: first + start,
                len,
            },
            Self::List(seeds) => {
                let (start, len) = (start as usize, len as usize);
                Self::List(seeds[start..start + len].to_vec())
            }
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

/// The seeds to run: from `MOONPOOL_SEED` / `MOONPOOL_SEEDS` if read and set, else the plan;
/// then the partition's part of them (not for a `MOONPOOL_SEED` replay).
///
/// # Errors
/// A variable that does not parse, both seed variables, a partition given twice or invalid,
/// no threads, or no seed to run.
pub(crate) fn resolve(b: &SimulationBuilder) -> Result<Resolved, CampaignConfigError> {
    if b.threads == 0 {
        return Err(CampaignConfigError::ZeroThreads);
    }
    let var = |name| b.seed_from_env.then(|| std::env::var(name).ok()).flatten();
    let (seed, seeds) = (var("MOONPOOL_SEED"), var("MOONPOOL_SEEDS"));
    let resolved = match (seed, seeds) {
        (Some(seed), Some(seeds)) => {
            return Err(CampaignConfigError::BothSeedVariables { seed, seeds })
        }
        (Some(text), None) => {
            let seed = text
                .trim()
                .parse::<u64>()
                .map_err(|_| CampaignConfigError::InvalidSeed { value: text })?;
            // A replay runs its one seed, whatever the partition.
            return Ok(Resolved {
                source: SeedSource::List(vec![seed]),
                until_covered: false,
                from_plan: false,
            });
        }
        (None, Some(text)) => {
            let range =
                parse_range(&text).ok_or_else(|| CampaignConfigError::InvalidSeedRange {
                    value: text.clone(),
                })?;
            if range.is_empty() {
                return Err(no_seeds(format!("MOONPOOL_SEEDS={text} is empty")));
            }
            Resolved {
                source: SeedSource::range(range),
                until_covered: false,
                from_plan: true,
            }
        }
        (None, None) => {
            let (source, until_covered) = match &b.plan {
                SeedPlan::Iterations(n) => (SeedSource::span(b.base_seed, *n), false),
                SeedPlan::List(source) => (source.clone(), false),
                SeedPlan::UntilCovered(max) => (SeedSource::span(b.base_seed, *max), true),
            };
            if source.len() == 0 {
                return Err(no_seeds(match &b.plan {
                    SeedPlan::Iterations(0) => "iterations(0)".to_string(),
                    SeedPlan::Iterations(n) => {
                        format!("iterations({n}) from base seed {}", b.base_seed)
                    }
                    SeedPlan::UntilCovered(_) => "until_all_sometimes_reached(0)".to_string(),
                    SeedPlan::List(SeedSource::List(_)) => "an empty seed list".to_string(),
                    SeedPlan::List(SeedSource::Range { .. }) => "an empty seed range".to_string(),
                }));
            }
            Resolved {
                source,
                until_covered,
                from_plan: true,
            }
        }
    };
    let from_env = if b.seed_from_env {
        Partition::from_env()?
    } else {
        None
    };
    let partition = match (b.partition, from_env) {
        (Some(_), Some(_)) => {
            return Err(CampaignConfigError::PartitionGivenTwice {
                what: "the builder and the environment",
            })
        }
        (one, other) => one.or(other),
    };
    let Some(partition) = partition else {
        return Ok(resolved);
    };
    if resolved.until_covered {
        return Err(CampaignConfigError::PartitionUntilCovered);
    }
    let len = resolved.source.len();
    let (start, part_len) = partition.slice(len);
    if part_len == 0 {
        return Err(no_seeds(format!(
            "partition {partition} of {len} seed(s) is empty"
        )));
    }
    Ok(Resolved {
        source: resolved.source.part(start, part_len),
        ..resolved
    })
}

fn no_seeds(reason: String) -> CampaignConfigError {
    CampaignConfigError::NoSeeds { reason }
}

/// `start..end` with two decimal `u64`s.
fn parse_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (start, end) = text.trim().split_once("..")?;
    Some(start.trim().parse().ok()?..end.trim().parse().ok()?)
}
