//! Stamping a PostgreSQL schema built before verchain: what says its
//! version (its history), and the stamp itself, a history row whose `to`
//! is the stamped version, committed in a transaction of its own.

use postgres::Client;

use super::error::PgError;
use super::run::Staged;
use super::store::PostgresStore;
use super::{history, tx};
use crate::run::ErrorKind;
use crate::run::steps::Opened;
use crate::run::store::StampState;

impl PostgresStore {
    /// Its history says its version; else whether the schema holds a
    /// table.
    pub(super) fn pg_stamp_state(&self, client: &mut Client) -> Result<StampState, ErrorKind> {
        let schema = self.schema_name();
        if !history::read(client, schema)?.is_empty() {
            return Ok(StampState::Stamped(format!(
                "its history, `{schema}.{}`",
                history::TABLE
            )));
        }
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                 AND c.relname <> $2",
                &[&schema, &history::TABLE],
            )
            .map_err(PgError::sql(format!(
                "list the tables of schema `{schema}`"
            )))?
            .get(0);
        Ok(match tables {
            0 => StampState::Empty,
            _ => StampState::Unstamped,
        })
    }

    /// The transaction in which the commit inserts the stamp's history
    /// row.
    pub(super) fn stage_stamp<'c>(&self, client: &'c mut Client) -> Result<Staged<'c>, ErrorKind> {
        Ok(Staged::Run(Opened::idle(tx::begin(self, client)?)))
    }
}
