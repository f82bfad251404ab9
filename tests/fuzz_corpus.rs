//! The fuzz corpus (`fuzz/corpus/<target>/`), replayed on stable through the same checks as
//! the `cargo fuzz` targets (`moonpool::fuzzing`): every input that once found new code in a
//! decoder is checked again by every `cargo test`.

use std::fs;
use std::path::Path;

use moonpool::fuzzing::TARGETS;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), data)
        })
        .collect()
}

#[test]
fn smoke_every_target_has_a_corpus() {
    for (target, _) in TARGETS {
        assert!(!corpus(target).is_empty(), "no corpus for {target}");
    }
    let dirs = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"))
        .expect("fuzz/corpus")
        .count();
    assert_eq!(dirs, TARGETS.len(), "a corpus directory without its target");
}

#[test]
fn every_corpus_input_passes_its_target() {
    for (target, check) in TARGETS {
        for (path, data) in corpus(target) {
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {path} fails");
        }
    }
}
