//! What a run changes in a database: per table, the rows changed, added
//! and removed (rows matched by rowid, compared by content), the schema
//! before and after, and a few sample rows, as the report's changes.
//!
//! verchain's own table `_verchain_history` and SQLite's internal tables
//! are left out.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::error::SqliteError;
use super::sql::quote;
use crate::run::{Change, Counts};
use crate::table_diff;

/// The rows of one table, by rowid.
type Rows = table_diff::Rows<i64>;

/// One object of the schema: a table, index, view or trigger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    /// The table (or view) it belongs to.
    pub tbl_name: String,
    /// `table`, `index`, `view` or `trigger`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its definition (none for indexes SQLite makes for constraints).
    pub sql: Option<String>,
}

/// A database's content at one moment.
#[derive(Debug, Default)]
pub struct State {
    /// The schema, sorted by table, kind and name.
    pub schema: Vec<Object>,
    tables: BTreeMap<String, Rows>,
}

/// Whether `name` is one of verchain's or SQLite's own objects.
pub(crate) fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_") || lower.starts_with("_verchain_")
}

/// Reads the schema and fingerprints every row of every table, keeping the
/// first `samples` rows of each rendered.
pub(crate) fn capture(conn: &Connection, samples: usize) -> Result<State, SqliteError> {
    let what = "read the database's schema";
    let mut schema: Vec<Object> = conn
        .prepare("SELECT tbl_name, type, name, sql FROM main.sqlite_schema")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok(Object {
                    tbl_name: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    sql: r.get(3)?,
                })
            })?
            .collect()
        })
        .map_err(SqliteError::sql(what))?;
    schema.retain(|o| !is_internal(&o.name) && !is_internal(&o.tbl_name));
    schema.sort();
    let tables: Vec<(String, bool)> = conn
        .prepare("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table'")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(SqliteError::sql(what))?;
    let mut state = State {
        schema,
        tables: BTreeMap::new(),
    };
    for (table, without_rowid) in tables {
        if is_internal(&table) {
            continue;
        }
        let rows = fingerprint(conn, &table, without_rowid, samples)?;
        state.tables.insert(table, rows);
    }
    Ok(state)
}

fn fingerprint(
    conn: &Connection,
    table: &str,
    without_rowid: bool,
    samples: usize,
) -> Result<Rows, SqliteError> {
    // The message is built only on failure: this reads every row.
    read_rows(conn, table, without_rowid, samples)
        .map_err(|cause| SqliteError::sql(format!("read the rows of `{table}`"))(cause))
}

/// Hashes every row of `table` and renders the first `samples`.
fn read_rows(
    conn: &Connection,
    table: &str,
    without_rowid: bool,
    samples: usize,
) -> rusqlite::Result<Rows> {
    let sql = if without_rowid {
        format!("SELECT 0, * FROM {}", quote(table))
    } else {
        format!("SELECT rowid, * FROM {} ORDER BY rowid", quote(table))
    };
    let mut stmt = conn.prepare(&sql)?;
    let width = stmt.column_count();
    let mut query = stmt.query([])?;
    let mut out = Rows::default();
    while let Some(row) = query.next()? {
        let mut hasher = DefaultHasher::new();
        for i in 1..width {
            hash_value(row.get_ref(i)?, &mut hasher);
        }
        let hash = hasher.finish();
        let key = if without_rowid {
            // Rows of a table without rowids match by content.
            hash as i64
        } else {
            row.get(0)?
        };
        if !without_rowid && out.rows.len() < samples {
            let values = (1..width)
                .map(|i| row.get_ref(i).map(render))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            out.samples.insert(key, values.join(", "));
        }
        out.rows.push((key, hash));
    }
    if without_rowid {
        out.rows.sort_unstable();
    }
    out.complete = out.samples.len() == out.rows.len();
    Ok(out)
}

fn hash_value(value: ValueRef<'_>, hasher: &mut DefaultHasher) {
    match value {
        ValueRef::Null => 0u8.hash(hasher),
        ValueRef::Integer(i) => (1u8, i).hash(hasher),
        ValueRef::Real(f) => (2u8, f.to_bits()).hash(hasher),
        ValueRef::Text(t) => (3u8, t).hash(hasher),
        ValueRef::Blob(b) => (4u8, b).hash(hasher),
    }
}

/// A value as SQL would write it, long text and blobs cut short.
pub(crate) fn render(value: ValueRef<'_>) -> String {
    const LONG: usize = 120;
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let mut short: String = text.chars().take(LONG).collect();
            if short.len() < text.len() {
                short.push('…');
            }
            format!("'{}'", short.replace('\'', "''"))
        }
        ValueRef::Blob(b) => {
            let hex: String = b
                .iter()
                .take(LONG / 2)
                .map(|x| format!("{x:02X}"))
                .collect();
            let more = if b.len() > LONG / 2 {
                format!("… ({} bytes)", b.len())
            } else {
                String::new()
            };
            format!("X'{hex}'{more}")
        }
    }
}

/// The changes from `before` to `after`, one per table (or view) whose
/// rows or schema differ, with a diff for each when `with_diff`, and the
/// row counts summed over every table.
pub(crate) fn changes(before: &State, after: &State, with_diff: bool) -> (Vec<Change>, Counts) {
    table_diff::changes(before, after, with_diff)
}

impl table_diff::Content for State {
    type Key = i64;

    fn names(&self) -> Vec<String> {
        (self.tables.keys().cloned())
            .chain(self.schema.iter().map(|o| o.tbl_name.clone()))
            .collect()
    }

    fn rows(&self, name: &str) -> Option<&Rows> {
        self.tables.get(name)
    }

    fn schema(&self, name: &str) -> Vec<String> {
        schema_of(self, name)
    }
}
/// The definitions of a table's (or view's) objects, one a line.
fn schema_of(state: &State, table: &str) -> Vec<String> {
    state
        .schema
        .iter()
        .filter(|o| o.tbl_name == table)
        .map(|o| match &o.sql {
            Some(sql) => format!("{};", sql.replace('\n', "\n  ")),
            None => format!("-- {} {} (made by SQLite for a constraint)", o.kind, o.name),
        })
        .collect()
}
