//! Helpers for the common kinds of SQLite step, one small function each:
//! add a JSON attribute where it is missing, add a column with a default,
//! promote a JSON attribute to a column, rebuild a table with new columns;
//! and [`expect_rows`], a row count the run checks after the step.
//!
//! Each works inside the run's transaction and names the table, the row
//! (rowid) and the column of the first row it cannot handle; when a helper
//! fails, the table is as it was before the call.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params_from_iter};

use super::error::SqliteError;
use super::sql::{self, quote};
use crate::table_error::TableError;

pub use super::rebuild::rebuild_table;

/// Sets the top-level `key` to `default` in the JSON object that `column`
/// of `table` holds, in every row that lacks the key (a key present with
/// `null` is left alone). Returns how many rows changed.
///
/// Every row must hold a JSON object in `column`, as text: the first that
/// holds NULL, a BLOB, text that is not JSON, or JSON that is not an
/// object fails the call, naming its rowid. The rows that change are rewritten in SQLite's
/// compact JSON form, their keys in the same order, the new key last.
///
/// ```
/// # use verchain::sqlite::{add_json_default, rusqlite::Connection};
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch(r#"CREATE TABLE routers (name TEXT, config TEXT);
///     INSERT INTO routers VALUES ('a', '{"region": "eu"}'), ('b', '{"timeout_ms": 5}');"#)?;
/// let tx = conn.transaction()?;
/// assert_eq!(add_json_default(&tx, "routers", "config", "timeout_ms", 30_000)?, 1);
/// let a: String = tx.query_row("SELECT config FROM routers WHERE name = 'a'", [], |r| r.get(0))?;
/// assert_eq!(a, r#"{"region":"eu","timeout_ms":30000}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn add_json_default(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    key: &str,
    default: impl Into<serde_json::Value>,
) -> Result<u64, SqliteError> {
    let table = sql::table(tx, table)?;
    let column = sql::column(tx, &table.name, column)?;
    let path = sql::json_path(key)?;
    check_json_objects(tx, &table, &column)?;
    let c = quote(&column);
    update_naming_row(
        tx,
        &table,
        Some(&column),
        &format!("{c} = json_set({c}, ?1, json(?2))"),
        &format!("json_type({c}, ?1) IS NULL"),
        vec![Value::Text(path), Value::Text(default.into().to_string())],
    )
}

/// Adds the column `column` to `table`, declared as `decl` (its type and
/// constraints, such as `TEXT NOT NULL DEFAULT 'idle'`); every existing row
/// gets the default. Returns how many rows the table has.
///
/// A `NOT NULL` column needs a default other than NULL, as SQLite requires;
/// a default that is not a constant (such as `CURRENT_TIMESTAMP`) is
/// refused by SQLite too: add the column without it, then `UPDATE`. The
/// name is written into the table's definition bare when it is a plain
/// identifier, quoted otherwise.
pub fn add_column(
    tx: &Transaction<'_>,
    table: &str,
    column: &str,
    decl: &str,
) -> Result<u64, SqliteError> {
    let table = sql::table(tx, table)?;
    let columns = sql::columns(tx, &table.name)?;
    if let Some(existing) = sql::find(&columns, column) {
        return Err(SqliteError::Table(TableError::ColumnExists {
            table: table.name,
            column: existing.name.clone(),
        }));
    }
    tx.execute_batch(&format!(
        "ALTER TABLE {} ADD COLUMN {} {decl}",
        quote(&table.name),
        sql::ddl_name(tx, column)
    ))
    .map_err(|cause| {
        SqliteError::Table(TableError::Row {
            table: table.name.clone(),
            row: None,
            column: Some(column.to_owned()),
            problem: format!("cannot add the column as `{decl}`: {cause}"),
        })
    })?;
    count_rows(tx, &table.name)
}

/// Moves the top-level JSON attribute `key` of `json_column` into a new
/// column `column` declared as `decl` (see [`add_column`]): adds the
/// column, copies the attribute's value into it in every row that has the
/// key, and removes the key from that row's JSON. Rows without the key
/// keep the column's default. Returns how many rows had the key.
///
/// JSON `true` and `false` become 1 and 0, numbers and strings their SQL
/// values, objects and arrays their JSON text, `null` NULL. Every row must
/// hold a JSON object in `json_column`, as text; a row whose value the
/// column does not accept (NULL in a `NOT NULL` column, a `CHECK` that
/// fails) fails the call, naming its rowid.
pub fn promote_json(
    tx: &Transaction<'_>,
    table: &str,
    json_column: &str,
    key: &str,
    column: &str,
    decl: &str,
) -> Result<u64, SqliteError> {
    let info = sql::table(tx, table)?;
    let json_column = sql::column(tx, &info.name, json_column)?;
    let path = sql::json_path(key)?;
    check_json_objects(tx, &info, &json_column)?;
    atomically(tx, || {
        add_column(tx, &info.name, column, decl)?;
        let (j, c) = (quote(&json_column), quote(column));
        update_naming_row(
            tx,
            &info,
            Some(column),
            &format!("{c} = json_extract({j}, ?1), {j} = json_remove({j}, ?1)"),
            &format!("json_type({j}, ?1) IS NOT NULL"),
            vec![Value::Text(path)],
        )
    })
}

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

/// Declares the row count `table` must have when the step returns: the run
/// counts the rows then, and a mismatch fails validation, naming the
/// table, the step and both counts.
///
/// Call it at the start of a step, for the tables the step must not lose
/// or gain rows in. Outside a verchain run, nothing checks it.
pub fn expect_rows(tx: &Transaction<'_>, table: &str, rows: Rows) -> Result<(), SqliteError> {
    let table = sql::table(tx, table)?;
    let (expected, why) = match rows {
        Rows::Unchanged => (count_rows(tx, &table.name)?, "as many as before the step"),
        Rows::Exactly(n) => (n, "as the step declares"),
    };
    ensure_expectations(tx)?;
    tx.execute(
        "INSERT INTO temp._verchain_expect (tbl, expected, why) VALUES (?1, ?2, ?3)",
        (&table.name, expected, why),
    )
    .map_err(SqliteError::sql("record a row count to check"))?;
    Ok(())
}

/// Runs `work` inside a savepoint: when it fails, everything it did is
/// undone.
pub(super) fn atomically<T>(
    tx: &Transaction<'_>,
    work: impl FnOnce() -> Result<T, SqliteError>,
) -> Result<T, SqliteError> {
    tx.execute_batch("SAVEPOINT verchain_helper")
        .map_err(SqliteError::sql("begin a helper"))?;
    match work() {
        Ok(value) => {
            tx.execute_batch("RELEASE verchain_helper")
                .map_err(SqliteError::sql("finish a helper"))?;
            Ok(value)
        }
        Err(e) => {
            // SQLite ends the whole transaction itself on some errors (a full
            // disk, an I/O error), savepoint included: then there is nothing
            // to undo here, and the helper's own error is what to report.
            let _ = tx.execute_batch("ROLLBACK TO verchain_helper; RELEASE verchain_helper");
            Err(e)
        }
    }
}

/// Creates the connection's table of declared row counts if missing.
pub(crate) fn ensure_expectations(conn: &Connection) -> Result<(), SqliteError> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS _verchain_expect \
         (tbl TEXT NOT NULL, expected INTEGER NOT NULL, why TEXT NOT NULL)",
    )
    .map_err(SqliteError::sql("create the table of declared row counts"))
}

/// The declared row counts that do not hold, as (table, message); clears
/// the declarations.
pub(crate) fn unmet_expectations(conn: &Connection) -> Result<Vec<(String, String)>, SqliteError> {
    ensure_expectations(conn)?;
    let what = "check the declared row counts";
    let declared: Vec<(String, u64, String)> = conn
        .prepare("SELECT tbl, expected, why FROM temp._verchain_expect ORDER BY rowid")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(SqliteError::sql(what))?;
    conn.execute("DELETE FROM temp._verchain_expect", [])
        .map_err(SqliteError::sql(what))?;
    let mut unmet = Vec::new();
    for (table, expected, why) in declared {
        let found = match sql::table(conn, &table) {
            Ok(info) => count_rows(conn, &info.name)?,
            Err(SqliteError::Table(TableError::NoSuchTable { .. })) => {
                unmet.push((
                    table,
                    format!("is gone; {expected} rows were expected ({why})"),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if found != expected {
            unmet.push((
                table,
                format!("has {found} rows, expected {expected} ({why})"),
            ));
        }
    }
    Ok(unmet)
}

/// How many rows `table` has.
pub(crate) fn count_rows(conn: &Connection, table: &str) -> Result<u64, SqliteError> {
    conn.query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
        r.get(0)
    })
    .map_err(SqliteError::sql(format!("count the rows of `{table}`")))
}

/// Fails on the first row whose `column` does not hold a JSON object,
/// naming it and saying what it holds instead.
fn check_json_objects(
    conn: &Connection,
    table: &sql::TableInfo,
    column: &str,
) -> Result<(), SqliteError> {
    let c = quote(column);
    let rowid = if table.without_rowid { "NULL" } else { "rowid" };
    // CASE evaluates `json_type` only on valid JSON, which it needs.
    /// The row: its rowid, its JSON type, its first characters, its SQL type.
    type Found = (Option<i64>, Option<String>, Option<String>, String);
    let found: Option<Found> = conn
        .query_row(
            &format!(
                "SELECT {rowid}, CASE WHEN json_valid({c}) THEN json_type({c}) END, \
                 CASE WHEN typeof({c}) <> 'blob' THEN CAST(substr({c}, 1, 60) AS TEXT) END, \
                 typeof({c}) FROM {} \
                 WHERE typeof({c}) = 'blob' \
                 OR CASE WHEN json_valid({c}) THEN json_type({c}) END IS NOT 'object' \
                 LIMIT 1",
                quote(&table.name)
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(SqliteError::sql(format!(
            "read column `{column}` of table `{}`",
            table.name
        )))?;
    let Some((rowid, json_type, start, sql_type)) = found else {
        return Ok(());
    };
    let problem = match (json_type, sql_type.as_str()) {
        (_, "null") => "is NULL, expected a JSON object".to_owned(),
        // The helper writes text: a BLOB would come back as TEXT.
        (_, "blob") => "holds a BLOB, expected a JSON object as text (the helper writes text, \
                        which would change the value's storage class)"
            .to_owned(),
        (Some(t), _) => format!("holds a JSON {t}, expected a JSON object"),
        (None, _) => format!(
            "is not valid JSON: {:?}",
            start
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect::<String>()
        ),
    };
    Err(SqliteError::Table(TableError::Row {
        table: table.name.clone(),
        row: rowid.map(crate::table_error::rowid),
        column: Some(column.to_owned()),
        problem,
    }))
}

/// Runs `UPDATE table SET set WHERE cond` with `params`; if SQLite refuses
/// it, finds the first row it refuses and names it. Returns how many rows
/// changed.
fn update_naming_row(
    tx: &Transaction<'_>,
    table: &sql::TableInfo,
    column: Option<&str>,
    set: &str,
    cond: &str,
    params: Vec<Value>,
) -> Result<u64, SqliteError> {
    let t = quote(&table.name);
    let update = format!("UPDATE {t} SET {set} WHERE {cond}");
    match tx.execute(&update, params_from_iter(&params)) {
        Ok(n) => Ok(n as u64),
        Err(cause) if sql::is_row_error(&cause) && !table.without_rowid => {
            let n = params.len() + 1;
            // Not finding the row is no reason to hide SQLite's own error.
            let found = first_failing_row(
                tx,
                &format!("{update} AND rowid = ?{n}"),
                &format!("SELECT rowid FROM {t} WHERE {cond} ORDER BY rowid"),
                &params,
            )
            .ok()
            .flatten();
            Err(SqliteError::Table(TableError::Row {
                table: table.name.clone(),
                row: (found.as_ref().map(|(r, _)| *r)).map(crate::table_error::rowid),
                column: column.map(str::to_owned),
                problem: found.map_or(cause, |(_, e)| e).to_string(),
            }))
        }
        Err(cause) => Err(SqliteError::Table(TableError::Row {
            table: table.name.clone(),
            row: None,
            column: column.map(str::to_owned),
            problem: cause.to_string(),
        })),
    }
}

/// Runs `per_row` (whose last parameter is a rowid) for each rowid that
/// `rowids` selects, inside a savepoint that is rolled back afterwards,
/// and returns the first rowid it fails on with its error.
pub(super) fn first_failing_row(
    tx: &Transaction<'_>,
    per_row: &str,
    rowids: &str,
    params: &[Value],
) -> Result<Option<(i64, rusqlite::Error)>, SqliteError> {
    let what = "find the row a statement fails on";
    // The selection takes the parameters it names, which may be fewer.
    let ids: Vec<i64> = tx
        .prepare(rowids)
        .and_then(|mut stmt| {
            let used = &params[..stmt.parameter_count().min(params.len())];
            stmt.query_map(params_from_iter(used), |r| r.get(0))?
                .collect()
        })
        .map_err(SqliteError::sql(what))?;
    tx.execute_batch("SAVEPOINT verchain_find_row")
        .map_err(SqliteError::sql(what))?;
    let mut found = None;
    {
        let mut stmt = tx.prepare(per_row).map_err(SqliteError::sql(what))?;
        for id in ids {
            let mut all = params.to_vec();
            all.push(Value::Integer(id));
            if let Err(e) = stmt.execute(params_from_iter(&all)) {
                found = Some((id, e));
                break;
            }
        }
    }
    tx.execute_batch("ROLLBACK TO verchain_find_row; RELEASE verchain_find_row")
        .map_err(SqliteError::sql(what))?;
    Ok(found)
}
