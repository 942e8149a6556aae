//! PostgreSQL databases (feature `postgres`): [`PostgresStore`], one schema
//! of a database; chains whose steps run over one transaction ([`Pg`]);
//! what steps declare for the run to check ([`expect_rows`]); and the
//! store's errors ([`PgError`]). A schema runs the same protocol as every
//! store, through [`verchain::migrate`](crate::migrate),
//! [`verchain::run_startup`](crate::run_startup) and the other calls of the
//! crate root. The client is the synchronous [`postgres`] crate: no async
//! runtime to set up.
//!
//! # The run
//!
//! connect → `pg_try_advisory_lock`, polled → detect (the history's
//! version) → plan → `BEGIN ISOLATION LEVEL REPEATABLE READ` → snapshot
//! (`COPY … TO STDOUT (FORMAT binary)` of every table and the definitions,
//! into a `tar.zst` with a BLAKE3 manifest) → every step in the one
//! transaction → validate inside it (deferred constraints, each step's
//! `verify`, the row counts steps declare with [`expect_rows`]) → record
//! in `_verchain_history` → `COMMIT`. Any failure ends in `ROLLBACK`: the
//! schema is as it was, and the run's snapshot is removed. A dry run takes
//! the same path and always ends in `ROLLBACK`; its report has one change
//! per table whose rows or definitions differ, with the definitions before
//! and after and the first rows that differ, and the table locks each step
//! took, from `pg_locks` inside the transaction, with how long the
//! transaction held them.
//!
//! A step marked `#[migration(…, transaction = false)]` cannot run inside
//! a transaction (`CREATE INDEX CONCURRENTLY`): the run commits the steps
//! before it, records the step as `started`, runs it on the connection,
//! records it as `applied`, then runs the steps after it in a transaction
//! of their own. Each part is atomic; a run that stops in the middle says
//! which parts committed, and `status` names the step it stopped in. Write
//! such a step so that running it again finishes it (`DROP INDEX
//! CONCURRENTLY IF EXISTS` first: a concurrent build that fails leaves an
//! INVALID index). A dry run cannot run it, and says so.
//!
//! Steps run with `lock_timeout` and `statement_timeout` set
//! ([`PostgresStore::lock_timeout`], [`PostgresStore::statement_timeout`])
//! and with the store's schema first in `search_path`.

mod batch;
mod column;
mod ddl;
mod diff;
mod documents;
mod error;
mod helpers;
mod history;
mod lock;
mod lock_report;
mod rebuild;
mod record;
mod restore;
mod run;
mod snapshot;
mod sql;
mod stage;
mod stamp;
mod store;
mod table;
mod tx;

pub use crate::redact::redact;
pub use crate::table_error::TableError;
pub use batch::{Batches, DEFAULT_BATCH, batched_update};
pub use column::{add_column, add_json_default, promote_json};
pub use documents::migrate_documents;
pub use error::PgError;
pub use helpers::{Rows, expect_rows};
pub use postgres;
pub use rebuild::rebuild_table;
pub use record::{Pg, PgAlone, PgBody, PgVerify};
pub use store::{DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, PostgresStore};

use crate::run::ErrorKind;

impl From<PgError> for ErrorKind {
    fn from(error: PgError) -> Self {
        ErrorKind::store(error)
    }
}
