//! What an application and its operators get around a run: step metadata
//! in the report and at startup (what must restart, a run that needs no
//! snapshot, breaking steps that need confirming), audit events as values
//! and as `tracing` events, and the history's outcome of every run on every
//! kind of store. (That audit events are `tracing` events is checked in
//! `audit_tracing.rs`, a test binary of its own.)

use std::path::Path;
use std::sync::{Arc, Mutex};

use camino::Utf8Path;
use config_example::Config;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::{LogRecord, LogStore};
use verchain::run::{Confirm, Outcome};
use verchain::sqlite::SqliteStore;
use verchain::sqlite::rusqlite::Transaction;
use verchain::{
    AuditEvent, BoxError, Chain, Document, ErrorKind, RollbackTo, RunOptions, Stage, Startup,
    migrate, migrate_step, migration, rollback, run_startup, run_startup_with,
};
use verchain_tests::options::to;
use verchain_tests::tree::{fixture_copy, read_tree};

fn folder(dir: &Path) -> FolderStore {
    FolderStore::new(Utf8Path::from_path(dir).expect("utf-8 temp path"))
}

/// Options whose audit sink keeps every event.
fn audited() -> (RunOptions, Arc<Mutex<Vec<AuditEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = RunOptions::default()
        .with_audit(move |event: &AuditEvent| sink.lock().unwrap().push(event.clone()));
    (options, seen)
}

fn names(seen: &Mutex<Vec<AuditEvent>>) -> Vec<&'static str> {
    seen.lock().unwrap().iter().map(|e| e.name).collect()
}

/// A folder chain whose steps say they need no backup.
#[derive(Chain)]
#[chain(base = 1, current = 3, name = "tags")]
pub struct Tags;

/// Adds `kind`.
#[migration(chain = Tags, from = 1, to = 2, backup_required = false, down = drop_kind)]
fn add_kind(doc: &mut Document) {
    doc.set_default("kind", "note");
}

/// Removes `kind`.
fn drop_kind(doc: &mut Document) {
    doc.remove("kind");
}

/// Adds `seen`.
#[migration(chain = Tags, from = 2, to = 3, requires_restart = ["indexer"], down = drop_seen)]
fn add_seen(doc: &mut Document) {
    doc.set_default("seen", false);
}

/// Removes `seen`.
fn drop_seen(doc: &mut Document) {
    doc.remove("seen");
}

#[test]
fn a_plan_whose_every_step_needs_no_backup_takes_no_snapshot_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.md"), "---\ntitle: A\n---\n").unwrap();
    let store = folder(dir.path());
    let report = migrate::<Tags>(&store, &to(2)).unwrap();
    assert!(report.skips_snapshot);
    assert_eq!(report.snapshot, None);
    assert_eq!(report.counts.changed, 1);
    assert!(!dir.path().join(".verchain/snapshots").exists());
    let history = verchain::history(&store).unwrap();
    assert_eq!(history[0].snapshot, None);
    assert_eq!(history[0].outcome, Outcome::Applied);
    // A step that needs one takes one again, and the plan's restarts add up.
    let report = migrate::<Tags>(&store, &RunOptions::default()).unwrap();
    assert!(!report.skips_snapshot);
    assert!(report.snapshot.is_some());
    assert_eq!(report.requires_restart, ["indexer"]);
    // The run without a snapshot is undone with its `down` step.
    let back = rollback::<Tags>(&store, &RollbackTo::Version(1), &RunOptions::default()).unwrap();
    assert_eq!(back.plan.len(), 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.md")).unwrap(),
        "---\ntitle: A\nschema_version: 1\n---\n"
    );
}

/// A log chain whose one step needs no backup.
#[derive(Chain)]
#[chain(base = 1, current = 2, name = "events", record = LogRecord)]
pub struct Events;

/// Adds `level`.
#[migration(chain = Events, from = 1, to = 2, backup_required = false)]
fn add_level(record: &mut LogRecord) {
    record.set_default("level", "info");
}

#[test]
fn a_log_run_without_a_snapshot_still_commits_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8Path::from_path(dir.path())
        .unwrap()
        .join("events.jsonl");
    std::fs::write(&path, "{\"a\":1}\n").unwrap();
    let report = migrate::<Events>(&LogStore::new(&path), &RunOptions::default()).unwrap();
    assert!(report.skips_snapshot);
    assert_eq!(report.snapshot, None);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"_meta\":{\"schema_version\":2}}\n{\"a\":1,\"level\":\"info\"}\n"
    );
}

/// A database chain whose one step needs no backup.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 2, name = "db")]
pub struct Db;

/// Adds an index.
#[migration(chain = Db, from = 1, to = 2, backup_required = false)]
fn add_index(tx: &Transaction) -> Result<(), BoxError> {
    tx.execute_batch("CREATE INDEX t_a ON t(a)")?;
    Ok(())
}

#[test]
fn a_database_run_without_a_snapshot_takes_none_when_its_transaction_begins() {
    let (dir, db) = verchain_tests::sqlite_db::create("CREATE TABLE t(a);", "db.sqlite");
    let store = SqliteStore::new(Utf8Path::from_path(&db).unwrap());
    let report = migrate::<Db>(&store, &RunOptions::default()).unwrap();
    assert!(report.skips_snapshot);
    assert_eq!(report.snapshot, None);
    assert!(verchain::snapshots(&store).unwrap().is_empty());
    drop(dir);
}

#[test]
fn startup_says_what_must_restart() {
    let dir = fixture_copy("config/v1");
    let startup = run_startup::<Config>(&folder(dir.path())).unwrap();
    assert_eq!(startup.requires_restart(), ["api"]);
    let again = run_startup::<Config>(&folder(dir.path())).unwrap();
    assert!(matches!(again, Startup::UpToDate { version: 4 }));
    assert!(again.requires_restart().is_empty());
    // Only the steps that ran count: notes already at v4 restart nothing.
    let dir = fixture_copy("notes/v3");
    let startup = run_startup::<Notes>(&folder(dir.path())).unwrap();
    assert_eq!(startup.requires_restart(), ["search-index"]);
}

#[test]
fn a_breaking_plan_not_confirmed_changes_nothing() {
    let dir = fixture_copy("config/v1");
    let before = read_tree(dir.path());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&asked);
    let (mut options, audit) = audited();
    options.confirm_breaking = Some(Confirm::new(move |plan| {
        seen.lock()
            .unwrap()
            .extend(plan.iter().filter(|s| s.breaking).map(|s| s.id));
        false
    }));
    let err = migrate::<Config>(&folder(dir.path()), &options).unwrap_err();
    assert!(
        matches!(&*err.kind, ErrorKind::NotConfirmed { steps } if steps == &["join_listen_address"]),
        "{err}"
    );
    assert_eq!(err.stage, Stage::Plan);
    assert_eq!(*asked.lock().unwrap(), ["join_listen_address"]);
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());
    assert_eq!(names(&audit), ["migration.failed"]);
    // A plan without a breaking step is not asked about.
    let report = migrate::<Config>(
        &folder(dir.path()),
        &RunOptions {
            target: Some(2),
            ..options.clone()
        },
    );
    assert!(report.is_ok());
    // Nor is a dry run; and a yes runs it.
    options.dry_run = true;
    assert!(migrate::<Config>(&folder(dir.path()), &options).is_ok());
    options.dry_run = false;
    options.confirm_breaking = Some(Confirm::new(|_| true));
    let report = migrate::<Config>(&folder(dir.path()), &options).unwrap();
    assert_eq!(report.target, 4);
}

#[test]
fn every_committed_step_restore_and_failure_is_an_audit_event() {
    let dir = fixture_copy("notes/v1");
    let store = folder(dir.path());
    let (options, seen) = audited();
    let report = migrate::<Notes>(
        &store,
        &RunOptions {
            target: Some(3),
            ..options.clone()
        },
    )
    .unwrap();
    {
        let events = seen.lock().unwrap();
        assert_eq!(events.len(), 2);
        let first = &events[0];
        assert_eq!(first.name, "migration.applied");
        assert_eq!(first.outcome, Outcome::Applied);
        assert_eq!(first.run_id, report.run_id);
        assert_eq!(first.chain, "notes");
        assert_eq!(first.store, Utf8Path::from_path(dir.path()).unwrap());
        assert_eq!(first.step.as_deref(), Some("add_status"));
        assert_eq!((first.from, first.to), (Some(1), Some(2)));
        assert!(first.counts.changed > 0);
        assert_eq!(first.snapshot, report.snapshot);
        assert_eq!(events[1].step.as_deref(), Some("rename_created"));
    }
    // `down` steps, a snapshot restore, a step run alone.
    rollback::<Notes>(&store, &RollbackTo::Version(2), &options).unwrap();
    migrate_step::<Notes>(&store, "rename_created", &options).unwrap();
    rollback::<Notes>(&store, &RollbackTo::LastRun, &options).unwrap();
    let events = seen.lock().unwrap().clone();
    let said: Vec<_> = events.iter().map(|e| (e.name, e.outcome)).collect();
    assert_eq!(
        said[2..],
        [
            ("migration.rolled_back", Outcome::RolledBack),
            ("migration.applied", Outcome::Override),
            ("migration.restored", Outcome::RolledBack),
        ]
    );
    assert_eq!(events[4].step, None);
    assert!(events[4].snapshot.is_some());
    // The history says the same outcomes.
    let history = verchain::history(&store).unwrap();
    let outcomes: Vec<Outcome> = history.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Applied,
            Outcome::Applied,
            Outcome::RolledBack,
            Outcome::Override,
            Outcome::RolledBack
        ]
    );
    // A failed run: an event, and nothing in the store or its history.
    std::fs::write(dir.path().join("untitled.md"), "---\ntags: x\n---\n").unwrap();
    let before = read_tree(dir.path());
    let err = migrate::<Notes>(&store, &options).unwrap_err();
    assert_eq!(read_tree(dir.path()), before);
    assert_eq!(verchain::history(&store).unwrap(), history);
    let failed = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(failed.name, "migration.failed");
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.stage, Some(err.stage));
    assert_eq!(failed.error, Some(err.kind.to_string()));
    assert!(failed.store_unchanged);
    assert_eq!(failed.to, Some(4));
    // A dry run is no audit event, failed or not.
    let count = seen.lock().unwrap().len();
    let dry = RunOptions {
        dry_run: true,
        ..options.clone()
    };
    assert!(migrate::<Notes>(&store, &dry).is_ok());
    assert_eq!(seen.lock().unwrap().len(), count);
}

#[test]
fn startup_with_an_audit_sink_reports_what_it_applied() {
    let dir = fixture_copy("notes/v1");
    let (options, seen) = audited();
    let options = RunOptions {
        audit: options.audit,
        ..RunOptions::startup()
    };
    let startup = run_startup_with::<Notes>(&folder(dir.path()), &options).unwrap();
    assert!(matches!(startup, Startup::Migrated(_)));
    assert_eq!(names(&seen), ["migration.applied"; 3]);
    let dry = RunOptions {
        dry_run: true,
        ..RunOptions::startup()
    };
    let refused = run_startup_with::<Notes>(&folder(dir.path()), &dry).unwrap_err();
    assert!(
        matches!(*refused.kind, ErrorKind::Unsupported { .. }),
        "{refused}"
    );
}

#[test]
fn a_database_history_says_override_and_rolled_back_as_a_folder_does() {
    let (_dir, db) = verchain_tests::sqlite_db::create(agentdb_example::V1_SQL, "agent.db");
    let store = SqliteStore::new(Utf8Path::from_path(&db).unwrap());
    let (options, seen) = audited();
    migrate_step::<agentdb_example::AgentDb>(&store, "add_router_timeout", &options).unwrap();
    rollback::<agentdb_example::AgentDb>(&store, &RollbackTo::LastRun, &options).unwrap();
    let history = verchain::history(&store).unwrap();
    let outcomes: Vec<Outcome> = history.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Override, Outcome::RolledBack]);
    assert!(history[0].applied_a_step());
    assert_eq!(names(&seen), ["migration.applied", "migration.restored"]);
}
