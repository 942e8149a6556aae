//! What can go wrong with an SQLite database, a step's helper, or one of
//! its snapshots: every message names the database or the table, and the
//! row where there is one.

use camino::Utf8PathBuf;
use thiserror::Error;

/// An SQLite database, a helper or a snapshot failed.
///
/// A helper's error names the table, the row (by rowid) and the column, such
/// as `table `routers` rowid 17, column `config`: not valid JSON`; a step
/// that returns it fails the run, and the run's error adds the step and
/// both versions.
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
    /// SQLite refused a statement.
    #[error("cannot {what}: {cause}")]
    Sql {
        /// What was being done, naming the database or the table.
        what: String,
        /// SQLite's error.
        cause: rusqlite::Error,
    },
    /// One row does not hold what a helper needs, or breaks a constraint
    /// when it is copied or changed.
    #[error("table `{table}`{}{}: {problem}", rowid.map(|r| format!(" rowid {r}")).unwrap_or_default(), column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default())]
    Row {
        /// The table.
        table: String,
        /// The row's rowid (`None` for a table without rowids).
        rowid: Option<i64>,
        /// The column, where one is at fault.
        column: Option<String>,
        /// What is wrong.
        problem: String,
    },
    /// A table a helper works on does not exist.
    #[error("no table `{table}` in the database")]
    NoSuchTable {
        /// The table.
        table: String,
    },
    /// A column a helper reads does not exist.
    #[error("table `{table}` has no column `{column}`")]
    NoSuchColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column a helper adds exists already.
    #[error("table `{table}` already has a column `{column}`")]
    ColumnExists {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A name or a definition given to a helper cannot be used.
    #[error("{what} `{name}` cannot be used: {reason}")]
    BadName {
        /// What the name is for, such as `JSON key`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A rebuilt table does not hold as many rows as the table it replaces.
    #[error("table `{table}` had {before} rows before it was rebuilt and has {after} after")]
    RowCountChanged {
        /// The table.
        table: String,
        /// Rows before.
        before: u64,
        /// Rows after.
        after: u64,
    },
    /// `PRAGMA integrity_check` found problems.
    #[error("{path} fails `PRAGMA integrity_check`: {}", problems.join("; "))]
    Integrity {
        /// The database or snapshot.
        path: Utf8PathBuf,
        /// What SQLite reported (at most the first ten problems).
        problems: Vec<String>,
    },
    /// Another connection changed the database's version between the
    /// run's detection and its transaction.
    #[error(
        "{path} changed while the run began: it was at version {detected}, it is at {now}; \
         nothing was changed, run again"
    )]
    ChangedDuringRun {
        /// The database.
        path: Utf8PathBuf,
        /// The version the run detected.
        detected: u32,
        /// The version in its transaction.
        now: u32,
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
