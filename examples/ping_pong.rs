//! The ping-pong campaign (see `moonpool::testing::ping_pong`): clients using a resilient
//! `Peer` against an echo server over calm and hostile simulated networks, checked with
//! always- and sometimes-assertions, on as many threads as you have cores.
//!
//! ```text
//! cargo run --release --example ping_pong                       # 1000 iterations
//! cargo run --release --example ping_pong -- --iterations 5000 --threads 4 --clients 3
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
//! Prints the report (progress goes to stderr) and, as its last line,
//! `summary iterations=N passed=N failed=N sometimes_reached=K/K digest=HEX sim_time_s=X wall_s=Y`.
//! Exits with status 1 if an iteration failed or a sometimes-assertion was never reached, and
//! 2 on a bad command line, an unreadable shard or shards that share a seed. With `--save` a
//! shard fails only for its failed iterations: coverage is judged on the merged report, since
//! a state may be reached on one machine only.
//!
//! A failed seed's replay line repeats every flag that changes an iteration (`--clients`).
//! `--seed` or `--iterations` together with `MOONPOOL_SEED` or `MOONPOOL_SEEDS` is an error
//! (status 2): the seeds come from one place. `--merge` runs nothing and ignores them.

use std::process::ExitCode;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use moonpool::testing::{ping_pong, Partition, SimulationReport};

/// The command line: one `Arg` per flag (add new flags here and in [`Args`]).
fn command() -> Command {
    let number = |name: &'static str, value: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name(value)
            .value_parser(value_parser!(u64).range(1..))
            .help(help)
    };
    Command::new("ping_pong")
        .about("The ping-pong campaign: Peer clients against an echo server in the simulator")
        .arg(number(
            "iterations",
            "N",
            "Iterations to run [default: 1000]",
        ))
        .arg(
            Arg::new("seed")
                .long("seed")
                .value_name("S")
                .value_parser(value_parser!(u64))
                .conflicts_with_all(["iterations", "partition"])
                .help("Run only this seed (a replay)"),
        )
        .arg(number(
            "threads",
            "T",
            "Worker threads [default: one per core]",
        ))
        .arg(number("clients", "C", "Clients per iteration").default_value("2"))
        .arg(
            Arg::new("partition")
                .long("partition")
                .value_name("K/N")
                .value_parser(|text: &str| text.parse::<Partition>().map_err(|e| e.to_string()))
                .help("Run the K-th of N equal parts of the seeds (also MOONPOOL_PARTITION)"),
        )
        .arg(
            Arg::new("save")
                .long("save")
                .value_name("FILE")
                .help("Also write the report as a shard file"),
        )
        .arg(
            Arg::new("merge")
                .long("merge")
                .value_name("FILE")
                .num_args(1..)
                .action(ArgAction::Append)
                .conflicts_with_all(["iterations", "seed", "threads", "partition", "save"])
                .help("Run nothing: merge shard files and judge the whole campaign"),
        )
}

/// The parsed command line.
struct Args {
    /// `--iterations N` (default 1000).
    iterations: Option<u64>,
    /// `--seed S`: run only this seed.
    seed: Option<u64>,
    /// `--threads T` (default: one per core).
    threads: Option<usize>,
    /// `--clients C` (default 2).
    clients: usize,
    /// `--partition K/N`.
    partition: Option<Partition>,
    /// `--save FILE`: write the report's shard text there.
    save: Option<String>,
    /// `--merge FILE...`: merge these shards instead of running anything.
    merge: Vec<String>,
}

impl Args {
    fn from_matches(m: &ArgMatches) -> Self {
        let size = |name| m.get_one::<u64>(name).map(|&n| n as usize);
        Args {
            iterations: m.get_one::<u64>("iterations").copied(),
            seed: m.get_one::<u64>("seed").copied(),
            threads: size("threads"),
            clients: size("clients").unwrap_or(2),
            partition: m.get_one::<Partition>("partition").copied(),
            save: m.get_one::<String>("save").cloned(),
            merge: m
                .get_many::<String>("merge")
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        }
    }
}

/// Parses the command line (clap prints usage errors and `--help` itself, exiting with 2 and
/// 0), then checks it against the environment.
fn parse_args() -> Result<Args, String> {
    let args = Args::from_matches(&command().get_matches());
    if !args.merge.is_empty() {
        return Ok(args);
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
                ));
            }
        }
    }
    Ok(args)
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
        eprintln!("ping_pong: {file}: {}", shard.summary_line());
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
        eprintln!(
            "ping_pong: logs need the subscriber feature: cargo run --features subscriber ..."
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(message) = init_tracing() {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let report = if args.merge.is_empty() {
        let mut builder = ping_pong::builder(args.clients)
            .iterations(args.iterations.unwrap_or(1000))
            .on_progress(|p| {
                eprintln!(
                    "ping_pong: {}/{} iterations, {} failed",
                    p.done, p.total, p.failures
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
                eprintln!("ping_pong: {error}");
                return ExitCode::from(2);
            }
        };
        if let Some(file) = &args.save {
            if let Err(error) = std::fs::write(file, report.to_shard_text()) {
                eprintln!("{file}: {error}");
                return ExitCode::from(2);
            }
            eprintln!("ping_pong: shard saved to {file}");
        }
        report
    } else {
        match merge(&args.merge) {
            Ok(report) => report,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
        }
    };
    // The report's Display ends with the summary line.
    println!("{report}");
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
