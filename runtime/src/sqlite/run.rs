//! The run on an SQLite database: lock → `BEGIN IMMEDIATE` → detect → plan
//! → snapshot → every step in the one transaction → validate inside it →
//! `COMMIT`, or `ROLLBACK` and the database is byte for byte as it was.
//!
//! A dry run takes the same path and ends in `ROLLBACK`. Steps run with
//! foreign key enforcement off (`PRAGMA foreign_keys` cannot change inside
//! a transaction, and a table rebuild needs it off); every foreign key is
//! checked with `PRAGMA foreign_key_check` before the commit instead.

use std::collections::BTreeMap;
use std::time::Duration;

use camino::Utf8PathBuf;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::diff::{self, State};
use super::error::SqliteError;
use super::record::{Sql, SqlVerify};
use super::store::{SqliteStore, user_version};
use super::{helpers, history, snapshot};
use crate::run::lock::{self, StoreLock};
use crate::run::plan;
use crate::run::{
    Counts, Direction, ErrorKind, HistoryRecord, PlannedStep, Report, RunError, RunInfo,
    RunOptions, Stage, ValidationFailure, io,
};
use crate::{Chain, Event, Step, fsio};

/// Where a run goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Goal {
    /// Forward to this version, with `up` steps.
    Up(u32),
    /// Back to this version, with `down` steps.
    Down(u32),
}

/// One step as a run applies it to the database.
type Move<'a> = plan::Move<'a, Sql>;

/// What the steps did inside the transaction.
struct Applied {
    failures: Vec<ValidationFailure>,
    per_step: Vec<Counts>,
    after: State,
}

/// A run in progress, holding the store's lock and a connection.
pub(super) struct Run<'s, C: Chain<Record = Sql>> {
    pub(super) store: &'s SqliteStore,
    pub(super) options: &'s RunOptions,
    steps: Vec<Step<Sql>>,
    pub(super) info: RunInfo,
    _lock: Option<StoreLock>,
    _chain: std::marker::PhantomData<C>,
}

impl<'s, C: Chain<Record = Sql>> Run<'s, C> {
    pub(super) fn fail(&self, stage: Stage, kind: impl Into<ErrorKind>) -> RunError {
        RunError::new(C::NAME, stage, kind)
    }

    pub(super) fn emit(&self, event: Event) {
        if let Some(observer) = &self.options.observer {
            observer.emit(&event);
        }
    }

    /// Takes the lock (a dry run on a database verchain never touched takes
    /// none, so as to create nothing), clears what a crashed restore left,
    /// and opens the database.
    pub(super) fn open(
        store: &'s SqliteStore,
        options: &'s RunOptions,
    ) -> Result<(Self, Connection), RunError> {
        let err = |stage, kind| RunError::new(C::NAME, stage, kind);
        let mut run = Self::context(store, options)?;
        // Nothing is created beside a path that is not a database.
        if std::fs::metadata(store.path()).is_ok() {
            store.check_header().map_err(|k| err(Stage::Detect, k))?;
        }
        run._lock = lock_store(store, options).map_err(|k| err(Stage::Lock, k))?;
        if !options.dry_run {
            let scratch = store.scratch_path();
            if scratch.exists() {
                fsio::remove_file(&scratch)
                    .map_err(|e| err(Stage::Recover, io("remove", &scratch)(e)))?;
            }
        }
        let conn = store
            .open(false, options.wait)
            .map_err(|k| err(Stage::Detect, k))?;
        Ok((run, conn))
    }

    /// A run's context without its lock or connection, for reading.
    pub(super) fn context(
        store: &'s SqliteStore,
        options: &'s RunOptions,
    ) -> Result<Self, RunError> {
        options
            .refuse_skip_malformed(
                "skipping malformed records (`--skip-malformed`) in an SQLite database",
            )
            .map_err(|k| RunError::new(C::NAME, Stage::Plan, k))?;
        let steps =
            crate::checked_steps::<C>().map_err(|e| RunError::new(C::NAME, Stage::Plan, e))?;
        Ok(Run {
            store,
            options,
            steps,
            info: RunInfo::new(C::NAME),
            _lock: None,
            _chain: std::marker::PhantomData,
        })
    }

    /// The database's version: `PRAGMA user_version`, 0 read as the base.
    pub(super) fn version(&self, conn: &Connection) -> Result<u32, RunError> {
        let fail = |k: ErrorKind| self.fail(Stage::Detect, k);
        let raw = user_version(conn).map_err(|e| fail(e.into()))?;
        let version = u32::try_from(raw).map_err(|_| {
            fail(ErrorKind::BadVersion {
                path: self.store.path().to_owned(),
                key: "user_version",
                value: raw.to_string(),
            })
        })?;
        let version = if version == 0 { C::BASE } else { version };
        if version > C::CURRENT {
            return Err(fail(ErrorKind::DocumentTooNew {
                path: self.store.path().to_owned(),
                version,
                current: C::CURRENT,
            }));
        }
        if version < C::BASE {
            return Err(fail(ErrorKind::DocumentTooOld {
                path: self.store.path().to_owned(),
                version,
                base: C::BASE,
            }));
        }
        Ok(version)
    }

    /// The `up` steps from `version` to `target`.
    pub(super) fn plan_up(&self, version: u32, target: u32) -> Result<Vec<PlannedStep>, RunError> {
        Ok(self
            .moves_up(version, target)?
            .iter()
            .map(Move::planned)
            .collect())
    }

    fn moves_up(&self, version: u32, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
        if version > target {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetBelowStore {
                    target,
                    store: version,
                    path: self.store.path().to_owned(),
                },
            ));
        }
        Ok(plan::up(&self.steps, version, target))
    }

    /// The `down` steps from `version` back to `target`.
    fn moves_down(&self, version: u32, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
        if version < target {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetAboveStore {
                    target,
                    store: version,
                    path: self.store.path().to_owned(),
                },
            ));
        }
        plan::down(&self.steps, version, target).map_err(|k| self.fail(Stage::Plan, k))
    }

    /// The run proper: one transaction from detection to commit.
    pub(super) fn execute(
        &mut self,
        conn: &mut Connection,
        goal: Goal,
    ) -> Result<Report, RunError> {
        let tx = self.begin(conn)?;
        let version = self.version(&tx)?;
        // Applied steps edited since are refused, or, when the options
        // allow them, named in every history line of the run.
        let history =
            history::read(&tx, self.store.path()).map_err(|k| self.fail(Stage::Plan, k))?;
        self.info
            .check_unedited(
                &history,
                &self.steps,
                Some(version),
                self.options.allow_changed,
            )
            .map_err(|k| self.fail(Stage::Plan, k))?;
        let (plan, target, direction) = match goal {
            Goal::Up(target) => (self.moves_up(version, target)?, target, Direction::Up),
            Goal::Down(target) => (self.moves_down(version, target)?, target, Direction::Down),
        };
        let mut report = Report {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            dry_run: self.options.dry_run,
            direction,
            store_version: Some(version),
            target,
            plan: plan.iter().map(Move::planned).collect(),
            versions: BTreeMap::from([(version, 1)]),
            counts: Counts::default(),
            changes: Vec::new(),
            failures: Vec::new(),
            snapshot: None,
        };
        if plan.is_empty() {
            // Nothing to run; a database at the base version that was never
            // stamped gets its stamp.
            let raw = user_version(&tx).map_err(|e| self.fail(Stage::Detect, e))?;
            if !self.options.dry_run && raw != i64::from(target) {
                set_version(&tx, target).map_err(|e| self.fail(Stage::Commit, e))?;
                tx.commit().map_err(|e| {
                    self.fail(
                        Stage::Commit,
                        SqliteError::sql("commit the version stamp")(e),
                    )
                })?;
            }
            return Ok(report);
        }
        let samples = self.options.diff_limit;
        let before = diff::capture(&tx, samples).map_err(|e| self.fail(Stage::Detect, e))?;
        self.emit(Event::RunStarted {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            direction,
            dry_run: self.options.dry_run,
            from: Some(version),
            to: target,
            plan: report.plan.clone(),
            records: 1,
        });
        let snapshot = if self.options.dry_run {
            None
        } else {
            self.emit(Event::StageStarted {
                stage: Stage::Snapshot,
                total: 1,
            });
            let info = snapshot::create(
                self.store.path(),
                &self.store.snapshot_dir(),
                self.store.file_name(),
                C::NAME,
                version,
                target,
            )
            .map_err(|k| self.fail(Stage::Snapshot, k))?;
            self.emit(Event::SnapshotWritten {
                id: info.id.clone(),
                files: 1,
            });
            Some(info.id)
        };
        let discard = |run: &Self| {
            if let Some(id) = &snapshot {
                let _ = snapshot::remove(&run.store.snapshot_dir(), id);
            }
        };
        let applied = match self.apply(&tx, &plan, target) {
            Ok(applied) => applied,
            Err(e) => {
                drop(tx);
                discard(self);
                return Err(e);
            }
        };
        for failure in &applied.failures {
            self.emit(Event::ValidationFailed {
                failure: failure.clone(),
            });
        }
        let (changes, counts) = diff::changes(&before, &applied.after, samples > 0);
        report.changes = changes;
        report.counts = counts;
        report.failures = applied.failures;
        report.snapshot = snapshot.clone();
        if self.options.dry_run {
            tx.rollback()
                .map_err(|e| self.fail(Stage::Validate, SqliteError::sql("roll back")(e)))?;
            return Ok(report);
        }
        if !report.failures.is_empty() {
            drop(tx);
            discard(self);
            return Err(self.fail(
                Stage::Validate,
                ErrorKind::Validation {
                    failures: report.failures,
                },
            ));
        }
        let records = self.records(
            &plan,
            &applied.per_step,
            snapshot.as_deref(),
            direction,
            version,
        );
        let committed = history::append(&tx, &records)
            .map_err(|e| self.fail(Stage::Record, e))
            .and_then(|()| {
                tx.commit().map_err(|e| {
                    self.fail(
                        Stage::Commit,
                        SqliteError::sql(format!(
                            "commit to {}; SQLite rolled the transaction back",
                            self.store.path()
                        ))(e),
                    )
                })
            });
        if let Err(e) = committed {
            discard(self);
            // The transaction was not committed: SQLite rolled it back.
            return Err(e.unchanged());
        }
        self.emit(Event::Committed {
            version: target,
            counts: report.counts,
        });
        Ok(report)
    }

    /// `BEGIN IMMEDIATE`: the write lock on the database, so that no other
    /// connection writes while the run reads and changes it.
    pub(super) fn begin<'c>(&self, conn: &'c mut Connection) -> Result<Transaction<'c>, RunError> {
        let path = self.store.path().to_owned();
        Transaction::new(conn, TransactionBehavior::Immediate).map_err(|cause| {
            let kind = match cause.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    ErrorKind::Locked {
                        root: path.clone(),
                        owner: format!("another connection writing to it ({cause})"),
                    }
                }
                _ => SqliteError::Sql {
                    what: format!("begin a transaction on {path}"),
                    cause,
                }
                .into(),
            };
            RunError::new(C::NAME, Stage::Lock, kind)
        })
    }

    /// Runs every step, each checked after it returns, stamps the version,
    /// then validates the whole database.
    fn apply(
        &self,
        tx: &Transaction<'_>,
        plan: &[Move<'_>],
        target: u32,
    ) -> Result<Applied, RunError> {
        let stage = |k: SqliteError| self.fail(Stage::Stage, k);
        helpers::ensure_expectations(tx).map_err(stage)?;
        let db = Utf8PathBuf::from(self.store.file_name());
        let mut failures = Vec::new();
        let mut per_step = Vec::new();
        for m in plan {
            self.emit(Event::StepStarted {
                step: m.meta.id,
                from: m.from,
                to: m.to,
            });
            let written = tx.total_changes();
            self.call(m, tx)?;
            let counts = Counts {
                changed: usize::try_from(tx.total_changes() - written).unwrap_or(usize::MAX),
                ..Counts::default()
            };
            self.emit(Event::StepFinished {
                step: m.meta.id,
                from: m.from,
                to: m.to,
                counts,
            });
            per_step.push(counts);
            for (table, message) in helpers::unmet_expectations(tx).map_err(stage)? {
                failures.push(ValidationFailure {
                    path: Utf8PathBuf::from(table),
                    step: Some(m.meta.id),
                    version: m.to,
                    message,
                });
            }
            if let Some(verify) = m.verify
                && let Err(e) = verify(tx)
            {
                failures.push(ValidationFailure {
                    path: db.clone(),
                    step: Some(m.meta.id),
                    version: m.to,
                    message: e.to_string(),
                });
            }
        }
        set_version(tx, target).map_err(stage)?;
        let validate = |k: SqliteError| self.fail(Stage::Validate, k);
        failures.extend(check_database(tx, &db, target).map_err(validate)?);
        let after = diff::capture(tx, self.options.diff_limit).map_err(validate)?;
        Ok(Applied {
            failures,
            per_step,
            after,
        })
    }

    /// Runs one step, turning its error or panic into a run error that
    /// names the step, both versions and the database.
    fn call(&self, m: &Move<'_>, tx: &Transaction<'_>) -> Result<(), RunError> {
        crate::run::call_step(m.meta.id, m.from, m.to, self.store.path(), || (m.body)(tx))
            .map_err(|k| self.fail(Stage::Stage, k))
    }

    fn records(
        &self,
        plan: &[Move<'_>],
        per_step: &[Counts],
        snapshot: Option<&str>,
        direction: Direction,
        version: u32,
    ) -> Vec<HistoryRecord> {
        let mut records = self.info.step_records(plan, direction);
        for (record, counts) in records.iter_mut().zip(per_step) {
            record.counts = *counts;
            record.snapshot = snapshot.map(str::to_owned);
            record.stamp_before = Some(version);
        }
        records
    }

    /// The verify function of the step that arrives at `version`, if any.
    pub(super) fn verify_of(&self, version: u32) -> Option<(&'static str, &SqlVerify)> {
        self.steps
            .iter()
            .find(|s| s.to() == version)
            .and_then(|s| Some((s.id(), s.verify()?)))
    }
}

/// The store's lock; a dry run takes it only if verchain has used the
/// store before, and then without writing to the lock file.
pub(super) fn lock_store(
    store: &SqliteStore,
    options: &RunOptions,
) -> Result<Option<StoreLock>, ErrorKind> {
    let path = store.lock_path();
    if options.dry_run {
        if !path.exists() {
            return Ok(None);
        }
        return lock::acquire(store.path(), &path, options.wait, false).map(Some);
    }
    std::fs::metadata(store.path()).map_err(io("open database", store.path()))?;
    let state = store.state_dir();
    fsio::create_dir_all(&state).map_err(io("create", &state))?;
    lock::acquire(store.path(), &path, options.wait, true).map(Some)
}

fn set_version(conn: &Connection, version: u32) -> Result<(), SqliteError> {
    conn.pragma_update(None, "user_version", version)
        .map_err(SqliteError::sql("set `PRAGMA user_version`"))
}

/// `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on the database
/// as the transaction sees it, as validation failures at `version`.
pub(super) fn check_database(
    conn: &Connection,
    db: &Utf8PathBuf,
    version: u32,
) -> Result<Vec<ValidationFailure>, SqliteError> {
    let mut failures = Vec::new();
    for problem in snapshot::integrity_problems(conn)
        .map_err(SqliteError::sql("run `PRAGMA integrity_check`"))?
    {
        failures.push(ValidationFailure {
            path: db.clone(),
            step: None,
            version,
            message: format!("`PRAGMA integrity_check`: {problem}"),
        });
    }
    let what = "run `PRAGMA foreign_key_check`";
    let mut stmt = conn
        .prepare("SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check")
        .map_err(SqliteError::sql(what))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(SqliteError::sql(what))?;
    for row in rows {
        let (table, rowid, parent, fkid) = row.map_err(SqliteError::sql(what))?;
        let row = rowid.map_or_else(|| "a row".to_owned(), |r| format!("rowid {r}"));
        failures.push(ValidationFailure {
            path: Utf8PathBuf::from(table),
            step: None,
            version,
            message: format!(
                "{row} references a row of `{parent}` that does not exist (foreign key {fkid})"
            ),
        });
    }
    Ok(failures)
}

/// How long `run_startup` waits for another runner.
pub(super) const STARTUP_WAIT: Duration = Duration::from_secs(60);
