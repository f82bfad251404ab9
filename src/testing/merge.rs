//! [`SimulationReport::merge`]: combining the reports of shards of one campaign, and
//! [`MergeError`] when they overlap.

use std::collections::BTreeSet;

use super::coverage::merge_buggify;
use super::report::{kind_conflict, merge_assertions, merge_faults, SimulationReport};

/// Why [`SimulationReport::merge`] refused a shard.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Some seeds of the shard were already in the report. Assertion counts are campaign
    /// totals and cannot be split per seed, so the overlap cannot be counted once: the shard
    /// is refused whole, and the report is left unchanged.
    #[error("the shard overlaps the report: {count} seed(s) in both, the first {first}")]
    OverlappingSeeds {
        /// How many distinct seeds are in both.
        count: usize,
        /// The smallest seed in both.
        first: u64,
        /// The refused shard, handed back.
        shard: Box<SimulationReport>,
    },
    /// An assertion is of one kind in the report and another in the shard (one name used by
    /// two macros): the campaign would have failed an iteration for it, and no merged count
    /// can stand for both. The shard is refused whole, and the report is left unchanged.
    #[error("assertion {name:?} is {ours} in the report but {theirs} in the shard")]
    AssertionKinds {
        /// The assertion's name.
        name: String,
        /// Its kind in the report.
        ours: super::AssertionKind,
        /// Its kind in the shard.
        theirs: super::AssertionKind,
        /// The refused shard, handed back.
        shard: Box<SimulationReport>,
    },
}

impl SimulationReport {
    /// Combines the report of another shard of the campaign into this one: iterations and
    /// failures are merged in seed order, assertion counts added, wall times summed,
    /// exploration trees joined, and coverage is required if either required it.
    ///
    /// Shards must run disjoint seeds (`MOONPOOL_SEEDS=0..500` on one machine, `500..1000` on
    /// another): then the merged report is the one the whole campaign gives (same
    /// iterations, assertion counts and [`digest`](Self::digest); only the wall time
    /// differs).
    ///
    /// Shards run on other machines travel as text: [`to_shard_text`](Self::to_shard_text)
    /// there, [`from_shard_text`](Self::from_shard_text) here. Shards are best run with
    /// [`require_coverage(false)`](super::SimulationBuilder::require_coverage) (a state may be
    /// reached on one machine only); set [`coverage_required`](Self::coverage_required) on the
    /// merged report to judge coverage on the whole campaign.
    ///
    /// # Errors
    /// [`MergeError::OverlappingSeeds`] if a seed of `other` is already in this report (the
    /// same shard given twice, or overlapping ranges): this report is left unchanged and
    /// `other` is handed back in the error.
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{MergeError, SimulationBuilder};
    ///
    /// let shard = |range| {
    ///     SimulationBuilder::new()
    ///         .register_workload("w", |_seed, _net, _topology| async { Ok::<(), String>(()) })
    ///         .seed_from_env(false)
    ///         .seed_range(range)
    ///         .run()
    /// };
    /// let mut merged = shard(0..10);
    /// merged.merge(shard(10..20)).unwrap();
    /// assert_eq!(merged.iteration_count(), 20);
    ///
    /// let err = merged.merge(shard(15..25)).unwrap_err();
    /// assert!(matches!(err, MergeError::OverlappingSeeds { count: 5, first: 15, .. }));
    /// assert_eq!(merged.iteration_count(), 20);
    /// ```
    pub fn merge(&mut self, other: SimulationReport) -> Result<(), MergeError> {
        let seen: BTreeSet<u64> = self.iterations.iter().map(|i| i.seed).collect();
        let overlap: BTreeSet<u64> = other
            .iterations
            .iter()
            .map(|i| i.seed)
            .filter(|seed| seen.contains(seed))
            .collect();
        if let Some(&first) = overlap.first() {
            return Err(MergeError::OverlappingSeeds {
                count: overlap.len(),
                first,
                shard: Box::new(other),
            });
        }
        let clash = kind_conflict(&self.assertions, &other.assertions)
            .map(|(name, ours, theirs)| (name.to_string(), ours, theirs));
        if let Some((name, ours, theirs)) = clash {
            return Err(MergeError::AssertionKinds {
                name,
                ours,
                theirs,
                shard: Box::new(other),
            });
        }
        self.iterations.extend(other.iterations);
        self.iterations.sort_by_key(|i| i.seed);
        self.failures.extend(other.failures);
        self.failures.sort_by_key(|f| f.seed);
        merge_assertions(&mut self.assertions, &other.assertions);
        merge_faults(&mut self.faults, &other.faults);
        merge_buggify(&mut self.buggify, &other.buggify);
        self.declared.extend(other.declared);
        self.coverage_required |= other.coverage_required;
        self.wall_time += other.wall_time;
        self.exploration.merge(other.exploration);
        Ok(())
    }
}
