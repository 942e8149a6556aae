//! SQLite databases (feature `sqlite`): [`SqliteStore`], chains whose steps
//! run over one transaction ([`Sql`]), the helpers steps call, and the
//! store's errors ([`SqliteError`]). A database runs the same protocol as
//! every store, through [`verchain::migrate`](crate::migrate) and the other
//! calls of the crate root.
//!
//! ```
//! use verchain::sqlite::rusqlite::{Connection, Transaction};
//! use verchain::sqlite::{SqliteStore, add_column};
//! use verchain::{Chain, RunOptions, migration};
//!
//! /// The agents of an agent runtime.
//! #[derive(Chain)]
//! #[chain(record = verchain::sqlite::Sql, base = 1, current = 2)]
//! pub struct Agents;
//!
//! /// Adds `status`, `idle` for existing workers.
//! #[migration(chain = Agents, from = 1, to = 2)]
//! fn add_status(tx: &Transaction) -> Result<(), verchain::BoxError> {
//!     add_column(tx, "workers", "status", "TEXT NOT NULL DEFAULT 'idle'")?;
//!     Ok(())
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("agents.db");
//! Connection::open(&path)?.execute_batch(
//!     "CREATE TABLE workers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
//!      INSERT INTO workers (name) VALUES ('w1'), ('w2');",
//! )?;
//! let store = SqliteStore::new(path.to_str().unwrap());
//! let report = verchain::migrate::<Agents>(&store, &RunOptions::default())?;
//! assert_eq!(report.counts.changed, 2);
//! assert!(report.snapshot.is_some());
//! let status: String = Connection::open(&path)?
//!     .query_row("SELECT status FROM workers WHERE name = 'w2'", [], |r| r.get(0))?;
//! assert_eq!(status, "idle");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The run
//!
//! lock → `BEGIN IMMEDIATE` → detect (`PRAGMA user_version`) → plan →
//! snapshot (online backup API, checked with `PRAGMA integrity_check` while
//! the steps run) → every step in the one transaction → validate inside it
//! (`PRAGMA integrity_check`, `PRAGMA foreign_key_check`, each step's
//! `verify`, the row counts steps declare with [`expect_rows`]) → record in
//! `_verchain_history` → `COMMIT`. Any failure ends in `ROLLBACK`, leaving
//! the database file byte for byte as it was, and removes the run's
//! snapshot. A dry run takes the same path and always ends in `ROLLBACK`;
//! its report has one change per table whose rows or schema differ, with a
//! diff of the table's definitions and of its first rows (up to the run's
//! `diff_limit`), and the counts of rows changed, unchanged, added
//! (`created`) and removed.
//!
//! Steps run with foreign key enforcement off: `PRAGMA foreign_keys`
//! cannot change inside a transaction, and rebuilding a table needs it
//! off. `ON DELETE` actions therefore do not fire inside a step; every
//! foreign key is checked before the commit, and a row that references
//! nothing fails the run, naming its table and rowid.
//!
//! A database whose `user_version` is 0 (SQLite's default) is at the
//! chain's base version. verchain's files for the database live in the
//! `.verchain/` folder beside it (see [`SqliteStore`]).

mod check;
mod diff;
mod error;
mod helpers;
mod history;
mod rebuild;
mod record;
mod restore;
mod run;
mod sealing;
mod snapshot;
mod sql;
mod stamp;
mod store;
#[cfg(test)]
mod tests;

pub use crate::table_error::TableError;
pub use error::SqliteError;
pub use helpers::{Rows, add_column, add_json_default, expect_rows, promote_json, rebuild_table};
pub use record::{Sql, SqlBody, SqlVerify};
pub use rusqlite;
pub use store::SqliteStore;

use crate::run::ErrorKind;

impl From<SqliteError> for ErrorKind {
    fn from(error: SqliteError) -> Self {
        ErrorKind::store(error)
    }
}
