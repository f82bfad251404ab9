//! Tests of the numeric assertions: comparisons that report both sides, and watermarks.

use moonpool::testing::{AssertionKind, SimulationBuilder, SimulationReport};
use moonpool::{
    always_assert, always_eq, always_ge, always_gt, always_le, always_lt, always_ne,
    sometimes_assert, sometimes_max, sometimes_min,
};

fn builder() -> SimulationBuilder {
    SimulationBuilder::new().seed_from_env(false).threads(2)
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).unwrap_err();
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn smoke_comparisons_that_hold_pass() {
    let (a, b) = (1, 2);
    always_lt!("lt", a, b);
    always_le!("le", a, a);
    always_gt!("gt", b, a);
    always_ge!("ge", b, b);
    always_eq!("eq", a + 1, b);
    always_ne!("ne", a, b, "ids {} and {}", a, b);
}

#[test]
fn each_failed_comparison_names_both_sides() {
    let cases: Vec<(String, &str)> = vec![
        (
            panic_message(|| always_lt!("lt", 2, 1)),
            "2 < 1 with left = 2, right = 1",
        ),
        (
            panic_message(|| always_le!("le", 3, 1)),
            "3 <= 1 with left = 3, right = 1",
        ),
        (
            panic_message(|| always_gt!("gt", 1, 1)),
            "1 > 1 with left = 1, right = 1",
        ),
        (
            panic_message(|| always_ge!("ge", 0, 1)),
            "0 >= 1 with left = 0, right = 1",
        ),
        (
            panic_message(|| always_eq!("eq", "a", "b")),
            "\"a\" == \"b\" with left = \"a\", right = \"b\"",
        ),
        (
            panic_message(|| always_ne!("ne", 4, 4)),
            "4 != 4 with left = 4, right = 4",
        ),
    ];
    for (message, expected) in cases {
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        assert!(message.contains("(outside a campaign)"), "{message}");
    }
    let with_message = panic_message(|| always_le!("queue", 17, 16, "after {} sends", 40));
    assert!(
        with_message.contains(
            "always_assert!(queue) failed: 17 <= 16 with left = 17, right = 16: after 40 sends"
        ),
        "{with_message}"
    );
}

#[test]
fn both_sides_are_evaluated_once() {
    let mut calls = 0;
    let mut next = || {
        calls += 1;
        calls
    };
    always_lt!("once", next(), 10);
    always_eq!("once_more", next(), 2);
    assert_eq!(calls, 2);
}

#[test]
fn a_failed_comparison_fails_its_iteration_with_the_values_and_seed() {
    let report = builder()
        .register_workload("w", |seed, _net, _topology| async move {
            let queued = seed * 3;
            always_le!("queue_bounded", queued, 20u64, "seed {}", seed);
            Ok::<(), String>(())
        })
        .iterations(10)
        .run();
    let failed: Vec<u64> = report.failures.iter().map(|f| f.seed).collect();
    assert_eq!(failed, vec![7, 8, 9]);
    let error = &report.failures[0].error;
    assert!(
        error.contains("queued <= 20u64 with left = 21, right = 20: seed 7 (seed 7)"),
        "{error}"
    );
    let stats = report.assertions["queue_bounded"];
    assert_eq!(
        (stats.kind, stats.checks, stats.hits),
        (AssertionKind::Always, 10, 7)
    );
}

#[test]
fn watermarks_keep_the_best_value_over_all_iterations_and_threads() {
    let campaign = |threads| {
        builder()
            .threads(threads)
            .register_workload("w", |seed, _net, _topology| async move {
                for step in 0..3u64 {
                    sometimes_max!("longest", (seed * 7 + step) % 50);
                    sometimes_min!("shortest", 100 - (seed * 3 + step) % 40);
                }
                Ok::<(), String>(())
            })
            .iterations(30)
            .run()
    };
    let report = campaign(1);
    let longest = report.assertions["longest"];
    assert_eq!((longest.kind, longest.best), (AssertionKind::Max, Some(49)));
    assert_eq!((longest.checks, longest.hits), (90, 90));
    let shortest = report.assertions["shortest"];
    assert_eq!(
        (shortest.kind, shortest.best),
        (AssertionKind::Min, Some(61))
    );
    assert_eq!(campaign(3).assertions, report.assertions);
    // Watermarks are not sometimes-assertions: they never fail coverage.
    assert!(report.sometimes().is_empty());
    assert!(report.is_success());
    let shown = report.to_string();
    assert!(
        shown.contains("best 49") && shown.contains("best 61"),
        "{shown}"
    );
}

#[test]
fn watermarks_survive_shard_text_and_merge() {
    let shard = |range: std::ops::Range<u64>| {
        builder()
            .register_workload("w", |seed, _net, _topology| async move {
                sometimes_max!("peak", seed as i64 - 20);
                sometimes_min!("trough", seed);
                Ok::<(), String>(())
            })
            .seed_range(range)
            .run()
    };
    let a = shard(0..5);
    let text = a.to_shard_text();
    assert!(
        text.contains(r#"{"name":"peak","kind":"max","checks":5,"hits":5,"best":-16}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"name":"trough","kind":"min","checks":5,"hits":5,"best":0}"#),
        "{text}"
    );
    let mut merged = SimulationReport::from_shard_text(&text).unwrap();
    assert_eq!(merged, a);
    merged.merge(shard(5..10)).unwrap();
    assert_eq!(merged.assertions, shard(0..10).assertions);
    assert_eq!(merged.assertions["peak"].best, Some(-11));
    assert_eq!(merged.assertions["trough"].best, Some(0));
    // A best value on an always-assertion is refused (the checksum recomputed: the record
    // itself is at fault).
    let bad = text.replace(
        r#""kind":"min","checks":5,"hits":5,"best":0"#,
        r#""kind":"always","checks":5,"hits":5,"best":0"#,
    );
    assert!(SimulationReport::from_shard_text(&bad).is_err());
}

#[test]
fn watermark_values_saturate() {
    let report = builder()
        .register_workload("w", |_seed, _net, _topology| async move {
            sometimes_max!("huge", u64::MAX);
            sometimes_min!("tiny", i128::MIN);
            Ok::<(), String>(())
        })
        .run();
    assert_eq!(report.assertions["huge"].best, Some(i64::MAX));
    assert_eq!(report.assertions["tiny"].best, Some(i64::MIN));
}

/// An assertion counts under its name however it is written: literal names at several call
/// sites (each a `static` site) and a name built at run time all add up to one entry.
#[test]
fn literal_and_run_time_names_count_together() {
    let report = builder()
        .register_workload("w", |seed, _net, _topology| async move {
            moonpool::always_assert!("shared", true);
            moonpool::always_assert!("shared", seed < 100, "seed {}", seed);
            let name = format!("sha{}", "red");
            moonpool::always_assert!(name.as_str(), true);
            moonpool::sometimes_assert!("odd", seed % 2 == 1);
            moonpool::sometimes_assert!(&format!("o{}", "dd"), seed % 2 == 1, "again");
            Ok::<(), String>(())
        })
        .iterations(6)
        .run();
    assert!(report.is_success(), "{report}");
    let shared = report.assertions["shared"];
    assert_eq!((shared.checks, shared.hits), (18, 18));
    let odd = report.assertions["odd"];
    assert_eq!(
        (odd.kind, odd.checks, odd.hits),
        (AssertionKind::Sometimes, 12, 6)
    );
}

/// One name used as two kinds of assertion is refused, not judged as whichever came first:
/// in one iteration (the check panics, the iteration fails naming both kinds), across
/// iterations (the iteration that disagrees with the campaign fails), and against a
/// declared sometimes-assertion.
#[test]
fn one_name_as_two_kinds_fails_the_iteration() {
    let report = builder()
        .register_workload("w", |_seed, _net, _topology| async move {
            always_assert!("x", true);
            sometimes_assert!("x", false);
            Ok::<(), String>(())
        })
        .iterations(2)
        .run();
    assert_eq!(report.failed(), 2, "{report}");
    let error = &report.failures[0].error;
    assert!(
        error.contains("\"x\" is used as always and as sometimes"),
        "{error}"
    );

    // "y" an always-assertion in even seeds, a sometimes-assertion (true if `hit`) in odd.
    let split = |hit: bool| {
        builder().register_workload("w", move |seed, _net, _topology| async move {
            if seed % 2 == 0 {
                always_assert!("y", true);
            } else {
                sometimes_assert!("y", hit);
            }
            Ok::<(), String>(())
        })
    };
    let report = split(false).iterations(4).threads(1).run();
    assert_eq!(report.failed(), 2, "{report}");
    assert_eq!(report.failures[0].seed, 1);
    assert!(
        report.failures[0]
            .error
            .contains("\"y\" is sometimes in this iteration but always in the campaign"),
        "{}",
        report.failures[0].error
    );
    assert_eq!(report.assertions["y"].kind, AssertionKind::Always);
    assert_eq!(report.assertions["y"].checks, 2);
    // Shards that each saw one kind pass alone, and refuse to merge.
    let shard = |seeds: Vec<u64>| split(true).seeds(seeds).run();
    let (mut even, odd) = (shard(vec![0, 2]), shard(vec![1, 3]));
    assert!(even.is_success() && odd.is_success());
    let error = even.merge(odd).unwrap_err();
    assert!(
        matches!(&error, moonpool::testing::MergeError::AssertionKinds { name, .. } if name == "y"),
        "{error}"
    );
    assert_eq!(even.iteration_count(), 2, "the report is left unchanged");

    let report = builder()
        .register_workload("w", |_seed, _net, _topology| async move {
            always_assert!("z", true);
            Ok::<(), String>(())
        })
        .declare_sometimes(&["z"])
        .iterations(1)
        .run();
    assert!(!report.is_success(), "{report}");
    assert!(
        report.failures[0].error.contains("\"z\" is always"),
        "{report}"
    );
}
