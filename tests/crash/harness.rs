//! The crash and fault matrix, for any store: a scenario says how to set a
//! store up, read its state, reopen it and finish the run; the harness
//! kills or fails the runner at each point and checks what is left.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Mutex, MutexGuard};

use tempfile::TempDir;
use verchain::run::HistoryRecord;

/// A store's state to compare: every file by path, or a database's dump.
pub type Tree = BTreeMap<String, Vec<u8>>;

/// One test at a time: a child started while another thread of this
/// process holds a store's lock file open shares that lock until it execs,
/// which would make that thread's next run find its own store locked.
pub fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every `stride`-th point from `first` (every point in a sweep).
pub fn sample(first: u64, stride: usize, points: u64) -> impl Iterator<Item = u64> {
    let sweep = std::env::var_os("VERCHAIN_CRASH_SWEEP").is_some_and(|v| v == "1");
    let (first, stride) = if sweep { (1, 1) } else { (first, stride) };
    (first..=points).step_by(stride)
}

/// A run to break, on one kind of store.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// The runner's mode.
    pub mode: &'static str,
    /// A fresh store where the run starts, and the path the runner gets.
    pub setup: fn() -> (TempDir, PathBuf),
    /// The store's content.
    pub state: fn(&Path) -> Tree,
    /// Opens the store as an application would (recovery, then `status`),
    /// panicking if it is still interrupted.
    pub reopen: fn(&Path),
    /// The store's history.
    pub history: fn(&Path) -> Vec<HistoryRecord>,
    /// The store's status, read as an operator would after the fault.
    pub status: fn(&Path) -> verchain::Status,
    /// The store's snapshots.
    pub snapshots: fn(&Path) -> Vec<verchain::snapshot::SnapshotInfo>,
    /// What the next run does when the crash left the old state.
    pub finish: fn(&Path),
}

/// Where the runner is stopped.
#[derive(Clone, Copy)]
pub enum Fault {
    /// Killed at the Nth fault point.
    Crash(u64),
    /// The Nth fault point fails with this OS error.
    Fail(u64, i32),
    /// Killed at the Nth run event.
    KillAtEvent(u64),
    /// The Nth fault point, if a write, writes only half its bytes.
    Short(u64),
}

/// What the runner said (its first line), and how it ended.
pub struct Said {
    pub status: ExitStatus,
    pub text: String,
}

impl Said {
    fn count(&self, what: &str) -> u64 {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(what)?.strip_prefix(' '))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what} count in {:?}", self.text))
    }

    /// The write a short-write fault cut short, if any.
    fn shortened(&self) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("shortened "))
            .filter(|w| *w != "-")
    }

    pub fn first(&self) -> &str {
        self.text.lines().next().unwrap_or_default()
    }
}

/// How many runs the history says changed the store (a run given up, by
/// recovery or by its own commit undoing itself, did not).
fn runs(scenario: Scenario, store: &Path) -> usize {
    let mut ids: Vec<String> = (scenario.history)(store)
        .into_iter()
        .filter(|r| r.outcome != verchain::run::Outcome::Abandoned)
        .map(|r| r.run_id)
        .collect();
    ids.dedup();
    ids.len()
}

pub fn run(scenario: Scenario, store: &Path, fault: Option<Fault>) -> Said {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command
        .arg(scenario.mode)
        .arg(store)
        .env("VERCHAIN_RUNNER_COUNT", "1");
    match fault {
        Some(Fault::Crash(n)) => command.env("VERCHAIN_FAULT", format!("crash:{n}")),
        Some(Fault::Fail(n, errno)) => command.env("VERCHAIN_FAULT", format!("fail:{n}:{errno}")),
        Some(Fault::KillAtEvent(n)) => command.env("VERCHAIN_RUNNER_KILL_EVENT", n.to_string()),
        Some(Fault::Short(n)) => command.env("VERCHAIN_FAULT", format!("short:{n}")),
        None => &mut command,
    };
    let out = command.output().expect("start the runner");
    Said {
        status: out.status,
        text: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The state before and after a whole run, and how many fault points and
/// events it has.
pub struct Reference {
    pub old: Tree,
    pub new: Tree,
    pub points: u64,
    pub events: u64,
}

pub fn reference(scenario: Scenario) -> Reference {
    let (_dir, store) = (scenario.setup)();
    let old = (scenario.state)(&store);
    let said = run(scenario, &store, None);
    assert!(
        said.status.success() && !said.first().starts_with("error"),
        "{}: {}",
        scenario.mode,
        said.text
    );
    let new = (scenario.state)(&store);
    assert_ne!(old, new, "{}: the run changed nothing", scenario.mode);
    Reference {
        old,
        new,
        points: said.count("points"),
        events: said.count("events"),
    }
}

/// What a broken run left.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Old,
    New,
}

/// Reopens the store after a broken run: it holds `old` or `new`, and the
/// history agrees; the next run then completes.
fn reopen(scenario: Scenario, store: &Path, reference: &Reference, runs_before: usize) -> Found {
    // Status reads what the fault left before anything is recovered.
    (scenario.status)(store);
    (scenario.reopen)(store);
    nothing_left(scenario, store, "after recovery", true);
    let state = (scenario.state)(store);
    let runs = runs(scenario, store);
    let found = if state == reference.old {
        assert_eq!(
            runs, runs_before,
            "{}: the old state with the run in its history",
            scenario.mode
        );
        Found::Old
    } else if state == reference.new {
        assert_eq!(
            runs,
            runs_before + 1,
            "{}: the new state without the run in its history",
            scenario.mode
        );
        Found::New
    } else {
        let changed: Vec<&String> = state
            .keys()
            .chain(reference.old.keys())
            .filter(|k| reference.old.get(*k) != state.get(*k))
            .take(3)
            .collect();
        panic!(
            "{}: neither the old state nor the new one: {changed:?}",
            scenario.mode
        );
    };
    if found == Found::Old {
        (scenario.finish)(store);
    }
    assert!(
        (scenario.state)(store) == reference.new,
        "{}: the next run did not reach the new state",
        scenario.mode
    );
    found
}

/// Checks what runs that never committed left in `store`: every snapshot
/// was taken by a run the history says committed, or `status` lists it;
/// after recovery (`recovered`), `status` lists nothing.
fn nothing_left(scenario: Scenario, store: &Path, when: &str, recovered: bool) {
    let status = (scenario.status)(store);
    if status.interrupted {
        return;
    }
    assert!(
        !recovered || status.leftovers.is_empty(),
        "{}: left {when}: {:?}",
        scenario.mode,
        status.leftovers
    );
    let committed: Vec<String> = ((scenario.history)(store).into_iter())
        .filter(|r| r.outcome != verchain::run::Outcome::Abandoned)
        .map(|r| r.run_id)
        .collect();
    for snapshot in (scenario.snapshots)(store) {
        let listed = status.leftovers.iter().any(|l| l.path == snapshot.path);
        let run = snapshot.manifest.run_id.unwrap_or_default();
        assert!(
            committed.contains(&run) || listed,
            "{}: snapshot {} {when} is of a run that never committed, and not listed",
            scenario.mode,
            snapshot.id
        );
    }
}

/// Kills the run at each of `faults` and checks the store after each;
/// returns how many left the old state and how many the new.
pub fn crash_at(scenario: Scenario, faults: impl Iterator<Item = Fault>) -> (usize, usize) {
    let reference = reference(scenario);
    let (mut olds, mut news) = (0, 0);
    for fault in faults {
        let (_dir, store) = (scenario.setup)();
        let runs_before = runs(scenario, &store);
        let said = run(scenario, &store, Some(fault));
        assert_eq!(
            said.status.signal(),
            Some(9),
            "{}: not killed: {}",
            scenario.mode,
            said.text
        );
        match reopen(scenario, &store, &reference, runs_before) {
            Found::Old => olds += 1,
            Found::New => news += 1,
        }
    }
    (olds, news)
}

/// How the injected errors of one sweep ended.
#[derive(Debug, Default)]
pub struct Failed {
    /// Errors injected.
    pub tried: usize,
    /// Runs that ended in an error (the others had a point whose failure is
    /// not an error of the run, such as removing a leftover).
    pub surfaced: usize,
    /// Runs whose error came after the commit journal was written, and said
    /// so: the store is partly committed until the next run finishes it.
    pub finished_later: usize,
}

/// Fails the run at each of `points` with `errno` and checks the store.
pub fn fail_at(scenario: Scenario, errno: i32, points: impl Iterator<Item = u64>) -> Failed {
    let reference = reference(scenario);
    let cause = std::io::Error::from_raw_os_error(errno).to_string();
    let mut out = Failed::default();
    for n in points {
        out.tried += 1;
        let (_dir, store) = (scenario.setup)();
        let runs_before = runs(scenario, &store);
        let said = run(scenario, &store, Some(Fault::Fail(n, errno)));
        assert!(
            said.status.success(),
            "{}: the runner reports, it does not crash: {}",
            scenario.mode,
            said.text
        );
        let first = said.first();
        if let Some(message) = first.strip_prefix("error: ") {
            out.surfaced += 1;
            assert!(
                message.contains(&cause),
                "{} point {n}: {message}",
                scenario.mode
            );
            assert!(
                message.contains("cannot ") || message.contains(" failed"),
                "{} point {n} names no operation: {message}",
                scenario.mode
            );
        }
        nothing_left(
            scenario,
            &store,
            &format!("by a failed run (point {n})"),
            false,
        );
        let unchanged = (scenario.state)(&store) == reference.old;
        if first.ends_with("[store unchanged]") {
            assert!(
                unchanged,
                "{} point {n}: said unchanged, but is not: {first}",
                scenario.mode
            );
        } else if unchanged {
            // A store left as it was is never said to be partly committed.
            assert!(
                !first.starts_with("error"),
                "{} point {n}: the store is as it was, but the run said: {first}",
                scenario.mode
            );
        } else {
            out.finished_later += 1;
            assert!(
                first.ends_with("[store partly committed]") || !first.starts_with("error"),
                "{} point {n}: {first}",
                scenario.mode
            );
        }
        reopen(scenario, &store, &reference, runs_before);
    }
    out
}

/// Kills `scenario` at every `stride`-th fault point from `first`;
/// returns how many kills left the old state and how many the new.
pub fn killed(scenario: Scenario, first: u64, stride: usize) -> (usize, usize) {
    let _one = serial();
    let points = reference(scenario).points;
    let (olds, news) = crash_at(scenario, sample(first, stride, points).map(Fault::Crash));
    eprintln!(
        "{}: {points} points; killed at {}: {olds} old, {news} new",
        scenario.mode,
        olds + news
    );
    (olds, news)
}

/// A store whose run was killed at the first point that leaves its commit
/// journal at `journal` (relative to the folder the store is in): the
/// commit is decided, and nothing has been moved yet.
pub fn killed_after_the_journal(scenario: Scenario, journal: &str) -> (TempDir, PathBuf) {
    let points = reference(scenario).points;
    for n in 1..=points {
        let (dir, store) = (scenario.setup)();
        run(scenario, &store, Some(Fault::Crash(n)));
        if dir.path().join(journal).exists() {
            return (dir, store);
        }
    }
    panic!("{}: no point left a commit journal", scenario.mode);
}

/// Fails each scenario at every `stride`-th point with ENOSPC, EACCES and
/// EIO (each from a different first point).
pub fn failed(scenarios: &[Scenario], stride: usize) {
    let _one = serial();
    for &scenario in scenarios {
        let points = reference(scenario).points;
        for (first, errno) in [(1, 28), (4, 13), (7, 5)] {
            let failed = fail_at(scenario, errno, sample(first, stride, points));
            eprintln!("{} errno {errno}: {failed:?}", scenario.mode);
            assert!(
                failed.surfaced > 0,
                "{}: no injected error surfaced",
                scenario.mode
            );
        }
    }
}

/// How the short writes of one sweep ended.
#[derive(Debug, Default)]
pub struct Shorted {
    /// Writes cut short (the other points of the sweep are not writes).
    pub writes: usize,
    /// Runs that then failed: a whole-buffer write failed after its half.
    pub failed: usize,
    /// Runs that completed: a writer's caller wrote the rest.
    pub completed: usize,
}

/// Cuts the write at each of `points` short, and checks the store: a run
/// that fails says so clearly (ENOSPC, naming the operation) and leaves a
/// whole state; a run that completes leaves the new state, byte for byte.
pub fn short_at(scenario: Scenario, points: impl Iterator<Item = u64>) -> Shorted {
    let reference = reference(scenario);
    let no_space = std::io::Error::from_raw_os_error(28).to_string();
    let mut out = Shorted::default();
    for n in points {
        let (_dir, store) = (scenario.setup)();
        let runs_before = runs(scenario, &store);
        let said = run(scenario, &store, Some(Fault::Short(n)));
        assert!(
            said.status.success(),
            "{}: the runner reports, it does not crash: {}",
            scenario.mode,
            said.text
        );
        let Some(write) = said.shortened() else {
            continue;
        };
        out.writes += 1;
        if let Some(message) = said.first().strip_prefix("error: ") {
            out.failed += 1;
            assert!(
                message.contains(&no_space),
                "{} point {n} ({write}): {message}",
                scenario.mode
            );
        } else {
            out.completed += 1;
            assert!(
                (scenario.state)(&store) == reference.new,
                "{} point {n} ({write}): the run completed, but not with the new state",
                scenario.mode
            );
        }
        reopen(scenario, &store, &reference, runs_before);
    }
    out
}

/// Cuts each scenario's writes short at every `stride`-th point.
pub fn shorted(scenarios: &[Scenario], stride: usize) {
    let _one = serial();
    for &scenario in scenarios {
        let points = reference(scenario).points;
        let shorted = short_at(scenario, sample(2, stride, points));
        eprintln!("{} short writes: {shorted:?}", scenario.mode);
        assert!(
            shorted.writes > 0 && shorted.failed > 0,
            "{}: no whole-buffer write was cut short",
            scenario.mode
        );
    }
}

/// Fails the run with EACCES at every `stride`-th point and keeps the runs whose commit
/// failed part way and put back what it had done: each says the store is
/// unchanged, and is — the old state, no journal left, the run recorded as
/// given up — and the next run completes. Returns how many there were.
pub fn undone(scenario: Scenario, journal: &str, stride: usize) -> usize {
    let _one = serial();
    let reference = reference(scenario);
    let mut undone = 0;
    for n in sample(1, stride, reference.points) {
        let (dir, store) = (scenario.setup)();
        let runs_before = runs(scenario, &store);
        let said = run(scenario, &store, Some(Fault::Fail(n, 13)));
        let first = said.first();
        if !first.contains("what the commit had done was put back") {
            continue;
        }
        undone += 1;
        assert!(
            first.ends_with("[store unchanged]"),
            "{} point {n}: {first}",
            scenario.mode
        );
        assert!(
            (scenario.state)(&store) == reference.old,
            "{} point {n}: put back, but not the old state",
            scenario.mode
        );
        assert!(
            !dir.path().join(journal).exists(),
            "{} point {n}: the journal stayed",
            scenario.mode
        );
        let last = (scenario.history)(&store).pop();
        assert_eq!(
            last.map(|r| r.outcome),
            Some(verchain::run::Outcome::Abandoned),
            "{} point {n}: the run is not recorded as given up",
            scenario.mode
        );
        reopen(scenario, &store, &reference, runs_before);
    }
    eprintln!(
        "{}: {} points, {undone} commits put back",
        scenario.mode, reference.points
    );
    undone
}
