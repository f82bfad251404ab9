//! The ping-pong campaign (see `moonpool::testing::ping_pong`): clients using a resilient
//! `Peer` against an echo server over calm and hostile simulated networks, checked with
//! always- and sometimes-assertions, on as many threads as you have cores.
//!
//! ```text
//! cargo run --release --example ping_pong                       # 1000 iterations, every mode
//! cargo run --release --example ping_pong -- --iterations 5000 --threads 4 --clients 3
//! cargo run --release --example ping_pong -- --mode exactly-once  # or at-least-once, unreliable
//! cargo run --release --example ping_pong -- --mode at-least-once --overflow drop-oldest
//! cargo run --release --example ping_pong -- --seed 42 --clients 2          # replay one seed
//! MOONPOOL_SEED=42 cargo run --release --example ping_pong -- --clients 2   # the same
//!
//! # A campaign split across machines: each runs a shard and saves it...
//! MOONPOOL_SEEDS=0..500    cargo run --release --example ping_pong -- --save a.shard
//! MOONPOOL_SEEDS=500..1000 cargo run --release --example ping_pong -- --save b.shard
//! # ...and one merges the shards (running nothing) and judges the whole campaign.
//! cargo run --release --example ping_pong -- --merge a.shard b.shard
//! ```
//!
//! About 2 % of the seeds (chosen by a hash of the seed) run twice, and the campaign fails if
//! the two runs differ; `MOONPOOL_CHECK_DETERMINISM=all` (or `off`, `0.1`, `5%`, `20`)
//! changes that.
//!
//! Prints the report (progress goes to stderr) and, as its last line,
//! `summary iterations=N passed=N failed=N sometimes_reached=K/K digest=HEX sim_time_s=X wall_s=Y
//! lost=N duplicated=N reordered=N dropped=N` (the requests the server saw, against what the
//! clients' `send` accepted, and how many the clients' full queues dropped; `--merge` cannot
//! know them and leaves them out).
//! Exits with status 1 if an iteration failed or a sometimes-assertion was never reached, and
//! 2 on a bad command line (a `--save` file that cannot be created is one: nothing runs), an
//! unreadable shard, shards that share a seed, or a shard that could not be written after
//! the run (the report is printed all the same). With `--save` a
//! shard fails only for its failed iterations: coverage is judged on the merged report, since
//! a state may be reached on one machine only.
//!
//! By default the seeds run every delivery mode in turn (seed `s`: `s % 4` picks unreliable,
//! at-least-once, exactly-once, or a reliable mode with the drop-oldest policy; see
//! `ping_pong::Modes::Mixed`); `--mode` runs one mode for all.
//!
//! A failed seed's replay line repeats every flag that changes an iteration (`--clients`,
//! `--mode`, `--overflow`).
//! `--seed` or `--iterations` together with `MOONPOOL_SEED` or `MOONPOOL_SEEDS` is an error
//! (status 2): the seeds come from one place. `--merge` runs nothing and ignores them.

use std::process::ExitCode;

use lexopt::prelude::*;
use moonpool::peer::{Delivery, OverflowPolicy};
use moonpool::testing::{ping_pong, DeterminismCheck, Partition, SimulationReport};

/// `eprintln!` that drops the line when standard error is gone (`2>&1 | head`) instead of
/// panicking: progress and notes are not worth ending the run for.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that stops quietly when standard output is gone (`| head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The share of seeds run twice to check determinism (`MOONPOOL_CHECK_DETERMINISM` overrides).
const DETERMINISM_SHARE: f64 = 0.02;

const USAGE: &str = "\
usage: ping_pong [--iterations N] [--seed S] [--threads T] [--clients C] [--partition K/N]
                 [--mode M] [--overflow P] [--hostile] [--save FILE]
       ping_pong --merge FILE...

  --iterations N     iterations to run (default 1000)
  --seed S           run only this seed (a replay)
  --threads T        worker threads (default: one per core)
  --clients C        clients per iteration (default 2)
  --partition K/N    run the K-th of N equal parts of the seeds (also MOONPOOL_PARTITION)
  --mode M           delivery: mixed (default: each seed's from the seed, every mode in
                     turn), unreliable, at-least-once or exactly-once
  --overflow P       with --mode, what a full queue does: drop-oldest (unreliable's
                     default) or reject (the reliable modes' default)
  --hostile          every fault on (drawn per seed), the server rebooted at random, and
                     every fault kind required at least once
  --save FILE        also write the report as a shard file
  --merge FILE...    run nothing: merge shard files and judge the whole campaign";

/// The command line (add a flag here, in [`parse_args`] and in [`USAGE`]).
#[derive(Default)]
struct Args {
    /// `--iterations N` (default 1000).
    iterations: Option<u64>,
    /// `--seed S`: run only this seed.
    seed: Option<u64>,
    /// `--threads T` (default: one per core).
    threads: Option<usize>,
    /// `--clients C` (default 2).
    clients: Option<usize>,
    /// `--partition K/N`.
    partition: Option<Partition>,
    /// `--mode M` (default mixed: `None`).
    mode: Option<Delivery>,
    /// `--overflow P` (default: the mode's).
    overflow: Option<OverflowPolicy>,
    /// `--hostile`: the hostile campaign (`ping_pong::hostile`).
    hostile: bool,
    /// `--save FILE`: write the report's shard text there.
    save: Option<String>,
    /// `--merge FILE...`: merge these shards instead of running anything.
    merge: Vec<String>,
}

/// The value of `flag`, parsed; `what` says what it should be.
fn value<T: std::str::FromStr>(
    parser: &mut lexopt::Parser,
    flag: &str,
    what: &str,
) -> Result<T, lexopt::Error> {
    let text = parser.value()?.string()?;
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not {what}").into())
}

/// A count of at least 1, for `flag`.
fn positive(parser: &mut lexopt::Parser, flag: &str) -> Result<u64, lexopt::Error> {
    match value(parser, flag, "a number")? {
        0 => Err(format!("{flag} must be at least 1, got 0").into()),
        n => Ok(n),
    }
}

/// Parses the command line, then checks it against the environment. `Ok(None)`: `--help`.
fn parse_args() -> Result<Option<Args>, lexopt::Error> {
    let mut args = Args::default();
    let mut merging = false;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("iterations") => args.iterations = Some(positive(&mut parser, "--iterations")?),
            Long("seed") => args.seed = Some(value(&mut parser, "--seed", "a seed (a u64)")?),
            Long("threads") => args.threads = Some(positive(&mut parser, "--threads")? as usize),
            Long("clients") => args.clients = Some(positive(&mut parser, "--clients")? as usize),
            Long("partition") => {
                let text = parser.value()?.string()?;
                let partition = text.parse().map_err(|e| format!("--partition: {e}"))?;
                args.partition = Some(partition);
            }
            Long("save") => args.save = Some(parser.value()?.string()?),
            Long("mode") => {
                let name = parser.value()?.string()?;
                args.mode = match name.as_str() {
                    "mixed" => None,
                    _ => Some(
                        ping_pong::parse_mode(&name)
                            .ok_or_else(|| format!("--mode: unknown mode {name:?} (try --help)"))?,
                    ),
                };
            }
            Long("overflow") => {
                let name = parser.value()?.string()?;
                let policy = ping_pong::parse_overflow(&name).ok_or_else(|| {
                    format!("--overflow: unknown policy {name:?} (drop-oldest or reject)")
                })?;
                args.overflow = Some(policy);
            }
            Long("hostile") => args.hostile = true,
            Long("merge") => merging = true,
            Value(file) if merging => args.merge.push(file.string()?),
            Short('h') | Long("help") => return Ok(None),
            other => return Err(format!("{} (try --help)", other.unexpected()).into()),
        }
    }
    if merging {
        if args.merge.is_empty() {
            return Err("--merge needs at least one shard file".into());
        }
        let running = [
            ("--iterations", args.iterations.is_some()),
            ("--seed", args.seed.is_some()),
            ("--threads", args.threads.is_some()),
            ("--partition", args.partition.is_some()),
            ("--save", args.save.is_some()),
            ("--hostile", args.hostile),
            ("--overflow", args.overflow.is_some()),
        ];
        if let Some((flag, _)) = running.iter().find(|(_, given)| *given) {
            return Err(format!("--merge runs nothing: {flag} cannot be used with it").into());
        }
        return Ok(Some(args));
    }
    if args.overflow.is_some() && args.mode.is_none() {
        return Err("--overflow needs --mode: the mixed campaign draws each seed's policy".into());
    }
    if args.seed.is_some() {
        for (flag, given) in [
            ("--iterations", args.iterations.is_some()),
            ("--partition", args.partition.is_some()),
        ] {
            if given {
                return Err(format!("--seed runs one seed: {flag} cannot be used with it").into());
            }
        }
    }
    // The seeds come from the flags or from the environment, never silently from both.
    for var in ["MOONPOOL_SEED", "MOONPOOL_SEEDS"] {
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        for (flag, given) in [
            ("--seed", args.seed.is_some()),
            ("--iterations", args.iterations.is_some()),
        ] {
            if given {
                return Err(format!(
                    "{var}={value} and {flag} both choose the seeds: use one of them"
                )
                .into());
            }
        }
    }
    check_memory(&args)?;
    Ok(Some(args))
}

/// Memory per client of one iteration, with room to spare. Measured peak RSS per client
/// (seed 3): 48 KiB unreliable at 10,000 clients, 58 KiB exactly-once and 82 KiB `--hostile`
/// at 2,000; the bench's `scale_heap_per_client` tracks the heap part (about 50 KiB, flat
/// from 100 to 10,000 clients).
const BYTES_PER_CLIENT: u64 = 128 << 10;

/// Refuses a `--clients` whose iterations (one per thread at a time) would not fit in the
/// memory the machine has available (Linux's `MemAvailable`; elsewhere nothing is checked).
fn check_memory(args: &Args) -> Result<(), lexopt::Error> {
    let clients = args.clients.unwrap_or(2) as u64;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        as u64;
    // Iterations run one per thread at a time.
    let threads = threads.min(args.iterations.unwrap_or(1000)).max(1);
    let Some(available) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
    else {
        return Ok(());
    };
    let needed = clients
        .saturating_mul(threads)
        .saturating_mul(BYTES_PER_CLIENT);
    if needed > available {
        let most = available / BYTES_PER_CLIENT / threads;
        return Err(format!(
            "--clients {clients} on {threads} threads needs about {} MiB, but {} MiB are \
             available: use at most --clients {most} (or fewer --threads)",
            needed >> 20,
            available >> 20
        )
        .into());
    }
    Ok(())
}

/// Reads and merges the shards; the merged campaign must reach every sometimes-assertion.
///
/// Shards that share a seed are refused: their assertion counts cannot be counted once.
fn merge(files: &[String]) -> Result<SimulationReport, String> {
    let mut merged: Option<SimulationReport> = None;
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|error| format!("{file}: {error}"))?;
        let shard =
            SimulationReport::from_shard_text(&text).map_err(|error| format!("{file}: {error}"))?;
        note!("ping_pong: {file}: {}", shard.summary_line());
        match &mut merged {
            Some(report) => report
                .merge(shard)
                .map_err(|error| format!("{file}: {error} (shards must run disjoint seeds)"))?,
            None => merged = Some(shard),
        }
    }
    let mut merged = merged.ok_or("no shard given")?;
    merged.coverage_required = true;
    Ok(merged)
}

/// Installs the virtual-time subscriber if `MOONPOOL_LOG` or `RUST_LOG` asks for logs.
fn init_tracing() -> Result<(), String> {
    #[cfg(feature = "subscriber")]
    moonpool::testing::init_tracing().map_err(|error| error.to_string())?;
    #[cfg(not(feature = "subscriber"))]
    if std::env::var_os("MOONPOOL_LOG").is_some() || std::env::var_os("RUST_LOG").is_some() {
        note!("ping_pong: logs need the subscriber feature: cargo run --features subscriber ...");
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(message) = init_tracing() {
        note!("{message}");
        return ExitCode::from(2);
    }
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            say!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            note!("{message}");
            return ExitCode::from(2);
        }
    };
    // The shard file is created before the campaign runs: a path that cannot be written is
    // a bad command line, found before any work is done.
    let mut save = None;
    if let Some(file) = &args.save {
        match std::fs::File::create(file) {
            Ok(handle) => save = Some((file.clone(), handle)),
            Err(error) => {
                note!("ping_pong: cannot write the shard to {file}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let mut saved = true;
    let mut ledger = None;
    let report = if args.merge.is_empty() {
        let clients = args.clients.unwrap_or(2);
        let mode = match (args.mode, args.overflow) {
            (Some(delivery), Some(policy)) => {
                ping_pong::Modes::from(ping_pong::Mode::with_overflow(delivery, policy))
            }
            (Some(delivery), None) => ping_pong::Modes::from(delivery),
            (None, _) => ping_pong::Modes::Mixed,
        };
        let (builder, campaign_ledger) = if args.hostile {
            ping_pong::hostile_campaign(clients, mode)
        } else {
            ping_pong::campaign(clients, mode)
        };
        ledger = Some(campaign_ledger);
        let mut builder = builder
            .iterations(args.iterations.unwrap_or(1000))
            .check_determinism(DeterminismCheck::Fraction(DETERMINISM_SHARE))
            .on_progress(|p| {
                note!(
                    "ping_pong: {}/{} iterations, {} failed",
                    p.done,
                    p.total,
                    p.failures
                )
            });
        if let Some(seed) = args.seed {
            builder = builder
                .seeds(vec![seed])
                .seed_from_env(false)
                .require_coverage(false);
        }
        if let Some(threads) = args.threads {
            builder = builder.threads(threads);
        }
        if let Some(partition) = args.partition {
            builder = builder.partition(partition);
        }
        if args.save.is_some() {
            // A shard: coverage is judged on the merged report.
            builder = builder.require_coverage(false);
        }
        let report = match builder.try_run() {
            Ok(report) => report,
            Err(error) => {
                note!("ping_pong: {error}");
                return ExitCode::from(2);
            }
        };
        if let Some((file, mut handle)) = save {
            use std::io::Write;
            match handle.write_all(report.to_shard_text().as_bytes()) {
                Ok(()) => note!("ping_pong: shard saved to {file}"),
                Err(error) => {
                    // The report is still printed below: the run is not lost.
                    note!("ping_pong: cannot write the shard to {file}: {error}");
                    saved = false;
                }
            }
        }
        report
    } else {
        match merge(&args.merge) {
            Ok(report) => report,
            Err(message) => {
                note!("{message}");
                return ExitCode::from(2);
            }
        }
    };
    // The report's Display ends with the summary line; it gains what the server saw.
    let text = report.to_string();
    match ledger.map(|ledger| ledger.totals()) {
        Some(t) => {
            let summary = report.summary_line();
            let full = format!(
                "{summary} lost={} duplicated={} reordered={} dropped={}",
                t.lost, t.duplicated, t.reordered, t.dropped
            );
            say!("{}", text.replacen(&summary, &full, 1));
        }
        None => say!("{text}"),
    }
    if !saved {
        ExitCode::from(2)
    } else if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
