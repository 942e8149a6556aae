//! The SQLite database's side of the run protocol ([`Store`] for
//! [`SqliteStore`]): one transaction from `BEGIN IMMEDIATE` to `COMMIT`.
//!
//! The transaction begins (taking SQLite's write lock, so that no other
//! connection writes while the run reads and changes the database), the
//! version detected before is checked again, and a real run copies the
//! database as it is with the online backup API (the copy is checked and
//! listed on a thread of its own while the steps run: `sealing.rs`); then
//! every step runs inside the transaction, the version is stamped, and
//! validation runs
//! inside it too (`PRAGMA integrity_check`, `PRAGMA foreign_key_check`,
//! each step's `verify`, the row counts steps declare with `expect_rows`).
//! The commit inserts the history's rows and commits; anything else ends
//! in `ROLLBACK` (dropping the transaction), and the database is byte for
//! byte as it was. Steps run with foreign key enforcement off (`PRAGMA
//! foreign_keys` cannot change inside a transaction, and a table rebuild
//! needs it off); every key is checked before the commit instead.

use camino::{Utf8Path, Utf8PathBuf};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::check::check_database;
use super::diff::{self, State};
use super::error::SqliteError;
use super::record::{Sql, SqlVerify};
use super::sealing::Sealing;
use super::store::{SqliteStore, user_version};
use super::{helpers, history, restore, snapshot};
use crate::run::Verified;
use crate::run::plan::Move;
use crate::run::steps::{Opened, StepTransaction, run_in_transaction};
use crate::run::store::{
    Failed, NoJournal, Purpose, Restoring, SnapshotEntry, SnapshotFormat, Staging, StampState,
    Store, Taken, Undo, Version, Work,
};
use crate::run::{ChainInfo, ErrorKind, HistoryRecord, Run, RunOptions, ValidationFailure};

/// What a run prepared.
pub enum Staged<'s> {
    /// The steps' transaction, and the snapshot taken when it began, which
    /// is checked and listed while the steps run.
    Run(Opened<Transaction<'s>, State>, Option<Box<Sealing>>),
    /// A restore: the snapshot's database, read-only, to write over the live
    /// one.
    Restore(restore::Staged<'s>),
}

impl Store for SqliteStore {
    type Record = Sql;
    type Item = Utf8PathBuf;
    type Session = Connection;
    type Staged<'s> = Staged<'s>;
    type Journal = NoJournal;

    const KIND: &'static str = "SQLite database";

    fn location(&self) -> &Utf8Path {
        self.path()
    }

    fn open(&self, purpose: Purpose, options: &RunOptions) -> Result<Connection, ErrorKind> {
        let read_only = matches!(purpose, Purpose::Read | Purpose::Prune);
        SqliteStore::open(self, read_only, options.wait)
    }

    fn state_dir(&self) -> Utf8PathBuf {
        SqliteStore::state_dir(self)
    }

    fn lock_path(&self) -> Utf8PathBuf {
        SqliteStore::lock_path(self)
    }

    fn journal(&self, _: &mut Connection) -> Result<Option<NoJournal>, ErrorKind> {
        // SQLite undoes an interrupted transaction itself, from its own
        // journal, when the database is next opened.
        Ok(None)
    }

    /// The scratch copy of a restore that never committed.
    fn leftovers(&self, _: &mut Connection) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        let scratch = self.scratch_path();
        Ok(scratch.exists().then_some(scratch).into_iter().collect())
    }

    fn history(&self, conn: &mut Connection) -> Result<Vec<HistoryRecord>, ErrorKind> {
        history::read(conn, self.path())
    }

    fn stamp(&self, conn: &mut Connection, _: &ChainInfo<Sql>) -> Result<Option<u32>, ErrorKind> {
        let raw = user_version(conn)?;
        if raw == 0 {
            return Ok(None);
        }
        version_number(self.path(), raw).map(Some)
    }

    fn items(&self, _: &mut Connection) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        Ok(vec![self.path().to_owned()])
    }

    fn stamp_state(
        &self,
        conn: &mut Connection,
        _: &ChainInfo<Sql>,
    ) -> Result<StampState, ErrorKind> {
        self.sqlite_stamp_state(conn)
    }

    fn begin_stamp<'s>(
        &'s self,
        conn: &'s mut Connection,
        run: &Run<'_, Sql>,
        version: u32,
    ) -> Result<Staged<'s>, ErrorKind> {
        self.stage_stamp(conn, run, version)
    }

    fn version_of(
        &self,
        conn: &mut Connection,
        chain: &ChainInfo<Sql>,
        _: &Utf8PathBuf,
        _: Option<u32>,
    ) -> Result<Version, ErrorKind> {
        self.version(chain, conn).map(Version::At)
    }

    fn begin<'s>(
        &'s self,
        conn: &'s mut Connection,
        run: &Run<'_, Sql>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staged<'s>, ErrorKind> {
        let tx = self.transaction(conn)?;
        // Another connection may have changed the database between detection
        // and the write lock.
        let now = self.version(&run.chain, &tx)?;
        let detected = work.detected.newest().map(|(v, _)| v);
        if detected != Some(now) {
            return Err(ErrorKind::VersionMoved {
                store: self.path().to_string(),
                detected: detected.unwrap_or(now),
                now,
            });
        }
        let compare = run.compares_rows();
        let limit = run.options.diff_limit;
        // A real run reads the rows before the steps from its snapshot's
        // copy, beside the steps; a dry run reads them here.
        let copies = !run.dry_run() && work.takes_snapshot();
        let before = |tx: &mut Transaction<'_>| {
            helpers::ensure_expectations(tx)?;
            Ok((compare && !copies)
                .then(|| diff::capture(tx, limit))
                .transpose()?)
        };
        // The state the steps start from, copied before they change it.
        let mut sealing = None;
        let snapshot = |_: &mut Transaction<'_>| {
            let from = detected.unwrap_or(work.target);
            let (dir, name) = (self.snapshot_dir(), self.file_name());
            let (chain, id) = (run.chain.name, run.id());
            let copied = snapshot::copy(self.path(), &dir, name, chain, id, from, work.target)?;
            let id = copied.id.clone();
            sealing = Some(Box::new(Sealing::start(copied, compare.then_some(limit))?));
            Ok(id)
        };
        let opened = Opened::begin(tx, run, work, before, snapshot)?;
        Ok(Staged::Run(opened, sealing))
    }

    fn stage(
        &self,
        staged: &mut Staged<'_>,
        run: &Run<'_, Sql>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind> {
        let Staged::Run(Opened { tx, before, .. }, sealing) = staged else {
            return Ok(Staging::default());
        };
        let raw = user_version(tx)?;
        let mut out = Staging {
            commits: !work.plan.is_empty() || raw != i64::from(work.target),
            ..Staging::default()
        };
        let db = Utf8PathBuf::from(self.file_name());
        run_in_transaction(tx, run, work.plan, self.path(), &db, &mut out)?;
        if out.commits {
            set_version(tx, work.target)?;
        }
        if before.is_none()
            && let Some(sealing) = sealing
        {
            *before = sealing.before()?;
        }
        if let Some(before) = before {
            let after = diff::capture(tx, run.options.diff_limit)?;
            let (changes, counts) = diff::changes(before, &after, run.options.diff_limit > 0);
            out.changes = changes;
            out.counts = counts;
        }
        Ok(out)
    }

    fn validate(
        &self,
        staged: &mut Staged<'_>,
        _: &Run<'_, Sql>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Vec<ValidationFailure>, ErrorKind> {
        match staged {
            Staged::Run(Opened { tx, .. }, sealing) if !work.plan.is_empty() => {
                // A database that failed its check before the steps is
                // refused as such, not as what the steps left.
                if let Some(sealing) = sealing {
                    sealing.finish()?;
                }
                let db = Utf8PathBuf::from(self.file_name());
                Ok(check_database(tx, &db, work.target)?)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn snapshot(
        &self,
        staged: &mut Staged<'_>,
        run: &Run<'_, Sql>,
        from: u32,
        to: u32,
    ) -> Result<Option<Taken>, ErrorKind> {
        match staged {
            // Copied when the transaction began, checked since.
            Staged::Run(opened, sealing) => {
                if let Some(sealing) = sealing {
                    sealing.finish()?;
                }
                Ok(opened.taken())
            }
            Staged::Restore(restore) => restore.snapshot_now(self, run, from, to),
        }
    }

    fn commit(
        &self,
        staged: Staged<'_>,
        _: &Run<'_, Sql>,
        records: &[HistoryRecord],
        _: Option<&str>,
    ) -> Result<(), Failed> {
        match staged {
            Staged::Run(Opened { tx, .. }, _) => {
                history::append(&tx, records).map_err(ErrorKind::from)?;
                // A reader's lock keeps the commit from writing: the
                // transaction is rolled back, the database as it was.
                tx.commit().map_err(|cause| {
                    self.locked_or(cause, || {
                        format!(
                            "commit to {}; SQLite rolled the transaction back",
                            self.path()
                        )
                    })
                })?;
                Ok(())
            }
            Staged::Restore(restore) => restore.commit(self, records),
        }
    }

    fn discard(&self, staged: Staged<'_>, _: &str) {
        if let Staged::Run(
            Opened {
                tx,
                snapshot: Some(id),
                ..
            },
            sealing,
        ) = staged
        {
            drop(tx);
            // What the thread is still writing is removed once it is done.
            if let Some(mut sealing) = sealing {
                let _ = sealing.finish();
            }
            let _ = snapshot::remove(&self.snapshot_dir(), &id);
        }
    }

    fn stage_restore<'s>(
        &'s self,
        conn: &'s mut Connection,
        run: &Run<'_, Sql>,
        entry: &SnapshotEntry,
        _: &Undo,
    ) -> Result<(Staged<'s>, Restoring), ErrorKind> {
        if !run.dry_run() {
            self.writable(conn)?;
        }
        let version = self.version(&run.chain, conn)?;
        let (staged, restoring) = restore::stage(self, conn, run, entry, version)?;
        Ok((Staged::Restore(staged), restoring))
    }

    fn check(
        &self,
        conn: &mut Connection,
        run: &Run<'_, Sql>,
        _: &Utf8PathBuf,
        version: u32,
    ) -> Result<Verified, ErrorKind> {
        let tx = conn
            .transaction()
            .map_err(SqliteError::sql("begin reading"))?;
        let db = Utf8PathBuf::from(self.file_name());
        let mut failures = check_database(&tx, &db, version)?;
        let verify = (run.steps.iter())
            .find(|s| s.to() == version)
            .and_then(|s| Some((s.id(), s.verify()?)));
        if let Some((step, verify)) = verify
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
            .map_err(SqliteError::sql("count the tables"))?;
        Ok(Verified::of(tables, failures))
    }

    fn snapshot_dir(&self) -> Utf8PathBuf {
        SqliteStore::snapshot_dir(self)
    }

    fn snapshots(&self) -> &'static dyn SnapshotFormat {
        &snapshot::Copies
    }

    fn manual_restore(&self, snapshot: &Utf8Path) -> String {
        format!(
            "copy {snapshot} over {} (with the `sqlite3` tool: `sqlite3 {} \".restore '{snapshot}'\"`)",
            self.path(),
            self.path()
        )
    }

    /// A hot journal: SQLite rolls the transaction back when the next run
    /// opens the database to write.
    fn interrupted(&self, conn: &mut Connection) -> Result<bool, ErrorKind> {
        Ok(SqliteStore::hot_journal(conn))
    }
}

impl SqliteStore {
    /// The database's version: `PRAGMA user_version`, 0 read as the chain's
    /// base.
    pub(super) fn version(
        &self,
        chain: &ChainInfo<Sql>,
        conn: &Connection,
    ) -> Result<u32, ErrorKind> {
        match user_version(conn)? {
            0 => Ok(chain.base),
            raw => version_number(self.path(), raw),
        }
    }

    /// `BEGIN IMMEDIATE`: the write lock on the database, so that no other
    /// connection writes while the run reads and changes it.
    pub(super) fn transaction<'c>(
        &self,
        conn: &'c mut Connection,
    ) -> Result<Transaction<'c>, ErrorKind> {
        self.writable(conn)?;
        Transaction::new(conn, TransactionBehavior::Immediate).map_err(|cause| {
            self.locked_or(cause, || format!("begin a transaction on {}", self.path()))
        })
    }

    /// Refuses a database SQLite opened read-only (its file is not writable
    /// by this user), which it says only when the first step writes: a run
    /// (a dry run too, whose steps write) or a restore stops before it
    /// begins, while one with nothing to do never asks.
    pub(super) fn writable(&self, conn: &Connection) -> Result<(), ErrorKind> {
        match conn.is_readonly(rusqlite::MAIN_DB) {
            Ok(true) => Err(SqliteError::ReadOnly {
                path: self.path().to_owned(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// `cause`: another connection's lock as [`ErrorKind::Locked`] (nothing
    /// was written), anything else as a statement SQLite refused (`what`
    /// was being done).
    pub(super) fn locked_or(
        &self,
        cause: rusqlite::Error,
        what: impl FnOnce() -> String,
    ) -> ErrorKind {
        match cause.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                ErrorKind::Locked {
                    root: self.path().to_owned(),
                    owner: format!("another connection using it ({cause})"),
                }
            }
            _ => SqliteError::Sql {
                what: what(),
                cause,
            }
            .into(),
        }
    }
}

/// The steps of a run, inside its transaction.
impl StepTransaction<Sql> for Transaction<'_> {
    fn written(&mut self) -> Result<u64, ErrorKind> {
        Ok(self.total_changes())
    }

    fn call(&mut self, step: &Move<'_, Sql>) -> Result<(), crate::BoxError> {
        (step.body)(self)
    }

    fn unmet_expectations(&mut self) -> Result<Vec<(String, String)>, ErrorKind> {
        Ok(helpers::unmet_expectations(self)?)
    }

    fn verify(&mut self, verify: &SqlVerify) -> Result<Option<String>, ErrorKind> {
        Ok(verify(self).err().map(|e| e.to_string()))
    }
}

/// `raw` (a `user_version`) as a version, or the error naming the database.
fn version_number(path: &Utf8Path, raw: i64) -> Result<u32, ErrorKind> {
    u32::try_from(raw).map_err(|_| ErrorKind::BadVersion {
        path: path.to_owned(),
        key: "user_version",
        value: raw.to_string(),
    })
}

pub(super) fn set_version(conn: &Connection, version: u32) -> Result<(), SqliteError> {
    conn.pragma_update(None, "user_version", version)
        .map_err(SqliteError::sql("set `PRAGMA user_version`"))
}
