//! Exploration: a campaign that branches at its discoveries.
//!
//! Seeds are blind: a state that needs two unlikely events in a row is reached once in
//! (unlikely)² seeds. But every run is deterministic, so a run can be re-entered at any point
//! by replaying its prefix. When a [`sometimes_assert!`](crate::sometimes_assert) is true for
//! the first time in the campaign, or a watermark ([`sometimes_max!`](crate::sometimes_max),
//! [`sometimes_min!`](crate::sometimes_min)) beats the campaign's best, the runner notes how
//! many draws the world RNG had made at that moment; later iterations (children) run the
//! same seed with the same draws up to that position, then draw from a child seed derived
//! from the parent, the assertion and the child index. The campaign so spends its time
//! around rare states. No `fork()`, no unsafe code, no shared memory: a child is a seed and
//! a list of `(draw position, stream seed)` switches, replayed with
//! `MOONPOOL_SEED=<seed> MOONPOOL_BRANCH=<at>:<stream>,...`.
//!
//! Only randomness drawn from the world RNG is explored (the simulator's faults, latencies
//! and scheduling, and what workloads draw through
//! [`WorkloadTopology::world`](crate::testing::WorkloadTopology::world)); a workload's own
//! RNG seeded from the seed replays the same in every child.

mod run;
mod tree;

use super::CampaignConfigError;

pub(crate) use run::run;
pub use tree::{Branch, Discovery, ExplorationTree};

/// The environment variable that replays a child: its `(draw position, stream seed)` switches.
pub(crate) const BRANCH_VAR: &str = "MOONPOOL_BRANCH";

/// How a campaign explores (see [`SimulationBuilder::explore`](super::SimulationBuilder::explore)).
///
/// # Examples
/// ```
/// use moonpool::testing::Exploration;
///
/// let wide = Exploration { children: 64, ..Exploration::default() };
/// assert_eq!(wide.max_depth, Exploration::default().max_depth);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exploration {
    /// Children run from each discovery (default 16).
    pub children: u32,
    /// How many branchings deep a child may be (default 4): a discovery made in a child of
    /// depth `max_depth` gets no children.
    pub max_depth: u32,
    /// Children run in the whole campaign, at most (default: as many as the campaign's
    /// seeds, so exploration at most doubles it).
    pub max_children: Option<u64>,
}

impl Default for Exploration {
    fn default() -> Self {
        Self {
            children: 16,
            max_depth: 4,
            max_children: None,
        }
    }
}

/// The child seed of `parent`'s `index`th child from its discovery of `assertion`: the seed
/// of the RNG stream after the branch, and the child's id in the report.
pub(crate) fn child_seed(parent: u64, assertion: &str, index: u32) -> u64 {
    let mut digest = crate::sim::Digest::new();
    digest.fold(parent);
    digest.fold_bytes(assertion.as_bytes());
    digest.fold(u64::from(index));
    // FNV is weak in its low bits for close inputs: finish with SplitMix64's mixer.
    let mut z = digest.value();
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `at:seed,at:seed`: the text of a child's switches in `MOONPOOL_BRANCH`.
pub(crate) fn branch_text(branches: &[(u64, u64)]) -> String {
    let parts: Vec<String> = branches
        .iter()
        .map(|(at, seed)| format!("{at}:{seed}"))
        .collect();
    parts.join(",")
}

/// Refuses a `MOONPOOL_BRANCH` set without `MOONPOOL_SEED`: a child's switches mean
/// nothing without its root seed, and a campaign run instead would look like a replay.
///
/// # Errors
/// [`CampaignConfigError::InvalidBranch`] if it is set.
pub(crate) fn refuse_branch_without_seed() -> Result<(), CampaignConfigError> {
    match std::env::var(BRANCH_VAR) {
        Ok(value) => Err(CampaignConfigError::InvalidBranch { value }),
        Err(_) => Ok(()),
    }
}

/// The switches of `MOONPOOL_BRANCH` (`at:seed,...`, increasing `at`), if set.
///
/// # Errors
/// [`CampaignConfigError::InvalidBranch`] if it is set but does not parse.
pub(crate) fn branches_from_env() -> Result<Option<Vec<(u64, u64)>>, CampaignConfigError> {
    let Ok(text) = std::env::var(BRANCH_VAR) else {
        return Ok(None);
    };
    let parse = |part: &str| {
        let (at, seed) = part.trim().split_once(':')?;
        Some((at.parse::<u64>().ok()?, seed.parse::<u64>().ok()?))
    };
    let branches: Option<Vec<(u64, u64)>> = text.split(',').map(parse).collect();
    match branches {
        Some(b) if !b.is_empty() && b.windows(2).all(|w| w[0].0 < w[1].0) => Ok(Some(b)),
        _ => Err(CampaignConfigError::InvalidBranch { value: text }),
    }
}
