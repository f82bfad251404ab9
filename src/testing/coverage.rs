//! [`BuggifyCoverage`]: how a campaign's [`buggify!`](crate::buggify!) sites were exercised,
//! FoundationDB's "was this code path ever taken" as a report line.

use std::collections::BTreeMap;

use crate::sim::BuggifySite;

/// One `buggify!` site over a campaign: in how many iterations the code reached it, in how
/// many the world's once-a-run draw enabled it, and how many times it fired in all.
///
/// A site enabled in many iterations that never fired is a site whose branch the campaign
/// never tested: its probability is too low for how often it is reached, or the code that
/// should reach it with a firing input no longer does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuggifyCoverage {
    /// Iterations that reached the site.
    pub reached: u64,
    /// Iterations in which it was enabled.
    pub enabled: u64,
    /// Times it fired, over all iterations.
    pub fired: u64,
}

impl BuggifyCoverage {
    /// The coverage of one iteration that reached a site with `draw`.
    pub(crate) fn of_iteration(draw: BuggifySite) -> Self {
        Self {
            reached: 1,
            enabled: u64::from(draw.enabled),
            fired: draw.fired,
        }
    }

    /// Adds `other`'s counts (saturating: a report read from text may carry any numbers).
    pub(crate) fn merge(&mut self, other: &Self) {
        self.reached = self.reached.saturating_add(other.reached);
        self.enabled = self.enabled.saturating_add(other.enabled);
        self.fired = self.fired.saturating_add(other.fired);
    }
}

/// Site name to coverage, as kept in a report.
pub(crate) type BuggifyMap = BTreeMap<String, BuggifyCoverage>;

/// Adds the site coverage of `from` to `into`.
pub(crate) fn merge_buggify(into: &mut BuggifyMap, from: &BuggifyMap) {
    for (site, coverage) in from {
        into.entry(site.clone()).or_default().merge(coverage);
    }
}

/// The coverage of one iteration, from its world's sites.
pub(crate) fn of_world(sites: BTreeMap<&'static str, BuggifySite>) -> BuggifyMap {
    sites
        .into_iter()
        .map(|(name, draw)| (name.to_string(), BuggifyCoverage::of_iteration(draw)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_add_up_per_site() {
        let on = BuggifySite {
            enabled: true,
            fired: 3,
        };
        let off = BuggifySite {
            enabled: false,
            fired: 0,
        };
        let mut total = BuggifyMap::new();
        merge_buggify(
            &mut total,
            &of_world(BTreeMap::from([("a", on), ("b", off)])),
        );
        merge_buggify(&mut total, &of_world(BTreeMap::from([("a", on)])));
        let a = total["a"];
        assert_eq!((a.reached, a.enabled, a.fired), (2, 2, 6));
        let b = total["b"];
        assert_eq!((b.reached, b.enabled, b.fired), (1, 0, 0));
    }
}
