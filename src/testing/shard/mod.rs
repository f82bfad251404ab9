//! The shard text of a [`SimulationReport`] (see [`SimulationReport::to_shard_text`]): a
//! campaign run on several machines, merged on one.
//!
//! JSON lines through serde: one self-describing record per line, so `jq` or any JSON reader
//! can read a shard too. [`write`] produces it; [`parse`] reads it back and checks it (with
//! [`ShardParseError`] when it cannot); the record types below are what both share.

mod parse;
mod write;

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::report::SimulationReport;
use crate::peer::crc32c;

/// The `format` of a shard's first record.
const MAGIC: &str = "moonpool-shard";
/// The format version written, and the only one read (1 was the plain-text format).
const VERSION: u32 = 2;

/// Why [`SimulationReport::from_shard_text`] rejected a text.
///
/// Every variant carries the 1-based number of the line at fault (for an input with no lines
/// at all, or cut short, the line after the last one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardParseError {
    /// The first line is not a `{"shard":{"format":"moonpool-shard",..}}` record.
    #[error(
        "line {line}: not a moonpool shard (expected a {MAGIC:?} header record, found {found:?})"
    )]
    NotAShard {
        /// The line number.
        line: usize,
        /// The start of what was found instead.
        found: String,
    },
    /// The shard was written in a format version this build does not read.
    #[error("line {line}: shard format version {version} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion {
        /// The line number.
        line: usize,
        /// The version found.
        version: String,
    },
    /// A line is not a known record, or a field is missing or does not parse.
    #[error("line {line}: bad record: {reason}")]
    BadRecord {
        /// The line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A record contradicts an earlier one (a name given twice, a failure without a failed
    /// iteration, more hits than checks).
    #[error("line {line}: {reason}")]
    Inconsistent {
        /// The line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The text ends before its `end` record, or in the middle of a line that does not parse
    /// (it has no final line break): the shard was cut short.
    #[error("line {line}: truncated shard: it ends before its `end` record is complete")]
    Truncated {
        /// The line after the last one, or the last one if it was cut.
        line: usize,
    },
    /// The `end` record's count, checksum or digest does not match the records before it:
    /// the shard was edited or damaged.
    #[error("line {line}: the end record says {what} {expected}, the records give {found}")]
    Mismatch {
        /// The line number of the `end` record.
        line: usize,
        /// What was compared (`records`, `checksum`, `digest`).
        what: &'static str,
        /// The value in the `end` record.
        expected: String,
        /// The value the records give.
        found: String,
    },
    /// A record follows the `end` record.
    #[error("line {line}: text after the `end` record")]
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
            | ShardParseError::BadRecord { line, .. }
            | ShardParseError::Inconsistent { line, .. }
            | ShardParseError::Truncated { line }
            | ShardParseError::Mismatch { line, .. }
            | ShardParseError::TrailingData { line } => *line,
        }
    }
}

/// One line of a shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Record {
    /// The first line.
    Shard(Header),
    Assertion(AssertionLine),
    Iteration(IterationLine),
    Failure(FailureLine),
    /// Faults injected over the campaign, of one kind.
    Fault(FaultLine),
    /// One `buggify!` site over the campaign.
    Buggify(BuggifyLine),
    /// A child run by exploration.
    Branch(BranchLine),
    /// A discovery of exploration.
    Discovery(DiscoveryLine),
    /// The last line.
    End(EndLine),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    /// For people reading the file; not read back.
    summary: String,
    replay_hint: String,
    coverage_required: bool,
    wall_time_ns: u64,
    declared: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Always,
    Sometimes,
    Max,
    Min,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionLine {
    name: String,
    kind: Kind,
    checks: u64,
    hits: u64,
    /// A watermark's best value (`max` and `min` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    best: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IterationLine {
    seed: u64,
    /// Hexadecimal: a u64 as a JSON number loses bits in readers that use doubles.
    digest: String,
    sim_time_ns: u64,
    events: u64,
    /// Messages the workloads counted (absent in shards written before the count existed).
    #[serde(default)]
    messages: u64,
    passed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureLine {
    seed: u64,
    workload: String,
    error: String,
    /// The faults injected before the failure, as timeline lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    faults: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultLine {
    kind: String,
    count: u64,
}

/// One `buggify!` site (see `BuggifyCoverage`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuggifyLine {
    site: String,
    reached: u64,
    enabled: u64,
    fired: u64,
}

/// A child of exploration (see `ExplorationTree`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchLine {
    id: u64,
    parent: u64,
    root: u64,
    at: u64,
    index: u32,
    assertion: String,
}

/// A discovery of exploration (see `ExplorationTree`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoveryLine {
    iteration: u64,
    at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<i64>,
    assertion: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndLine {
    /// Lines before this one.
    records: u64,
    /// CRC-32C of those lines, as `checksum` computes it (hexadecimal).
    checksum: String,
    /// The campaign digest (hexadecimal).
    digest: String,
}

/// A running CRC-32C of the lines before the `end` record, each with its `\n` (so `\r\n`
/// line ends do not change it).
#[derive(Debug, Default)]
struct Checksum {
    bytes: Vec<u8>,
}

impl Checksum {
    fn add(&mut self, line: &str) {
        self.bytes.extend_from_slice(line.as_bytes());
        self.bytes.push(b'\n');
    }

    fn value(&self) -> String {
        format!("{:08x}", crc32c(&self.bytes))
    }
}
