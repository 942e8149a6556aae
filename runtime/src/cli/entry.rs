//! The chains the command line runs, their types erased into
//! [`ChainEntry`] values, and how each kind of store is opened at a path.

use std::marker::PhantomData;

use camino::{Utf8Path, Utf8PathBuf};

use crate::chain::{Record, StepMeta};
use crate::folder::FolderStore;
use crate::run::{HistoryRecord, ValidationFailure};
use crate::snapshot::SnapshotInfo;
use crate::{Chain, Document, Report, RollbackTo, RunError, RunOptions, Stage, Status, Store};

/// One chain the command line can run, whatever kind of store it has; each
/// call opens the store at the path it is given.
pub trait ChainEntry {
    /// The chain's name.
    fn name(&self) -> &'static str;
    /// The store's path when neither `--store` nor the workspace's settings
    /// give one.
    fn default_store(&self) -> &Utf8Path;
    /// Its steps, in order.
    fn steps(&self) -> Vec<StepMeta>;
    /// The file declaring the chain, its type's name, its current version.
    fn source(&self) -> (&'static str, &'static str, u32);
    /// The parameter of an empty step of the chain (its name and type).
    fn step_parameter(&self) -> (&'static str, &'static str);
    /// Migrates the store (see [`crate::migrate`]).
    fn migrate(&self, store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError>;
    /// Runs one step alone, out of order (see [`crate::migrate_step`]).
    fn migrate_step(
        &self,
        store: &Utf8Path,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError>;
    /// Rolls the store back (see [`crate::rollback`]).
    fn rollback(
        &self,
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError>;
    /// The store's state (see [`crate::status`]).
    fn status(&self, store: &Utf8Path) -> Result<Status, RunError>;
    /// Checks every record against its version's schema (see [`crate::verify`]).
    fn verify(&self, store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError>;
    /// The store's history, oldest first.
    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError>;
    /// The store's snapshots, newest first.
    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError>;
    /// Removes all but the newest `keep` snapshots; returns the removed.
    fn prune_snapshots(&self, store: &Utf8Path, keep: usize)
    -> Result<Vec<SnapshotInfo>, RunError>;
}

/// How the command line opens one kind of store at a path; the commands
/// then go through [`Store`].
pub(super) trait Opens {
    type Store: Store;
    /// The store at `path`, set up as the chain's entry says.
    fn open(&self, path: &Utf8Path) -> Self::Store;
}

/// Chain `C` on a store of kind `K`, with its default store.
pub(super) struct Entry<C, K> {
    store: Utf8PathBuf,
    kind: K,
    chain: PhantomData<fn() -> C>,
}

impl<C, K> Entry<C, K> {
    pub(super) fn boxed(store: Utf8PathBuf, kind: K) -> Box<Self> {
        Box::new(Entry {
            store,
            kind,
            chain: PhantomData,
        })
    }
}

/// Folders of documents.
struct Folder;

/// Chain `C` over a folder of documents, at `store` unless `--store` or the
/// workspace's settings say otherwise.
pub fn chain<C: Chain<Record = Document>>(store: impl Into<Utf8PathBuf>) -> Box<dyn ChainEntry> {
    Entry::<C, Folder>::boxed(store.into(), Folder)
}

impl<C: Chain, K: Opens> ChainEntry for Entry<C, K>
where
    K::Store: Store<Record = C::Record>,
{
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn default_store(&self) -> &Utf8Path {
        &self.store
    }

    fn steps(&self) -> Vec<StepMeta> {
        C::steps().iter().map(|s| *s.meta()).collect()
    }

    fn source(&self) -> (&'static str, &'static str, u32) {
        (C::SOURCE_FILE, C::TYPE_NAME, C::CURRENT)
    }

    fn step_parameter(&self) -> (&'static str, &'static str) {
        <C::Record as Record>::STEP_PARAMETER
    }

    fn migrate(&self, store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError> {
        crate::migrate::<C>(&self.kind.open(store), options)
    }

    fn migrate_step(
        &self,
        store: &Utf8Path,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        crate::migrate_step::<C>(&self.kind.open(store), step, options)
    }

    fn rollback(
        &self,
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        crate::rollback::<C>(&self.kind.open(store), to, options)
    }

    fn status(&self, store: &Utf8Path) -> Result<Status, RunError> {
        crate::status::<C>(&self.kind.open(store))
    }

    fn verify(&self, store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        crate::verify::<C>(&self.kind.open(store))
    }

    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError> {
        crate::history(&self.kind.open(store)).map_err(|k| RunError::new(C::NAME, Stage::Detect, k))
    }

    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError> {
        crate::snapshots(&self.kind.open(store))
            .map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }

    fn prune_snapshots(
        &self,
        store: &Utf8Path,
        keep: usize,
    ) -> Result<Vec<SnapshotInfo>, RunError> {
        crate::prune_snapshots(&self.kind.open(store), keep)
            .map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }
}

impl Opens for Folder {
    type Store = FolderStore;

    fn open(&self, path: &Utf8Path) -> FolderStore {
        FolderStore::new(path)
    }
}
