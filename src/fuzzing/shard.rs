//! The shard reader's fuzz body.

use crate::testing::SimulationReport;

/// [`SimulationReport::from_shard_text`]: no panic; an error names a line of the input; a
/// report read is written back as a shard that reads back as the same report.
pub fn shard(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match SimulationReport::from_shard_text(&text) {
        Ok(report) => {
            let written = report.to_shard_text();
            let again = SimulationReport::from_shard_text(&written);
            assert_eq!(again.as_ref(), Ok(&report), "written back:\n{written}");
        }
        Err(error) => {
            let lines = text.lines().count();
            assert!(
                (1..=lines + 1).contains(&error.line()),
                "line {} of {lines}: {error}",
                error.line()
            );
            assert!(!error.to_string().is_empty());
        }
    }
}
