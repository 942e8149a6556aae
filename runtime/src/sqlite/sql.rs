//! Small pieces of SQL the store and the helpers share: quoting names,
//! finding tables and their columns, JSON paths.

use rusqlite::{Connection, OptionalExtension};

use super::error::SqliteError;
use crate::table_error::TableError;

/// `name` as a quoted SQL identifier, `"name"` (for statements verchain
/// runs and does not keep).
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as it is written into a definition the database keeps: bare when
/// SQLite reads it bare as this name (a plain identifier that is not a
/// keyword), else quoted.
pub(crate) fn ddl_name(conn: &Connection, name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // Preparing compiles without running: a keyword fails to compile.
    if plain
        && conn
            .prepare(&format!("SELECT {name} FROM (SELECT 1 AS {})", quote(name)))
            .is_ok()
    {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// A table of the main database, as SQLite names it.
pub(crate) struct TableInfo {
    /// The name as the schema spells it.
    pub name: String,
    /// Whether it is a `WITHOUT ROWID` table.
    pub without_rowid: bool,
}

/// The table named `table` (names are case-insensitive), or
/// [`SqliteError::NoSuchTable`].
pub(crate) fn table(conn: &Connection, table: &str) -> Result<TableInfo, SqliteError> {
    conn.query_row(
        "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
         AND name = ?1 COLLATE NOCASE",
        [table],
        |row| {
            Ok(TableInfo {
                name: row.get(0)?,
                without_rowid: row.get(1)?,
            })
        },
    )
    .optional()
    .map_err(SqliteError::sql(format!("look up table `{table}`")))?
    .ok_or_else(|| {
        SqliteError::Table(TableError::NoSuchTable {
            schema: None,
            table: table.to_owned(),
        })
    })
}

/// One column of a table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type, as written.
    pub decl_type: String,
    /// Its position in the primary key (0 when not part of it).
    pub pk: i64,
}

/// The columns of `table` that hold stored values (generated and hidden
/// columns left out), in order.
pub(crate) fn columns(conn: &Connection, table: &str) -> Result<Vec<Column>, SqliteError> {
    let what = || format!("read the columns of table `{table}`");
    let mut stmt = conn
        .prepare("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?1)")
        .map_err(SqliteError::sql(what()))?;
    let rows = stmt
        .query_map([table], |row| {
            Ok((
                Column {
                    name: row.get(0)?,
                    decl_type: row.get(1)?,
                    pk: row.get(2)?,
                },
                row.get::<_, i64>(3)?,
            ))
        })
        .map_err(SqliteError::sql(what()))?;
    let mut out = Vec::new();
    for row in rows {
        let (column, hidden) = row.map_err(SqliteError::sql(what()))?;
        if hidden == 0 {
            out.push(column);
        }
    }
    Ok(out)
}

/// The column of `columns` named `name` (case-insensitive).
pub(crate) fn find<'a>(columns: &'a [Column], name: &str) -> Option<&'a Column> {
    columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The column `column` of `table`, by its schema spelling, or
/// [`SqliteError::NoSuchColumn`].
pub(crate) fn column(conn: &Connection, table: &str, column: &str) -> Result<String, SqliteError> {
    find(&columns(conn, table)?, column)
        .map(|c| c.name.clone())
        .ok_or_else(|| {
            SqliteError::Table(TableError::NoSuchColumn {
                table: table.to_owned(),
                column: column.to_owned(),
            })
        })
}

/// The column that is the table's rowid under another name (`INTEGER
/// PRIMARY KEY`), if any.
pub(crate) fn rowid_alias(columns: &[Column]) -> Option<&Column> {
    let mut key = columns.iter().filter(|c| c.pk > 0);
    match (key.next(), key.next()) {
        (Some(only), None) if only.decl_type.eq_ignore_ascii_case("INTEGER") => Some(only),
        _ => None,
    }
}

/// The JSON path of the top-level key `key`, `$."key"`.
pub(crate) fn json_path(key: &str) -> Result<String, SqliteError> {
    if key.is_empty() || key.contains(['"', '\\']) || key.chars().any(char::is_control) {
        return Err(SqliteError::Table(TableError::BadName {
            what: "JSON key",
            name: key.to_owned(),
            reason: "a key must be non-empty, without `\"`, `\\` or control characters".to_owned(),
        }));
    }
    Ok(format!("$.\"{key}\""))
}

/// Whether SQLite's error is one that a single row can cause (a
/// constraint, malformed JSON, a trigger's `RAISE`, …), as opposed to
/// a statement that cannot run at all.
pub(crate) fn is_row_error(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    // What a row's value causes: a constraint, a function that refuses it
    // (SQLite's generic error), a type or size it cannot take. A full disk,
    // an I/O error, a read-only or locked database is the database's, not a
    // row's, and is reported as itself.
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::ConstraintViolation
                | ErrorCode::Unknown
                | ErrorCode::TypeMismatch
                | ErrorCode::TooBig
        )
    )
}
