//! Writing a [`SimulationReport`] as shard text.

use super::{
    AssertionLine, BranchLine, BuggifyLine, Checksum, DiscoveryLine, EndLine, FailureLine,
    FaultLine, Header, IterationLine, Kind, Record, MAGIC, VERSION,
};
use crate::testing::{AssertionKind, SimulationReport};

impl SimulationReport {
    /// The report as shard text: everything [`merge`](Self::merge) needs, as JSON lines.
    ///
    /// Write it to a file on each machine of a split campaign, then read the files back with
    /// [`from_shard_text`](Self::from_shard_text) on one machine and merge them.
    ///
    /// # Format
    /// One JSON object per line, named by its only key; the report's order throughout:
    ///
    /// ```text
    /// {"shard":{"format":"moonpool-shard","version":2,"summary":"summary iterations=2 ...","replay_hint":"cargo run --release --example ping_pong --","coverage_required":true,"wall_time_ns":1234567,"declared":["peer_reconnected"]}}
    /// {"assertion":{"name":"peer_reconnected","kind":"sometimes","checks":40,"hits":3}}
    /// {"iteration":{"seed":0,"digest":"9a3f0c1d22e4b6a7","sim_time_ns":5310000000,"events":4211,"passed":true}}
    /// {"iteration":{"seed":1,"digest":"0b5e77c3a1f20d94","sim_time_ns":4020000000,"events":3907,"passed":false}}
    /// {"failure":{"seed":1,"workload":"client1","error":"panicked at src/x.rs:3:5: boom"}}
    /// {"end":{"records":5,"checksum":"1c2d3e4f","digest":"4e1d9c0a7b3f2e11"}}
    /// ```
    ///
    /// The `end` record counts the lines before it and carries their CRC-32C (each line with
    /// its `\n`) and the campaign [`digest`](Self::digest), so a file cut short or edited by
    /// hand is an error, not a smaller or different campaign. Digests are hexadecimal strings
    /// (a JSON reader using doubles would round a u64); `summary` is for people only.
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
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut records = vec![Record::Shard(Header {
            format: MAGIC.to_string(),
            version: VERSION,
            summary: self.summary_line(),
            replay_hint: self.replay_hint.clone(),
            coverage_required: self.coverage_required,
            wall_time_ns: nanos(self.wall_time),
            declared: self.declared.iter().cloned().collect(),
        })];
        records.extend(self.assertions.iter().map(|(name, stats)| {
            Record::Assertion(AssertionLine {
                name: name.clone(),
                kind: match stats.kind {
                    AssertionKind::Always => Kind::Always,
                    AssertionKind::Sometimes => Kind::Sometimes,
                    AssertionKind::Max => Kind::Max,
                    AssertionKind::Min => Kind::Min,
                },
                checks: stats.checks,
                hits: stats.hits,
                best: stats.best,
            })
        }));
        records.extend(self.iterations.iter().map(|i| {
            Record::Iteration(IterationLine {
                seed: i.seed,
                digest: format!("{:016x}", i.digest),
                sim_time_ns: nanos(i.sim_time),
                events: i.events_processed,
                messages: i.messages,
                passed: i.passed,
            })
        }));
        records.extend(self.failures.iter().map(|f| {
            Record::Failure(FailureLine {
                seed: f.seed,
                workload: f.workload.clone(),
                error: f.error.clone(),
                faults: f.faults.clone(),
            })
        }));
        records.extend(self.faults.iter().map(|(kind, count)| {
            Record::Fault(FaultLine {
                kind: kind.clone(),
                count: *count,
            })
        }));
        records.extend(self.buggify.iter().map(|(site, c)| {
            Record::Buggify(BuggifyLine {
                site: site.clone(),
                reached: c.reached,
                enabled: c.enabled,
                fired: c.fired,
            })
        }));
        records.extend(self.exploration.branches.iter().map(|b| {
            Record::Branch(BranchLine {
                id: b.id,
                parent: b.parent,
                root: b.root,
                at: b.at,
                index: b.index,
                assertion: b.assertion.clone(),
            })
        }));
        records.extend(self.exploration.discoveries.iter().map(|d| {
            Record::Discovery(DiscoveryLine {
                iteration: d.iteration,
                at: d.at,
                value: d.value,
                assertion: d.assertion.clone(),
            })
        }));
        let mut out = String::new();
        let mut checksum = Checksum::default();
        for record in &records {
            let line = to_line(record);
            checksum.add(&line);
            out.push_str(&line);
            out.push('\n');
        }
        let end = Record::End(EndLine {
            records: records.len() as u64,
            checksum: checksum.value(),
            digest: format!("{:016x}", self.digest()),
        });
        out.push_str(&to_line(&end));
        out.push('\n');
        out
    }
}

fn to_line(record: &Record) -> String {
    // Plain structs of strings, numbers and booleans: serializing cannot fail.
    serde_json::to_string(record).expect("shard records always serialize")
}
