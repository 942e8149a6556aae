//! The one trait every kind of store implements: what differs between a
//! folder of documents, a log and a database. The order of a run, its
//! events, its report, its history and its errors are the driver's
//! (`run/`); a store answers the driver's questions and does the work that
//! only it knows how to do.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};

use super::context::ChainInfo;
use super::error::{ErrorKind, ValidationFailure};
use super::history::{Counts, HistoryRecord};
use super::plan::Move;
use super::report::{Change, Direction, Skipped};
use super::{Run, RunOptions};
use crate::snapshot::{Manifest, SnapshotError};

/// A kind of persistent state a chain migrates: a folder of documents
/// ([`FolderStore`](crate::folder::FolderStore)), a log
/// ([`LogStore`](crate::log::LogStore)), an SQLite database
/// (`sqlite::SqliteStore`). An application does not call its methods: it
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
/// (what a run holds from the lock to the end: the lock, a connection), its
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
/// # Checklist for a new store
///
/// 1. A module named for the store, holding its type, its record type and
///    its errors (an error enum of its own, reaching
///    [`ErrorKind::Store`](crate::ErrorKind::Store) as its source).
/// 2. `impl Store` with the three associated types; `Session` holds the
///    lock (use [`lock::file`](crate::run) for a file lock in
///    [`Store::state_dir`]), `Staged` is dropped only through
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
    type Journal: Journal<Self>;

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

    /// Takes the store's lock: by default an OS file lock at
    /// [`Store::lock_path`] (a dry run on a store verchain never touched
    /// takes none, so as to create nothing).
    #[doc(hidden)]
    fn lock(
        &self,
        _session: &mut Self::Session,
        options: &RunOptions,
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

    /// Removes what runs that never committed left (staged files, temporary
    /// files, a scratch copy); a dry run never calls it.
    #[doc(hidden)]
    fn clear(&self, session: &mut Self::Session) -> Result<(), ErrorKind>;

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
    /// held and every failure. Changes nothing.
    #[doc(hidden)]
    fn check(
        &self,
        session: &mut Self::Session,
        run: &Run<'_, Self::Record>,
        item: &Self::Item,
        version: u32,
    ) -> Result<(usize, Vec<ValidationFailure>), ErrorKind>;

    /// The folder that holds the store's snapshots: `snapshots` in its
    /// state folder by default.
    #[doc(hidden)]
    fn snapshot_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("snapshots")
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

/// What a run opens a store for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum Purpose {
    /// A migration, a dry run or `down` steps: the store must be there.
    Run,
    /// `run_startup`: a log that is not there yet is created.
    Startup,
    /// A snapshot restore: a log that is gone may be restored.
    Restore,
    /// `status`, `verify`, `history`, `snapshots`: nothing is written.
    Read,
    /// `snapshots --prune`: only the snapshots change.
    Prune,
}

/// One record a store holds, as the driver names it.
#[doc(hidden)]
pub trait Item {
    /// The record's path, as messages name it.
    fn path(&self) -> &Utf8Path;
}

impl Item for Utf8PathBuf {
    fn path(&self) -> &Utf8Path {
        self
    }
}

/// What a store says of one record's version.
#[doc(hidden)]
pub enum Version {
    /// The record is at this version.
    At(u32),
    /// The store's settings leave the record out of runs, for this reason.
    Skipped(String),
}

/// Every record's version, as detected.
#[doc(hidden)]
pub struct Detected<I> {
    /// Each record with its version, in the store's order.
    pub records: Vec<(I, u32)>,
    /// How many records are at each version.
    pub versions: BTreeMap<u32, usize>,
    /// The records the store's settings leave out.
    pub skipped: Vec<Skipped>,
}

impl<I: Item> Detected<I> {
    /// The newest record's version and path.
    pub fn newest(&self) -> Option<(u32, &Utf8Path)> {
        self.records
            .iter()
            .max_by_key(|(_, v)| *v)
            .map(|(item, v)| (*v, item.path()))
    }

    /// The oldest version any record is at.
    pub fn oldest(&self) -> Option<u32> {
        self.versions.keys().next().copied()
    }
}

/// What a run works through: the detected records, the plan, the target.
#[doc(hidden)]
pub struct Work<'d, 'p, S: Store> {
    /// Every record and its version.
    pub detected: &'d Detected<S::Item>,
    /// The steps, in the order they run.
    pub plan: &'p [Move<'p, S::Record>],
    /// The version the run brings the store to.
    pub target: u32,
    /// Which way it goes.
    pub direction: Direction,
    /// The store's stamp before the run.
    pub stamp: Option<u32>,
}

/// What staging did.
#[derive(Debug, Default)]
#[doc(hidden)]
pub struct Staging {
    /// Records changed, unchanged, created, removed, quarantined.
    pub counts: Counts,
    /// What each step of the plan did, in the plan's order.
    pub per_step: Vec<Counts>,
    /// Every record the run changes, creates or removes (diffs up to the
    /// run's limit).
    pub changes: Vec<Change>,
    /// Records that failed a step's `verify` or the target's schema (the
    /// first ones, up to the run's limit).
    pub failures: Vec<ValidationFailure>,
    /// How many records failed in all (at least `failures.len()`).
    pub failure_total: usize,
    /// Paths the run brings into the store (a restore removes them).
    pub created: Vec<Utf8PathBuf>,
    /// Whether there is anything to commit at all (a changed record, or a
    /// new stamp); when not, the run ends without a snapshot or a history
    /// record.
    pub commits: bool,
}

/// What a staged restore will do.
#[doc(hidden)]
pub struct Restoring {
    /// The store's version now.
    pub from: Option<u32>,
    /// The version it goes back to.
    pub to: u32,
    /// How many records the snapshot holds.
    pub records: usize,
    /// What changes.
    pub counts: Counts,
    /// Each record restored or removed.
    pub changes: Vec<Change>,
}

/// A snapshot taken.
#[doc(hidden)]
pub struct Taken {
    /// Its id.
    pub id: String,
    /// How many files it holds.
    pub files: usize,
}

impl From<crate::snapshot::SnapshotInfo> for Taken {
    fn from(info: crate::snapshot::SnapshotInfo) -> Self {
        Taken {
            files: info.manifest.files.len(),
            id: info.id,
        }
    }
}

/// A commit that failed, and whether the store is as it was.
#[doc(hidden)]
pub struct Failed {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Whether the store is known to be exactly as it was before.
    pub unchanged: bool,
}

impl From<ErrorKind> for Failed {
    /// An error before anything of the store was touched.
    fn from(kind: ErrorKind) -> Self {
        Failed {
            kind,
            unchanged: true,
        }
    }
}

/// What a restore undoes: the snapshot to restore, every path the undone
/// runs brought into the store, and the stamp from before them.
#[doc(hidden)]
pub struct Undo {
    /// The paths the undone runs created, which the snapshot does not hold.
    pub created: Vec<String>,
    /// The store's stamp before the first undone run.
    pub stamp_before: Option<u32>,
}

/// A snapshot the driver found for a restore: its id and where it is.
#[doc(hidden)]
pub struct SnapshotEntry {
    /// The id.
    pub id: String,
    /// Its file or folder.
    pub path: Utf8PathBuf,
}

/// How a kind of store keeps its snapshots in its snapshot folder.
#[doc(hidden)]
pub trait SnapshotFormat: Sync {
    /// The id of the snapshot a folder entry named `name` is, if it is one
    /// (`is_dir`: the entry is a folder).
    fn id_of<'n>(&self, name: &'n str, is_dir: bool) -> Option<&'n str>;
    /// The id a user means by `given`, which may carry a snapshot file's
    /// suffix.
    fn strip<'n>(&self, given: &'n str) -> &'n str {
        self.id_of(given, false).unwrap_or(given)
    }
    /// Where snapshot `id` is in `dir`.
    fn path_of(&self, dir: &Utf8Path, id: &str) -> Utf8PathBuf;
    /// Reads the manifest of the snapshot at `path`, checked.
    fn manifest(&self, path: &Utf8Path) -> Result<Manifest, SnapshotError>;
    /// How many bytes the snapshot takes.
    fn size(&self, path: &Utf8Path) -> u64;
    /// Removes the snapshot.
    fn remove(&self, path: &Utf8Path) -> std::io::Result<()>;
}

/// A commit journal: the operations a commit performs, written before the
/// first, so that a crash in the middle is finished (or given up) by the
/// next run. A store that commits with one transaction has none
/// ([`NoJournal`]).
#[doc(hidden)]
pub trait Journal<S: Store>: Sized {
    /// Reads the journal an interrupted run of `store` left, if any.
    fn read(store: &S) -> Result<Option<Self>, ErrorKind>;
    /// The run that wrote it.
    fn run_id(&self) -> &str;
    /// The snapshot of the store from before that run.
    fn snapshot(&self) -> Option<&str>;
    /// Where the journal is.
    fn path(&self, store: &S) -> Utf8PathBuf;
    /// The history lines the commit records once done.
    fn history(&self) -> &[String];
    /// Checks, before anything moves, that every operation can be finished.
    fn check(&self, store: &S) -> Result<(), ErrorKind>;
    /// Whether no operation has been performed yet.
    fn untouched(&self, store: &S) -> bool;
    /// Performs every operation, then records the history and removes the
    /// journal; repeating it after a crash is safe.
    fn finish(&self, store: &S, recovering: bool) -> Result<(), ErrorKind>;
    /// Records in the history (once) that recovery gave the run up.
    fn record_given_up(&self, store: &S, cause: &ErrorKind) -> Result<(), ErrorKind>;
    /// Removes the journal: the store has no commit pending.
    fn remove(&self, store: &S) -> Result<(), ErrorKind>;
}

/// The journal of a store that commits with one transaction: there never is
/// one.
#[derive(Debug)]
#[doc(hidden)]
pub enum NoJournal {}

impl<S: Store> Journal<S> for NoJournal {
    fn read(_: &S) -> Result<Option<Self>, ErrorKind> {
        Ok(None)
    }
    fn run_id(&self) -> &str {
        match *self {}
    }
    fn snapshot(&self) -> Option<&str> {
        match *self {}
    }
    fn path(&self, _: &S) -> Utf8PathBuf {
        match *self {}
    }
    fn history(&self) -> &[String] {
        match *self {}
    }
    fn check(&self, _: &S) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn untouched(&self, _: &S) -> bool {
        match *self {}
    }
    fn finish(&self, _: &S, _: bool) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn record_given_up(&self, _: &S, _: &ErrorKind) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn remove(&self, _: &S) -> Result<(), ErrorKind> {
        match *self {}
    }
}

pub(crate) mod sealed {
    /// Only verchain's stores implement [`super::Store`].
    pub trait Sealed {}
}
