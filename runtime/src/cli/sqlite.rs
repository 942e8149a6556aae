//! SQLite chains on the command line: the same commands over
//! [`crate::sqlite`], with the database file as the store.

use std::marker::PhantomData;

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use crate::sqlite::{self, Sql, SqliteStore};
use crate::{
    Chain, ErrorKind, HistoryRecord, Report, RollbackTo, RunError, RunOptions, SnapshotInfo, Stage,
    Status, StepMeta, ValidationFailure,
};

struct Entry<C> {
    database: Utf8PathBuf,
    chain: PhantomData<fn() -> C>,
}

/// Chain `C` over an SQLite database, at `database` unless `--store` or the
/// workspace's settings say otherwise.
pub fn sqlite_chain<C: Chain<Record = Sql>>(
    database: impl Into<Utf8PathBuf>,
) -> Box<dyn ChainEntry> {
    Box::new(Entry::<C> {
        database: database.into(),
        chain: PhantomData,
    })
}

impl<C: Chain<Record = Sql>> ChainEntry for Entry<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn default_store(&self) -> &Utf8Path {
        &self.database
    }

    fn steps(&self) -> Vec<StepMeta> {
        C::steps().iter().map(|s| *s.meta()).collect()
    }

    fn source(&self) -> (&'static str, &'static str, u32) {
        (C::SOURCE_FILE, C::TYPE_NAME, C::CURRENT)
    }

    fn migrate(&self, store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError> {
        sqlite::migrate::<C>(&SqliteStore::new(store), options)
    }

    fn migrate_step(
        &self,
        _store: &Utf8Path,
        _step: &str,
        _options: &RunOptions,
    ) -> Result<Report, RunError> {
        Err(RunError::new(
            C::NAME,
            Stage::Plan,
            ErrorKind::Unsupported {
                what: "`migrate --id` on an SQLite database (its steps run in one transaction, \
                       in order)",
            },
        ))
    }

    fn rollback(
        &self,
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        sqlite::rollback::<C>(&SqliteStore::new(store), to, options)
    }

    fn status(&self, store: &Utf8Path) -> Result<Status, RunError> {
        sqlite::status::<C>(&SqliteStore::new(store))
    }

    fn verify(&self, store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        sqlite::verify::<C>(&SqliteStore::new(store))
    }

    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError> {
        sqlite::history(&SqliteStore::new(store))
            .map_err(|k| RunError::new(C::NAME, Stage::Detect, k))
    }

    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError> {
        sqlite::snapshots(&SqliteStore::new(store))
            .map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }

    fn prune_snapshots(
        &self,
        store: &Utf8Path,
        keep: usize,
    ) -> Result<Vec<SnapshotInfo>, RunError> {
        sqlite::prune_snapshots(&SqliteStore::new(store), keep)
            .map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }
}
