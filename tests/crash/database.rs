//! An SQLite database (the `agentdb` chain's v1): a migration and a
//! snapshot restore, killed at each fault point (verchain's own files: the
//! snapshot, the scratch copy) and at each run event (between SQLite's
//! statements, inside its transaction), and failed at each fault point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentdb_example::AgentDb;
use camino::Utf8Path;
use tempfile::TempDir;
use verchain::run::HistoryRecord;
use verchain::sqlite::SqliteStore;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::sqlite_db;

use crate::harness::{Fault, Scenario, Tree, crash_at, failed, killed, reference, serial, shorted};

fn store(db: &Path) -> SqliteStore {
    SqliteStore::new(Utf8Path::from_path(db).unwrap())
}

fn fresh(prepare: fn(&SqliteStore)) -> (TempDir, PathBuf) {
    let sql = include_str!("../../fixtures/agentdb/v1.sql");
    let (dir, db) = sqlite_db::create(sql, "agent.db");
    prepare(&store(&db));
    (dir, db)
}

/// The database's content (schema and rows), and its integrity check.
fn state(db: &Path) -> Tree {
    BTreeMap::from([
        ("dump".to_owned(), sqlite_db::dump(db).into_bytes()),
        (
            "integrity_check".to_owned(),
            sqlite_db::integrity(db).into_bytes(),
        ),
    ])
}

fn history(db: &Path) -> Vec<HistoryRecord> {
    verchain::history(&store(db)).expect("the history")
}

fn reopen(db: &Path) {
    let s = store(db);
    verchain::recover::<AgentDb>(&s).expect("recovery after the fault");
    let status = verchain::status::<AgentDb>(&s).expect("status after the fault");
    assert!(!status.interrupted);
}

fn migrate(s: &SqliteStore) {
    verchain::migrate::<AgentDb>(s, &RunOptions::default()).unwrap();
}

/// The store's status as the fault left it (which must read, whatever
/// the fault left).
fn status(db: &Path) -> verchain::Status {
    verchain::status::<AgentDb>(&store(db)).expect("status after the fault")
}

/// The store's snapshots.
fn snapshots(db: &Path) -> Vec<verchain::snapshot::SnapshotInfo> {
    verchain::snapshots(&store(db)).expect("the snapshots")
}

const MIGRATE: Scenario = Scenario {
    mode: "db-migrate",
    setup: || fresh(|_| {}),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |db| migrate(&store(db)),
};

const RESTORE: Scenario = Scenario {
    mode: "db-rollback",
    setup: || fresh(migrate),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |db| {
        verchain::rollback::<AgentDb>(&store(db), &RollbackTo::LastRun, &RunOptions::default())
            .unwrap();
    },
};

#[test]
fn a_database_migration_killed_at_any_point_leaves_the_old_state_or_the_new() {
    // verchain's own writes (the snapshot) all come before SQLite commits;
    // after it, only the run's marker is removed.
    let (olds, news) = killed(MIGRATE, 1, 1);
    assert!(olds > 0 && news == 1, "old {olds}, new {news}");
}

#[test]
fn a_database_restore_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(RESTORE, 1, 1);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_database_run_killed_at_any_event_leaves_the_old_state_or_the_new() {
    let _one = serial();
    for scenario in [MIGRATE, RESTORE] {
        let events = reference(scenario).events;
        let (olds, news) = crash_at(scenario, (1..=events).map(Fault::KillAtEvent));
        eprintln!(
            "{}: {events} events; killed at each: {olds} old, {news} new",
            scenario.mode
        );
        assert!(
            olds > 0 && news > 0,
            "{}: old {olds}, new {news}",
            scenario.mode
        );
    }
}

#[test]
fn io_errors_on_a_database_end_in_a_clear_error_and_a_whole_state() {
    failed(&[MIGRATE, RESTORE], 1);
}

#[test]
fn short_writes_on_a_database_end_in_a_clear_error_or_a_whole_new_state() {
    shorted(&[MIGRATE, RESTORE], 1);
}
