//! [`init_tracing`]: a one-line tracing subscriber for simulations (feature `subscriber`).
//!
//! Events go to standard error (captured by the test harness like `eprintln!`), each line
//! stamped with the simulator's virtual time ([`sim::current_time`]) while a world runs and
//! with the wall clock otherwise, followed by its spans: the `iteration` (seed), the `task`
//! (the simulated process) and the Peer's connection attempt.
//!
//! ```text
//!   0.031684s  INFO iteration{seed=3}:task{name="client1"}:peer{destination=10.0.0.1:4500 attempt=1}: moonpool::peer::connect: connected
//! ```

use std::io;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::sim;

/// The filter given in `MOONPOOL_LOG` or `RUST_LOG` does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid log filter {filter:?} in {variable}: {reason}")]
pub struct LogFilterError {
    /// The environment variable it came from.
    pub variable: &'static str,
    /// The filter as given.
    pub filter: String,
    /// What the parser said.
    pub reason: String,
}

/// Installs a global tracing subscriber printing to standard error, filtered by
/// `MOONPOOL_LOG` (or, if unset, `RUST_LOG`): `debug`, `moonpool=debug`,
/// `moonpool::peer=trace,info`, ... Does nothing if neither is set or a global subscriber
/// already exists. Returns whether it installed one.
///
/// Each line starts with the virtual time when the event comes from a simulated world, so a
/// replayed seed reads as a timeline.
///
/// # Errors
/// [`LogFilterError`] if the variable holds something that is not a filter.
///
/// # Examples
/// ```
/// // At the start of a test or `main`: silent unless MOONPOOL_LOG or RUST_LOG is set.
/// moonpool::testing::init_tracing().unwrap();
/// ```
pub fn init_tracing() -> Result<bool, LogFilterError> {
    let Some((variable, filter)) = ["MOONPOOL_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|name| Some((name, std::env::var(name).ok()?)))
    else {
        return Ok(false);
    };
    let targets = parse_filter(variable, &filter)?;
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_timer(SimTimer)
        .with_writer(Stderr);
    Ok(tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init()
        .is_ok())
}

fn parse_filter(variable: &'static str, filter: &str) -> Result<Targets, LogFilterError> {
    Targets::from_str(filter).map_err(|e| LogFilterError {
        variable,
        filter: filter.to_string(),
        reason: e.to_string(),
    })
}

/// Stamps an event with the virtual time of the world running on this thread, or the wall
/// clock outside a simulation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimTimer;

impl FormatTime for SimTimer {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match sim::current_time() {
            Some(now) => write!(w, "{:>11.6}s", now.as_secs_f64()),
            None => SystemTime.format_time(w),
        }
    }
}

/// Writes through `eprint!`, so the test harness captures it per test.
#[derive(Debug, Clone, Copy)]
struct Stderr;

/// Set once standard error could not be written (a closed pipe): log lines are dropped.
static STDERR_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::sync::atomic::Ordering;
        if !STDERR_GONE.load(Ordering::Relaxed) {
            // `eprint!` panics when standard error is gone (`2>&1 | head`, say); a log line
            // is not worth ending the program for, so it is dropped, as tracing's own
            // writer drops it.
            let text = String::from_utf8_lossy(buf);
            let printed = std::panic::catch_unwind(|| eprint!("{text}"));
            if printed.is_err() {
                STDERR_GONE.store(true, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
