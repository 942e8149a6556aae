//! What a database store's table helpers (`add_column`, `rebuild_table`,
//! `promote_json`, the batched walks …) refuse, whatever the database:
//! every message names the table, and the row and column where one is at
//! fault.

use thiserror::Error;

/// A table helper refused a table, a name or a row.
///
/// A step that returns it fails the run, and the run's error adds the step
/// and both versions: such as ``table `routers`, row rowid = 17, column
/// `config`: is not valid JSON``.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TableError {
    /// A table a helper works on does not exist.
    #[error(
        "no table `{table}` in {}",
        schema.as_ref().map_or_else(|| "the database".to_owned(), |s| format!("schema `{s}`"))
    )]
    NoSuchTable {
        /// The schema (a PostgreSQL database's), or none (an SQLite
        /// database's only one).
        schema: Option<String>,
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
    /// A name, a key or a definition given to a helper cannot be used.
    #[error("{what} `{name}` cannot be used: {reason}")]
    BadName {
        /// What the name is for, such as `JSON key` or `key of table`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// One row does not hold what a helper needs, or the database refuses
    /// what the helper writes to it.
    #[error(
        "table `{table}`{}{}: {problem}",
        row.as_ref().map(|r| format!(", row {r}")).unwrap_or_default(),
        column.as_ref().map(|c| format!(", column `{c}`")).unwrap_or_default()
    )]
    Row {
        /// The table.
        table: String,
        /// The row, as its key says it (`id = 42`, or `rowid = 17` in an
        /// SQLite table), where one row is at fault.
        row: Option<String>,
        /// The column, where one is at fault.
        column: Option<String>,
        /// What is wrong.
        problem: String,
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
}

/// An SQLite row named by its rowid, as [`TableError::Row`] says it.
#[cfg(feature = "sqlite")]
pub(crate) fn rowid(rowid: i64) -> String {
    format!("rowid = {rowid}")
}
