//! What the driver and a store exchange during a run: what a run opens the
//! store for, the records it detected, the work it hands the store, what
//! staging and a restore report back, and how a commit failed.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};

use super::error::ErrorKind;
use super::history::Counts;
use super::plan::Move;
use super::report::{Change, Direction, Skipped};
use super::store::Store;
use super::validate::ValidationFailure;

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

/// What a store says of its version as a whole: `stamp` records the
/// version of a store that says none, and `status` suggests it for one
/// that holds records.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampState {
    /// The store says its version; what says it (its history, its stamp
    /// file, its header, `user_version`).
    Stamped(String),
    /// It says nothing, and holds no record yet.
    Empty,
    /// It says nothing and holds records: a store built before verchain,
    /// which every run reads as at the chain's base.
    Unstamped,
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
    /// Whether a real run snapshots the store before this work: not with
    /// `RunOptions::no_snapshot`, and not in the later parts of a run
    /// split around a step outside the transaction (the first part's
    /// snapshot undoes the whole run).
    pub snapshot: bool,
}

impl<S: Store> Work<'_, '_, S> {
    /// Whether the run takes no snapshot: every step of its plan says
    /// `backup_required = false`.
    pub fn skips_snapshot(&self) -> bool {
        !self.plan.is_empty() && self.plan.iter().all(|m| !m.meta.backup_required)
    }

    /// Whether a real run takes a snapshot before it commits this work:
    /// neither the options nor the plan's steps say it need not.
    pub fn takes_snapshot(&self) -> bool {
        self.snapshot && !self.skips_snapshot()
    }
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
    /// Folders the run adds to the store for them, each before the folders
    /// in it (a restore removes each that is then empty).
    pub created_folders: Vec<Utf8PathBuf>,
    /// Whether there is anything to commit at all (a changed record, or a
    /// new stamp); when not, the run ends without a snapshot or a history
    /// record.
    pub commits: bool,
    /// The locks each step took on tables (a PostgreSQL schema's).
    pub locks: Vec<super::report::StepLock>,
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
    /// The folders the undone runs added, each before the folders in it.
    pub created_folders: Vec<String>,
    /// The store's stamp before the first undone run.
    pub stamp_before: Option<u32>,
    /// Whether the snapshot was taken before a run still in effect; one
    /// that was not (the snapshot a rollback took of the store it rolled
    /// back) is restored as it is, at the version it was taken at.
    pub undoes_runs: bool,
}

/// A snapshot the driver found for a restore: its id and where it is.
#[doc(hidden)]
pub struct SnapshotEntry {
    /// The id.
    pub id: String,
    /// Its file or folder.
    pub path: Utf8PathBuf,
}
