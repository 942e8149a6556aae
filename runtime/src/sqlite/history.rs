//! The history of an SQLite database: the table `_verchain_history`, one
//! row per applied step or rollback, written in the transaction of the run
//! it records.

use camino::Utf8Path;
use rusqlite::{Connection, Row};

use super::error::SqliteError;
use crate::run::history_row::{HistoryRow, count, record};
use crate::run::{ErrorKind, HistoryRecord};

/// The history table's name.
pub(crate) const TABLE: &str = "_verchain_history";

/// Creates the history table if the database has none.
pub(crate) fn ensure(conn: &Connection) -> Result<(), SqliteError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _verchain_history (
            seq INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            chain TEXT NOT NULL,
            step TEXT,
            from_version INTEGER NOT NULL,
            to_version INTEGER NOT NULL,
            description TEXT NOT NULL,
            checksum TEXT,
            started TEXT NOT NULL,
            finished TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            snapshot TEXT,
            rows_changed INTEGER NOT NULL,
            rows_unchanged INTEGER NOT NULL,
            rows_created INTEGER NOT NULL,
            rows_removed INTEGER NOT NULL,
            stamp_before INTEGER,
            host TEXT NOT NULL,
            verchain TEXT NOT NULL,
            operator_override INTEGER NOT NULL DEFAULT 0
        )",
    )
    .map_err(SqliteError::sql(
        "create the history table `_verchain_history`",
    ))?;
    // A table an earlier verchain created has no `operator_override`.
    if !has_override_column(conn)? {
        conn.execute_batch(
            "ALTER TABLE _verchain_history ADD COLUMN operator_override INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(SqliteError::sql(
            "add `operator_override` to `_verchain_history`",
        ))?;
    }
    Ok(())
}

/// Whether the history table has the `operator_override` column.
fn has_override_column(conn: &Connection) -> Result<bool, SqliteError> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('_verchain_history') \
         WHERE name = 'operator_override'",
        [],
        |r| r.get(0),
    )
    .map_err(SqliteError::sql("read the columns of `_verchain_history`"))
}

/// Appends `records` to the history, creating the table if needed.
pub(crate) fn append(conn: &Connection, records: &[HistoryRecord]) -> Result<(), SqliteError> {
    ensure(conn)?;
    let what = "append to `_verchain_history`";
    let mut stmt = conn
        .prepare(
            "INSERT INTO _verchain_history (run_id, chain, step, from_version, to_version, \
             description, checksum, started, finished, duration_ms, outcome, snapshot, \
             rows_changed, rows_unchanged, rows_created, rows_removed, stamp_before, host, \
             verchain, operator_override) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
             ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        )
        .map_err(SqliteError::sql(what))?;
    for r in records {
        stmt.execute(rusqlite::params![
            r.run_id,
            r.chain,
            r.step,
            r.from,
            r.to,
            r.description,
            r.checksum,
            r.started,
            r.finished,
            i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
            r.outcome.name(),
            r.snapshot,
            count(r.counts.changed),
            count(r.counts.unchanged),
            count(r.counts.created),
            count(r.counts.removed),
            r.stamp_before,
            r.host,
            r.verchain,
            r.operator_override,
        ])
        .map_err(SqliteError::sql(what))?;
    }
    Ok(())
}

/// Every record, oldest first; none when the table does not exist.
pub(crate) fn read(conn: &Connection, db: &Utf8Path) -> Result<Vec<HistoryRecord>, ErrorKind> {
    let what = || format!("read `_verchain_history` of {db}");
    let exists: bool = conn
        .query_row(
            "SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
            [TABLE],
            |r| r.get(0),
        )
        .map_err(SqliteError::sql(what()))?;
    if !exists {
        return Ok(Vec::new());
    }
    let operator_override = match has_override_column(conn)? {
        true => "operator_override",
        false => "0",
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT seq, run_id, chain, step, from_version, to_version, description, checksum, \
             started, finished, duration_ms, outcome, snapshot, rows_changed, rows_unchanged, \
             rows_created, rows_removed, stamp_before, host, verchain, {operator_override} \
             FROM _verchain_history ORDER BY seq"
        ))
        .map_err(SqliteError::sql(what()))?;
    let mut rows = stmt.query([]).map_err(SqliteError::sql(what()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(SqliteError::sql(what()))? {
        let seq: i64 = row.get(0).map_err(SqliteError::sql(what()))?;
        let record = record(row)
            .and_then(|record| record.contained().map(|()| record))
            .map_err(|message| ErrorKind::Damaged {
                path: db.join(TABLE),
                line: usize::try_from(seq).unwrap_or(0),
                message,
            })?;
        out.push(record);
    }
    Ok(out)
}

/// A row of the history table, as the shared reader reads it.
impl HistoryRow for Row<'_> {
    fn text(&self, column: usize) -> Result<Option<String>, String> {
        self.get(column).map_err(|e| e.to_string())
    }

    fn int(&self, column: usize) -> Result<Option<i64>, String> {
        self.get(column).map_err(|e| e.to_string())
    }

    fn flag(&self, column: usize) -> Result<bool, String> {
        self.get(column).map_err(|e| e.to_string())
    }
}
