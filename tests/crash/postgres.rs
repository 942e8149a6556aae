//! A PostgreSQL database (the `forms` chain's v1, on the test binary's
//! throw-away server): a migration and a snapshot restore killed at each
//! run event, and a server stopped at once (`pg_ctl stop -m immediate`) in
//! the middle of a run. After each, the database is the old state or the
//! new one, the history agrees, and the next run completes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use forms_example::Forms;
use tempfile::TempDir;
use verchain::run::HistoryRecord;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::postgres_db::{connect, dump, forms_for_runner, store_in, url_in};
use verchain_tests::postgres_server;

use crate::harness::{Fault, Scenario, Tree, crash_at, reference, serial};

/// A new database for each scenario run.
fn fresh(prepare: fn(&Path)) -> (TempDir, PathBuf) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("crash_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let (dir, url_file) = forms_for_runner(&name).expect("the server");
    prepare(&url_file);
    (dir, url_file)
}

fn state(url_file: &Path) -> Tree {
    BTreeMap::from([(
        "dump".to_owned(),
        dump(&url_in(url_file), "public").into_bytes(),
    )])
}

fn history(url_file: &Path) -> Vec<HistoryRecord> {
    verchain::history(&store_in(url_file)).expect("the history")
}

/// Waits until no other session of the database holds an advisory lock:
/// the backend of a runner killed between two statements lets its lock go
/// once the server notices its client is gone, which may be a moment after
/// the kill.
fn settle(url_file: &Path) {
    let mut client = connect(&url_in(url_file));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND l.granted \
                 AND d.datname = current_database() AND l.pid <> pg_backend_pid()",
                &[],
            )
            .expect("read the locks")
            .get(0);
        if held == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a killed runner's session still holds its lock after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reopen(url_file: &Path) {
    settle(url_file);
    let store = store_in(url_file);
    verchain::recover::<Forms>(&store).expect("recovery after the kill");
    let status = verchain::status::<Forms>(&store).expect("status after the kill");
    assert!(!status.interrupted);
}

/// The database's status as the kill left it.
fn status(url_file: &Path) -> verchain::Status {
    verchain::status::<Forms>(&store_in(url_file)).expect("status after the kill")
}

/// The database's snapshots.
fn snapshots(url_file: &Path) -> Vec<verchain::snapshot::SnapshotInfo> {
    verchain::snapshots(&store_in(url_file)).expect("the snapshots")
}

fn migrate_to_v3(url_file: &Path) {
    let options = RunOptions {
        target: Some(3),
        ..RunOptions::default()
    };
    verchain::migrate::<Forms>(&store_in(url_file), &options).unwrap();
}

const MIGRATE: Scenario = Scenario {
    mode: "pg-migrate",
    setup: || fresh(|_| {}),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: migrate_to_v3,
};

const RESTORE: Scenario = Scenario {
    mode: "pg-rollback",
    setup: || fresh(migrate_to_v3),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |url_file| {
        let store = store_in(url_file);
        verchain::rollback::<Forms>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    },
};

#[test]
fn a_database_run_killed_at_any_event_leaves_the_old_state_or_the_new() {
    let _one = serial();
    if postgres_server::shared().is_none() {
        return;
    }
    for scenario in [MIGRATE, RESTORE] {
        let events = reference(scenario).events;
        let (olds, news) = crash_at(scenario, (1..=events).map(Fault::KillAtEvent));
        eprintln!(
            "{}: {events} events; killed at each: {olds} old, {news} new",
            scenario.mode
        );
        assert!(olds > 0, "{}: old {olds}, new {news}", scenario.mode);
    }
}

/// A dump without its sequences' values.
fn without_sequences(dump: &str) -> String {
    dump.lines()
        .filter(|l| !l.starts_with("-- sequence "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_server_stopped_in_the_middle_of_a_run_leaves_the_old_state_and_the_next_run_completes() {
    let _one = serial();
    let Some(server) = postgres_server::shared() else {
        return;
    };
    let Some(cluster) = server.cluster() else {
        eprintln!("not run: the server is VERCHAIN_TEST_POSTGRES_URL's, which no test stops");
        return;
    };
    let (_dir, url_file) = fresh(|_| {});
    let url = url_in(&url_file);
    let before = dump(&url, "public");
    let mut runner = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["pg-hold"])
        .arg(&url_file)
        .env("VERCHAIN_RUNNER_HOLD_MS", "1500")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(runner.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "holding", "the run is inside its transaction");
    cluster.stop_immediate().unwrap();
    cluster.start().unwrap();
    let mut said = String::new();
    out.read_line(&mut said).unwrap();
    runner.wait().unwrap();
    assert!(said.starts_with("error: "), "{said}");
    assert!(said.contains("stage `stage`"), "{said}");
    assert!(said.ends_with("[store unchanged]\n"), "{said}");
    // A server that crashed resumes its sequences up to 32 values on (it
    // logs them ahead): gaps, never reuse. Everything else is as it was.
    let after = dump(&url, "public");
    assert_eq!(without_sequences(&after), without_sequences(&before));
    assert!(history(&url_file).is_empty());
    let snapshots = url_file.with_file_name("snapshots");
    let archives = std::fs::read_dir(&snapshots).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tar.zst"))
        })
        .count()
    });
    assert_eq!(archives, 0, "the failed run's snapshot is removed");
    let report = verchain::migrate::<Forms>(&store_in(&url_file), &RunOptions::default()).unwrap();
    assert_eq!(report.target, 5);
    assert_eq!(history(&url_file).len(), 5);
}
