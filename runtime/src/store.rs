//! The one trait every kind of store implements, and the calls an
//! application makes, the same whatever its store: `verchain::migrate`,
//! `run_startup`, `rollback`, `status`, `verify`, `history`, `snapshots`.

use crate::run::{
    ErrorKind, HistoryRecord, Report, RollbackTo, RunError, RunOptions, Startup, Status,
    ValidationFailure,
};
use crate::{Chain, DirStore, Document, JsonlStore, LogRecord, SnapshotInfo};

/// A kind of persistent state a chain migrates: a folder of documents
/// ([`DirStore`]), a JSONL log ([`JsonlStore`]), an SQLite database
/// (`sqlite::SqliteStore`). Each runs the same protocol: lock, recover,
/// detect, plan, stage, validate, snapshot, commit, record.
///
/// Call it through the free functions ([`migrate`], [`rollback`], …),
/// which read better at the call site: `verchain::migrate::<Notes>(&store,
/// &options)`. Its methods are generic over the chain, so it is not used as
/// `dyn Store`; to hold chains over different stores together (as a command
/// line does), see `verchain::cli::ChainEntry`. The trait is sealed: the
/// stores are verchain's own, so that it can grow without breaking anyone.
///
/// An SQLite database runs its steps in one transaction, in order:
/// [`migrate_step`] on one is refused as unsupported.
pub trait Store: sealed::Sealed {
    /// The records the store holds; a chain over them migrates it.
    type Record: crate::Record;

    /// Migrates to the chain's current version, or `options.target`.
    fn migrate<C: Chain<Record = Self::Record>>(
        &self,
        options: &RunOptions,
    ) -> Result<Report, RunError>;

    /// Runs the one step `id` alone, out of the chain's order (an
    /// operator's override, recorded as one).
    fn migrate_step<C: Chain<Record = Self::Record>>(
        &self,
        id: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError>;

    /// The call an application makes before it serves: migrates to the
    /// current version, or returns at once when the store is current.
    fn run_startup<C: Chain<Record = Self::Record>>(&self) -> Result<Startup, RunError>;

    /// Finishes (or clears) what an interrupted run left; returns whether
    /// there was anything. Every run does this first.
    fn recover<C: Chain<Record = Self::Record>>(&self) -> Result<bool, RunError>;

    /// Rolls back to a snapshot or, with `down` steps, to a version.
    fn rollback<C: Chain<Record = Self::Record>>(
        &self,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError>;

    /// The store's versions, pending steps, last run and snapshots.
    fn status<C: Chain<Record = Self::Record>>(&self) -> Result<Status, RunError>;

    /// Checks every record against its version's schema; changes nothing.
    fn verify<C: Chain<Record = Self::Record>>(
        &self,
    ) -> Result<(usize, Vec<ValidationFailure>), RunError>;

    /// The store's history, oldest first.
    fn history(&self) -> Result<Vec<HistoryRecord>, ErrorKind>;

    /// The store's snapshots, newest first.
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>, ErrorKind>;

    /// Removes all but the newest `keep` snapshots; returns the removed.
    fn prune_snapshots(&self, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind>;
}

/// Migrates `store` along chain `C` to its current version (or
/// `options.target`): lock → recover → detect → plan → stage → validate →
/// snapshot → commit → record. A dry run stops after validation and writes
/// nothing.
pub fn migrate<C: Chain>(
    store: &impl Store<Record = C::Record>,
    options: &RunOptions,
) -> Result<Report, RunError> {
    store.migrate::<C>(options)
}

/// Runs the one step `id` on the records at its `from` version, out of the
/// chain's order: an operator's override, recorded as such in the history.
pub fn migrate_step<C: Chain>(
    store: &impl Store<Record = C::Record>,
    id: &str,
    options: &RunOptions,
) -> Result<Report, RunError> {
    store.migrate_step::<C>(id, options)
}

/// The call an application makes before it serves: migrates to the current
/// version, or returns at once when the store says it is current. Waits up
/// to a minute for another runner.
pub fn run_startup<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Startup, RunError> {
    store.run_startup::<C>()
}

/// Finishes a commit or restore that a crash or an error interrupted, if
/// any; returns whether there was one. Every run does this first.
pub fn recover<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<bool, RunError> {
    store.recover::<C>()
}

/// Rolls the store back: to a snapshot (verified first), or to a version
/// with `down` steps.
pub fn rollback<C: Chain>(
    store: &impl Store<Record = C::Record>,
    to: &RollbackTo,
    options: &RunOptions,
) -> Result<Report, RunError> {
    store.rollback::<C>(to, options)
}

/// The store's versions, pending steps, last run, snapshots, and whether a
/// run was interrupted. Takes no lock and changes nothing.
pub fn status<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Status, RunError> {
    store.status::<C>()
}

/// Checks every record against the schema of its own version; returns how
/// many were checked and the failures. Changes nothing.
pub fn verify<C: Chain>(
    store: &impl Store<Record = C::Record>,
) -> Result<(usize, Vec<ValidationFailure>), RunError> {
    store.verify::<C>()
}

/// The store's history, oldest first.
pub fn history(store: &impl Store) -> Result<Vec<HistoryRecord>, ErrorKind> {
    store.history()
}

/// The store's snapshots, newest first.
pub fn snapshots(store: &impl Store) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    store.snapshots()
}

/// Removes all but the newest `keep` snapshots; returns the removed ones.
pub fn prune_snapshots(store: &impl Store, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    store.prune_snapshots(keep)
}

mod sealed {
    /// Only verchain's stores implement [`super::Store`].
    pub trait Sealed {}
}

/// Implements [`Store`] by forwarding to a store module's own functions.
macro_rules! store_from_module {
    ($store:ty, $record:ty, $module:path) => {
        impl sealed::Sealed for $store {}

        impl Store for $store {
            type Record = $record;

            fn migrate<C: Chain<Record = $record>>(
                &self,
                options: &RunOptions,
            ) -> Result<Report, RunError> {
                use $module as m;
                m::migrate::<C>(self, options)
            }

            fn migrate_step<C: Chain<Record = $record>>(
                &self,
                id: &str,
                options: &RunOptions,
            ) -> Result<Report, RunError> {
                use $module as m;
                m::migrate_step::<C>(self, id, options)
            }

            fn run_startup<C: Chain<Record = $record>>(&self) -> Result<Startup, RunError> {
                use $module as m;
                m::run_startup::<C>(self)
            }

            fn recover<C: Chain<Record = $record>>(&self) -> Result<bool, RunError> {
                use $module as m;
                m::recover::<C>(self)
            }

            fn rollback<C: Chain<Record = $record>>(
                &self,
                to: &RollbackTo,
                options: &RunOptions,
            ) -> Result<Report, RunError> {
                use $module as m;
                m::rollback::<C>(self, to, options)
            }

            fn status<C: Chain<Record = $record>>(&self) -> Result<Status, RunError> {
                use $module as m;
                m::status::<C>(self)
            }

            fn verify<C: Chain<Record = $record>>(
                &self,
            ) -> Result<(usize, Vec<ValidationFailure>), RunError> {
                use $module as m;
                m::verify::<C>(self)
            }

            fn history(&self) -> Result<Vec<HistoryRecord>, ErrorKind> {
                use $module as m;
                m::history(self)
            }

            fn snapshots(&self) -> Result<Vec<SnapshotInfo>, ErrorKind> {
                use $module as m;
                m::snapshots(self)
            }

            fn prune_snapshots(&self, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
                use $module as m;
                m::prune_snapshots(self, keep)
            }
        }
    };
}

store_from_module!(DirStore, Document, crate::dir::run);
store_from_module!(JsonlStore, LogRecord, crate::jsonl);
#[cfg(feature = "sqlite")]
store_from_module!(
    crate::sqlite::SqliteStore,
    crate::sqlite::Sql,
    crate::sqlite
);
