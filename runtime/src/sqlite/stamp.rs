//! Stamping an SQLite database built before verchain: what says its
//! version (its history, `user_version`), and the stamp itself,
//! `user_version` set in the transaction that records it.

use rusqlite::Connection;

use super::error::SqliteError;
use super::history;
use super::run::{Staged, set_version};
use super::store::{SqliteStore, user_version};
use crate::run::steps::Opened;
use crate::run::store::StampState;
use crate::run::{ErrorKind, Run};
use crate::sqlite::Sql;

impl SqliteStore {
    /// Its history or `user_version` says its version; else whether it
    /// holds a table.
    pub(super) fn sqlite_stamp_state(&self, conn: &Connection) -> Result<StampState, ErrorKind> {
        if !history::read(conn, self.path())?.is_empty() {
            return Ok(StampState::Stamped(format!(
                "its history, `{}`",
                history::TABLE
            )));
        }
        let raw = user_version(conn)?;
        if raw != 0 {
            return Ok(StampState::Stamped(format!("`PRAGMA user_version` {raw}")));
        }
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1",
                [history::TABLE],
                |r| r.get(0),
            )
            .map_err(SqliteError::sql("list the tables"))?;
        Ok(match tables {
            0 => StampState::Empty,
            _ => StampState::Unstamped,
        })
    }

    /// `BEGIN IMMEDIATE`, and `user_version` set to `version` in it; the
    /// commit adds the history's line.
    pub(super) fn stage_stamp<'c>(
        &self,
        conn: &'c mut Connection,
        _: &Run<'_, Sql>,
        version: u32,
    ) -> Result<Staged<'c>, ErrorKind> {
        let tx = self.transaction(conn)?;
        set_version(&tx, version)?;
        Ok(Staged::Run(Opened::idle(tx), None))
    }
}
