//! The ping-pong campaign (see `moonpool::testing::ping_pong`): clients using a resilient
//! `Peer` against an echo server over calm and hostile simulated networks, checked with
//! always- and sometimes-assertions, on as many threads as you have cores.
//!
//! ```text
//! cargo run --release --example ping_pong                       # 1000 iterations
//! cargo run --release --example ping_pong -- --iterations 5000 --threads 4
//! cargo run --release --example ping_pong -- --seed 42          # replay one seed
//! MOONPOOL_SEED=42 cargo run --release --example ping_pong --   # the same
//! ```
//!
//! Prints the report (progress goes to stderr) and, as its last line,
//! `summary iterations=N passed=N failed=N sometimes_reached=K/K digest=HEX sim_time_s=X wall_s=Y`.
//! Exits with status 1 if an iteration failed or a sometimes-assertion was never reached.

use std::process::ExitCode;

use moonpool::testing::ping_pong;

/// The command line: `--iterations N`, `--seed S`, `--threads T`, `--clients C`.
struct Args {
    iterations: u64,
    seed: Option<u64>,
    threads: Option<usize>,
    clients: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        iterations: 1000,
        seed: None,
        threads: None,
        clients: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name}: {text:?} is not a number"))
        };
        match flag.as_str() {
            "--iterations" => args.iterations = number("--iterations", value("--iterations")?)?,
            "--seed" => args.seed = Some(number("--seed", value("--seed")?)?),
            "--threads" => args.threads = Some(number("--threads", value("--threads")?)? as usize),
            "--clients" => args.clients = number("--clients", value("--clients")?)? as usize,
            "-h" | "--help" => {
                return Err(
                    "usage: ping_pong [--iterations N] [--seed S] [--threads T] [--clients C]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = ping_pong::builder(args.clients)
        .iterations(args.iterations)
        .on_progress(|p| {
            eprintln!(
                "ping_pong: {}/{} iterations, {} failed",
                p.done, p.total, p.failures
            )
        });
    if let Some(seed) = args.seed {
        builder = builder.seeds(vec![seed]).require_coverage(false);
    }
    if let Some(threads) = args.threads {
        builder = builder.threads(threads);
    }
    let report = builder.run();
    // The report's Display ends with the summary line.
    println!("{report}");
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
