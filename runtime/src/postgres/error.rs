//! What can go wrong with a PostgreSQL database, its lock or one of its
//! snapshots: every message names the database (its URL without the
//! password) and the schema, and the table where there is one.

use camino::Utf8PathBuf;
use thiserror::Error;

/// A PostgreSQL database, a helper or a snapshot failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string cannot be read.
    #[error("`{url}` is not a PostgreSQL connection URL: {cause}")]
    BadUrl {
        /// The URL, without its password.
        url: String,
        /// Why.
        cause: postgres::Error,
    },
    /// The server cannot be reached, or refused the connection (a wrong
    /// password, an unknown database or role).
    #[error("cannot connect to {url}: {}", describe(cause))]
    Connect {
        /// The URL, without its password.
        url: String,
        /// The client's error.
        cause: postgres::Error,
    },
    /// The server refused a statement, or the connection was lost.
    #[error("cannot {what}: {}", describe(cause))]
    Sql {
        /// What was being done, naming the schema or the table.
        what: String,
        /// The server's or the client's error.
        cause: postgres::Error,
    },
    /// The schema the store migrates does not exist.
    #[error("schema `{schema}` does not exist in {url}; verchain never creates one")]
    NoSchema {
        /// The URL, without its password.
        url: String,
        /// The schema.
        schema: String,
    },
    /// The advisory lock was won, yet `pg_locks` does not show this session
    /// holding it: a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`) hands each statement to any server
    /// connection, which breaks session locks.
    #[error(
        "the lock of {url} was taken, yet `pg_locks` does not show this session holding it: a \
         connection pooler in transaction mode breaks session locks; connect to the server \
         directly, or through a pooler in session mode"
    )]
    LockNotHeld {
        /// The URL, without its password.
        url: String,
    },
    /// The store was opened from a client, and a run is using it.
    #[error("the client of {url} is in use by another run")]
    ClientInUse {
        /// The URL, without its password.
        url: String,
    },
    /// The connection was lost during `COMMIT`, and whether the server
    /// committed could not be found out.
    #[error(
        "the connection to {url} was lost during COMMIT ({cause}), and no new connection could \
         tell whether the run committed; `status` (its last run is {run_id}, or the one before) \
         says, once the server answers"
    )]
    CommitInDoubt {
        /// The URL, without its password.
        url: String,
        /// The run.
        run_id: String,
        /// What was lost.
        cause: String,
    },
    /// A step's function does not fit where the run calls it (a step built
    /// by hand whose `transaction` flag does not match its function).
    #[error("step `{step}`: {problem}")]
    StepShape {
        /// The step.
        step: &'static str,
        /// What does not fit.
        problem: &'static str,
    },
    /// A table helper refused a table, a name or a row.
    #[error(transparent)]
    Table(#[from] crate::table_error::TableError),
    /// A step failed on a document of a `jsonb` column, or the document is
    /// at a version the chain's steps cannot take it from; the message
    /// names the step, both versions, and the row as
    /// `table[key=value].column`.
    #[error(transparent)]
    Document(Box<crate::run::ErrorKind>),
    /// The schema holds an object a snapshot cannot re-create as it was.
    #[error(
        "schema `{schema}` holds {kind} `{object}`, which a snapshot cannot keep; migrate it with \
         --no-snapshot (and a backup of your own), or move the object to another schema"
    )]
    Unsnapshottable {
        /// The schema.
        schema: String,
        /// The object.
        object: String,
        /// What it is.
        kind: &'static str,
    },
    /// Something a rollback does not drop depends on an object of the
    /// schema it drops and re-creates, so no snapshot could be put back.
    #[error(
        "{dependent} depends on {object} of schema `{schema}`, which a rollback drops and \
         re-creates, so a snapshot of the schema could never be put back; drop it or move it \
         into the schema, or migrate with --no-snapshot (and a backup of your own)"
    )]
    DependedOn {
        /// The schema.
        schema: String,
        /// The object that depends on it, as the server describes it
        /// (`view reporting.user_count`).
        dependent: String,
        /// What it depends on (`table public.users`).
        object: String,
    },
    /// The rows a run kept to compare with what the steps leave are gone:
    /// a step dropped the transaction's temporary tables.
    #[error(
        "the rows of table `{table}` as they were before the steps are gone: a step dropped \
         the run's temporary tables (`DISCARD TEMP`?), so the run cannot compare them; \
         run with --no-diff, which compares no rows"
    )]
    RowsNotKept {
        /// The table.
        table: String,
    },
    /// A snapshot is damaged, incomplete or not one of this database's.
    #[error("snapshot {path}: {reason}")]
    SnapshotDamaged {
        /// The snapshot's archive.
        path: Utf8PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl PgError {
    /// Wraps the client's error with what was being done.
    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> PgError {
        let what = what.into();
        move |cause| PgError::Sql { what, cause }
    }
}

/// The client's error with the server's detail, hint and position, where
/// the server gave them (the client's `Display` says only "db error").
pub(crate) fn describe(error: &postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        let mut said = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            said.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        return said;
    };
    let mut said = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        said.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        said.push_str(&format!("; hint: {hint}"));
    }
    if let Some(table) = db.table() {
        said.push_str(&format!("; table `{table}`"));
    }
    if let Some(constraint) = db.constraint() {
        said.push_str(&format!("; constraint `{constraint}`"));
    }
    said
}
