//! What can go wrong with an SQLite database, a step's helper, or one of
//! its snapshots: every message names the database or the table, and the
//! row where there is one.

use camino::Utf8PathBuf;
use thiserror::Error;

/// An SQLite database, a helper or a snapshot failed.
///
/// A helper's error is a [`TableError`](crate::sqlite::TableError), the
/// same as a PostgreSQL database's: it names the table, the row (by rowid)
/// and the column; a step that returns it fails the run, and the run's
/// error adds the step and both versions.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The file is not an SQLite database.
    #[error("{path} is not an SQLite database: {reason}")]
    NotADatabase {
        /// The file.
        path: Utf8PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The database can only be read here: its file is not writable by
    /// this user, so SQLite opened it read-only.
    #[error(
        "{path} can only be read here (its file is not writable by this user): run as the \
         database's owner, or make it writable"
    )]
    ReadOnly {
        /// The file.
        path: Utf8PathBuf,
    },
    /// SQLite refused a statement.
    #[error("cannot {what}: {cause}")]
    Sql {
        /// What was being done, naming the database or the table.
        what: String,
        /// SQLite's error.
        cause: rusqlite::Error,
    },
    /// A table helper refused a table, a name or a row.
    #[error(transparent)]
    Table(#[from] crate::table_error::TableError),
    /// `PRAGMA integrity_check` found problems.
    #[error("{path} fails `PRAGMA integrity_check`: {}", problems.join("; "))]
    Integrity {
        /// The database or snapshot.
        path: Utf8PathBuf,
        /// What SQLite reported (at most the first ten problems).
        problems: Vec<String>,
    },
    /// A snapshot is damaged, incomplete or not one of this database's.
    #[error("snapshot {path}: {reason}")]
    SnapshotDamaged {
        /// The snapshot's database file or manifest.
        path: Utf8PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl SqliteError {
    /// Wraps SQLite's error with what was being done.
    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> SqliteError {
        let what = what.into();
        move |cause| SqliteError::Sql { what, cause }
    }
}
