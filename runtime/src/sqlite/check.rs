//! What validation checks in a SQLite database as the run's transaction
//! sees it, besides the steps' own checks: `PRAGMA integrity_check` and
//! `PRAGMA foreign_key_check`.

use camino::Utf8PathBuf;
use rusqlite::Connection;

use super::error::SqliteError;
use super::snapshot;
use crate::run::ValidationFailure;

/// `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on the database
/// as the transaction sees it, as validation failures at `version`.
pub(super) fn check_database(
    conn: &Connection,
    db: &Utf8PathBuf,
    version: u32,
) -> Result<Vec<ValidationFailure>, SqliteError> {
    let mut failures = Vec::new();
    for problem in snapshot::integrity_problems(conn)
        .map_err(SqliteError::sql("run `PRAGMA integrity_check`"))?
    {
        failures.push(ValidationFailure {
            path: db.clone(),
            step: None,
            version,
            message: format!("`PRAGMA integrity_check`: {problem}"),
        });
    }
    let what = "run `PRAGMA foreign_key_check`";
    let mut stmt = conn
        .prepare("SELECT \"table\", rowid, parent, fkid FROM pragma_foreign_key_check")
        .map_err(SqliteError::sql(what))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(SqliteError::sql(what))?;
    for row in rows {
        let (table, rowid, parent, fkid) = row.map_err(SqliteError::sql(what))?;
        let row = rowid.map_or_else(|| "a row".to_owned(), |r| format!("rowid {r}"));
        failures.push(ValidationFailure {
            path: Utf8PathBuf::from(table),
            step: None,
            version,
            message: format!(
                "{row} references a row of `{parent}` that does not exist (foreign key {fkid})"
            ),
        });
    }
    Ok(failures)
}
