//! Crashes and I/O errors at every fault point of a run, in a process of
//! its own: after each, the store reads as the whole old state or the whole
//! new one, its history and stamp agree with which, and the next run
//! completes.
//!
//! The runner (`bin/runner.rs`) is built with the runtime's `faults`
//! feature; `VERCHAIN_FAULT=crash:N` kills it with SIGKILL at the Nth
//! write, fsync, rename, removal or folder fsync, `fail:N:ERRNO` fails that
//! operation instead. Here points of a migration, a snapshot restore and a
//! `down` rollback of the `notes` fixture are killed and failed (with
//! ENOSPC, EACCES and EIO) at a stride that keeps the suite fast; with
//! `VERCHAIN_CRASH_SWEEP=1` (what `cargo xtask crash-sweep` sets) every
//! point is killed and failed with every error.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use camino::Utf8Path;
use notes_example::Notes;
use verchain::{DirStore, RollbackTo, RunOptions};
use verchain_tests::tree::{fixture_copy, read_tree};

type Tree = BTreeMap<String, Vec<u8>>;

/// One test at a time: a child started while another thread of this
/// process holds a store's lock file open shares that lock until it execs,
/// which would make that thread's next run find its own store locked.
fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every `stride`-th point from `first` (every point in a sweep).
fn sample(first: u64, stride: usize, points: u64) -> impl Iterator<Item = u64> {
    let sweep = std::env::var_os("VERCHAIN_CRASH_SWEEP").is_some_and(|v| v == "1");
    let (first, stride) = if sweep { (1, 1) } else { (first, stride) };
    (first..=points).step_by(stride)
}

/// A run to break: the runner's mode and how to bring a fresh store to
/// where the run starts.
#[derive(Clone, Copy)]
struct Scenario {
    mode: &'static str,
    prepare: fn(&DirStore),
    /// What the next run does when the crash left the old state.
    finish: fn(&DirStore),
}

fn store(dir: &Path) -> DirStore {
    DirStore::new(Utf8Path::from_path(dir).unwrap())
}

const MIGRATE: Scenario = Scenario {
    mode: "migrate",
    prepare: |_| {},
    finish: |s| {
        verchain::migrate::<Notes>(s, &RunOptions::default()).unwrap();
    },
};

const RESTORE: Scenario = Scenario {
    mode: "rollback",
    prepare: |s| {
        verchain::migrate::<Notes>(s, &RunOptions::default()).unwrap();
    },
    finish: |s| {
        verchain::rollback::<Notes>(s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    },
};

const DOWN: Scenario = Scenario {
    mode: "down",
    prepare: |s| {
        let to3 = RunOptions {
            target: Some(3),
            ..RunOptions::default()
        };
        verchain::migrate::<Notes>(s, &to3).unwrap();
    },
    finish: |s| {
        verchain::rollback::<Notes>(s, &RollbackTo::Version(2), &RunOptions::default()).unwrap();
    },
};

/// The runner's two lines: what it said, and how many points it passed.
fn run(scenario: Scenario, dir: &Path, fault: Option<&str>) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command
        .arg(scenario.mode)
        .arg(dir)
        .env("VERCHAIN_RUNNER_COUNT", "1");
    if let Some(fault) = fault {
        command.env("VERCHAIN_FAULT", fault);
    }
    let out = command.output().expect("start the runner");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The store before and after the run, and how many fault points it has.
fn reference(scenario: Scenario) -> (Tree, Tree, u64) {
    let dir = fixture_copy("notes/v1");
    (scenario.prepare)(&store(dir.path()));
    let old = read_tree(dir.path());
    let (status, said) = run(scenario, dir.path(), None);
    assert!(status.success(), "{said}");
    let points = said
        .lines()
        .find_map(|l| l.strip_prefix("points "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"));
    (old, read_tree(dir.path()), points)
}

/// What the store holds after a broken run, reopened as an application
/// would: `old` or `new`, and the history and stamp agree.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Old,
    New,
}

fn reopen(scenario: Scenario, dir: &Path, old: &Tree, new: &Tree, runs_before: usize) -> Found {
    let s = store(dir);
    verchain::recover::<Notes>(&s).expect("recovery after the fault");
    let status = verchain::status::<Notes>(&s).expect("status after the fault");
    assert!(!status.interrupted);
    let tree = read_tree(dir);
    let runs = run_count(&s);
    let found = if &tree == old {
        assert_eq!(
            runs, runs_before,
            "the old state with the run in its history"
        );
        Found::Old
    } else if &tree == new {
        assert_eq!(
            runs,
            runs_before + 1,
            "the new state without the run in its history"
        );
        Found::New
    } else {
        let changed: Vec<&String> = tree
            .keys()
            .filter(|k| old.get(*k) != tree.get(*k))
            .take(3)
            .collect();
        panic!(
            "{}: neither the old state nor the new one: {changed:?}",
            scenario.mode
        );
    };
    // The next run completes from there.
    if found == Found::Old {
        (scenario.finish)(&s);
    }
    assert_eq!(&read_tree(dir), new);
    found
}

fn run_count(store: &DirStore) -> usize {
    let mut ids: Vec<String> = verchain::history(store)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    ids.dedup();
    ids.len()
}

/// Kills the run at each of `points` and checks the store after each.
fn crash_at(scenario: Scenario, points: impl Iterator<Item = u64>) -> (usize, usize) {
    let (old, new, _) = reference(scenario);
    let (mut olds, mut news) = (0, 0);
    for n in points {
        let dir = fixture_copy("notes/v1");
        (scenario.prepare)(&store(dir.path()));
        let runs_before = run_count(&store(dir.path()));
        let (status, said) = run(scenario, dir.path(), Some(&format!("crash:{n}")));
        assert_eq!(
            status.signal(),
            Some(9),
            "{} point {n}: {said}",
            scenario.mode
        );
        match reopen(scenario, dir.path(), &old, &new, runs_before) {
            Found::Old => olds += 1,
            Found::New => news += 1,
        }
    }
    (olds, news)
}

/// Fails the run at each of `points` with `errno` and checks the store.
/// Fails the run at each of `points` with `errno`; returns how many were
/// tried, surfaced as errors, and left the store for the next run to finish
/// (the error came after the commit journal was written, and said so).
fn fail_at(
    scenario: Scenario,
    errno: i32,
    points: impl Iterator<Item = u64>,
) -> (usize, usize, usize) {
    let (old, new, _) = reference(scenario);
    let cause = std::io::Error::from_raw_os_error(errno).to_string();
    let (mut tried, mut failed, mut finished_later) = (0, 0, 0);
    for n in points {
        tried += 1;
        let dir = fixture_copy("notes/v1");
        (scenario.prepare)(&store(dir.path()));
        let runs_before = run_count(&store(dir.path()));
        let (status, said) = run(scenario, dir.path(), Some(&format!("fail:{n}:{errno}")));
        assert!(
            status.success(),
            "the runner reports, it does not crash: {said}"
        );
        let first = said.lines().next().unwrap_or_default();
        if let Some(message) = first.strip_prefix("error: ") {
            failed += 1;
            assert!(message.contains(&cause), "point {n}: {message}");
            assert!(
                message.contains("cannot "),
                "point {n} names no operation: {message}"
            );
        }
        let unchanged = read_tree(dir.path()) == old;
        if first.ends_with("[store unchanged]") {
            assert!(unchanged, "point {n}: said unchanged, but is not: {first}");
        } else if !unchanged {
            finished_later += 1;
            assert!(
                first.ends_with("[store partly committed]") || !first.starts_with("error"),
                "point {n}: {first}"
            );
        }
        reopen(scenario, dir.path(), &old, &new, runs_before);
    }
    (tried, failed, finished_later)
}

#[test]
fn a_migration_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let _one = serial();
    let (_, _, points) = reference(MIGRATE);
    let (olds, news) = crash_at(MIGRATE, sample(1, 2, points));
    eprintln!(
        "migrate: {points} points; killed at {}: {olds} old, {news} new",
        olds + news
    );
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_restore_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let _one = serial();
    let (_, _, points) = reference(RESTORE);
    let (olds, news) = crash_at(RESTORE, sample(2, 3, points));
    eprintln!(
        "restore: {points} points; killed at {}: {olds} old, {news} new",
        olds + news
    );
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_down_rollback_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let _one = serial();
    let (_, _, points) = reference(DOWN);
    let (olds, news) = crash_at(DOWN, sample(3, 3, points));
    eprintln!(
        "down: {points} points; killed at {}: {olds} old, {news} new",
        olds + news
    );
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn io_errors_end_in_a_clear_error_and_a_whole_state() {
    let _one = serial();
    for scenario in [MIGRATE, RESTORE, DOWN] {
        let (_, _, points) = reference(scenario);
        for (first, errno) in [(1, 28), (4, 13), (7, 5)] {
            let (tried, failed, later) = fail_at(scenario, errno, sample(first, 9, points));
            eprintln!(
                "{} errno {errno}: {tried} injected, {failed} surfaced as errors, {later} left \
                 for the next run to finish",
                scenario.mode
            );
            assert!(failed > 0, "{}: no injected error surfaced", scenario.mode);
        }
    }
}
