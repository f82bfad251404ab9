//! Throughput benchmarks (filled in by the benchmarks issue).

fn main() {}
