//! The PostgreSQL schema's side of the run protocol ([`Store`] for
//! [`PostgresStore`]): one transaction from `BEGIN` to `COMMIT` per part
//! of a run (a run is one part unless a step runs outside the
//! transaction).
//!
//! The transaction begins (`REPEATABLE READ`), the version detected before
//! is checked again, and a real run snapshots the schema as the
//! transaction sees it; then every step runs inside the transaction and
//! validation runs inside it too (deferred constraints checked at once,
//! each step's `verify`, the row counts steps declare with
//! `expect_rows`). The commit inserts the history's rows and commits;
//! anything else ends in `ROLLBACK`. A step marked `transaction = false`
//! is a part of its own: its history row `started` is committed first,
//! then it runs on the connection, then its row `applied` is committed.

use camino::{Utf8Path, Utf8PathBuf};
use postgres::Transaction;

use super::diff::{self, State};
use super::error::PgError;
use super::record::Pg;
use super::store::{PostgresStore, Session};
use super::{helpers, history, lock, restore, snapshot, tx};
use crate::run::Verified;
use crate::run::steps::Opened;
use crate::run::store::{
    Failed, NoJournal, Purpose, Restoring, SnapshotEntry, SnapshotFormat, Staging, StampState,
    Store, Taken, Undo, Version, Work,
};
use crate::run::{
    ChainInfo, ErrorKind, HistoryRecord, Outcome, Run, RunInfo, RunOptions, ValidationFailure,
};

/// What a run prepared.
pub enum Staged<'s> {
    /// The steps' transaction, and the snapshot taken when it began.
    Run(Opened<Transaction<'s>, State>),
    /// A step outside the transaction, on the connection; its row
    /// `started` is in the history.
    Alone {
        /// The connection.
        client: &'s mut postgres::Client,
        /// The run's snapshot, when the run begins with this step.
        snapshot: Option<String>,
    },
    /// A restore, done inside its transaction and not yet committed.
    Restore(restore::Staged<'s>),
}

impl Store for PostgresStore {
    type Record = Pg;
    type Item = Utf8PathBuf;
    type Session = Session;
    type Staged<'s> = Staged<'s>;
    type Journal = NoJournal;

    const KIND: &'static str = "PostgreSQL schema";

    fn location(&self) -> &Utf8Path {
        PostgresStore::location(self)
    }

    fn open(&self, purpose: Purpose, _: &RunOptions) -> Result<Session, ErrorKind> {
        let mut session = self.connect()?;
        if matches!(purpose, Purpose::Read | Purpose::Prune) {
            session
                .client()?
                .batch_execute("SET default_transaction_read_only = on")
                .map_err(PgError::sql("make the connection read-only"))?;
        }
        Ok(session)
    }

    fn state_dir(&self) -> Utf8PathBuf {
        let dir = self.snapshot_dir();
        dir.parent().map_or(dir.clone(), Utf8Path::to_path_buf)
    }

    fn lock(
        &self,
        session: &mut Session,
        options: &RunOptions,
        owner: &RunInfo,
    ) -> Result<Option<crate::run::lock::StoreLock>, ErrorKind> {
        lock::take(self, session, options, owner)?;
        Ok(None)
    }

    fn journal(&self, _: &mut Session) -> Result<Option<NoJournal>, ErrorKind> {
        // The server undoes an interrupted transaction itself.
        Ok(None)
    }

    /// What a killed run left while it wrote a snapshot or read one.
    fn leftovers(&self, _: &mut Session) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        let dir = self.snapshot_dir();
        let Ok(entries) = dir.read_dir_utf8() else {
            return Ok(Vec::new());
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().starts_with(".staging-") || e.file_name().starts_with(".restore-")
            })
            .map(|e| e.path().to_owned())
            .collect())
    }

    fn history(&self, session: &mut Session) -> Result<Vec<HistoryRecord>, ErrorKind> {
        history::read(session.client()?, self.schema_name())
    }

    fn stamp(&self, session: &mut Session, _: &ChainInfo<Pg>) -> Result<Option<u32>, ErrorKind> {
        history::version(session.client()?, self.schema_name())
    }

    fn items(&self, _: &mut Session) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        Ok(vec![self.location().to_owned()])
    }

    fn stamp_state(
        &self,
        session: &mut Session,
        _: &ChainInfo<Pg>,
    ) -> Result<StampState, ErrorKind> {
        self.pg_stamp_state(session.client()?)
    }

    fn begin_stamp<'s>(
        &'s self,
        session: &'s mut Session,
        _: &Run<'_, Pg>,
        _: u32,
    ) -> Result<Staged<'s>, ErrorKind> {
        self.stage_stamp(session.client()?)
    }

    fn version_of(
        &self,
        _: &mut Session,
        chain: &ChainInfo<Pg>,
        _: &Utf8PathBuf,
        stamp: Option<u32>,
    ) -> Result<Version, ErrorKind> {
        Ok(Version::At(stamp.unwrap_or(chain.base)))
    }

    fn begin<'s>(
        &'s self,
        session: &'s mut Session,
        run: &Run<'_, Pg>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staged<'s>, ErrorKind> {
        let detected = work.detected.newest().map(|(v, _)| v);
        let client = session.client()?;
        if let [m] = work.plan
            && !m.meta.transaction
        {
            let now = history::version(client, self.schema_name())?.unwrap_or(run.chain.base);
            self.unchanged_since(detected, now)?;
            // A run that begins with this step snapshots the schema first,
            // in a transaction of its own.
            let snapshot = match work.takes_snapshot() {
                true => Some(self.take_snapshot(client, run, now, work.target)?),
                false => None,
            };
            {
                let mut started = run.info.step_records(work.plan, work.direction);
                for line in &mut started {
                    line.outcome = Outcome::Started;
                    line.stamp_before = work.stamp;
                }
                if let Err(e) = history::append(client, self.schema_name(), &started) {
                    self.remove_snapshot(snapshot.as_deref());
                    return Err(e.into());
                }
            }
            return Ok(Staged::Alone { client, snapshot });
        }
        let mut tx = tx::begin(self, client)?;
        // The history may have changed between detection and this
        // transaction (a runner that does not take the lock).
        let now = history::version(&mut tx, self.schema_name())?.unwrap_or(run.chain.base);
        self.unchanged_since(detected, now)?;
        let before = |tx: &mut Transaction<'_>| {
            helpers::ensure_expectations(tx)?;
            let (schema, limit) = (self.schema_name(), run.options.diff_limit);
            let compare = run.compares_rows();
            Ok(compare
                .then(|| diff::capture(tx, schema, limit))
                .transpose()?)
        };
        // The state the steps start from, taken before they change it.
        let from = detected.unwrap_or(work.target);
        let snapshot = |tx: &mut Transaction<'_>| self.snapshot_in(tx, run, from, work.target);
        let mut opened = Opened::begin(tx, run, work, before, snapshot)?;
        tx::for_steps(self, &mut opened.tx)?;
        Ok(Staged::Run(opened))
    }

    fn stage(
        &self,
        staged: &mut Staged<'_>,
        run: &Run<'_, Pg>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind> {
        super::stage::stage(self, staged, run, work)
    }

    fn validate(
        &self,
        staged: &mut Staged<'_>,
        run: &Run<'_, Pg>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Vec<ValidationFailure>, ErrorKind> {
        super::stage::validate(self, staged, run, work)
    }
    fn snapshot(
        &self,
        staged: &mut Staged<'_>,
        _: &Run<'_, Pg>,
        _: u32,
        _: u32,
    ) -> Result<Option<Taken>, ErrorKind> {
        Ok(match staged {
            // Taken when the transaction began.
            Staged::Run(opened) => opened.taken(),
            Staged::Alone { snapshot, .. } => snapshot.clone().map(|id| Taken { id, files: 1 }),
            Staged::Restore(restore) => restore.before(),
        })
    }

    fn commit(
        &self,
        staged: Staged<'_>,
        _: &Run<'_, Pg>,
        records: &[HistoryRecord],
        _: Option<&str>,
    ) -> Result<(), Failed> {
        match staged {
            Staged::Run(Opened { tx, .. }) => tx::commit(self, tx, records),
            Staged::Restore(restore) => restore.commit(self, records),
            Staged::Alone { client, .. } => {
                // The step's work is done and stays, whatever happens here.
                let tx = tx::begin(self, client).map_err(|e| Failed {
                    kind: e.into(),
                    unchanged: false,
                })?;
                tx::commit(self, tx, records).map_err(|failed| Failed {
                    unchanged: false,
                    ..failed
                })
            }
        }
    }

    fn discard(&self, staged: Staged<'_>, _: &str) {
        let taken = match staged {
            Staged::Run(Opened { tx, snapshot, .. }) => {
                drop(tx);
                snapshot
            }
            Staged::Restore(restore) => restore.discard(),
            Staged::Alone { snapshot, .. } => snapshot,
        };
        self.remove_snapshot(taken.as_deref());
    }

    fn stage_restore<'s>(
        &'s self,
        session: &'s mut Session,
        run: &Run<'_, Pg>,
        entry: &SnapshotEntry,
        _: &Undo,
    ) -> Result<(Staged<'s>, Restoring), ErrorKind> {
        let (staged, restoring) = restore::stage(self, session, run, entry)?;
        Ok((Staged::Restore(staged), restoring))
    }

    fn check(
        &self,
        session: &mut Session,
        run: &Run<'_, Pg>,
        _: &Utf8PathBuf,
        version: u32,
    ) -> Result<Verified, ErrorKind> {
        let mut tx = tx::begin(self, session.client()?)?;
        let mut failures = Vec::new();
        let verify = (run.steps.iter())
            .find(|s| s.to() == version)
            .and_then(|s| Some((s.id(), s.verify()?)));
        if let Some((step, verify)) = verify
            && let Some(message) = super::stage::checked(&mut tx, |tx| verify(tx))?
        {
            failures.push(ValidationFailure {
                path: Utf8PathBuf::from(self.schema_name()),
                step: Some(step),
                version,
                message,
            });
        }
        let tables = super::ddl::read(&mut tx, self.schema_name())?.tables.len();
        Ok(Verified::of(tables, failures))
    }

    fn snapshot_dir(&self) -> Utf8PathBuf {
        PostgresStore::snapshot_dir(self)
    }

    fn former_snapshot_dir(&self) -> Option<Utf8PathBuf> {
        PostgresStore::former_snapshot_dir(self)
    }

    fn snapshots(&self) -> &'static dyn SnapshotFormat {
        &crate::folder::Archives
    }

    fn manual_restore(&self, snapshot: &Utf8Path) -> String {
        format!(
            "extract {snapshot} (`tar --zstd -xf`), then, in one transaction on {}, drop the \
             schema's tables, views, sequences and enum types (not `_verchain_history`), run \
             `pre-data.sql`, load each table listed in `tables.json` with `COPY … FROM STDIN \
             (FORMAT binary)`, and run `post-data.sql`",
            self.url()
        )
    }
}

impl PostgresStore {
    /// Snapshots the schema as `tx` sees it, for a run from `from` to `to`.
    fn snapshot_in(
        &self,
        tx: &mut Transaction<'_>,
        run: &Run<'_, Pg>,
        from: u32,
        to: u32,
    ) -> Result<String, ErrorKind> {
        let dir = self.snapshot_dir();
        let info = snapshot::create(
            tx,
            self.schema_name(),
            &dir,
            run.chain.name,
            run.id(),
            from,
            to,
        )?;
        Ok(info.id)
    }

    /// Snapshots the schema in a transaction of its own.
    fn take_snapshot(
        &self,
        client: &mut postgres::Client,
        run: &Run<'_, Pg>,
        from: u32,
        to: u32,
    ) -> Result<String, ErrorKind> {
        run.snapshot_started(1);
        let mut tx = tx::begin(self, client)?;
        self.snapshot_in(&mut tx, run, from, to)
    }

    /// Removes a snapshot no run will record.
    fn remove_snapshot(&self, id: Option<&str>) {
        if let Some(id) = id
            && let Ok(entry) = crate::run::snapshot::entry(self, id)
        {
            let _ = crate::run::snapshot::remove(self, &entry);
        }
    }

    /// Refuses a run whose store moved on since it was detected.
    fn unchanged_since(&self, detected: Option<u32>, now: u32) -> Result<(), ErrorKind> {
        if detected.is_some_and(|d| d != now) {
            return Err(ErrorKind::VersionMoved {
                store: self.url(),
                detected: detected.unwrap_or(now),
                now,
            });
        }
        Ok(())
    }
}
