//! The run's transaction: how it begins (`REPEATABLE READ`, with the
//! store's lock timeout), how the steps see the schema, and how `COMMIT`
//! ends it, including a connection lost during `COMMIT`, after which a new
//! connection asks the history whether the server committed.

use postgres::{Client, IsolationLevel, Transaction};

use super::error::{PgError, describe};
use super::history;
use super::sql::{millis, quote};
use super::store::PostgresStore;
use crate::run::store::Failed;
use crate::run::{ErrorKind, HistoryRecord};

/// Begins the run's transaction on `client`: `REPEATABLE READ`, so that
/// what the run reads (the snapshot, the rows before the steps) is one
/// moment of the database, and statements wait for locks no longer than
/// the store's lock timeout.
pub(super) fn begin<'c>(
    store: &PostgresStore,
    client: &'c mut Client,
) -> Result<Transaction<'c>, PgError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .map_err(PgError::sql(format!(
            "begin a transaction on {}",
            store.url()
        )))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        millis(store.lock_timeout)
    ))
    .map_err(PgError::sql("set `lock_timeout`"))?;
    Ok(tx)
}

/// Sets what the steps run with: the store's statement timeout, and a
/// `search_path` that finds the schema's tables first.
pub(super) fn for_steps(store: &PostgresStore, tx: &mut Transaction<'_>) -> Result<(), PgError> {
    let schema = store.schema_name();
    let path = match schema {
        "public" => "public".to_owned(),
        other => format!("{}, public", quote(other)),
    };
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}; SELECT set_config('search_path', '{}', true)",
        millis(store.statement_timeout),
        path.replace('\'', "''")
    ))
    .map_err(PgError::sql(
        "set `statement_timeout` and `search_path` for the steps",
    ))
}

/// Inserts `records` into the history and commits. The server refusing
/// `COMMIT` rolls the run back; a connection lost during it leaves the
/// outcome unknown, so a new connection reads the history: the run's rows
/// there mean it committed.
pub(super) fn commit(
    store: &PostgresStore,
    mut tx: Transaction<'_>,
    records: &[HistoryRecord],
) -> Result<(), Failed> {
    history::append(&mut tx, store.schema_name(), records).map_err(ErrorKind::from)?;
    let Err(cause) = tx.commit() else {
        return Ok(());
    };
    if cause.as_db_error().is_some() {
        return Err(ErrorKind::from(PgError::Sql {
            what: format!("commit to {}; the server rolled the run back", store.url()),
            cause,
        })
        .into());
    }
    let Some(run_id) = records.first().map(|r| r.run_id.clone()) else {
        return Err(ErrorKind::from(PgError::sql("commit")(cause)).into());
    };
    let in_doubt = || PgError::CommitInDoubt {
        url: store.url(),
        run_id: run_id.clone(),
        cause: describe(&cause),
    };
    let asked = store.reconnect().map(|client| {
        client.map_err(|_| ()).and_then(|mut client| {
            history::committed(&mut client, store.schema_name(), &run_id).map_err(|_| ())
        })
    });
    match asked {
        Some(Ok(true)) => Ok(()),
        Some(Ok(false)) => Err(ErrorKind::from(PgError::Sql {
            what: format!(
                "commit to {}; the connection was lost and the run did not commit",
                store.url()
            ),
            cause,
        })
        .into()),
        _ => Err(Failed {
            kind: in_doubt().into(),
            unchanged: false,
        }),
    }
}

/// Runs `step` on the connection outside any transaction, with the
/// store's timeouts and the schema first in `search_path` for the session
/// until it returns.
pub(super) fn outside<T>(
    store: &PostgresStore,
    client: &mut Client,
    step: impl FnOnce(&mut Client) -> Result<T, ErrorKind>,
) -> Result<T, ErrorKind> {
    let schema = store.schema_name();
    let path = match schema {
        "public" => "public".to_owned(),
        other => format!("{}, public", quote(other)),
    };
    client
        .batch_execute(&format!(
            "SET lock_timeout = {}; SET statement_timeout = {}; \
             SELECT set_config('search_path', '{}', false)",
            millis(store.lock_timeout),
            millis(store.statement_timeout),
            path.replace('\'', "''")
        ))
        .map_err(PgError::sql(
            "set the timeouts of a step outside the transaction",
        ))?;
    let result = step(client);
    let _ = client.batch_execute("RESET lock_timeout; RESET statement_timeout; RESET search_path");
    result
}
