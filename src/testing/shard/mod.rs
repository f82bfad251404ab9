//! The shard text of a [`SimulationReport`] (see [`SimulationReport::to_shard_text`]): a
//! campaign run on several machines, merged on one.
//!
//! [`write`] produces the text, [`parse`] reads it back (with [`ShardParseError`] when it
//! cannot), and [`field`] escapes and reads the single fields both share.

mod field;
mod parse;
mod write;

#[cfg(doc)]
use super::report::SimulationReport;

/// The first line of every shard, before the version number.
const MAGIC: &str = "moonpool-shard";
/// The format version written, and the only one read.
const VERSION: u32 = 1;

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
