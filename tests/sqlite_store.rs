//! The run protocol on an SQLite database: golden dumps of every version,
//! dry runs, failures that leave the file byte for byte as it was,
//! rollbacks, locks, files that are not databases.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use agentdb_example::{AgentDb, V1_SQL};
use camino::Utf8Path;
use verchain::run::{ChangeKind, Outcome};
use verchain::sqlite::rusqlite::{Connection, Transaction};
use verchain::sqlite::{Rows, SqliteError, SqliteStore, expect_rows};
use verchain::{BoxError, Chain, ErrorKind, RollbackTo, RunOptions, Stage, Startup, migration};
use verchain_tests::options::{dry, to};
use verchain_tests::sqlite_db::{create, dump, golden, integrity};

fn store(path: &Path) -> SqliteStore {
    SqliteStore::new(Utf8Path::from_path(path).expect("utf-8 temp path"))
}

fn v1() -> (tempfile::TempDir, PathBuf) {
    create(V1_SQL, "agent.db")
}

fn snapshot_files(path: &Path) -> Vec<String> {
    let dir = path.parent().unwrap().join(".verchain/snapshots/agent.db");
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn migrating_v1_gives_the_golden_dump_of_every_version() {
    let (_dir, path) = v1();
    assert_eq!(dump(&path), golden("agentdb/v1.golden", &dump(&path)));
    for target in 2..=AgentDb::CURRENT {
        let (_dir, path) = v1();
        let report = verchain::migrate::<AgentDb>(&store(&path), &to(target)).unwrap();
        assert_eq!(report.plan.len(), (target - 1) as usize);
        let got = dump(&path);
        let want = golden(&format!("agentdb/v{target}.golden"), &got);
        assert_eq!(got, want, "v{target}");
        assert_eq!(integrity(&path), "ok");
    }
}

#[test]
fn migrating_in_two_runs_gives_what_one_run_gives() {
    let (_dir, path) = v1();
    verchain::migrate::<AgentDb>(&store(&path), &to(3)).unwrap();
    let report = verchain::migrate::<AgentDb>(&store(&path), &RunOptions::default()).unwrap();
    assert_eq!(report.store_version, Some(3));
    assert_eq!(
        report.plan.iter().map(|s| s.id).collect::<Vec<_>>(),
        ["promote_router_region", "rebuild_routers"]
    );
    assert_eq!(dump(&path), golden("agentdb/v5.golden", &dump(&path)));
}

#[test]
fn a_dry_run_reports_rows_and_schema_per_table_and_leaves_every_byte() {
    let (dir, path) = v1();
    let bytes = fs::read(&path).unwrap();
    let report = verchain::migrate::<AgentDb>(&store(&path), &dry()).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.snapshot, None);
    assert_eq!(
        report.plan.iter().map(|s| s.id).collect::<Vec<_>>(),
        [
            "add_router_timeout",
            "add_worker_status",
            "promote_router_region",
            "rebuild_routers"
        ]
    );
    let tables: Vec<(&str, ChangeKind)> = report
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.kind))
        .collect();
    assert_eq!(
        tables,
        [
            ("routers", ChangeKind::Changed),
            ("workers", ChangeKind::Changed)
        ]
    );
    // Six routers changed, six workers got a status; planners untouched.
    assert_eq!(report.counts.changed, 12);
    assert_eq!(report.counts.unchanged, 4);
    assert_eq!((report.counts.created, report.counts.removed), (0, 0));
    let routers = report.changes[0].diff.as_deref().unwrap();
    assert!(
        routers.starts_with("# table `routers`: 6 rows before, 6 after; 6 changed"),
        "{routers}"
    );
    assert!(
        routers.contains("+      name TEXT NOT NULL UNIQUE COLLATE NOCASE,"),
        "{routers}"
    );
    assert!(
        routers.contains(r#"-row 1: 1, 'edge-eu', '{"region": "eu-west", "retries": 3}'"#),
        "{routers}"
    );
    assert!(
        routers
            .contains(r#"+row 1: 1, 'edge-eu', '{"retries":3,"timeout_ms":30000}', 'eu-west', 1"#),
        "{routers}"
    );
    let workers = report.changes[1].diff.as_deref().unwrap();
    assert!(
        workers.contains("status TEXT NOT NULL DEFAULT 'idle'"),
        "{workers}"
    );
    assert!(report.failures.is_empty());
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert!(!dir.path().join(".verchain").exists());
    // No diffs when the limit is 0.
    let quiet = RunOptions {
        diff_limit: 0,
        ..dry()
    };
    let report = verchain::migrate::<AgentDb>(&store(&path), &quiet).unwrap();
    assert!(report.changes.iter().all(|c| c.diff.is_none()));
}

#[test]
fn migrate_then_roll_back_restores_the_content_and_keeps_the_history() {
    let (_dir, path) = v1();
    let original = dump(&path);
    let s = store(&path);
    let report = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let snapshot = report.snapshot.clone().expect("a snapshot");
    assert_eq!(
        snapshot_files(&path),
        [format!("{snapshot}.json"), format!("{snapshot}.sqlite")]
    );
    assert_ne!(dump(&path), original);
    let back =
        verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(back.snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!((back.store_version, back.target), (Some(5), 1));
    assert_eq!(dump(&path), original);
    assert_eq!(integrity(&path), "ok");
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.len(), 5, "four steps and one rollback");
    assert!(history[..4].iter().all(|r| {
        r.outcome == Outcome::Applied
            && r.snapshot.as_deref() == Some(snapshot.as_str())
            && r.checksum
                .as_deref()
                .is_some_and(|c| c.starts_with("v1:blake3:"))
    }));
    assert_eq!(
        history[0].counts.changed, 4,
        "four routers lacked a timeout"
    );
    assert_eq!(history[4].outcome, Outcome::RolledBack);
    assert_eq!((history[4].from, history[4].to), (5, 1));
    // The restore snapshotted the database first: two snapshots now.
    assert_eq!(verchain::snapshots(&s).unwrap().len(), 2);
    let err = verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::NoSnapshot(_)), "{err}");
    // Migrating again works, and undoing the restore brings v5 back.
    let again = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    assert_eq!(again.plan.len(), 4);
    assert_eq!(dump(&path), golden("agentdb/v5.golden", &dump(&path)));
}

/// A database in a folder reached through a symbolic link (as `/tmp` is
/// on macOS) migrates and rolls back: its snapshot is checked and
/// restored through the link.
#[test]
fn a_database_in_a_linked_folder_migrates_and_rolls_back() {
    let (dir, path) = v1();
    let original = dump(&path);
    let link = dir.path().join("linked");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let s = store(&link.join("agent.db"));
    let report = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    assert_eq!((report.store_version, report.target), (Some(1), 5));
    assert!(report.snapshot.is_some());
    verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(dump(&path), original);
}

/// The `user_version` of the database at `path`.
fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// A database given as a symbolic link is refused, naming the link and
/// its target: its lock and snapshots would be kept beside the link, where
/// a run given the database's own path would not find them.
#[test]
fn a_database_given_as_a_link_is_refused_and_left_as_it_is() {
    let (dir, path) = v1();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let err = verchain::migrate::<AgentDb>(&store(&link), &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("link.db"), "{message}");
    assert!(message.contains("symbolic link"), "{message}");
    assert!(message.contains("agent.db"), "{message}");
    assert_eq!(user_version(&path), 1);
    assert!(snapshot_files(&path).is_empty());
}

/// A relative path that starts with `file:` names that file, not the file
/// SQLite would read it as a URI of.
#[test]
fn a_database_named_file_colon_is_that_file() {
    let (dir, path) = v1();
    let named = dir.path().join("file:agent.db");
    fs::copy(&path, &named).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["db-migrate", "file:agent.db"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("migrated"), "{out:?}");
    assert_eq!(user_version(&named), 5);
    assert_eq!(user_version(&path), 1, "the file the URI would name");
}

#[test]
fn a_named_snapshot_can_be_restored_and_a_dry_restore_changes_nothing() {
    let (_dir, path) = v1();
    let s = store(&path);
    let first = verchain::migrate::<AgentDb>(&s, &to(3)).unwrap();
    let at_v3 = dump(&path);
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let at_v5 = fs::read(&path).unwrap();
    let id = first.snapshot.unwrap();
    let dry_restore =
        verchain::rollback::<AgentDb>(&s, &RollbackTo::Snapshot(id.clone()), &dry()).unwrap();
    assert_eq!(dry_restore.target, 1);
    assert_eq!(dry_restore.changes.len(), 2, "routers and workers differ");
    assert_eq!(fs::read(&path).unwrap(), at_v5);
    verchain::rollback::<AgentDb>(&s, &RollbackTo::Snapshot(id), &RunOptions::default()).unwrap();
    assert_eq!(dump(&path), golden("agentdb/v1.golden", &dump(&path)));
    assert_ne!(dump(&path), at_v3);
    let err = verchain::rollback::<AgentDb>(
        &s,
        &RollbackTo::Snapshot("../../etc/passwd".to_owned()),
        &RunOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("is not a snapshot name"), "{err}");
}

#[test]
fn a_tampered_snapshot_is_refused_before_anything_is_touched() {
    let (_dir, path) = v1();
    let s = store(&path);
    let report = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let id = report.snapshot.unwrap();
    let file = s.snapshot_dir().join(format!("{id}.sqlite"));
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&file, bytes).unwrap();
    let before = fs::read(&path).unwrap();
    let err = verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    assert_eq!(err.stage, Stage::Restore);
    assert!(
        err.to_string()
            .contains("the file does not match its manifest"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(verchain::snapshots(&s).unwrap().len(), 1);
}

/// Runs the v1 fixture with `change` applied, expecting the run to fail;
/// returns the error after checking that the file is byte-identical and no
/// snapshot or history was left.
fn fails_cleanly(change: &str) -> verchain::RunError {
    let (_dir, path) = v1();
    Connection::open(&path)
        .unwrap()
        .execute_batch(change)
        .unwrap();
    let bytes = fs::read(&path).unwrap();
    let err = verchain::migrate::<AgentDb>(&store(&path), &RunOptions::default()).unwrap_err();
    assert!(err.store_unchanged(), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes, "{err}");
    assert!(snapshot_files(&path).is_empty(), "{err}");
    assert!(verchain::history(&store(&path)).unwrap().is_empty());
    err
}

#[test]
fn a_database_that_fails_its_integrity_check_is_refused_with_the_finding() {
    // An index whose definition no longer matches what it holds.
    let err = fails_cleanly(
        "CREATE TABLE junk (a INTEGER);
         CREATE INDEX junk_a ON junk (a);
         INSERT INTO junk VALUES (1), (2), (3);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = 'CREATE INDEX junk_a ON junk (a + 1)'
           WHERE name = 'junk_a';
         PRAGMA writable_schema = OFF;",
    );
    let message = err.to_string();
    assert!(
        message.contains("fails `PRAGMA integrity_check`"),
        "{message}"
    );
    assert!(message.contains("junk_a"), "{message}");
    // The database is named, not a copy of it.
    assert!(message.contains("agent.db fails"), "{message}");
    assert!(!message.contains(".sqlite.tmp"), "{message}");
}

#[test]
fn malformed_rows_fail_the_run_naming_table_rowid_and_step() {
    let err = fails_cleanly("UPDATE routers SET config = '{\"region\": \"eu\",' WHERE id = 4");
    assert_eq!(
        err.to_string(),
        format!(
            "chain `agentdb`, stage `stage`: step `add_router_timeout` (v1 → v2) failed on {}: \
             table `routers`, row rowid = 4, column `config`: is not valid JSON: \"{{\\\"region\\\": \
             \\\"eu\\\",\"",
            match &*err.kind {
                ErrorKind::Step { path, .. } => path.to_string(),
                other => panic!("{other}"),
            }
        )
    );
    let err = fails_cleanly("UPDATE routers SET config = '{\"region\": null}' WHERE id = 3");
    let message = err.to_string();
    assert!(
        message.contains(
            "step `promote_router_region` (v3 → v4) failed on ",
        ) && message.ends_with(
            "table `routers`, row rowid = 3, column `region`: NOT NULL constraint failed: routers.region"
        ),
        "{message}"
    );
    let err = fails_cleanly("INSERT INTO routers (id, name, config) VALUES (7, 'Batch', '{}')");
    let message = err.to_string();
    assert!(
        message.contains("step `rebuild_routers` (v4 → v5) failed on ")
            && message.ends_with(
                "table `routers`, row rowid = 7: cannot be copied into the rebuilt table: UNIQUE \
                 constraint failed: routers.name"
            ),
        "{message}"
    );
    let err = fails_cleanly("UPDATE routers SET config = '{\"weight\": -2}' WHERE id = 4");
    assert!(
        err.to_string().ends_with(
            "table `routers`, row rowid = 4: cannot be copied into the rebuilt table: CHECK constraint \
             failed: weight > 0"
        ),
        "{err}"
    );
}

#[test]
fn a_dangling_foreign_key_fails_validation_naming_table_and_rowid() {
    let err = fails_cleanly("PRAGMA foreign_keys = OFF; DELETE FROM routers WHERE id = 3");
    assert_eq!(err.stage, Stage::Validate);
    let ErrorKind::Validation { failures, .. } = &*err.kind else {
        panic!("{err}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].to_string(),
        "planners: does not match the schema of v5: rowid 12 references a row of `routers` that \
         does not exist (foreign key 0)"
    );
    // A dry run reports the same failure and succeeds.
    let (_dir, path) = v1();
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM routers WHERE id = 3")
        .unwrap();
    let report = verchain::migrate::<AgentDb>(&store(&path), &dry()).unwrap();
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].path.as_str(), "planners");
}

/// Which step of `Faulty` fails (1-based; 0 for none), and how.
static FAIL_AT: AtomicU32 = AtomicU32::new(0);
static PANIC: AtomicU32 = AtomicU32::new(0);
static FAULTY: Mutex<()> = Mutex::new(());

fn fault(tx: &Transaction, step: u32) -> Result<(), BoxError> {
    tx.execute_batch(&format!(
        "UPDATE workers SET name = name || '-{step}'; \
         CREATE TABLE step_{step} (n INTEGER); INSERT INTO step_{step} VALUES ({step});"
    ))?;
    if FAIL_AT.load(Ordering::SeqCst) == step {
        if PANIC.load(Ordering::SeqCst) == 1 {
            panic!("step {step} gave up");
        }
        return Err(format!("step {step} gave up").into());
    }
    Ok(())
}

/// Four steps that each change rows and the schema; any one can fail.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 5, name = "faulty")]
pub struct Faulty;

/// One.
#[migration(chain = Faulty, from = 1, to = 2)]
fn one(tx: &Transaction) -> Result<(), BoxError> {
    fault(tx, 1)
}

/// Two.
#[migration(chain = Faulty, from = 2, to = 3)]
fn two(tx: &Transaction) -> Result<(), BoxError> {
    fault(tx, 2)
}

/// Three.
#[migration(chain = Faulty, from = 3, to = 4)]
fn three(tx: &Transaction) -> Result<(), BoxError> {
    fault(tx, 3)
}

/// Four.
#[migration(chain = Faulty, from = 4, to = 5)]
fn four(tx: &Transaction) -> Result<(), BoxError> {
    fault(tx, 4)
}

#[test]
fn a_failure_or_panic_at_any_step_leaves_the_database_byte_identical() {
    let _guard = FAULTY.lock().unwrap_or_else(|e| e.into_inner());
    let steps = ["one", "two", "three", "four"];
    for panics in [0, 1] {
        PANIC.store(panics, Ordering::SeqCst);
        for at in 1..=4u32 {
            FAIL_AT.store(at, Ordering::SeqCst);
            let (_dir, path) = v1();
            let bytes = fs::read(&path).unwrap();
            let err =
                verchain::migrate::<Faulty>(&store(&path), &RunOptions::default()).unwrap_err();
            let message = err.to_string();
            let step = steps[at as usize - 1];
            let verb = if panics == 1 {
                "panicked on"
            } else {
                "failed on"
            };
            assert!(
                message.contains(&format!("step `{step}` (v{at} → v{}) {verb}", at + 1))
                    && message.ends_with(&format!("step {at} gave up")),
                "{message}"
            );
            assert_eq!(fs::read(&path).unwrap(), bytes, "{message}");
            assert!(snapshot_files(&path).is_empty(), "{message}");
        }
    }
    FAIL_AT.store(0, Ordering::SeqCst);
    let (_dir, path) = v1();
    verchain::migrate::<Faulty>(&store(&path), &RunOptions::default()).unwrap();
    assert!(dump(&path).contains("'eu-1-1-2-3-4'"));
}

/// Loses a row after declaring that it keeps them all, and fails its verify.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 2, name = "lossy")]
pub struct Lossy;

/// Drops a worker.
#[migration(chain = Lossy, from = 1, to = 2, verify = has_six_workers)]
fn drop_worker(tx: &Transaction) -> Result<(), BoxError> {
    expect_rows(tx, "workers", Rows::Unchanged)?;
    expect_rows(tx, "planners", Rows::Exactly(4))?;
    tx.execute("DELETE FROM workers WHERE id = 105", [])?;
    Ok(())
}

fn has_six_workers(tx: &Transaction) -> Result<(), BoxError> {
    let n: i64 = tx.query_row("SELECT count(*) FROM workers", [], |r| r.get(0))?;
    if n == 6 {
        Ok(())
    } else {
        Err(format!("{n} workers, expected 6").into())
    }
}

#[test]
fn declared_row_counts_and_verify_are_checked_after_the_step() {
    let (_dir, path) = v1();
    let bytes = fs::read(&path).unwrap();
    let err = verchain::migrate::<Lossy>(&store(&path), &RunOptions::default()).unwrap_err();
    let ErrorKind::Validation { failures, .. } = &*err.kind else {
        panic!("{err}")
    };
    let failures: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        failures,
        [
            "workers: `verify` of step `drop_worker` failed at v2: has 5 rows, expected 6 (as \
             many as before the step)",
            "agent.db: `verify` of step `drop_worker` failed at v2: 5 workers, expected 6",
        ]
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_second_runner_is_refused_while_the_lock_is_held() {
    let (dir, path) = v1();
    let s = store(&path);
    fs::create_dir_all(dir.path().join(".verchain")).unwrap();
    let lock_path = dir.path().join(".verchain/agent.db.lock");
    let held = fs::File::create(&lock_path).unwrap();
    fs::write(&lock_path, "pid 4242 on elsewhere since then").unwrap();
    held.lock().unwrap();
    let bytes = fs::read(&path).unwrap();
    let err = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Lock);
    assert_eq!(
        err.to_string(),
        format!(
            "chain `agentdb`, stage `lock`: store {} is locked by pid 4242 on elsewhere since \
             then; wait for it to finish, or retry with a wait",
            s.path()
        )
    );
    // A dry run waits for the lock too.
    let err = verchain::migrate::<AgentDb>(&s, &dry()).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Locked { .. }), "{err}");
    held.unlock().unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);

    // Another connection's write transaction holds SQLite's own lock.
    let mut other = Connection::open(&path).unwrap();
    let writing = other
        .transaction_with_behavior(verchain::sqlite::rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let err = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("is locked by another connection using it"),
        "{err}"
    );
    drop(writing);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
}

#[test]
fn a_file_that_is_not_a_database_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    fs::write(&path, "id,name\n1,edge\n").unwrap();
    let err = verchain::migrate::<AgentDb>(&store(&path), &RunOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "chain `agentdb`, stage `detect`: {} is not an SQLite database: it does not start with \
             `SQLite format 3` (it starts with \"id,name\\n1,edge\\n\")",
            path.display()
        )
    );
    assert_eq!(fs::read(&path).unwrap(), b"id,name\n1,edge\n");
    // The right header over pages that are not a database's.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5, 4096));
    fs::write(&path, &bytes).unwrap();
    let err = verchain::status::<AgentDb>(&store(&path)).unwrap_err();
    assert!(
        matches!(
            err.kind.store_error(),
            Some(SqliteError::NotADatabase { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("is not an SQLite database"),
        "{err}"
    );
    let missing = dir.path().join("missing.db");
    let err = verchain::migrate::<AgentDb>(&store(&missing), &RunOptions::default()).unwrap_err();
    assert!(err.to_string().contains("cannot open database"), "{err}");
    assert!(!missing.exists(), "no database is created");
}

#[test]
fn versions_the_chain_cannot_handle_are_refused_with_both_versions() {
    let (_dir, path) = v1();
    let s = store(&path);
    let err = verchain::migrate::<AgentDb>(&s, &to(9)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("target version 9 is past the chain's current version 5"),
        "{err}"
    );
    verchain::migrate::<AgentDb>(&s, &to(3)).unwrap();
    let err = verchain::migrate::<AgentDb>(&s, &to(2)).unwrap_err();
    assert!(
        err.to_string()
            .contains("target version 2 is below the store's version 3"),
        "{err}"
    );
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 7")
        .unwrap();
    let err = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(
            "is at version 7, newer than this program's newest version 5; upgrade the program"
        ),
        "{err}"
    );
    let err = verchain::rollback::<AgentDb>(&s, &RollbackTo::Version(1), &RunOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("newer than"), "{err}");
}

#[test]
fn irreversible_steps_point_to_snapshots() {
    let (_dir, path) = v1();
    let s = store(&path);
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let err = verchain::rollback::<AgentDb>(&s, &RollbackTo::Version(1), &RunOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "step `rebuild_routers` (v4 → v5) has no `down` step; roll back to a snapshot instead"
        ),
        "{err}"
    );
}

#[test]
fn startup_migrates_once_then_returns_at_once() {
    let (_dir, path) = v1();
    let s = store(&path);
    match verchain::run_startup::<AgentDb>(&s).unwrap() {
        Startup::Migrated(report) => assert_eq!(report.plan.len(), 4),
        other => panic!("expected a migration, got {other:?}"),
    }
    let bytes = fs::read(&path).unwrap();
    assert_eq!(
        verchain::run_startup::<AgentDb>(&s).unwrap(),
        Startup::UpToDate { version: 5 }
    );
    let again = verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    assert!(again.plan.is_empty() && again.changes.is_empty() && again.snapshot.is_none());
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn status_verify_snapshots_and_prune_report_without_changing_anything() {
    let (_dir, path) = v1();
    let s = store(&path);
    let status = verchain::status::<AgentDb>(&s).unwrap();
    assert_eq!((status.stamp, status.current), (Some(1), 5));
    assert_eq!(status.pending.len(), 4);
    assert_eq!(status.last_run, None);
    let verchain::run::Verified {
        checked, failures, ..
    } = verchain::verify::<AgentDb>(&s).unwrap();
    assert_eq!((checked, failures.len()), (3, 0));
    verchain::migrate::<AgentDb>(&s, &to(4)).unwrap();
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let status = verchain::status::<AgentDb>(&s).unwrap();
    assert_eq!(status.stamp, Some(5));
    assert!(status.pending.is_empty());
    assert_eq!(status.snapshots, 2);
    assert_eq!(
        status
            .last_run
            .as_ref()
            .map(|r| (r.from, r.to, r.steps.clone())),
        Some((4, 5, vec!["rebuild_routers".to_owned()]))
    );
    // verify runs the check of the step that reached the database's version.
    verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE routers SET config = '{\"region\": \"x\"}' WHERE id = 1")
        .unwrap();
    let bytes = fs::read(&path).unwrap();
    let failures = verchain::verify::<AgentDb>(&s).unwrap().failures;
    assert_eq!(
        failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "agent.db: `verify` of step `promote_router_region` failed at v4: 1 routers still \
             have `region` in their config"
        ]
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
    let list = verchain::snapshots(&s).unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.windows(2)
            .all(|w| w[0].manifest.created >= w[1].manifest.created)
    );
    let removed = verchain::prune_snapshots::<AgentDb>(&s, 1).unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(verchain::snapshots(&s).unwrap()[0].id, list[0].id);
    assert_eq!(snapshot_files(&path).len(), 2);
}

#[test]
fn a_database_in_wal_mode_migrates_and_rolls_back() {
    let (_dir, path) = create(&format!("PRAGMA journal_mode = WAL;\n{V1_SQL}"), "agent.db");
    let s = store(&path);
    let original = dump(&path);
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    assert_eq!(dump(&path), golden("agentdb/v5.golden", &dump(&path)));
    verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(dump(&path), original);
    assert_eq!(integrity(&path), "ok");
}

#[test]
fn the_store_agnostic_calls_run_a_database_as_they_run_a_folder() {
    let (_dir, path) = v1();
    let db = store(&path);
    let pending = verchain::status::<AgentDb>(&db).unwrap().pending.len();
    assert_eq!(pending, 4);
    assert!(matches!(
        verchain::run_startup::<AgentDb>(&db).unwrap(),
        verchain::Startup::Migrated(_)
    ));
    assert_eq!(dump(&path), golden("agentdb/v5.golden", &dump(&path)));
    assert_eq!(verchain::history(&db).unwrap().len(), 4);
    assert_eq!(verchain::snapshots(&db).unwrap().len(), 1);
    // One step alone runs only on a database at its `from` version.
    let err = verchain::migrate_step::<AgentDb>(&db, "add_router_timeout", &RunOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("nothing to run"), "{err}");
    assert_eq!(verchain::history(&db).unwrap().len(), 4);
    assert!(!verchain::recover::<AgentDb>(&db).unwrap());
}

#[test]
fn one_step_runs_alone_on_a_database_at_its_version_as_an_override() {
    let (_dir, path) = v1();
    let db = store(&path);
    let report =
        verchain::migrate_step::<AgentDb>(&db, "add_router_timeout", &RunOptions::default())
            .unwrap();
    assert_eq!((report.store_version, report.target), (Some(1), 2));
    assert_eq!(report.plan.len(), 1);
    let history = verchain::history(&db).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].operator_override);
    assert_eq!(verchain::status::<AgentDb>(&db).unwrap().stamp, Some(2));
    assert_eq!(dump(&path), golden("agentdb/v2.golden", &dump(&path)));
}

#[test]
fn a_failed_command_leaves_no_state_folder_behind_beside_a_database() {
    let (_dir, path) = v1();
    let before = dump(&path);
    let s = store(&path);
    let state = path.parent().unwrap().join(".verchain");
    let failures: Vec<(&str, Failing<SqliteStore>)> = vec![
        ("rollback with nothing to roll back", |s| {
            verchain::rollback::<AgentDb>(s, &RollbackTo::LastRun, &RunOptions::default())
                .unwrap_err()
        }),
        ("rollback to a snapshot that is not there", |s| {
            let to = RollbackTo::Snapshot("nope".into());
            verchain::rollback::<AgentDb>(s, &to, &RunOptions::default()).unwrap_err()
        }),
        ("rollback above the database's version", |s| {
            let to = RollbackTo::Version(3);
            verchain::rollback::<AgentDb>(s, &to, &RunOptions::default()).unwrap_err()
        }),
    ];
    for (what, fails) in failures {
        let err = fails(&s);
        assert!(err.store_unchanged(), "{what}: {err}");
        assert!(!state.exists(), "{what} left {state:?}: {err}");
    }
    assert_eq!(dump(&path), before);
}

/// A command that fails on a store, and its error.
type Failing<S> = fn(&S) -> verchain::RunError;

/// A database that may not grow: every page a step needs beyond the ones
/// it has is refused, as on a full disk.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 3, name = "cramped")]
pub struct Cramped;

fn no_room(tx: &Transaction) -> Result<(), BoxError> {
    let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    tx.pragma_update(None, "max_page_count", pages)?;
    Ok(())
}

/// Gives every router's config a long value, which needs more pages.
#[migration(chain = Cramped, from = 1, to = 2)]
fn grow_configs(tx: &Transaction) -> Result<(), BoxError> {
    no_room(tx)?;
    verchain::sqlite::add_json_default(tx, "routers", "config", "notes", "x".repeat(4000))?;
    Ok(())
}

/// Rebuilds the routers' table, which needs more pages.
#[migration(chain = Cramped, from = 2, to = 3)]
fn rebuild_routers(tx: &Transaction) -> Result<(), BoxError> {
    no_room(tx)?;
    verchain::sqlite::rebuild_table(
        tx,
        "routers",
        "CREATE TABLE routers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, \
         spare TEXT)",
        &[],
    )?;
    Ok(())
}

#[test]
fn a_full_database_is_reported_as_itself_and_changes_nothing() {
    let (_dir, path) = v1();
    let s = store(&path);
    let before = fs::read(&path).unwrap();
    let err = verchain::migrate::<Cramped>(&s, &to(2)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(!message.contains("Wrong number of parameters"), "{message}");
    assert!(err.store_unchanged(), "{message}");
    assert_eq!(fs::read(&path).unwrap(), before);

    // A rebuild that runs out of room says so too (not that it could not
    // undo itself).
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 2).unwrap();
    drop(raw);
    let before = fs::read(&path).unwrap();
    let err = verchain::migrate::<Cramped>(&s, &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(!message.contains("no such savepoint"), "{message}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn a_run_without_diffs_compares_no_rows_counts_what_the_steps_wrote_and_ends_the_same() {
    let (_dir, compared) = v1();
    let (_dir2, plain) = v1();
    let with_diffs = verchain::migrate::<AgentDb>(&store(&compared), &to(3)).unwrap();
    let options = RunOptions {
        diff_limit: 0,
        ..to(3)
    };
    let without = verchain::migrate::<AgentDb>(&store(&plain), &options).unwrap();
    assert!(!with_diffs.changes.is_empty());
    assert!(without.changes.is_empty(), "{:?}", without.changes);
    // Rows written: every router and worker row the two steps updated.
    assert!(without.counts.changed > 0, "{:?}", without.counts);
    assert_eq!(dump(&plain), dump(&compared));
    let history = verchain::history(&store(&plain)).unwrap();
    assert_eq!(history.len(), 2);
}

/// A rollback that another connection's lock keeps from writing the
/// database is refused as locked (exit 3 from the command line), and says
/// the database is as it was, which it is; once the lock goes, it runs.
#[test]
fn a_rollback_refused_by_another_connections_lock_says_the_database_is_unchanged() {
    let (_dir, path) = v1();
    let s = store(&path);
    verchain::migrate::<AgentDb>(&s, &RunOptions::default()).unwrap();
    let before = dump(&path);
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::Locked { .. }), "{err}");
    assert!(err.store_unchanged(), "{err}");
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    assert_eq!(dump(&path), before);
    assert_eq!(user_version(&path), 5);
    verchain::rollback::<AgentDb>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(user_version(&path), 1);
}

/// A reader whose transaction keeps the run's commit from writing (a
/// database not in WAL mode): the run is refused as locked, the database
/// as it was, not reported as a failed statement.
#[test]
fn a_commit_a_readers_lock_refuses_is_locked_and_changes_nothing() {
    let (_dir, path) = v1();
    let before = dump(&path);
    let reader = Connection::open(&path).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM routers;")
        .unwrap();
    let err = verchain::migrate::<AgentDb>(&store(&path), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Commit, "{err}");
    assert!(matches!(*err.kind, ErrorKind::Locked { .. }), "{err}");
    assert!(err.store_unchanged(), "{err}");
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    assert_eq!(dump(&path), before);
    assert!(snapshot_files(&path).is_empty(), "{err}");
    verchain::migrate::<AgentDb>(&store(&path), &RunOptions::default()).unwrap();
    assert_eq!(user_version(&path), 5);
}

/// Another connection that moves the database's version on between the
/// run's detection and its transaction (a runner that does not take the
/// lock) makes the run stop, changing nothing and naming both versions.
#[test]
fn a_version_moved_on_after_detection_stops_the_run_unchanged() {
    let (_dir, path) = v1();
    let moved = path.clone();
    let options = RunOptions {
        observer: Some(verchain::Observer::new(move |e| {
            if let verchain::Event::RunStarted { .. } = e {
                Connection::open(&moved)
                    .unwrap()
                    .execute_batch("PRAGMA user_version = 2")
                    .unwrap();
            }
        })),
        ..RunOptions::default()
    };
    let err = verchain::migrate::<AgentDb>(&store(&path), &options).unwrap_err();
    assert!(err.store_unchanged(), "{err}");
    assert!(
        matches!(
            *err.kind,
            ErrorKind::VersionMoved {
                detected: 1,
                now: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!(
            "{} changed while the run began: it was at version 1, it is at 2",
            path.display()
        )),
        "{err}"
    );
    assert_eq!(user_version(&path), 2);
    assert!(verchain::history(&store(&path)).unwrap().is_empty());
}
