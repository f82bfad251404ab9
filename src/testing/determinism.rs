//! [`DeterminismCheck`]: which seeds of a campaign run twice, and the verdict on the pair.

use super::CampaignConfigError;
use crate::sim::StepLog;

/// The environment variable that overrides
/// [`check_determinism`](super::SimulationBuilder::check_determinism).
pub(crate) const ENV_VAR: &str = "MOONPOOL_CHECK_DETERMINISM";

/// Which seeds of a campaign run twice, failing the iteration if the two runs differ.
///
/// A checked seed runs twice on the same thread, each run recording a
/// [`StepLog`](crate::StepLog); a different world digest (or trace) fails that iteration as
/// `(determinism)`, naming the first step where the runs diverge. The second run's assertions
/// are not counted.
///
/// # Examples
/// ```
/// use moonpool::testing::DeterminismCheck;
///
/// assert_eq!(DeterminismCheck::parse("all"), Ok(DeterminismCheck::All));
/// assert_eq!(DeterminismCheck::parse("0.05"), Ok(DeterminismCheck::Fraction(0.05)));
/// assert_eq!(DeterminismCheck::parse("5%"), Ok(DeterminismCheck::Fraction(0.05)));
/// assert_eq!(DeterminismCheck::parse("20"), Ok(DeterminismCheck::Count(20)));
/// assert_eq!(DeterminismCheck::parse("off"), Ok(DeterminismCheck::Off));
/// assert!(DeterminismCheck::parse("lots").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum DeterminismCheck {
    /// No seed runs twice (the default).
    #[default]
    Off,
    /// About this fraction (`0.0..=1.0`) of the seeds, chosen by a hash of the seed alone:
    /// the same seeds are checked whatever the shard, the thread count or the seed order.
    Fraction(f64),
    /// The first `n` iterations of the campaign (of each shard).
    Count(u64),
    /// Every seed.
    All,
}

/// Why [`DeterminismCheck::parse`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a determinism check (expected all, off, a count such as 20, \
     a fraction such as 0.05 or a percentage such as 5%)"
)]
pub struct DeterminismParseError {
    /// The text refused.
    pub text: String,
}

impl DeterminismCheck {
    /// Parses `all` (or the empty string), `off` (or `0`), a fraction in `0..=1` written with
    /// a point (`0.05`), a percentage (`5%`) or a count (`20`).
    ///
    /// # Errors
    /// [`DeterminismParseError`] for anything else (a fraction outside `0..=1` included).
    pub fn parse(text: &str) -> Result<Self, DeterminismParseError> {
        let error = || DeterminismParseError {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let fraction = |f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(Self::Fraction(f))
            } else {
                Err(error())
            }
        };
        match trimmed {
            "" | "all" => Ok(Self::All),
            "off" | "0" => Ok(Self::Off),
            _ if trimmed.ends_with('%') => {
                let percent: f64 = trimmed[..trimmed.len() - 1]
                    .trim()
                    .parse()
                    .map_err(|_| error())?;
                fraction(percent / 100.0)
            }
            _ if trimmed.contains('.') => fraction(trimmed.parse().map_err(|_| error())?),
            _ => trimmed.parse().map(Self::Count).map_err(|_| error()),
        }
    }

    /// The check to run: `MOONPOOL_CHECK_DETERMINISM` if set, else `self`.
    ///
    /// # Errors
    /// [`CampaignConfigError::InvalidDeterminismCheck`] if the variable is set but does not
    /// parse.
    pub(crate) fn or_env(self) -> Result<Self, CampaignConfigError> {
        match std::env::var(ENV_VAR) {
            Ok(text) => Ok(Self::parse(&text)?),
            Err(_) => Ok(self),
        }
    }

    /// Whether the iteration at `index` of the campaign, running `seed`, is checked.
    pub(crate) fn applies(self, index: u64, seed: u64) -> bool {
        match self {
            Self::Off => false,
            Self::All => true,
            Self::Count(n) => index < n,
            Self::Fraction(f) => unit(seed) < f,
        }
    }
}

/// A uniform value in `[0, 1)` from `seed` (SplitMix64's finalizer).
fn unit(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// One run of a checked seed: its world digest and trace.
pub(crate) struct Run {
    pub digest: u64,
    pub steps: StepLog,
}

/// The failure text if the two runs of `seed` differ, naming where.
pub(crate) fn verdict(seed: u64, first: &Run, second: &Run) -> Option<String> {
    let divergence = first.steps.first_divergence(&second.steps);
    if first.digest == second.digest && divergence.is_none() {
        return None;
    }
    let digests = if first.digest == second.digest {
        format!("the same digest {:016x} but different steps", first.digest)
    } else {
        format!("digests {:016x} and {:016x}", first.digest, second.digest)
    };
    let place = match divergence {
        Some(divergence) => divergence.to_string(),
        None => "the steps kept agree: the runs diverge past them".to_string(),
    };
    Some(format!(
        "seed {seed} is not deterministic: two runs gave {digests}; {place}"
    ))
}

#[cfg(test)]
mod tests {
    use super::{unit, DeterminismCheck};

    #[test]
    fn a_fraction_checks_about_that_share_of_seeds() {
        let checked = (0..10_000u64)
            .filter(|&seed| DeterminismCheck::Fraction(0.1).applies(seed, seed))
            .count();
        assert!((800..1200).contains(&checked), "{checked}");
        assert!((0..1000).all(|s| (0.0..1.0).contains(&unit(s))));
    }

    #[test]
    fn parse_refuses_fractions_outside_the_unit_interval() {
        assert!(DeterminismCheck::parse("1.5").is_err());
        assert!(DeterminismCheck::parse("150%").is_err());
        assert!(DeterminismCheck::parse("-3").is_err());
        assert_eq!(
            DeterminismCheck::parse(" 3 "),
            Ok(DeterminismCheck::Count(3))
        );
    }
}
