//! SQLite databases (feature `sqlite`): chains whose steps run over one
//! transaction, with the same run, report, history and rollback as a
//! folder of documents.
//!
//! ```
//! use verchain::sqlite::rusqlite::{Connection, Transaction};
//! use verchain::sqlite::{self, Sql, SqliteStore, add_column};
//! use verchain::{Chain, RunOptions, migration};
//!
//! /// The agents of an agent runtime.
//! #[derive(Chain)]
//! #[chain(record = verchain::sqlite::Sql, base = 1, current = 2)]
//! pub struct Agents;
//!
//! /// Adds `status`, `idle` for existing workers.
//! #[migration(chain = Agents, from = 1, to = 2)]
//! fn add_status(tx: &Transaction) -> Result<(), verchain::BoxError> {
//!     add_column(tx, "workers", "status", "TEXT NOT NULL DEFAULT 'idle'")?;
//!     Ok(())
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("agents.db");
//! Connection::open(&path)?.execute_batch(
//!     "CREATE TABLE workers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
//!      INSERT INTO workers (name) VALUES ('w1'), ('w2');",
//! )?;
//! let store = SqliteStore::new(path.to_str().unwrap());
//! let report = sqlite::migrate::<Agents>(&store, &RunOptions::default())?;
//! assert_eq!(report.counts.changed, 2);
//! assert!(report.snapshot.is_some());
//! let status: String = Connection::open(&path)?
//!     .query_row("SELECT status FROM workers WHERE name = 'w2'", [], |r| r.get(0))?;
//! assert_eq!(status, "idle");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The run
//!
//! lock → `BEGIN IMMEDIATE` → detect (`PRAGMA user_version`) → plan →
//! snapshot (online backup API, checked with `PRAGMA integrity_check`) →
//! every step in the one transaction → validate inside it
//! (`PRAGMA integrity_check`, `PRAGMA foreign_key_check`, each step's
//! `verify`, the row counts steps declare with [`expect_rows`]) → record in
//! `_verchain_history` → `COMMIT`. Any failure ends in `ROLLBACK`, leaving
//! the database file byte for byte as it was, and removes the run's
//! snapshot. A dry run takes the same path and always ends in `ROLLBACK`;
//! its report has one change per table whose rows or schema differ, with a
//! diff of the table's definitions and of its first rows (up to the run's
//! `diff_limit`), and the counts of rows changed, unchanged, added
//! (`created`) and removed.
//!
//! Steps run with foreign key enforcement off: `PRAGMA foreign_keys`
//! cannot change inside a transaction, and rebuilding a table needs it
//! off. `ON DELETE` actions therefore do not fire inside a step; every
//! foreign key is checked before the commit, and a row that references
//! nothing fails the run, naming its table and rowid.
//!
//! A database whose `user_version` is 0 (SQLite's default) is at the
//! chain's base version. verchain's files for the database live in the
//! `.verchain/` folder beside it (see [`SqliteStore`]).

mod diff;
mod error;
mod helpers;
mod history;
mod record;
mod restore;
mod run;
mod snapshot;
mod sql;
mod store;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use error::SqliteError;
pub use helpers::{Rows, add_column, add_json_default, expect_rows, promote_json, rebuild_table};
pub use record::{Sql, SqlBody, SqlVerify};
pub use rusqlite;
pub use store::SqliteStore;

use crate::run::{ErrorKind, PlannedStep, RunError, Stage, io};
use crate::{
    Chain, HistoryRecord, Report, RollbackTo, RunOptions, SnapshotInfo, Startup, Status,
    ValidationFailure,
};
use run::{Goal, Run};

/// Migrates the database to the target version (the chain's current one by
/// default), or with `dry_run`, reports what that would do and changes
/// nothing.
pub fn migrate<C: Chain<Record = Sql>>(
    store: &SqliteStore,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let (mut run, mut conn) = Run::<C>::open(store, options)?;
    run.execute(&mut conn, Goal::Up(options.target.unwrap_or(C::CURRENT)))
}

/// The call an application makes before it serves: returns at once when
/// the database is at the chain's current version, or migrates it. Waits
/// up to a minute for another runner.
pub fn run_startup<C: Chain<Record = Sql>>(store: &SqliteStore) -> Result<Startup, RunError> {
    let options = RunOptions {
        wait: run::STARTUP_WAIT,
        diff_limit: 0,
        ..RunOptions::default()
    };
    let (mut run, mut conn) = Run::<C>::open(store, &options)?;
    let version = run.version(&conn)?;
    if version == C::CURRENT && store::user_version(&conn).is_ok_and(|v| v != 0) {
        return Ok(Startup::UpToDate { version });
    }
    let report = run.execute(&mut conn, Goal::Up(C::CURRENT))?;
    Ok(Startup::Migrated(Box::new(report)))
}

/// Rolls the database back: to a snapshot (verified, then restored with
/// the online backup API), or to a version with `down` steps, in one
/// transaction like a migration.
pub fn rollback<C: Chain<Record = Sql>>(
    store: &SqliteStore,
    to: &RollbackTo,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let (mut run, mut conn) = Run::<C>::open(store, options)?;
    match to {
        RollbackTo::Version(version) => run.execute(&mut conn, Goal::Down(*version)),
        RollbackTo::LastRun => restore::restore(&run, &mut conn, None),
        RollbackTo::Snapshot(id) => restore::restore(&run, &mut conn, Some(id)),
    }
}

/// The database's state without changing anything (no lock is taken):
/// its version, the pending steps, the last run, how many snapshots it has.
///
/// `stamp` is `PRAGMA user_version` (`None` while it is 0), and `versions`
/// counts the one database at its version. `interrupted` says whether a
/// restore was interrupted (its scratch copy is still there; the next run
/// removes it, and the database itself is as SQLite's journal left it).
pub fn status<C: Chain<Record = Sql>>(store: &SqliteStore) -> Result<Status, RunError> {
    let fail = |stage, kind| RunError::new(C::NAME, stage, kind);
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let conn = store
        .open(true, Duration::ZERO)
        .map_err(|k| fail(Stage::Detect, k))?;
    let run = Run::<C>::context(store, &options)?;
    let version = run.version(&conn)?;
    let raw = store::user_version(&conn).map_err(|e| fail(Stage::Detect, e.into()))?;
    let history = history::read(&conn, store.path()).map_err(|k| fail(Stage::Detect, k))?;
    let snapshots = snapshots(store).map_err(|k| fail(Stage::Detect, k))?.len();
    let pending: Vec<PlannedStep> = run.plan_up(version, C::CURRENT)?;
    let stamp = u32::try_from(raw).ok().filter(|v| *v != 0);
    let metas: Vec<crate::StepMeta> = C::steps().iter().map(|s| *s.meta()).collect();
    Ok(Status {
        chain: C::NAME,
        store: store.path().to_owned(),
        stamp,
        current: C::CURRENT,
        versions: [(version, 1)].into(),
        pending,
        last_run: crate::LastRun::of(&history),
        snapshots,
        interrupted: store.scratch_path().exists(),
        edited_since_applied: crate::edited_since_applied(&history, &metas, stamp),
        unreadable: Vec::new(),
    })
}

/// Checks the database at its own version without migrating or changing
/// anything: `PRAGMA integrity_check`, `PRAGMA foreign_key_check`, and the
/// `verify` function of the step that arrives at its version. Returns how
/// many tables were checked and every failure.
pub fn verify<C: Chain<Record = Sql>>(
    store: &SqliteStore,
) -> Result<(usize, Vec<ValidationFailure>), RunError> {
    let fail = |stage, kind: ErrorKind| RunError::new(C::NAME, stage, kind);
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let run = Run::<C>::context(store, &options)?;
    let mut conn = store
        .open(true, Duration::ZERO)
        .map_err(|k| fail(Stage::Detect, k))?;
    let version = run.version(&conn)?;
    let tx = conn
        .transaction()
        .map_err(|e| fail(Stage::Validate, SqliteError::sql("begin reading")(e).into()))?;
    let db = camino::Utf8PathBuf::from(store.file_name());
    let mut failures =
        run::check_database(&tx, &db, version).map_err(|e| fail(Stage::Validate, e.into()))?;
    if let Some((step, verify)) = run.verify_of(version)
        && let Err(e) = verify(&tx)
    {
        failures.push(ValidationFailure {
            path: db,
            step: Some(step),
            version,
            message: e.to_string(),
        });
    }
    let tables: usize = tx
        .query_row(
            "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_verchain_history'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| {
            fail(
                Stage::Validate,
                SqliteError::sql("count the tables")(e).into(),
            )
        })?;
    Ok((tables, failures))
}

/// The database's history (`_verchain_history`), oldest first.
pub fn history(store: &SqliteStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
    let conn = store.open(true, Duration::ZERO)?;
    history::read(&conn, store.path())
}

/// The database's snapshots, newest first.
pub fn snapshots(store: &SqliteStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    snapshot::list(&store.snapshot_dir())
}

/// Removes all but the `keep` newest snapshots; returns the removed ones.
/// Takes the store's lock, so no run is using them.
pub fn prune_snapshots(store: &SqliteStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    let dir = store.snapshot_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let _lock = run::lock_store(store, &RunOptions::default())?;
    snapshot::prune(&dir, keep)
}

/// Removes the scratch copy a crashed restore left, if any (every run does
/// this first); returns whether there was one. SQLite itself rolls back a
/// transaction a crash interrupted, the next time the database is opened.
pub fn recover<C: Chain<Record = Sql>>(store: &SqliteStore) -> Result<bool, RunError> {
    let scratch = store.scratch_path();
    if !scratch.exists() {
        return Ok(false);
    }
    let fail = |k| RunError::new(C::NAME, Stage::Recover, k);
    let _lock = run::lock_store(store, &RunOptions::default()).map_err(fail)?;
    crate::fsio::remove_file(&scratch)
        .map_err(io("remove", &scratch))
        .map_err(fail)?;
    Ok(true)
}

/// Refused: a database's steps run in one transaction, in order, so one
/// step cannot run alone.
pub fn migrate_step<C: Chain<Record = Sql>>(
    _store: &SqliteStore,
    _id: &str,
    _options: &RunOptions,
) -> Result<Report, RunError> {
    Err(RunError::new(
        C::NAME,
        Stage::Plan,
        ErrorKind::Unsupported {
            what: "`migrate --id` on an SQLite database (its steps run in one transaction, in \
                   order)",
        },
    ))
}
