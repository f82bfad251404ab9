//! The ping-pong example as a user runs it: bad input gets a message and exit status 2, and
//! the partition recipe (n processes, each saving its shard, one merging) gives the whole
//! campaign. Runs the example binary `cargo test` builds beside this test binary.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The example binary (`target/<profile>/examples/ping_pong`), if built.
fn example() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("ping_pong{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

/// Runs the example with `args` and `env` (and no inherited seed or partition variables).
fn run(args: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let Some(path) = example() else {
        eprintln!("skipped: the ping_pong example is not built (plain `cargo test` builds it)");
        return None;
    };
    let mut command = Command::new(path);
    command.args(args);
    for var in [
        "MOONPOOL_SEED",
        "MOONPOOL_SEEDS",
        "MOONPOOL_PARTITION",
        "MOONPOOL_PARTITIONS",
        "MOONPOOL_BRANCH",
        "JOB_COMPLETION_INDEX",
        "MOONPOOL_LOG",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    Some(command.output().unwrap())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `summary` line's `digest=`.
fn digest(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.starts_with("summary "), "{stdout}");
    summary
        .split(' ')
        .find_map(|field| field.strip_prefix("digest="))
        .unwrap()
        .to_string()
}

/// Arguments, environment, and what standard error must say.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn smoke_bad_input_exits_2_with_a_message() {
    let cases: &[Case] = &[
        (
            &[],
            &[("MOONPOOL_SEED", "junk")],
            "MOONPOOL_SEED=\"junk\" is not a seed",
        ),
        (
            &[],
            &[("MOONPOOL_SEEDS", "0..")],
            "MOONPOOL_SEEDS=\"0..\" is not a seed range",
        ),
        (
            &[],
            &[("MOONPOOL_SEEDS", "9..9")],
            "no seeds to run: MOONPOOL_SEEDS=9..9 is empty",
        ),
        (
            &[],
            &[("MOONPOOL_SEED", "1"), ("MOONPOOL_SEEDS", "0..4")],
            "are both set: use one of them",
        ),
        (
            &["--iterations", "0"],
            &[],
            "--iterations must be at least 1, got 0",
        ),
        (
            &["--threads", "0"],
            &[],
            "--threads must be at least 1, got 0",
        ),
        (&["--partition", "4/3"], &[], "invalid partition \"4/3\""),
        (
            &[],
            &[("MOONPOOL_PARTITION", "x")],
            "invalid partition \"x\"",
        ),
        (
            &[],
            &[("MOONPOOL_PARTITIONS", "3")],
            "JOB_COMPLETION_INDEX is not set",
        ),
        (
            &["--partition", "1/2"],
            &[("MOONPOOL_PARTITION", "2/2")],
            "the partition is given twice",
        ),
        (
            &["--seed", "1", "--iterations", "3"],
            &[],
            "--seed runs one seed: --iterations cannot be used with it",
        ),
        (&["--bogus"], &[], "invalid option '--bogus'"),
        (
            &["--clients", "1000000000", "--iterations", "1"],
            &[],
            "MiB are available: use at most --clients",
        ),
        (
            &["--merge", "/nonexistent/a.shard"],
            &[],
            "/nonexistent/a.shard",
        ),
        (
            &["--iterations", "3", "--save", "/nonexistent/dir/a.shard"],
            &[],
            "cannot write the shard to /nonexistent/dir/a.shard",
        ),
        (
            &["--iterations", "3"],
            &[("MOONPOOL_BRANCH", "5:9")],
            "MOONPOOL_BRANCH=\"5:9\" is not a list",
        ),
    ];
    for (args, env, message) in cases {
        let Some(output) = run(args, env) else { return };
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} {env:?}: {output:?}"
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?} {env:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
        // Refused before anything ran: no progress line, no report.
        assert!(
            !stderr(&output).contains(" iterations, "),
            "{}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?} {env:?}: {output:?}");
    }
}

#[test]
fn partitions_run_as_separate_processes_merge_into_the_whole_campaign() {
    let Some(full) = run(&["--iterations", "24", "--threads", "1"], &[]) else {
        return;
    };
    assert!(full.status.success(), "{full:?}");
    let dir = std::env::temp_dir().join(format!("moonpool-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shard = |k: u32| dir.join(format!("part-{k}.shard")).display().to_string();
    // Three "CI jobs": the flag, the CI-matrix variable and a Kubernetes Indexed Job.
    let part = |k: u32| match k {
        1 => run(
            &[
                "--iterations",
                "24",
                "--partition",
                "1/3",
                "--save",
                &shard(1),
            ],
            &[],
        ),
        2 => run(
            &["--iterations", "24", "--save", &shard(2)],
            &[("MOONPOOL_PARTITION", "2/3")],
        ),
        _ => run(
            &["--iterations", "24", "--save", &shard(3)],
            &[("JOB_COMPLETION_INDEX", "2"), ("MOONPOOL_PARTITIONS", "3")],
        ),
    };
    for k in 1..=3 {
        let output = part(k).unwrap();
        assert!(output.status.success(), "part {k}: {output:?}");
        assert!(
            stderr(&output).contains("shard saved"),
            "{}",
            stderr(&output)
        );
        assert_ne!(digest(&output), digest(&full), "a part is not the whole");
    }
    let merged = run(&["--merge", &shard(1), &shard(2), &shard(3)], &[]).unwrap();
    assert!(merged.status.success(), "{merged:?}");
    assert_eq!(digest(&merged), digest(&full));
    // An edited shard is refused (exit 2) rather than merged.
    let text = std::fs::read_to_string(shard(2)).unwrap();
    std::fs::write(shard(2), text.replacen("\"hits\":", "\"hits\":1", 1)).unwrap();
    let edited = run(&["--merge", &shard(1), &shard(2), &shard(3)], &[]).unwrap();
    assert_eq!(edited.status.code(), Some(2), "{edited:?}");
    assert!(stderr(&edited).contains("checksum"), "{}", stderr(&edited));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With tracing on and standard error closed early (`2>&1 | head`), the run goes on: log
/// lines that cannot be written are dropped, not a panic. (The log writer is in the example
/// when it is built with the `subscriber` feature, as `cargo test --all-features` builds it;
/// without it, this checks the example's own progress lines.)
#[test]
fn logging_into_a_closed_pipe_does_not_end_the_run() {
    let Some(path) = example() else { return };
    let mut child = Command::new(path)
        .args(["--iterations", "3"])
        .env("MOONPOOL_LOG", "debug")
        .env_remove("MOONPOOL_SEED")
        .env_remove("MOONPOOL_SEEDS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}
