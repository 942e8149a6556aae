//! What a run that never committed leaves (a killed run's snapshot, staged
//! and temporary files; a database's interrupted transaction): `status`
//! reads the store as it is and lists it with its size, and the next run
//! removes it.

use std::path::{Path, PathBuf};
use std::process::Command;

use agentdb_example::AgentDb;
use audit_example::Audit;
use camino::Utf8Path;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::sqlite::SqliteStore;
use verchain::sqlite::rusqlite::Connection;
use verchain::{RunOptions, Status};
use verchain_tests::tree::{fixture_copy, read_tree};

/// Runs the runner in `mode` on `store`, killed at fault point `n`.
fn killed_at(mode: &str, store: &Path, n: u64) {
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args([mode, store.to_str().unwrap()])
        .env("VERCHAIN_RUNNER_COUNT", "1")
        .env("VERCHAIN_FAULT", format!("crash:{n}"))
        .output()
        .expect("start the runner");
}

/// The first fault point at which killing the runner leaves what `left`
/// looks for, with the store it was killed on.
fn first_kill_leaving(
    mode: &str,
    setup: impl Fn() -> (tempfile::TempDir, PathBuf),
    left: impl Fn(&Path) -> bool,
) -> (tempfile::TempDir, PathBuf) {
    for n in 1..400 {
        let (dir, store) = setup();
        killed_at(mode, &store, n);
        if left(&store) {
            return (dir, store);
        }
    }
    panic!("{mode}: no kill left what the test looks for");
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

fn listed(status: &Status, what: &str) -> u64 {
    let found = (status.leftovers.iter()).find(|l| l.path.as_str().contains(what));
    found
        .unwrap_or_else(|| panic!("{what} not listed: {:?}", status.leftovers))
        .size
}

#[test]
fn a_folder_run_killed_after_its_snapshot_leaves_it_to_status_and_the_next_run() {
    let store = |p: &Path| FolderStore::new(Utf8Path::from_path(p).unwrap());
    let (_dir, root) = first_kill_leaving(
        "migrate",
        || {
            let dir = fixture_copy("notes/v1");
            let path = dir.path().to_owned();
            (dir, path)
        },
        |root| {
            let snapshots = names(&root.join(".verchain/snapshots"));
            snapshots.iter().any(|n| n.ends_with(".tar.zst"))
                && !root.join(".verchain/journal.json").exists()
        },
    );
    let before = read_tree(&root);
    let status = verchain::status::<Notes>(&store(&root)).unwrap();
    assert!(!status.interrupted);
    assert!(listed(&status, ".tar.zst") > 0);
    assert!(listed(&status, ".verchain/staging") > 0);
    assert!(listed(&status, ".pending") == 0);
    // Status changed nothing.
    assert_eq!(read_tree(&root), before);
    assert_eq!(status.leftovers.len(), 3, "{:?}", status.leftovers);

    let report = verchain::migrate::<Notes>(&store(&root), &RunOptions::default()).unwrap();
    let kept = names(&root.join(".verchain/snapshots"));
    assert_eq!(
        kept,
        [format!("{}.tar.zst", report.snapshot.unwrap())],
        "the killed run's snapshot stayed"
    );
    assert!(!root.join(".verchain/staging").exists());
    let status = verchain::status::<Notes>(&store(&root)).unwrap();
    assert!(status.leftovers.is_empty(), "{:?}", status.leftovers);
}

#[test]
fn a_killed_log_migration_leaves_its_new_file_to_status_and_the_next_run() {
    let store = |p: &Path| LogStore::new(Utf8Path::from_path(p).unwrap());
    let hidden = |log: &Path| {
        names(log.parent().unwrap())
            .into_iter()
            .filter(|n| n.starts_with(".audit.jsonl.verchain-"))
            .collect::<Vec<_>>()
    };
    let (_dir, log) = first_kill_leaving(
        "log-migrate",
        || {
            let dir = fixture_copy("audit/v1");
            let log = dir.path().join("audit.jsonl");
            (dir, log)
        },
        |log| {
            hidden(log).iter().any(|name| {
                std::fs::metadata(log.parent().unwrap().join(name)).is_ok_and(|m| m.len() > 0)
            })
        },
    );
    let status = verchain::status::<Audit>(&store(&log)).unwrap();
    assert!(!status.interrupted);
    assert!(listed(&status, ".audit.jsonl.verchain-") > 0);

    verchain::migrate::<Audit>(&store(&log), &RunOptions::default()).unwrap();
    assert!(hidden(&log).is_empty(), "{:?}", hidden(&log));
    let status = verchain::status::<Audit>(&store(&log)).unwrap();
    assert!(status.leftovers.is_empty(), "{:?}", status.leftovers);
}

/// A copy of the example database taken while a transaction that changed
/// it was open: the copy has a hot journal, as a kill in the middle of the
/// transaction leaves.
fn database_with_a_hot_journal() -> (tempfile::TempDir, PathBuf, String) {
    let sql = include_str!("../fixtures/agentdb/v1.sql");
    let (dir, db) = verchain_tests::sqlite_db::create(sql, "live.db");
    let before = verchain_tests::sqlite_db::dump(&db);
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN IMMEDIATE;
         CREATE TABLE filler (n INTEGER, pad TEXT);
         WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 2000)
         INSERT INTO filler SELECT n, printf('%.500c', 'x') FROM k;",
    )
    .unwrap();
    let copy = dir.path().join("agent.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::copy(
        dir.path().join("live.db-journal"),
        dir.path().join("agent.db-journal"),
    )
    .unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    (dir, copy, before)
}

#[test]
fn status_reports_an_interrupted_database_transaction_and_the_next_run_rolls_it_back() {
    let (_dir, db, before) = database_with_a_hot_journal();
    let store = SqliteStore::new(Utf8Path::from_path(&db).unwrap());
    let status = verchain::status::<AgentDb>(&store).unwrap();
    assert!(status.interrupted, "the hot journal is not reported");
    assert!(
        db.with_file_name("agent.db-journal").exists(),
        "status wrote"
    );

    assert!(!verchain::recover::<AgentDb>(&store).unwrap());
    assert_eq!(verchain_tests::sqlite_db::dump(&db), before);
    let status = verchain::status::<AgentDb>(&store).unwrap();
    assert!(!status.interrupted);
    verchain::migrate::<AgentDb>(&store, &RunOptions::default()).unwrap();
}
