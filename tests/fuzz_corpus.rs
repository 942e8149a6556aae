//! Replays the fuzz corpus in `fuzz/corpus/<target>/` through the checks
//! the fuzz targets run (`verchain::fuzzing`), so that what the fuzzer
//! found and what it was fixed to do stay true on stable, without nightly
//! or cargo-fuzz.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use verchain::fuzzing::{Check, TARGETS};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every input of `target`'s corpus through its check; fails naming each
/// input whose check fails or panics.
fn replay(target: &str) {
    let check: Check = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, check)| *check)
        .unwrap_or_else(|| panic!("no fuzz target `{target}` in verchain::fuzzing::TARGETS"));
    let dir = fuzz_dir().join("corpus").join(target);
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    let mut failures = Vec::new();
    for input in &inputs {
        let bytes = fs::read(input).unwrap();
        let name = input.file_name().unwrap().to_string_lossy();
        match catch_unwind(AssertUnwindSafe(|| check(&bytes))) {
            Ok(Ok(())) => {}
            Ok(Err(violation)) => failures.push(format!("{target}/{name}: {violation}")),
            Err(_) => failures.push(format!("{target}/{name}: panicked")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs fail:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_fuzz_target_file_and_a_corpus_and_nothing_else_does() {
    let mut folders: Vec<String> = fs::read_dir(fuzz_dir().join("corpus"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut files: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    assert_eq!(
        folders, names,
        "corpus folders and verchain::fuzzing::TARGETS"
    );
    let expected: Vec<String> = names.iter().map(|name| format!("{name}.rs")).collect();
    assert_eq!(
        files, expected,
        "fuzz/fuzz_targets and verchain::fuzzing::TARGETS"
    );
}

#[test]
fn format_json() {
    replay("format_json");
}

#[test]
fn format_toml() {
    replay("format_toml");
}

#[test]
fn format_yaml() {
    replay("format_yaml");
}

#[test]
fn format_markdown() {
    replay("format_markdown");
}

#[test]
fn dir_journal() {
    replay("dir_journal");
}

#[test]
fn jsonl_journal() {
    replay("jsonl_journal");
}

#[test]
fn history() {
    replay("history");
}

#[test]
fn jsonl_line() {
    replay("jsonl_line");
}

#[test]
fn snapshot_manifest() {
    replay("snapshot_manifest");
}

#[test]
fn snapshot_archive() {
    replay("snapshot_archive");
}
