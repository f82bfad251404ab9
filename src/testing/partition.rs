//! [`Partition`]: one of `n` equal parts of a campaign's seeds, for CI matrices and
//! Kubernetes Indexed Jobs, and [`CampaignConfigError`]: a campaign that cannot start.

use std::fmt;
use std::str::FromStr;

/// The `k`-th of `n` equal parts of a campaign's seeds (nextest's `--partition k/n`
/// convention: `k` counts from 1).
///
/// Part `k` runs seeds `(k-1)·len/n .. k·len/n` of the campaign's `len` seeds, so the `n`
/// parts run every seed exactly once; their shards merge into the whole campaign. Set it with
/// [`SimulationBuilder::partition`](super::SimulationBuilder::partition), or from the
/// environment (read with the seeds, see [`from_env`](Self::from_env)).
///
/// # Examples
/// ```
/// use moonpool::testing::Partition;
///
/// let part: Partition = "2/3".parse().unwrap();
/// assert_eq!((part.number(), part.count()), (2, 3));
/// assert_eq!(part.to_string(), "2/3");
/// assert!("0/3".parse::<Partition>().is_err());
/// assert!("4/3".parse::<Partition>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// 0-based.
    index: u64,
    count: u64,
}

impl Partition {
    /// Part `number` (from 1) of `count`.
    ///
    /// # Errors
    /// [`CampaignConfigError::InvalidPartition`] unless `1 <= number <= count`.
    pub fn new(number: u64, count: u64) -> Result<Self, CampaignConfigError> {
        if count == 0 || number == 0 || number > count {
            return Err(CampaignConfigError::InvalidPartition {
                value: format!("{number}/{count}"),
                reason: "expected k/n with 1 <= k <= n".into(),
            });
        }
        Ok(Self {
            index: number - 1,
            count,
        })
    }

    /// This part's number, from 1.
    pub fn number(&self) -> u64 {
        self.index + 1
    }

    /// How many parts.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The partition the environment asks for: `MOONPOOL_PARTITION=k/n` (a CI matrix), or a
    /// Kubernetes Indexed Job's `JOB_COMPLETION_INDEX=i` (from 0) with
    /// `MOONPOOL_PARTITIONS=n` (its `completions`), which is part `i+1` of `n`. `None` if
    /// neither is set (`JOB_COMPLETION_INDEX` alone is not a partition).
    ///
    /// # Errors
    /// [`CampaignConfigError`] for a value that does not parse, both ways given, or
    /// `MOONPOOL_PARTITIONS` without `JOB_COMPLETION_INDEX`.
    pub fn from_env() -> Result<Option<Self>, CampaignConfigError> {
        let var = |name| std::env::var(name).ok();
        Self::from_vars(
            var("MOONPOOL_PARTITION"),
            var("JOB_COMPLETION_INDEX"),
            var("MOONPOOL_PARTITIONS"),
        )
    }

    fn from_vars(
        partition: Option<String>,
        index: Option<String>,
        count: Option<String>,
    ) -> Result<Option<Self>, CampaignConfigError> {
        match (partition, index, count) {
            (Some(_), _, Some(_)) => Err(CampaignConfigError::PartitionGivenTwice {
                what: "MOONPOOL_PARTITION and MOONPOOL_PARTITIONS",
            }),
            (Some(text), _, None) => text.parse().map(Some),
            (None, Some(index), Some(count)) => {
                let invalid = || CampaignConfigError::InvalidPartition {
                    value: format!("JOB_COMPLETION_INDEX={index} MOONPOOL_PARTITIONS={count}"),
                    reason: "expected an index from 0 below a count".into(),
                };
                let i: u64 = index.trim().parse().map_err(|_| invalid())?;
                let n: u64 = count.trim().parse().map_err(|_| invalid())?;
                Self::new(i.checked_add(1).ok_or_else(invalid)?, n)
                    .map(Some)
                    .map_err(|_| invalid())
            }
            (None, None, Some(count)) => Err(CampaignConfigError::InvalidPartition {
                value: format!("MOONPOOL_PARTITIONS={count}"),
                reason: "JOB_COMPLETION_INDEX is not set".into(),
            }),
            (None, _, None) => Ok(None),
        }
    }

    /// The `(first index, length)` of this part of `len` seeds.
    pub(crate) fn slice(&self, len: u64) -> (u64, u64) {
        let at = |i: u64| (u128::from(i) * u128::from(len) / u128::from(self.count)) as u64;
        let (start, end) = (at(self.index), at(self.index + 1));
        (start, end - start)
    }
}

impl FromStr for Partition {
    type Err = CampaignConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| CampaignConfigError::InvalidPartition {
            value: text.to_string(),
            reason: reason.into(),
        };
        let (k, n) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| invalid("expected k/n"))?;
        let k = k
            .parse()
            .map_err(|_| invalid("expected k/n with numbers"))?;
        let n = n
            .parse()
            .map_err(|_| invalid("expected k/n with numbers"))?;
        Self::new(k, n).map_err(|_| invalid("expected k/n with 1 <= k <= n"))
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number(), self.count)
    }
}

/// Why a campaign cannot start: a bad setting of the builder or of the environment.
///
/// [`SimulationBuilder::try_run`](super::SimulationBuilder::try_run) returns it; the example
/// campaigns print it and exit with status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignConfigError {
    /// `MOONPOOL_SEED` is not a `u64`.
    #[error("MOONPOOL_SEED={value:?} is not a seed (a number from 0 to 18446744073709551615)")]
    InvalidSeed {
        /// The variable's value.
        value: String,
    },
    /// `MOONPOOL_SEEDS` is not a range `start..end`.
    #[error("MOONPOOL_SEEDS={value:?} is not a seed range like 100..200")]
    InvalidSeedRange {
        /// The variable's value.
        value: String,
    },
    /// `MOONPOOL_SEED` and `MOONPOOL_SEEDS` are both set: which seeds to run is ambiguous.
    #[error("MOONPOOL_SEED={seed:?} and MOONPOOL_SEEDS={seeds:?} are both set: use one of them")]
    BothSeedVariables {
        /// `MOONPOOL_SEED`.
        seed: String,
        /// `MOONPOOL_SEEDS`.
        seeds: String,
    },
    /// The campaign would run no seed (zero iterations, an empty range or list, or an empty
    /// partition): it would pass without testing anything.
    #[error("the campaign has no seeds to run: {reason}")]
    NoSeeds {
        /// Where the empty plan came from.
        reason: String,
    },
    /// [`threads(0)`](super::SimulationBuilder::threads).
    #[error("threads must be at least 1, got 0")]
    ZeroThreads,
    /// A partition that is not `k/n` with `1 <= k <= n`.
    #[error("invalid partition {value:?}: {reason}")]
    InvalidPartition {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A partition was given in two places.
    #[error("the partition is given twice ({what}): use one")]
    PartitionGivenTwice {
        /// The two places.
        what: &'static str,
    },
    /// A partition of a campaign that stops at coverage: its parts are not fixed in advance.
    #[error("until_all_sometimes_reached cannot be partitioned: its seeds depend on coverage")]
    PartitionUntilCovered,
    /// `MOONPOOL_CHECK_DETERMINISM` does not parse.
    #[error("MOONPOOL_CHECK_DETERMINISM: {0}")]
    InvalidDeterminismCheck(#[from] super::DeterminismParseError),
    /// The [`Attrition`](super::Attrition) cannot run: it names a workload that is not
    /// registered, its interval between reboots can be zero (a reboot loop that never lets
    /// virtual time move), a range runs backwards, or `max_down` is 0 (nothing rebooted).
    #[error("invalid attrition: {reason}")]
    InvalidAttrition {
        /// What is wrong.
        reason: String,
    },
    /// `MOONPOOL_BRANCH` (a child of exploration replayed) does not parse, or comes without
    /// `MOONPOOL_SEED`.
    #[error("MOONPOOL_BRANCH={value:?} is not a list like 120:987,300:654 (increasing positions) given with MOONPOOL_SEED")]
    InvalidBranch {
        /// The variable's text.
        value: String,
    },
}
