//! What a step can declare for the run to check: [`expect_rows`], a
//! table's row count once the step returns.

use postgres::Transaction;

use super::error::PgError;
use super::sql::quote;

/// The temporary table that holds what steps expect, for the run's
/// transaction only.
const EXPECTATIONS: &str = "_verchain_expectations";

/// What a step declares about a table's row count, checked by the run
/// after the step returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rows {
    /// As many rows as when [`expect_rows`] was called.
    Unchanged,
    /// Exactly this many.
    Exactly(u64),
}

/// Declares the row count `table` (found through the run's `search_path`,
/// the store's schema first) must have when the step returns: the run
/// counts the rows then, and a mismatch fails validation, naming the
/// table, the step and both counts.
///
/// Call it at the start of a step, for the tables the step must not lose
/// or gain rows in. Outside a verchain run, nothing checks it.
pub fn expect_rows(tx: &mut Transaction<'_>, table: &str, rows: Rows) -> Result<(), PgError> {
    if !in_run(tx)? {
        return Ok(());
    }
    let (expected, why) = match rows {
        Rows::Unchanged => (count(tx, table)?, "as many as before the step"),
        Rows::Exactly(n) => (i64::try_from(n).unwrap_or(i64::MAX), "as the step declared"),
    };
    tx.execute(
        &format!("INSERT INTO pg_temp.{EXPECTATIONS} VALUES ($1, $2, $3)"),
        &[&table, &expected, &why],
    )
    .map_err(PgError::sql(format!("declare the rows of `{table}`")))?;
    Ok(())
}

/// Creates the table of expectations for the run's transaction.
pub(crate) fn ensure_expectations(tx: &mut Transaction<'_>) -> Result<(), PgError> {
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE IF NOT EXISTS {EXPECTATIONS} \
         (table_name text NOT NULL, expected bigint NOT NULL, why text NOT NULL) ON COMMIT DROP"
    ))
    .map_err(PgError::sql("create the table of row expectations"))
}

/// Every expectation the last step declared that its tables do not meet,
/// as (table, message); the expectations are then cleared.
pub(crate) fn unmet_expectations(
    tx: &mut Transaction<'_>,
) -> Result<Vec<(String, String)>, PgError> {
    if !in_run(tx)? {
        return Ok(Vec::new());
    }
    let declared = tx
        .query(
            &format!("DELETE FROM pg_temp.{EXPECTATIONS} RETURNING *"),
            &[],
        )
        .map_err(PgError::sql("read the row expectations"))?;
    let mut unmet = Vec::new();
    for row in declared {
        let (table, expected, why): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
        let found = count(tx, &table)?;
        if found != expected {
            unmet.push((
                table.clone(),
                format!("table `{table}` has {found} rows; expected {expected} ({why})"),
            ));
        }
    }
    Ok(unmet)
}

fn in_run(tx: &mut Transaction<'_>) -> Result<bool, PgError> {
    Ok(tx
        .query_one(
            &format!("SELECT to_regclass('pg_temp.{EXPECTATIONS}') IS NOT NULL"),
            &[],
        )
        .map_err(PgError::sql("look for the row expectations"))?
        .get(0))
}

fn count(tx: &mut Transaction<'_>, table: &str) -> Result<i64, PgError> {
    Ok(tx
        .query_one(&format!("SELECT count(*) FROM {}", quote(table)), &[])
        .map_err(PgError::sql(format!("count the rows of `{table}`")))?
        .get(0))
}
