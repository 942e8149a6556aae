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
    Entry::<C, Database>::boxed(database.into())
}

impl<C: Chain<Record = Sql>> StoreOps<C> for Database {
    fn migrate(store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError> {
        sqlite::migrate::<C>(&SqliteStore::new(store), options)
    }

    fn migrate_step(
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
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        sqlite::rollback::<C>(&SqliteStore::new(store), to, options)
    }

    fn status(store: &Utf8Path) -> Result<Status, RunError> {
        sqlite::status::<C>(&SqliteStore::new(store))
    }

    fn verify(store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        sqlite::verify::<C>(&SqliteStore::new(store))
    }

    fn history(store: &Utf8Path) -> Result<Vec<HistoryRecord>, ErrorKind> {
        sqlite::history(&SqliteStore::new(store))
    }

    fn snapshots(store: &Utf8Path) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        sqlite::snapshots(&SqliteStore::new(store))
    }

    fn prune_snapshots(store: &Utf8Path, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        sqlite::prune_snapshots(&SqliteStore::new(store), keep)
    }
}
