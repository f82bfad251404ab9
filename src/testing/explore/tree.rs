//! [`ExplorationTree`]: the discoveries of a campaign and the children run from them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Lines of tree the report prints at most.
const SHOWN_LINES: usize = 40;

/// A child iteration: a replay of its parent's run up to a discovery, then its own randomness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The child's id (its seed in the report) and the seed of its RNG stream after the branch.
    pub id: u64,
    /// The iteration it branched from (a seed of the campaign, or another child's id).
    pub parent: u64,
    /// The world seed replayed (the campaign seed at the root of the tree).
    pub root: u64,
    /// The RNG draws replayed from the parent before the branch.
    pub at: u64,
    /// The assertion whose discovery it branched at.
    pub assertion: String,
    /// Its index among the children of that discovery.
    pub index: u32,
}

/// A sometimes-assertion true for the first time in the campaign, or a watermark beating the
/// campaign's best.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The iteration that made it (a seed, or a child's id).
    pub iteration: u64,
    /// The assertion.
    pub assertion: String,
    /// The RNG draws the iteration had made at that moment (where its children branch).
    pub at: u64,
    /// The watermark's new best value (`None` for a sometimes-assertion).
    pub value: Option<i64>,
}

/// What exploration did in a campaign: every discovery and every child run, in run order.
///
/// Empty unless the campaign ran with
/// [`explore`](crate::testing::SimulationBuilder::explore). The report prints it as a tree:
/// each discovery, its children, and whether it paid off (a descendant failed or made a
/// discovery of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExplorationTree {
    /// The children run, in run order.
    pub branches: Vec<Branch>,
    /// The discoveries, in run order.
    pub discoveries: Vec<Discovery>,
}

impl ExplorationTree {
    /// The world seed and the `(draw position, stream seed)` switches that replay iteration
    /// `id`, if it is a child.
    pub fn path(&self, id: u64) -> Option<(u64, Vec<(u64, u64)>)> {
        let by_id: BTreeMap<u64, &Branch> = self.branches.iter().map(|b| (b.id, b)).collect();
        let mut branch = *by_id.get(&id)?;
        let mut switches = vec![(branch.at, branch.id)];
        // A child keeps only its parent's switches before its own branch point (later ones
        // never happened in it), so an ancestor counts if it is before every switch below it.
        let mut limit = branch.at;
        while let Some(parent) = by_id.get(&branch.parent) {
            if parent.at < limit {
                switches.push((parent.at, parent.id));
                limit = parent.at;
            }
            branch = parent;
        }
        switches.reverse();
        Some((branch.root, switches))
    }

    /// Whether a child of `discovery`, or a descendant of one, failed or made a discovery.
    pub fn paid_off(&self, discovery: &Discovery, failed: &BTreeSet<u64>) -> bool {
        let finders: BTreeSet<u64> = self.discoveries.iter().map(|d| d.iteration).collect();
        let children = self.children_of(discovery);
        let mut frontier: Vec<u64> = children.iter().map(|b| b.id).collect();
        while let Some(id) = frontier.pop() {
            if failed.contains(&id) || finders.contains(&id) {
                return true;
            }
            frontier.extend(
                self.branches
                    .iter()
                    .filter(|b| b.parent == id)
                    .map(|b| b.id),
            );
        }
        false
    }

    /// Adds another shard's tree (shards run disjoint seeds, so their trees are disjoint).
    pub fn merge(&mut self, other: ExplorationTree) {
        self.branches.extend(other.branches);
        self.discoveries.extend(other.discoveries);
    }

    /// Whether nothing was explored.
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty() && self.discoveries.is_empty()
    }

    fn children_of(&self, discovery: &Discovery) -> Vec<&Branch> {
        self.branches
            .iter()
            .filter(|b| {
                b.parent == discovery.iteration
                    && b.assertion == discovery.assertion
                    && b.at == discovery.at
            })
            .collect()
    }

    /// The tree, as the report prints it: a summary line, then each discovery with its
    /// children, indented under the child that made it.
    pub(crate) fn write(&self, f: &mut fmt::Formatter<'_>, failed: &BTreeSet<u64>) -> fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        let paid = self
            .discoveries
            .iter()
            .filter(|d| self.paid_off(d, failed))
            .count();
        let failed_children = self
            .branches
            .iter()
            .filter(|b| failed.contains(&b.id))
            .count();
        writeln!(
            f,
            "  exploration: {} discoveries, {} children run ({} failed), {} discoveries paid off",
            self.discoveries.len(),
            self.branches.len(),
            failed_children,
            paid
        )?;
        let children: BTreeSet<u64> = self.branches.iter().map(|b| b.id).collect();
        let mut lines = 0;
        for discovery in self
            .discoveries
            .iter()
            .filter(|d| !children.contains(&d.iteration))
        {
            self.write_discovery(f, discovery, failed, 2, &mut lines)?;
        }
        if lines > SHOWN_LINES {
            writeln!(f, "    ... {} more lines", lines - SHOWN_LINES)?;
        }
        Ok(())
    }

    fn write_discovery(
        &self,
        f: &mut fmt::Formatter<'_>,
        d: &Discovery,
        failed: &BTreeSet<u64>,
        depth: usize,
        lines: &mut usize,
    ) -> fmt::Result {
        let children = self.children_of(d);
        let verdict = if children.is_empty() {
            ""
        } else if self.paid_off(d, failed) {
            ", paid off"
        } else {
            ", nothing new"
        };
        let value = d.value.map(|v| format!(" = {v}")).unwrap_or_default();
        let who = if self.branches.iter().any(|b| b.id == d.iteration) {
            format!("child {}", d.iteration)
        } else {
            format!("seed {}", d.iteration)
        };
        *lines += 1;
        if *lines <= SHOWN_LINES {
            writeln!(
                f,
                "{:indent$}{who} reached {}{value} at draw {}: {} children{verdict}",
                "",
                d.assertion,
                d.at,
                children.len(),
                indent = depth * 2
            )?;
        }
        for child in children {
            if failed.contains(&child.id) {
                *lines += 1;
                if *lines <= SHOWN_LINES {
                    writeln!(
                        f,
                        "{:indent$}child {} (#{}) failed",
                        "",
                        child.id,
                        child.index,
                        indent = depth * 2 + 2
                    )?;
                }
            }
            for found in self.discoveries.iter().filter(|x| x.iteration == child.id) {
                self.write_discovery(f, found, failed, depth + 1, lines)?;
            }
        }
        Ok(())
    }
}
