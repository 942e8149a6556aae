//! SQLite chains on the command line: the same commands over
//! [`crate::sqlite`], with the database file as the store.

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::entry::{Entry, Opens};
use crate::sqlite::{Sql, SqliteStore};
use crate::{Chain, ErrorKind};

/// SQLite databases.
#[derive(Clone)]
struct Database;

/// Chain `C` over an SQLite database, at `database` unless `--store` or the
/// workspace's settings say otherwise.
pub fn sqlite_chain<C: Chain<Record = Sql>>(
    database: impl Into<Utf8PathBuf>,
) -> Box<dyn ChainEntry> {
    Entry::<C, Database>::boxed(database.into(), Database)
}

impl Opens for Database {
    type Store = SqliteStore;
    const KIND: &'static str = "an SQLite database";

    fn open(&self, path: &Utf8Path) -> Result<SqliteStore, ErrorKind> {
        Ok(SqliteStore::new(path))
    }
}
