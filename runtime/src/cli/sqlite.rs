//! SQLite chains on the command line: the same commands over
//! [`crate::sqlite`], with the database file as the store.

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::commands::{Entry, StoreOps};
use crate::sqlite::{self, Sql, SqliteStore};
use crate::{
    Chain, ErrorKind, HistoryRecord, Report, RollbackTo, RunError, RunOptions, SnapshotInfo, Stage,
    Status, ValidationFailure,
};

/// SQLite databases.
struct Database;

/// Chain `C` over an SQLite database, at `database` unless `--store` or the
/// workspace's settings say otherwise.
pub fn sqlite_chain<C: Chain<Record = Sql>>(
    database: impl Into<Utf8PathBuf>,
) -> Box<dyn ChainEntry> {
    Entry::<C, Database>::boxed(database.into(), Database)
}

impl<C: Chain<Record = Sql>> StoreOps<C> for Database {
    type Store = SqliteStore;

    fn open(&self, path: &Utf8Path) -> SqliteStore {
        SqliteStore::new(path)
    }

    fn migrate(store: &SqliteStore, options: &RunOptions) -> Result<Report, RunError> {
        sqlite::migrate::<C>(store, options)
    }

    fn migrate_step(
        _store: &SqliteStore,
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
        store: &SqliteStore,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        sqlite::rollback::<C>(store, to, options)
    }

    fn status(store: &SqliteStore) -> Result<Status, RunError> {
        sqlite::status::<C>(store)
    }

    fn verify(store: &SqliteStore) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        sqlite::verify::<C>(store)
    }

    fn history(store: &SqliteStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
        sqlite::history(store)
    }

    fn snapshots(store: &SqliteStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        sqlite::snapshots(store)
    }

    fn prune_snapshots(store: &SqliteStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        sqlite::prune_snapshots(store, keep)
    }
}
