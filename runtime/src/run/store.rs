//! The one trait every kind of store implements: what differs between a
//! folder of documents, a log and a database. The order of a run, its
//! events, its report, its history and its errors are the driver's
//! (`run/`); a store answers the driver's questions and does the work that
//! only it knows how to do.

use camino::{Utf8Path, Utf8PathBuf};

use super::context::ChainInfo;
use super::error::ErrorKind;
use super::history::HistoryRecord;
use super::validate::ValidationFailure;
use super::verify::Verified;
use super::{Run, RunOptions};

/// A kind of persistent state a chain migrates: a folder of documents
/// ([`FolderStore`](crate::folder::FolderStore)), a log
/// ([`LogStore`](crate::log::LogStore)), an SQLite database
/// (`sqlite::SqliteStore`), a PostgreSQL schema (`postgres::PostgresStore`).
/// An application does not call its methods: it
/// hands the store to [`migrate`](crate::migrate), [`rollback`](crate::rollback),
/// [`run_startup`](crate::run_startup) and the other calls of the crate
/// root, which run the same protocol over every store:
///
/// ```text
/// lock → recover → detect → plan → stage → validate → snapshot → commit → record
/// ```
///
/// The trait is sealed: the stores are verchain's own, so that the
/// protocol can grow without breaking anyone.
///
/// # How a store plugs in
///
/// The driver in `run/` owns the order of the stages, the dry run, `--to`
/// and `--id`, the edited-step guard, the recovery decision, the wait at
/// startup, the events, the report, the history's records, error context,
/// and snapshot listing and pruning. A store has three associated types
/// beside its [`Record`](Store::Record): its [`Session`](Store::Session)
/// (what a run holds beside the lock until its end: a connection), its
/// [`Staged`](Store::Staged) state (what a run has prepared and not yet
/// committed) and its [`Journal`](Store::Journal) (what a crash in the
/// middle of a commit leaves for the next run). Two shapes fit:
///
/// | stage | staged files (folder, log) | one transaction (SQLite, PostgreSQL) |
/// |---|---|---|
/// | lock | an OS file lock in the store's state folder | the same, or a session lock of the server |
/// | recover | the journal, checked, then finished or given up | the database undoes its own transaction; leftovers are removed |
/// | detect | every file's version | the database's version |
/// | stage | steps on copies, written beside the originals | `BEGIN`, a snapshot of the state the steps start from, the steps inside the transaction |
/// | validate | the checks the staged copies failed | integrity, foreign keys, each step's `verify`, inside the transaction |
/// | snapshot | the originals archived | the snapshot taken when the transaction began |
/// | commit + record | journal written, renames, history appended, journal removed | history rows inserted, `COMMIT` |
/// | discard (any failure) | staged files removed | `ROLLBACK`, the unused snapshot removed |
///
/// A restore is staged too: a staged-files store copies the snapshot's
/// files beside the originals and commits them through the journal; a
/// transactional store stages a copy of the snapshot and writes it in with
/// one transaction.
///
/// A transactional store opens its part of a run with `Opened::begin`
/// (the state before the steps, for the diff, and the snapshot unless the
/// run skips it) and lets the driver run the steps in its transaction
/// (`run/steps.rs`): it implements `StepTransaction`, saying only how to
/// count the records written, call a step, read the row counts steps
/// declared and run a `verify`. Its table helpers fail with the one
/// `TableError`, and its history table reads back through `history_row.rs`.
///
/// # Checklist for a new store
///
/// 1. A module named for the store, holding its type, its record type and
///    its errors (an error enum of its own, reaching
///    [`ErrorKind::Store`](crate::ErrorKind::Store) as its source).
/// 2. `impl Store` with its associated types. By default the driver takes
///    an OS file lock in [`Store::state_dir`], the history is
///    `history.jsonl` there and the snapshots are in `snapshots/` there; a
///    store that keeps them elsewhere (a database's history table, a
///    server's lock) says so. `Staged` ends only through
///    [`Store::discard`] or [`Store::commit`].
/// 3. Every file the store writes passes a fault point (`fsio`), so that
///    `tests/crash/` can kill and fail it at each; add the store there.
/// 4. Every path read from disk (journals, histories, manifests) is checked
///    as user input is before it is opened, written or removed.
/// 5. A command-line entry (`cli::…_chain`), an example chain with fixtures
///    at every version, and the README's section.
pub trait Store: sealed::Sealed + Sized {
    /// The records the store holds; a chain over them migrates it.
    type Record: crate::chain::Record;
    /// One record the driver detects, plans for and names in messages: a
    /// document, a log file, the database.
    #[doc(hidden)]
    type Item: Item;
    /// What a run holds, beside the lock, from its start to its end: a
    /// connection for a database, nothing for files.
    #[doc(hidden)]
    type Session;
    /// What a run prepared and has not committed: staged files, or the open
    /// transaction.
    #[doc(hidden)]
    type Staged<'s>
    where
        Self: 's;
    /// What an interrupted commit leaves for the next run to finish.
    #[doc(hidden)]
    type Journal: Pending<Self>;

    /// What the store is, as messages name it: `folder`, `log`, `SQLite
    /// database`.
    #[doc(hidden)]
    const KIND: &'static str;

    /// The store's path: its folder, log file or database.
    #[doc(hidden)]
    fn location(&self) -> &Utf8Path;

    /// Opens what the run needs, before the lock is taken; refuses a store
    /// that is not there (nothing may then be created beside it), unless
    /// `purpose` may create or restore it.
    #[doc(hidden)]
    fn open(&self, purpose: Purpose, options: &RunOptions) -> Result<Self::Session, ErrorKind>;

    /// The folder in which verchain keeps its files for the store.
    #[doc(hidden)]
    fn state_dir(&self) -> Utf8PathBuf;

    /// The store's lock file: `lock` in its state folder by default.
    #[doc(hidden)]
    fn lock_path(&self) -> Utf8PathBuf {
        self.state_dir().join("lock")
    }

    /// Takes the store's lock for the run `owner` (its chain and id), for
    /// as long as `options.wait` allows: by default an OS file lock at
    /// [`Store::lock_path`] (a dry run on a store verchain never touched
    /// takes none, so as to create nothing), returned to the driver, which
    /// drops it when the run ends.
    ///
    /// A server store overrides it with a lock its session holds (a
    /// session advisory lock of PostgreSQL, which the server releases when
    /// the connection ends, whoever ends it): it takes the lock on the
    /// session, names `owner` where other sessions can read it, and returns
    /// `None`; the lock then ends with the session.
    #[doc(hidden)]
    fn lock(
        &self,
        _session: &mut Self::Session,
        options: &RunOptions,
        _owner: &super::RunInfo,
    ) -> Result<Option<super::lock::StoreLock>, ErrorKind> {
        super::lock::take(
            self.location(),
            &self.state_dir(),
            &self.lock_path(),
            options,
        )
    }

    /// The journal of a commit a crash or an error interrupted, if any.
    #[doc(hidden)]
    fn journal(&self, _session: &mut Self::Session) -> Result<Option<Self::Journal>, ErrorKind> {
        Self::Journal::read(self)
    }

    /// What runs that never committed left of the store's own (staged
    /// files, temporary files, a scratch copy): `status` lists it, the next
    /// run removes it. Snapshots of such runs are found by the driver.
    #[doc(hidden)]
    fn leftovers(&self, session: &mut Self::Session) -> Result<Vec<Utf8PathBuf>, ErrorKind>;

    /// The store's history, oldest first: by default `history.jsonl` in its
    /// state folder.
    #[doc(hidden)]
    fn history(&self, _session: &mut Self::Session) -> Result<Vec<HistoryRecord>, ErrorKind> {
        super::history::read(&self.state_dir().join("history.jsonl"))
    }

    /// The version the store says it is at as a whole, read without
    /// looking at every record (a stamp file, a header, `user_version`);
    /// `None` when it says none.
    #[doc(hidden)]
    fn stamp(
        &self,
        session: &mut Self::Session,
        chain: &ChainInfo<Self::Record>,
    ) -> Result<Option<u32>, ErrorKind>;

    /// What the store says of its version as a whole. By default: its
    /// history or its stamp, when it has either; else whether it holds
    /// records.
    #[doc(hidden)]
    fn stamp_state(
        &self,
        session: &mut Self::Session,
        chain: &ChainInfo<Self::Record>,
    ) -> Result<StampState, ErrorKind> {
        if !self.history(session)?.is_empty() {
            return Ok(StampState::Stamped("its history".to_owned()));
        }
        if let Some(version) = self.stamp(session, chain)? {
            return Ok(StampState::Stamped(format!("its stamp, v{version}")));
        }
        Ok(match self.items(session)?.is_empty() {
            true => StampState::Empty,
            false => StampState::Unstamped,
        })
    }

    /// Begins recording that the store, built before verchain, is at
    /// `version` (`stamp`): what the commit writes beside the history's
    /// line (a stamp file, a header in each log file, `user_version`; for
    /// a history that says the version, nothing more). Runs no step.
    #[doc(hidden)]
    fn begin_stamp<'s>(
        &'s self,
        session: &'s mut Self::Session,
        run: &Run<'_, Self::Record>,
        version: u32,
    ) -> Result<Self::Staged<'s>, ErrorKind>;

    /// Prepares what `run_startup` needs before it detects (a log that is
    /// not there yet is created, at the current version).
    #[doc(hidden)]
    fn prepare_startup(
        &self,
        _session: &mut Self::Session,
        _chain: &ChainInfo<Self::Record>,
    ) -> Result<(), ErrorKind> {
        Ok(())
    }

    /// Every record the store holds, in order.
    #[doc(hidden)]
    fn items(&self, session: &mut Self::Session) -> Result<Vec<Self::Item>, ErrorKind>;

    /// The version of one record; `stamp` is the store's (a record that
    /// says none may be at it). A record the store's settings leave out of
    /// runs is [`Version::Skipped`], and listed.
    #[doc(hidden)]
    fn version_of(
        &self,
        session: &mut Self::Session,
        chain: &ChainInfo<Self::Record>,
        item: &Self::Item,
        stamp: Option<u32>,
    ) -> Result<Version, ErrorKind>;

    /// Begins a run that changes the store: a staging folder, or a
    /// transaction (and, in a real run, the snapshot of the state it
    /// starts from).
    #[doc(hidden)]
    fn begin<'s>(
        &'s self,
        session: &'s mut Self::Session,
        run: &Run<'_, Self::Record>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Self::Staged<'s>, ErrorKind>;

    /// Runs the plan: on staged copies, or inside the transaction.
    #[doc(hidden)]
    fn stage(
        &self,
        staged: &mut Self::Staged<'_>,
        run: &Run<'_, Self::Record>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind>;

    /// Checks what was staged against the target version; returns every
    /// failure staging did not find already (by default none: a store that
    /// checks each record as it stages it has nothing left to check).
    #[doc(hidden)]
    fn validate(
        &self,
        _staged: &mut Self::Staged<'_>,
        _run: &Run<'_, Self::Record>,
        _work: &Work<'_, '_, Self>,
    ) -> Result<Vec<ValidationFailure>, ErrorKind> {
        Ok(Vec::new())
    }

    /// The snapshot of the store as it is before the commit: its id and
    /// how many files it holds, or `None` when nothing a snapshot would
    /// keep changes.
    #[doc(hidden)]
    fn snapshot(
        &self,
        staged: &mut Self::Staged<'_>,
        run: &Run<'_, Self::Record>,
        from: u32,
        to: u32,
    ) -> Result<Option<Taken>, ErrorKind>;

    /// Commits what was staged, with `records` for the history, atomically:
    /// every record is in the history once the commit is, and none before.
    #[doc(hidden)]
    fn commit(
        &self,
        staged: Self::Staged<'_>,
        run: &Run<'_, Self::Record>,
        records: &[HistoryRecord],
        snapshot: Option<&str>,
    ) -> Result<(), Failed>;

    /// Gives up what was staged; the store is as it was before the run.
    #[doc(hidden)]
    fn discard(&self, staged: Self::Staged<'_>, run_id: &str);

    /// Stages the restore of `snapshot`, verified first, undoing `undo`.
    #[doc(hidden)]
    fn stage_restore<'s>(
        &'s self,
        session: &'s mut Self::Session,
        run: &Run<'_, Self::Record>,
        snapshot: &SnapshotEntry,
        undo: &Undo,
    ) -> Result<(Self::Staged<'s>, Restoring), ErrorKind>;

    /// Checks one record at its own version; returns how many records it
    /// held, how many of them are invalid, and the failures (at least the
    /// first hundred). Changes nothing.
    #[doc(hidden)]
    fn check(
        &self,
        session: &mut Self::Session,
        run: &Run<'_, Self::Record>,
        item: &Self::Item,
        version: u32,
    ) -> Result<Verified, ErrorKind>;

    /// The folder that holds the store's snapshots: `snapshots` in its
    /// state folder by default.
    #[doc(hidden)]
    fn snapshot_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("snapshots")
    }

    /// A folder that held the store's snapshots before
    /// [`Store::snapshot_dir`] did, where a snapshot is still found by its
    /// id (one a history names) when the new folder has none of that id.
    #[doc(hidden)]
    fn former_snapshot_dir(&self) -> Option<Utf8PathBuf> {
        None
    }

    /// How this kind of store keeps its snapshots.
    #[doc(hidden)]
    fn snapshots(&self) -> &'static dyn SnapshotFormat;

    /// How to put the snapshot at `snapshot` back by hand, for this store:
    /// what a failed recovery or restore tells the operator.
    #[doc(hidden)]
    fn manual_restore(&self, snapshot: &Utf8Path) -> String;

    /// Whether this kind of store can set malformed records aside instead
    /// of failing the run (`RunOptions::skip_malformed`).
    #[doc(hidden)]
    const QUARANTINES: bool = false;

    /// Whether an interrupted run left something that `status` should
    /// report, beside a journal (a scratch copy, a hot journal).
    #[doc(hidden)]
    fn interrupted(&self, _session: &mut Self::Session) -> Result<bool, ErrorKind> {
        Ok(false)
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use super::journal::NoJournal;
pub use super::journal::Pending;
pub use super::snapshot::SnapshotFormat;
pub use super::work::{
    Detected, Failed, Item, Purpose, Restoring, SnapshotEntry, Staging, StampState, Taken, Undo,
    Version, Work,
};

pub(crate) mod sealed {
    /// Only verchain's stores implement [`super::Store`].
    pub trait Sealed {}
}
