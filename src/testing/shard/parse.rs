//! Reading shard text back into a [`SimulationReport`], checking every record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::field::{excerpt, hex, nanos, number, unescape};
use super::{ShardParseError, MAGIC, VERSION};
use crate::testing::assertions::{AssertionKind, AssertionStats};
use crate::testing::{IterationFailure, IterationRecord, SimulationReport};

impl SimulationReport {
    /// Reads a report written by [`to_shard_text`](Self::to_shard_text).
    ///
    /// `from_shard_text(&r.to_shard_text()) == Ok(r)` for every report `r` a campaign returns. Blank lines,
    /// `#` comments and `\r\n` line ends are accepted. It never panics, whatever the input.
    ///
    /// # Errors
    /// A [`ShardParseError`] naming the line at fault: not a shard, an unsupported version,
    /// an unknown record, a field that does not parse, contradicting records, a missing
    /// setting, no `end` line (a truncated file), or an `end` line whose counts or digest do
    /// not match the records.
    ///
    /// # Examples
    /// ```
    /// use moonpool::testing::{ShardParseError, SimulationReport};
    ///
    /// let err = SimulationReport::from_shard_text("moonpool-shard 1\nwall_time_ns 5\n").unwrap_err();
    /// assert_eq!(err, ShardParseError::Truncated { line: 3 });
    /// assert_eq!(
    ///     err.to_string(),
    ///     "line 3: truncated shard: it ends before its `end` line is complete"
    /// );
    /// ```
    pub fn from_shard_text(text: &str) -> Result<SimulationReport, ShardParseError> {
        Parser::default().parse(text)
    }
}

/// The records read so far.
#[derive(Default)]
struct Parser {
    replay_hint: Option<String>,
    coverage_required: Option<bool>,
    wall_time: Option<Duration>,
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
    /// Running totals, checked so that the report's sums cannot overflow later.
    total_sim_time: Duration,
    total_events: u64,
}

impl Parser {
    fn parse(self, text: &str) -> Result<SimulationReport, ShardParseError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'));
        let after_last = text.lines().count() + 1;

        let Some((line, header)) = lines.next() else {
            return Err(ShardParseError::NotAShard {
                line: after_last,
                found: String::new(),
            });
        };
        match header.split_once(' ') {
            Some((MAGIC, version)) if version == VERSION.to_string() => {}
            Some((MAGIC, version)) => {
                return Err(ShardParseError::UnsupportedVersion {
                    line,
                    version: excerpt(version),
                })
            }
            _ => {
                return Err(ShardParseError::NotAShard {
                    line,
                    found: excerpt(header),
                })
            }
        }

        // A last line without its line break that does not parse was most likely cut short.
        let cut_line = (!text.ends_with('\n')).then(|| after_last - 1);
        let cut = |error: ShardParseError| match error {
            ShardParseError::TrailingData { .. } => error,
            _ if Some(error.line()) == cut_line => {
                ShardParseError::Truncated { line: error.line() }
            }
            _ => error,
        };
        self.records(lines, after_last).map_err(cut)
    }

    /// Reads the records after the header, up to and including `end`.
    fn records<'a>(
        mut self,
        mut lines: impl Iterator<Item = (usize, &'a str)>,
        after_last: usize,
    ) -> Result<SimulationReport, ShardParseError> {
        for (line, text) in lines.by_ref() {
            let (record, rest) = text.split_once(' ').unwrap_or((text, ""));
            match record {
                "replay_hint" => self.replay_hint(line, rest)?,
                "coverage_required" => self.coverage_required(line, rest)?,
                "wall_time_ns" => self.wall_time(line, rest)?,
                "declared" => self.declared(line, rest)?,
                "assertion" => self.assertion(line, rest)?,
                "iteration" => self.iteration(line, rest)?,
                "failure" => self.failure(line, rest)?,
                "fault" => self.fault(line, rest)?,
                "failure_fault" => self.failure_fault(line, rest)?,
                "end" => {
                    let report = self.end(line, rest)?;
                    return match lines.next() {
                        Some((line, _)) => Err(ShardParseError::TrailingData { line }),
                        None => Ok(report),
                    };
                }
                other => {
                    return Err(ShardParseError::UnknownRecord {
                        line,
                        record: excerpt(other),
                    })
                }
            }
        }
        Err(ShardParseError::Truncated { line: after_last })
    }

    fn replay_hint(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [hint] = fields(line, "replay_hint", rest)?;
        let hint = unescape(hint).map_err(bad(line, "replay_hint"))?;
        once(line, "replay_hint", &mut self.replay_hint, hint)
    }

    fn coverage_required(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [value] = fields(line, "coverage_required", rest)?;
        let value = match value {
            "true" => true,
            "false" => false,
            other => {
                return Err(bad(line, "coverage_required")(format!(
                    "{:?} is not true or false",
                    excerpt(other)
                )))
            }
        };
        once(
            line,
            "coverage_required",
            &mut self.coverage_required,
            value,
        )
    }

    fn wall_time(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [value] = fields(line, "wall_time_ns", rest)?;
        let value = nanos(value).map_err(bad(line, "wall_time_ns"))?;
        once(line, "wall_time_ns", &mut self.wall_time, value)
    }

    fn declared(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [name] = fields(line, "declared", rest)?;
        let name = unescape(name).map_err(bad(line, "declared"))?;
        if self.declared.contains(&name) {
            return Err(inconsistent(line, format!("{name:?} declared twice")));
        }
        self.declared.insert(name);
        Ok(())
    }

    fn assertion(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [kind, checks, hits, name] = fields(line, "assertion", rest)?;
        let kind = match kind {
            "always" => AssertionKind::Always,
            "sometimes" => AssertionKind::Sometimes,
            other => {
                return Err(bad(line, "assertion")(format!(
                    "kind {:?} is not always or sometimes",
                    excerpt(other)
                )))
            }
        };
        let checks = number(checks).map_err(bad(line, "assertion"))?;
        let hits = number(hits).map_err(bad(line, "assertion"))?;
        if hits > checks {
            return Err(bad(line, "assertion")(format!(
                "{hits} hits out of {checks} checks"
            )));
        }
        let name = unescape(name).map_err(bad(line, "assertion"))?;
        if self.assertions.contains_key(&name) {
            return Err(inconsistent(
                line,
                format!("assertion {name:?} given twice"),
            ));
        }
        self.assertions
            .insert(name, AssertionStats { kind, checks, hits });
        Ok(())
    }

    fn iteration(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [seed, digest, sim_time, events, verdict] = fields(line, "iteration", rest)?;
        let seed = number(seed).map_err(bad(line, "iteration"))?;
        let digest = hex(digest).map_err(bad(line, "iteration"))?;
        let sim_time = nanos(sim_time).map_err(bad(line, "iteration"))?;
        let events_processed = number(events).map_err(bad(line, "iteration"))?;
        let passed = match verdict {
            "pass" => true,
            "fail" => false,
            other => {
                return Err(bad(line, "iteration")(format!(
                    "{:?} is not pass or fail",
                    excerpt(other)
                )))
            }
        };
        if !passed {
            *self.failed_iterations.entry(seed).or_insert(0) += 1;
        }
        self.total_sim_time = self
            .total_sim_time
            .checked_add(sim_time)
            .ok_or_else(|| inconsistent(line, "the total sim time overflows".into()))?;
        self.total_events = self
            .total_events
            .checked_add(events_processed)
            .ok_or_else(|| inconsistent(line, "the total event count overflows".into()))?;
        self.iterations.push(IterationRecord {
            seed,
            digest,
            sim_time,
            events_processed,
            passed,
        });
        Ok(())
    }

    fn failure(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [seed, workload, error] = fields(line, "failure", rest)?;
        let seed = number(seed).map_err(bad(line, "failure"))?;
        let workload = unescape(workload).map_err(bad(line, "failure"))?;
        let error = unescape(error).map_err(bad(line, "failure"))?;
        let records = self.failure_records.entry(seed).or_insert(0);
        *records += 1;
        if *records > self.failed_iterations.get(&seed).copied().unwrap_or(0) {
            return Err(inconsistent(
                line,
                format!("failure of seed {seed} without a failed iteration of it before"),
            ));
        }
        self.failures.push(IterationFailure {
            seed,
            workload,
            error,
            faults: Vec::new(),
        });
        Ok(())
    }

    fn fault(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [count, kind] = fields(line, "fault", rest)?;
        let count = number(count).map_err(bad(line, "fault"))?;
        let kind = unescape(kind).map_err(bad(line, "fault"))?;
        if self.faults.insert(kind, count).is_some() {
            return Err(inconsistent(line, "a fault kind counted twice".into()));
        }
        Ok(())
    }

    fn failure_fault(&mut self, line: usize, rest: &str) -> Result<(), ShardParseError> {
        let [seed, text] = fields(line, "failure_fault", rest)?;
        let seed = number(seed).map_err(bad(line, "failure_fault"))?;
        let text = unescape(text).map_err(bad(line, "failure_fault"))?;
        match self.failures.last_mut() {
            Some(failure) if failure.seed == seed => failure.faults.push(text),
            _ => {
                return Err(inconsistent(
                    line,
                    format!("fault line of seed {seed} not after its failure"),
                ))
            }
        }
        Ok(())
    }

    fn end(self, line: usize, rest: &str) -> Result<SimulationReport, ShardParseError> {
        let [iterations, failures, assertions, declared, digest] = fields(line, "end", rest)?;
        let counts = [
            ("iterations", iterations, self.iterations.len()),
            ("failures", failures, self.failures.len()),
            ("assertions", assertions, self.assertions.len()),
            ("declared", declared, self.declared.len()),
        ];
        for (what, field, found) in counts {
            let expected = number(field).map_err(bad(line, "end"))?;
            if u64::try_from(found) != Ok(expected) {
                return Err(ShardParseError::Mismatch {
                    line,
                    what,
                    expected: expected.to_string(),
                    found: found.to_string(),
                });
            }
        }
        let digest = hex(digest).map_err(bad(line, "end"))?;
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
        let replay_hint = self.replay_hint.ok_or(ShardParseError::Missing {
            line,
            record: "replay_hint",
        })?;
        let coverage_required = self.coverage_required.ok_or(ShardParseError::Missing {
            line,
            record: "coverage_required",
        })?;
        let wall_time = self.wall_time.ok_or(ShardParseError::Missing {
            line,
            record: "wall_time_ns",
        })?;
        let mut report = SimulationReport::new(BTreeSet::new(), coverage_required, replay_hint);
        report.iterations = self.iterations;
        report.failures = self.failures;
        report.assertions = self.assertions;
        report.declared = self.declared;
        report.wall_time = wall_time;
        report.faults = self.faults;
        if report.digest() != digest {
            return Err(ShardParseError::Mismatch {
                line,
                what: "digest",
                expected: format!("{digest:016x}"),
                found: format!("{:016x}", report.digest()),
            });
        }
        Ok(report)
    }
}

/// Splits `rest` into exactly `N` space-separated fields.
fn fields<'a, const N: usize>(
    line: usize,
    record: &'static str,
    rest: &'a str,
) -> Result<[&'a str; N], ShardParseError> {
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(' ').collect()
    };
    parts.try_into().map_err(|parts: Vec<&str>| {
        bad(line, record)(format!("expected {N} fields, found {}", parts.len()))
    })
}

/// Sets a record that may appear only once.
fn once<T>(
    line: usize,
    record: &'static str,
    slot: &mut Option<T>,
    value: T,
) -> Result<(), ShardParseError> {
    if slot.replace(value).is_some() {
        return Err(inconsistent(line, format!("`{record}` given twice")));
    }
    Ok(())
}

fn bad(line: usize, record: &'static str) -> impl Fn(String) -> ShardParseError {
    move |reason| ShardParseError::BadField {
        line,
        record,
        reason,
    }
}

fn inconsistent(line: usize, reason: String) -> ShardParseError {
    ShardParseError::Inconsistent { line, reason }
}
