//! Reading shard text back into a [`SimulationReport`], checking every record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{
    AssertionLine, BuggifyLine, Checksum, EndLine, FailureLine, Header, IterationLine, Kind,
    Record, ShardParseError, MAGIC, VERSION,
};
use crate::testing::assertions::{AssertionKind, AssertionStats};
use crate::testing::explore::{Branch, Discovery, ExplorationTree};
use crate::testing::{BuggifyCoverage, IterationFailure, IterationRecord, SimulationReport};

impl SimulationReport {
    /// Reads a report written by [`to_shard_text`](Self::to_shard_text).
    ///
    /// `from_shard_text(&r.to_shard_text()) == Ok(r)` for every report `r` a campaign returns.
    /// Blank lines and `\r\n` line ends are accepted. It never panics, whatever the input.
    ///
    /// # Errors
    /// A [`ShardParseError`] naming the line at fault: not a shard, an unsupported version,
    /// a line that is not a record, contradicting records, no `end` record (a truncated
    /// file), or an `end` record whose count, checksum or digest does not match the records
    /// (an edited file).
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{ShardParseError, SimulationBuilder, SimulationReport};
    ///
    /// let text = SimulationBuilder::new().seed_from_env(false).run().to_shard_text();
    /// assert!(SimulationReport::from_shard_text(&text).is_ok());
    /// // Cut short: the end record is missing.
    /// let first_line = text.lines().next().unwrap();
    /// let err = SimulationReport::from_shard_text(first_line).unwrap_err();
    /// assert_eq!(err, ShardParseError::Truncated { line: 2 });
    /// // Edited: the checksum no longer matches.
    /// let edited = text.replace("\"passed\":true", "\"passed\":false");
    /// let err = SimulationReport::from_shard_text(&edited).unwrap_err();
    /// assert!(matches!(err, ShardParseError::Mismatch { what: "checksum", .. }), "{err}");
    /// ```
    pub fn from_shard_text(text: &str) -> Result<SimulationReport, ShardParseError> {
        let after_last = text.lines().count() + 1;
        // A last line without its line break that does not parse was most likely cut short.
        let cut_line = (!text.ends_with('\n')).then(|| after_last - 1);
        parse(text, after_last).map_err(|error| match error {
            ShardParseError::TrailingData { .. } | ShardParseError::Mismatch { .. } => error,
            _ if Some(error.line()) == cut_line => {
                ShardParseError::Truncated { line: error.line() }
            }
            _ => error,
        })
    }
}

fn parse(text: &str, after_last: usize) -> Result<SimulationReport, ShardParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((line, first)) = lines.next() else {
        return Err(ShardParseError::NotAShard {
            line: after_last,
            found: String::new(),
        });
    };
    let mut parser = Parser::new(line, first)?;
    parser.checksum.add(first);
    for (line, text) in lines.by_ref() {
        let record = serde_json::from_str::<Record>(text).map_err(|e| bad(line, e))?;
        if let Record::End(end) = record {
            let report = parser.end(line, end)?;
            return match lines.next() {
                Some((line, _)) => Err(ShardParseError::TrailingData { line }),
                None => Ok(report),
            };
        }
        parser.record(line, record)?;
        parser.checksum.add(text);
        parser.records += 1;
    }
    Err(ShardParseError::Truncated { line: after_last })
}

/// The records read so far.
struct Parser {
    replay_hint: String,
    coverage_required: bool,
    wall_time: Duration,
    declared: BTreeSet<String>,
    assertions: BTreeMap<String, AssertionStats>,
    iterations: Vec<IterationRecord>,
    failures: Vec<IterationFailure>,
    /// Seed -> failed iterations of that seed given so far (a seed list may repeat a seed).
    failed_iterations: BTreeMap<u64, usize>,
    /// Seed -> failure records of that seed given so far.
    failure_records: BTreeMap<u64, usize>,
    /// Fault counts per kind.
    faults: BTreeMap<String, u64>,
    /// `buggify!` sites.
    buggify: BTreeMap<String, BuggifyCoverage>,
    /// Running totals, checked so that the report's sums cannot overflow later.
    total_sim_time: Duration,
    total_events: u64,
    records: u64,
    checksum: Checksum,
    exploration: ExplorationTree,
}

impl Parser {
    /// Checks the header line: a shard, of this version, well formed.
    fn new(line: usize, text: &str) -> Result<Self, ShardParseError> {
        let not_a_shard = || ShardParseError::NotAShard {
            line,
            found: excerpt(text),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| not_a_shard())?;
        let shard = value.get("shard").ok_or_else(not_a_shard)?;
        if shard.get("format").and_then(|f| f.as_str()) != Some(MAGIC) {
            return Err(not_a_shard());
        }
        match shard.get("version") {
            Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
            other => {
                return Err(ShardParseError::UnsupportedVersion {
                    line,
                    version: excerpt(&other.map_or("none".into(), |v| v.to_string())),
                })
            }
        }
        let Ok(Record::Shard(header)) = serde_json::from_value::<Record>(value.clone()) else {
            let error = serde_json::from_value::<Header>(shard.clone())
                .err()
                .map_or("more than a shard header".to_string(), |e| e.to_string());
            return Err(ShardParseError::BadRecord {
                line,
                reason: error,
            });
        };
        let mut declared = BTreeSet::new();
        for name in header.declared {
            if !declared.insert(name.clone()) {
                return Err(inconsistent(line, format!("{name:?} declared twice")));
            }
        }
        Ok(Self {
            replay_hint: header.replay_hint,
            coverage_required: header.coverage_required,
            wall_time: Duration::from_nanos(header.wall_time_ns),
            declared,
            assertions: BTreeMap::new(),
            iterations: Vec::new(),
            failures: Vec::new(),
            failed_iterations: BTreeMap::new(),
            failure_records: BTreeMap::new(),
            faults: BTreeMap::new(),
            buggify: BTreeMap::new(),
            total_sim_time: Duration::ZERO,
            total_events: 0,
            records: 1,
            checksum: Checksum::default(),
            exploration: ExplorationTree::default(),
        })
    }

    fn record(&mut self, line: usize, record: Record) -> Result<(), ShardParseError> {
        match record {
            Record::Shard(_) => Err(inconsistent(line, "a second shard header".into())),
            Record::Assertion(a) => self.assertion(line, a),
            Record::Iteration(i) => self.iteration(line, i),
            Record::Failure(f) => self.failure(line, f),
            Record::Fault(f) => {
                if self.faults.insert(f.kind, f.count).is_some() {
                    return Err(inconsistent(line, "a fault kind counted twice".into()));
                }
                Ok(())
            }
            Record::Buggify(b) => self.buggify(line, b),
            Record::Branch(b) => {
                self.exploration.branches.push(Branch {
                    id: b.id,
                    parent: b.parent,
                    root: b.root,
                    at: b.at,
                    assertion: b.assertion,
                    index: b.index,
                });
                Ok(())
            }
            Record::Discovery(d) => {
                self.exploration.discoveries.push(Discovery {
                    iteration: d.iteration,
                    assertion: d.assertion,
                    at: d.at,
                    value: d.value,
                });
                Ok(())
            }
            Record::End(_) => unreachable!("the end record is handled by the caller"),
        }
    }

    fn assertion(&mut self, line: usize, a: AssertionLine) -> Result<(), ShardParseError> {
        if a.hits > a.checks {
            return Err(inconsistent(
                line,
                format!("{} hits out of {} checks", a.hits, a.checks),
            ));
        }
        if self.assertions.contains_key(&a.name) {
            return Err(inconsistent(
                line,
                format!("assertion {:?} given twice", a.name),
            ));
        }
        let kind = match a.kind {
            Kind::Always => AssertionKind::Always,
            Kind::Sometimes => AssertionKind::Sometimes,
            Kind::Max => AssertionKind::Max,
            Kind::Min => AssertionKind::Min,
        };
        if kind.is_watermark() != a.best.is_some() {
            return Err(inconsistent(
                line,
                format!(
                    "assertion {:?}: a best value goes with max and min only",
                    a.name
                ),
            ));
        }
        let mut stats = AssertionStats::new(kind);
        stats.checks = a.checks;
        stats.hits = a.hits;
        stats.best = a.best;
        self.assertions.insert(a.name, stats);
        Ok(())
    }

    fn buggify(&mut self, line: usize, b: BuggifyLine) -> Result<(), ShardParseError> {
        if b.enabled > b.reached {
            return Err(inconsistent(
                line,
                format!(
                    "buggify site {:?} enabled in {} iterations but reached in {}",
                    b.site, b.enabled, b.reached
                ),
            ));
        }
        if b.fired > 0 && b.enabled == 0 {
            return Err(inconsistent(
                line,
                format!("buggify site {:?} fired but never enabled", b.site),
            ));
        }
        let coverage = BuggifyCoverage {
            reached: b.reached,
            enabled: b.enabled,
            fired: b.fired,
        };
        if self.buggify.insert(b.site, coverage).is_some() {
            return Err(inconsistent(line, "a buggify site given twice".into()));
        }
        Ok(())
    }

    fn iteration(&mut self, line: usize, i: IterationLine) -> Result<(), ShardParseError> {
        let digest = hex(line, &i.digest)?;
        let sim_time = Duration::from_nanos(i.sim_time_ns);
        if !i.passed {
            *self.failed_iterations.entry(i.seed).or_insert(0) += 1;
        }
        self.total_sim_time = self
            .total_sim_time
            .checked_add(sim_time)
            .ok_or_else(|| inconsistent(line, "the total sim time overflows".into()))?;
        self.total_events = self
            .total_events
            .checked_add(i.events)
            .ok_or_else(|| inconsistent(line, "the total event count overflows".into()))?;
        self.iterations.push(IterationRecord {
            seed: i.seed,
            digest,
            sim_time,
            events_processed: i.events,
            messages: i.messages,
            passed: i.passed,
        });
        Ok(())
    }

    fn failure(&mut self, line: usize, f: FailureLine) -> Result<(), ShardParseError> {
        let records = self.failure_records.entry(f.seed).or_insert(0);
        *records += 1;
        if *records > self.failed_iterations.get(&f.seed).copied().unwrap_or(0) {
            return Err(inconsistent(
                line,
                format!(
                    "failure of seed {} without a failed iteration of it before",
                    f.seed
                ),
            ));
        }
        self.failures.push(IterationFailure {
            seed: f.seed,
            workload: f.workload,
            error: f.error,
            faults: f.faults,
        });
        Ok(())
    }

    fn end(self, line: usize, end: EndLine) -> Result<SimulationReport, ShardParseError> {
        let mismatch = |what, expected: String, found: String| ShardParseError::Mismatch {
            line,
            what,
            expected,
            found,
        };
        if end.records != self.records {
            return Err(mismatch(
                "records",
                end.records.to_string(),
                self.records.to_string(),
            ));
        }
        let checksum = self.checksum.value();
        if end.checksum != checksum {
            return Err(mismatch("checksum", excerpt(&end.checksum), checksum));
        }
        let digest = hex(line, &end.digest)?;
        let failed: usize = self.failed_iterations.values().sum();
        if failed != self.failures.len() {
            return Err(inconsistent(
                line,
                format!(
                    "{failed} failed iterations but {} failure records",
                    self.failures.len()
                ),
            ));
        }
        let mut report =
            SimulationReport::new(BTreeSet::new(), self.coverage_required, self.replay_hint);
        report.iterations = self.iterations;
        report.failures = self.failures;
        report.assertions = self.assertions;
        report.declared = self.declared;
        report.wall_time = self.wall_time;
        report.faults = self.faults;
        report.buggify = self.buggify;
        report.exploration = self.exploration;
        if report.digest() != digest {
            return Err(mismatch(
                "digest",
                format!("{digest:016x}"),
                format!("{:016x}", report.digest()),
            ));
        }
        Ok(report)
    }
}

/// A 64-bit hexadecimal digest field.
fn hex(line: usize, text: &str) -> Result<u64, ShardParseError> {
    if text.is_empty() || text.len() > 16 {
        return Err(bad_field(line, text));
    }
    u64::from_str_radix(text, 16).map_err(|_| bad_field(line, text))
}

fn bad_field(line: usize, text: &str) -> ShardParseError {
    ShardParseError::BadRecord {
        line,
        reason: format!("{:?} is not a hexadecimal u64", excerpt(text)),
    }
}

fn bad(line: usize, error: serde_json::Error) -> ShardParseError {
    ShardParseError::BadRecord {
        line,
        reason: error.to_string(),
    }
}

fn inconsistent(line: usize, reason: String) -> ShardParseError {
    ShardParseError::Inconsistent { line, reason }
}

/// At most 40 characters of `text`, for error messages.
fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
}
