//! Helpers for the common kinds of step over a PostgreSQL table, one small
//! function each, in the SQLite helpers' terms: add a column with a
//! default, give a `jsonb` object a key where it is missing, promote a
//! `jsonb` key to a column of its own. The ones that rewrite rows walk the
//! table in batches ([`Batches`]). Each names the table, the row (by its
//! key) and the column of the first row it cannot handle, and a helper
//! that fails leaves the transaction as it was before the call (a
//! savepoint), so that a step may go on.

use postgres::Transaction;

use super::batch::{self, Batches, Walk};
use super::error::{PgError, describe};
use super::sql::{literal, quote};
use super::table::{self, Table};
use crate::table_error::TableError;

/// Adds the column `column` to `table`, declared as `decl` (its type and
/// constraints, such as `text NOT NULL DEFAULT 'idle'`); every existing
/// row gets the default (at once for a constant default, without
/// rewriting the table). Returns how many rows the table has.
///
/// `ALTER TABLE` takes an ACCESS EXCLUSIVE lock on the table until the
/// run's transaction ends: the dry run's lock report says for how long.
pub fn add_column(
    tx: &mut Transaction<'_>,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<u64, PgError> {
    let table = table::find(tx, table)?;
    atomically(tx, |tx| add(tx, &table, column, decl))?;
    Ok(u64::try_from(table::count(tx, &table, None)?).unwrap_or(0))
}

/// Sets the top-level `key` to `default` in the `jsonb` object that
/// `column` holds, in every row `batches` walks that lacks the key (a key
/// present with `null` is left alone), in batches. Returns how many rows
/// changed.
///
/// Every row walked must hold an object in `column`: the first that holds
/// NULL or another JSON value fails the call, naming its key.
pub fn add_json_default(
    tx: &mut Transaction<'_>,
    batches: impl Into<Batches>,
    column: &str,
    key: &str,
    default: impl Into<serde_json::Value>,
) -> Result<u64, PgError> {
    let batches = batches.into();
    let table = table::find(tx, batches.table())?;
    table::jsonb_column(tx, &table, column)?;
    let (c, k) = (quote(column), literal(key));
    let value = literal(&default.into().to_string());
    atomically(tx, |tx| {
        objects_only(tx, &batches, &table, column)?;
        batch::update(
            tx,
            &batches,
            &format!("{c} = {c} || jsonb_build_object({k}, {value}::jsonb)"),
            Some(&format!("NOT ({c} ? {k})")),
            Some(column),
        )
    })
}

/// Moves the top-level `key` of the `jsonb` objects in `json_column` into
/// a new column `column` declared as `decl` (see [`add_column`]): adds the
/// column, then, in batches, copies the key's value into it in every row
/// walked that has the key and removes the key from that row's object.
/// Rows without the key keep the column's default. Returns how many rows
/// had the key.
///
/// A `jsonb` or `json` column takes the value as it is; any other takes
/// its text (a string's without quotes) cast to the column's type, so
/// `"42"` and `42` both become the integer 42, and JSON `null` is NULL. A
/// value the column does not take (text that is not a number, NULL in a
/// `NOT NULL` column, a `CHECK` that fails) fails the call, naming the
/// row's key.
pub fn promote_json(
    tx: &mut Transaction<'_>,
    batches: impl Into<Batches>,
    json_column: &str,
    key: &str,
    column: &str,
    decl: &str,
) -> Result<u64, PgError> {
    let batches = batches.into();
    let table = table::find(tx, batches.table())?;
    table::jsonb_column(tx, &table, json_column)?;
    let (j, c, k) = (quote(json_column), quote(column), literal(key));
    atomically(tx, |tx| {
        objects_only(tx, &batches, &table, json_column)?;
        add(tx, &table, column, decl)?;
        let ty = table::column(tx, &table, column)?.ty;
        let value = match ty.as_str() {
            "jsonb" => format!("{j} -> {k}"),
            "json" => format!("({j} -> {k})::json"),
            ty => format!("({j} ->> {k})::{ty}"),
        };
        batch::update(
            tx,
            &batches,
            &format!("{c} = {value}, {j} = {j} - {k}"),
            Some(&format!("{j} ? {k}")),
            Some(column),
        )
    })
}

/// Runs `work` inside a savepoint of `tx`: when it fails, everything it
/// did is undone and `tx` goes on as before.
pub(crate) fn atomically<T>(
    tx: &mut Transaction<'_>,
    work: impl FnOnce(&mut Transaction<'_>) -> Result<T, PgError>,
) -> Result<T, PgError> {
    let mut savepoint = tx
        .savepoint("verchain_helper")
        .map_err(PgError::sql("begin a helper"))?;
    match work(&mut savepoint) {
        Ok(value) => {
            savepoint
                .commit()
                .map_err(PgError::sql("finish a helper"))?;
            Ok(value)
        }
        Err(e) => {
            // Undoing fails only with the connection, which the helper's
            // own error already says.
            let _ = savepoint.rollback();
            Err(e)
        }
    }
}

/// `ALTER TABLE … ADD COLUMN`, refusing a column that exists.
fn add(tx: &mut Transaction<'_>, table: &Table, column: &str, decl: &str) -> Result<(), PgError> {
    if let Some(existing) = table::columns(tx, table)?
        .into_iter()
        .find(|c| c.name == column)
    {
        return Err(PgError::Table(TableError::ColumnExists {
            table: table.name.clone(),
            column: existing.name,
        }));
    }
    tx.batch_execute(&format!(
        "ALTER TABLE {} ADD COLUMN {} {decl}",
        table.qualified,
        quote(column)
    ))
    .map_err(|cause| {
        PgError::Table(TableError::Row {
            table: table.name.clone(),
            row: None,
            column: Some(column.to_owned()),
            problem: format!("cannot add the column as `{decl}`: {}", describe(&cause)),
        })
    })
}

/// Fails on the first row `batches` walks whose `column` does not hold a
/// JSON object, naming it by its key and saying what it holds instead.
fn objects_only(
    tx: &mut Transaction<'_>,
    batches: &Batches,
    table: &Table,
    column: &str,
) -> Result<(), PgError> {
    let walk = Walk::resolve(tx, batches, None)?;
    let (c, k) = (quote(column), quote(&walk.key));
    // The rows are filtered first (`OFFSET 0` keeps the filter in its
    // own query): asked for the first row by key, the planner walks the
    // key's index through every row, expecting to meet one at once, which
    // on a large table costs several times a scan of it.
    let found = tx
        .query_opt(
            &format!(
                "SELECT found.key::text, found.kind FROM (SELECT {k} AS key, \
                 jsonb_typeof({c}) AS kind FROM {} WHERE {} \
                 AND jsonb_typeof({c}) IS DISTINCT FROM 'object' OFFSET 0) found \
                 ORDER BY found.key LIMIT 1",
                table.qualified,
                walk.after(None)
            ),
            &[],
        )
        .map_err(PgError::sql(format!(
            "read column `{column}` of table `{}`",
            table.name
        )))?;
    let Some(row) = found else {
        return Ok(());
    };
    let (key, kind): (String, Option<String>) = (row.get(0), row.get(1));
    Err(PgError::Table(TableError::Row {
        table: table.name.clone(),
        row: Some(walk.row(&key)),
        column: Some(column.to_owned()),
        problem: match kind {
            None => "is NULL, expected a JSON object".to_owned(),
            Some(kind) => format!("holds a JSON {kind}, expected a JSON object"),
        },
    }))
}
