//! Writing a [`SimulationReport`] as shard text.

use std::fmt::Write as _;

use super::field::escape;
use super::{MAGIC, VERSION};
use crate::testing::SimulationReport;

impl SimulationReport {
    /// The report as shard text: everything [`merge`](Self::merge) needs, in a plain-text,
    /// line-based, versioned format.
    ///
    /// Write it to a file on each machine of a split campaign, then read the files back with
    /// [`from_shard_text`](Self::from_shard_text) on one machine and merge them.
    ///
    /// # Format
    /// Each line is one record of space-separated fields; text fields (names, error messages,
    /// the replay hint) are escaped so they hold no space, tab, line break or other control
    /// character:
    ///
    /// ```text
    /// moonpool-shard 1
    /// # summary iterations=2 passed=1 failed=1 ...       (comments and blank lines are ignored)
    /// replay_hint cargo\srun\s--release\s--example\sping_pong\s--
    /// coverage_required true
    /// wall_time_ns 1234567
    /// declared peer_reconnected
    /// assertion sometimes 40 3 peer_reconnected
    /// assertion always 812 812 reply_for_me
    /// iteration 0 9a3f0c1d22e4b6a7 5310000000 4211 pass
    /// iteration 1 0b5e77c3a1f20d94 4020000000 3907 fail
    /// failure 1 client1 panicked\sat\ssrc/x.rs:3:5:\sboom
    /// failure_fault 1 \s\s\s\s0.036097s\sreset\s10.0.0.1\sconn\s0
    /// fault 3 reset
    /// end 2 1 2 1 4e1d9c0a7b3f2e11
    /// ```
    ///
    /// `iteration` is `seed digest(hex) sim_time_ns events pass|fail`, in the report's order;
    /// `assertion` is `kind checks hits name`; `failure` is `seed workload error`, followed by
    /// its `failure_fault seed line`s (the faults before it); `fault` is `count kind`. The `end`
    /// line counts the iterations, failures, assertions and declared names and carries the
    /// campaign [`digest`](Self::digest), so a file cut short or edited by hand is an error,
    /// not a smaller campaign. Escapes: `\\`, `\s` (space), `\t`, `\n`, `\r`, `\u{HEX}` (any
    /// other control or whitespace character) and `\e` (the whole field is the empty string).
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{SimulationBuilder, SimulationReport};
    /// use moonpool::sometimes_assert;
    ///
    /// let campaign = |range| {
    ///     SimulationBuilder::new()
    ///         .register_workload("w", |seed, _net, _topology| async move {
    ///             sometimes_assert!("seed is 7", seed == 7);
    ///             Ok::<(), String>(())
    ///         })
    ///         .seed_from_env(false)
    ///         .seed_range(range)
    /// };
    /// // Two machines run half the seeds each and save their shards...
    /// let a = campaign(0..5).require_coverage(false).run().to_shard_text();
    /// let b = campaign(5..10).require_coverage(false).run().to_shard_text();
    /// // ...and one machine merges them and judges coverage on the whole.
    /// let mut merged = SimulationReport::from_shard_text(&a).unwrap();
    /// merged.merge(SimulationReport::from_shard_text(&b).unwrap()).unwrap();
    /// merged.coverage_required = true;
    /// let full = campaign(0..10).run();
    /// assert_eq!(merged.digest(), full.digest());
    /// assert_eq!(merged.assertions, full.assertions);
    /// assert!(merged.is_success());
    /// ```
    pub fn to_shard_text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{MAGIC} {VERSION}");
        let _ = writeln!(out, "# {}", self.summary_line());
        let _ = writeln!(out, "replay_hint {}", escape(&self.replay_hint));
        let _ = writeln!(out, "coverage_required {}", self.coverage_required);
        let _ = writeln!(out, "wall_time_ns {}", self.wall_time.as_nanos());
        for name in &self.declared {
            let _ = writeln!(out, "declared {}", escape(name));
        }
        for (name, stats) in &self.assertions {
            let _ = writeln!(
                out,
                "assertion {} {} {} {}",
                stats.kind,
                stats.checks,
                stats.hits,
                escape(name)
            );
        }
        for i in &self.iterations {
            let _ = writeln!(
                out,
                "iteration {} {:016x} {} {} {}",
                i.seed,
                i.digest,
                i.sim_time.as_nanos(),
                i.events_processed,
                if i.passed { "pass" } else { "fail" }
            );
        }
        for f in &self.failures {
            let _ = writeln!(
                out,
                "failure {} {} {}",
                f.seed,
                escape(&f.workload),
                escape(&f.error)
            );
            for fault in &f.faults {
                let _ = writeln!(out, "failure_fault {} {}", f.seed, escape(fault));
            }
        }
        for (kind, count) in &self.faults {
            let _ = writeln!(out, "fault {count} {}", escape(kind));
        }
        let _ = writeln!(
            out,
            "end {} {} {} {} {:016x}",
            self.iterations.len(),
            self.failures.len(),
            self.assertions.len(),
            self.declared.len(),
            self.digest()
        );
        out
    }
}
