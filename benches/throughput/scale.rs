//! Many clients: one ping-pong iteration (one seed, its faults on) at 100, 1,000 and 10,000
//! clients, for the CPU time per ping and the peak heap per client. Both should stay flat as
//! the clients grow: the `ratio` lines are largest over smallest, target < 1.5.

use std::time::Duration;

use moonpool::testing::{ping_pong, DeterminismCheck};

use super::{counting, thread_cpu, Scale};

/// The seed of every run: a hostile network (faults on), the same for every client count.
const SEED: u64 = 3;

/// One client count's figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub clients: usize,
    /// Pings the clients sent (the report's message count), in the best run.
    pub messages: u64,
    /// CPU time per ping, the best of the runs.
    pub per_message: Duration,
    /// Peak live heap during the iteration, per client (the largest of the runs).
    pub heap_per_client: f64,
}

/// One iteration of `clients` clients on this thread: (CPU time, pings, peak live heap).
fn run(clients: usize) -> (Duration, u64, isize) {
    let builder = ping_pong::builder(clients)
        .seed_from_env(false)
        .seeds(vec![SEED])
        .threads(1)
        .check_determinism(DeterminismCheck::Off)
        .require_coverage(false);
    let started = thread_cpu();
    let (_, peak, report) = counting(|| builder.run());
    let cpu = thread_cpu() - started;
    assert_eq!(report.failed(), 0, "{report}");
    (cpu, report.messages(), peak)
}

/// The figures at `clients`, over `repeats` runs.
fn point(clients: usize, repeats: usize) -> Point {
    let mut best = Duration::MAX;
    let mut messages = 0;
    let mut peak = 0;
    for _ in 0..repeats.max(1) {
        let (cpu, sent, heap) = run(clients);
        assert!(sent > 0, "{clients} clients sent nothing");
        let per = cpu / sent.min(u32::MAX as u64) as u32;
        if per < best {
            best = per;
            messages = sent;
        }
        peak = peak.max(heap);
    }
    Point {
        clients,
        messages,
        per_message: best,
        heap_per_client: peak as f64 / clients as f64,
    }
}

/// Runs every client count (fewer and smaller without `--bench`), printing an `info` line each.
pub(crate) fn points(scale: Scale) -> Vec<Point> {
    // `THROUGHPUT_CLIENTS=N` (with `THROUGHPUT_ONLY=scale`): one client count alone, for a
    // profiler.
    let only: Option<usize> = std::env::var("THROUGHPUT_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok());
    let counts: &[(usize, usize)] = match only {
        Some(clients) => &[(clients, 1)],
        None if scale.full => &[(100, 5), (1_000, 2), (10_000, 1)],
        None => &[(4, 1), (16, 1)],
    };
    counts
        .iter()
        .map(|&(clients, repeats)| {
            let p = point(clients, repeats);
            println!(
                "info scale: {} clients, {} pings, {:.0} ns CPU per ping, {:.1} KiB peak heap \
                 per client",
                p.clients,
                p.messages,
                p.per_message.as_nanos() as f64,
                p.heap_per_client / 1024.0
            );
            p
        })
        .collect()
}

/// The two `ratio` lines: largest over smallest, time per ping and heap per client.
pub(crate) fn lines(points: &[Point]) -> [String; 2] {
    let spread = |values: Vec<f64>| {
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        max / min.max(1e-12)
    };
    let list = |f: &dyn Fn(&Point) -> String| {
        points
            .iter()
            .map(|p| format!("{}: {}", p.clients, f(p)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let time = spread(points.iter().map(|p| p.per_message.as_secs_f64()).collect());
    let heap = spread(points.iter().map(|p| p.heap_per_client).collect());
    [
        format!(
            "ratio scale_time_per_message {time:.3}  (target < 1.5; ns per ping at {})",
            list(&|p| format!("{:.0}", p.per_message.as_nanos() as f64))
        ),
        format!(
            "ratio scale_heap_per_client {heap:.3}  (target < 1.5; KiB per client at {})",
            list(&|p| format!("{:.1}", p.heap_per_client / 1024.0))
        ),
    ]
}
