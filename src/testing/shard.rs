//! The shard text of a [`SimulationReport`] (see [`SimulationReport::to_shard_text`]): a
//! campaign run on several machines, merged on one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use super::assertions::{AssertionKind, AssertionStats};
use super::report::{IterationFailure, IterationRecord, SimulationReport};

/// The first line of every shard, before the version number.
const MAGIC: &str = "moonpool-shard";
/// The format version written, and the only one read.
const VERSION: u32 = 1;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Why [`SimulationReport::from_shard_text`] rejected a text.
///
/// Every variant carries the 1-based number of the line at fault (for an input with no lines
/// at all, or cut short, the line after the last one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardParseError {
    /// The first line is not `moonpool-shard <version>`.
    #[error("line {line}: not a moonpool shard (expected `{MAGIC} {VERSION}`, found {found:?})")]
    NotAShard {
        /// The line number.
        line: usize,
        /// The start of what was found instead.
        found: String,
    },
    /// The shard was written in a format version this build does not read.
    #[error("line {line}: shard format version {version:?} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion {
        /// The line number.
        line: usize,
        /// The version found.
        version: String,
    },
    /// A line does not start with a known record name.
    #[error("line {line}: unknown record {record:?}")]
    UnknownRecord {
        /// The line number.
        line: usize,
        /// The start of the record name found.
        record: String,
    },
    /// A record has the wrong number of fields or a field does not parse.
    #[error("line {line}: bad `{record}` record: {reason}")]
    BadField {
        /// The line number.
        line: usize,
        /// The record name (`iteration`, `assertion`, ...).
        record: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A record contradicts an earlier one (a name given twice, a failure without a failed
    /// iteration, a setting given twice).
    #[error("line {line}: {reason}")]
    Inconsistent {
        /// The line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A record required once (`replay_hint`, `coverage_required`, `wall_time_ns`) is missing.
    #[error("line {line}: missing `{record}` record")]
    Missing {
        /// The line number of the `end` record.
        line: usize,
        /// The missing record's name.
        record: &'static str,
    },
    /// The text ends before its `end` line, or in the middle of a line that does not parse
    /// (it has no final line break): the shard was cut short.
    #[error("line {line}: truncated shard: it ends before its `end` line is complete")]
    Truncated {
        /// The line after the last one, or the last one if it was cut.
        line: usize,
    },
    /// The `end` line's counts or digest do not match the records before it.
    #[error("line {line}: the end line says {what} {expected}, the records give {found}")]
    Mismatch {
        /// The line number of the `end` record.
        line: usize,
        /// What was counted (`iterations`, `failures`, `assertions`, `declared`, `digest`).
        what: &'static str,
        /// The value on the `end` line.
        expected: String,
        /// The value the records give.
        found: String,
    },
    /// A record follows the `end` line.
    #[error("line {line}: text after the `end` line")]
    TrailingData {
        /// The line number.
        line: usize,
    },
}

impl ShardParseError {
    /// The 1-based number of the line at fault.
    pub fn line(&self) -> usize {
        match self {
            ShardParseError::NotAShard { line, .. }
            | ShardParseError::UnsupportedVersion { line, .. }
            | ShardParseError::UnknownRecord { line, .. }
            | ShardParseError::BadField { line, .. }
            | ShardParseError::Inconsistent { line, .. }
            | ShardParseError::Missing { line, .. }
            | ShardParseError::Truncated { line }
            | ShardParseError::Mismatch { line, .. }
            | ShardParseError::TrailingData { line } => *line,
        }
    }
}

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
    /// end 2 1 2 1 4e1d9c0a7b3f2e11
    /// ```
    ///
    /// `iteration` is `seed digest(hex) sim_time_ns events pass|fail`, in the report's order;
    /// `assertion` is `kind checks hits name`; `failure` is `seed workload error`. The `end`
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

/// Escapes `text` into one field without spaces or control characters.
fn escape(text: &str) -> String {
    if text.is_empty() {
        return "\\e".to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' => out.push_str("\\s"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c.is_whitespace() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`].
fn unescape(field: &str) -> Result<String, String> {
    if field == "\\e" {
        return Ok(String::new());
    }
    if field.is_empty() {
        return Err("empty text field (the empty string is written `\\e`)".into());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c.is_control() || c.is_whitespace() {
                return Err(format!("unescaped character {c:?} in {:?}", excerpt(field)));
            }
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('s') => out.push(' '),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let rest = chars.as_str();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .filter(|(hex, _)| {
                        (1..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    })
                    .and_then(|(hex, after)| {
                        let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        Some((c, after))
                    });
                let Some((c, after)) = code else {
                    return Err(format!("bad \\u{{...}} escape in {:?}", excerpt(field)));
                };
                out.push(c);
                chars = after.chars();
            }
            Some(other) => return Err(format!("unknown escape \\{other} in {:?}", excerpt(field))),
            None => {
                return Err(format!(
                    "dangling backslash at the end of {:?}",
                    excerpt(field)
                ))
            }
        }
    }
    Ok(out)
}

/// A decimal `u64` made of ASCII digits only.
fn number(field: &str) -> Result<u64, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{:?} is not a number", excerpt(field)));
    }
    field
        .parse()
        .map_err(|_| format!("{:?} is too large for a u64", excerpt(field)))
}

/// A hexadecimal `u64` of 1 to 16 digits.
fn hex(field: &str) -> Result<u64, String> {
    if !(1..=16).contains(&field.len()) || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{:?} is not a hexadecimal u64", excerpt(field)));
    }
    u64::from_str_radix(field, 16)
        .map_err(|_| format!("{:?} is not a hexadecimal u64", excerpt(field)))
}

/// A duration in nanoseconds.
fn nanos(field: &str) -> Result<Duration, String> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{:?} is not a number of nanoseconds",
            excerpt(field)
        ));
    }
    let n: u128 = field
        .parse()
        .map_err(|_| format!("{:?} nanoseconds is too long", excerpt(field)))?;
    let secs = u64::try_from(n / NANOS_PER_SEC)
        .map_err(|_| format!("{:?} nanoseconds is too long", excerpt(field)))?;
    // Below one billion: fits.
    let subsec = (n % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, subsec))
}

/// A short, printable excerpt of untrusted input for an error message.
fn excerpt(text: &str) -> String {
    text.chars().take(40).collect()
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
        });
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
