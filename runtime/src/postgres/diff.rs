//! What a run changes in a schema, for the report: per table, the rows
//! changed, added and removed (matched by primary key, or by content where
//! a table has none), the definitions before and after (columns,
//! constraints, indexes, …), and the first rows that differ.
//!
//! The rows are compared on the server, inside the run's transaction. Before
//! the steps, each table's rows are kept as (key, hash) in a temporary
//! table of the transaction; the hash is taken from the row's binary form
//! (`record_send`, the bytes `COPY … (FORMAT binary)` writes for it), so any
//! change of its bytes is a change. After them, the live rows are matched
//! with the kept ones by key and only the counts cross the connection, so
//! the client's memory does not grow with the tables. Only the first rows
//! of each table by key (up to the run's diff limit) are read, as text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use postgres::Transaction;
use postgres::error::SqlState;
use postgres::types::Type;

use super::ddl::{self, Schema};
use super::error::PgError;
use super::sql::{qualified, quote};
use crate::run::{Change, Counts};
use crate::table_diff::{self, TableCounts};

/// The rows of one table as the report shows them: its first rows.
type Rows = table_diff::Rows<Key>;

/// A row's key as the report names it: a number for a table whose primary
/// key is one integer column, the JSON array of its key's values for
/// another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Integer(i64),
    Text(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As `json_build_array` writes it.
            Key::Integer(n) => write!(f, "[{n}]"),
            Key::Text(text) => f.write_str(text),
        }
    }
}

/// How a table's rows are matched.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// By its primary key, one integer column (quoted).
    Integer(String),
    /// By its primary key's values, as a JSON array (the expression).
    Json(String),
    /// By content: the table has no primary key.
    Content,
}

impl Match {
    /// The key expression `k` (as [`keyed`] selects it) as `text`, the
    /// same for every kind of key.
    fn as_text(&self, k: &str) -> String {
        match self {
            Match::Integer(_) => format!("json_build_array({k})::text"),
            Match::Json(_) | Match::Content => k.to_owned(),
        }
    }
}

/// One table at one moment.
#[derive(Debug)]
struct TableState {
    how: Match,
    /// How many rows it has.
    count: usize,
    /// Its first rows.
    rows: Rows,
    /// The temporary table that keeps its rows' (key, hash), for a state
    /// taken before the steps.
    kept: Option<String>,
}

/// A schema's content at one moment.
#[derive(Debug, Default)]
pub struct State {
    schema: Schema,
    tables: BTreeMap<String, TableState>,
    /// For a state taken after the steps: each table's rows against the
    /// state before.
    counts: BTreeMap<String, TableCounts>,
    /// For a state taken after the steps: the tables whose key changed
    /// between a number and another kind, whose first rows by key are not
    /// the same rows on both sides, so that none are shown.
    unsampled: BTreeSet<String>,
}

/// Numbers the temporary tables that states keep, in the whole process,
/// so that no two of one session's share a name.
static KEPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The hash of row `t`, taken on the server.
const HASH: &str = "hash_array_extended(ARRAY[record_send(t)], 0)";

/// Reads the definitions of every table of `schema` and keeps (key, hash)
/// of each of its rows in the transaction, for [`after`]; reads the first
/// `samples` rows of each as text.
pub(crate) fn capture(
    tx: &mut Transaction<'_>,
    schema: &str,
    samples: usize,
) -> Result<State, PgError> {
    let definitions = ddl::read(tx, schema)?;
    let mut tables = BTreeMap::new();
    for table in &definitions.tables {
        let from = qualified(schema, &table.name);
        let what = || format!("read the rows of `{}`", table.name);
        let how = matching(tx, &from, &table.key).map_err(PgError::sql(what()))?;
        let kept = format!(
            "_verchain_rows_{}",
            KEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let count = tx
            .execute(
                &format!(
                    "CREATE TEMPORARY TABLE {kept} ON COMMIT DROP AS {}",
                    keyed(&how, &from)
                ),
                &[],
            )
            .map_err(PgError::sql(what()))?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let rows = first_rows(tx, &how, &from, samples, count).map_err(PgError::sql(what()))?;
        tables.insert(
            table.name.clone(),
            TableState {
                how,
                count,
                rows,
                kept: Some(format!("pg_temp.{kept}")),
            },
        );
    }
    Ok(State {
        schema: definitions,
        tables,
        ..State::default()
    })
}

/// Reads `schema` again after the steps and matches each table's rows with
/// those `before` kept, on the server; reads the first `samples` rows of
/// each as text.
pub(crate) fn after(
    tx: &mut Transaction<'_>,
    schema: &str,
    samples: usize,
    before: &State,
) -> Result<State, PgError> {
    let definitions = ddl::read(tx, schema)?;
    let mut tables = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut unsampled = BTreeSet::new();
    for table in &definitions.tables {
        let from = qualified(schema, &table.name);
        let what = || format!("compare the rows of `{}`", table.name);
        let how = matching(tx, &from, &table.key).map_err(PgError::sql(what()))?;
        let then = before.tables.get(&table.name);
        let number = |how: &Match| matches!(how, Match::Integer(_));
        if then.is_some_and(|then| number(&then.how) != number(&how)) {
            unsampled.insert(table.name.clone());
        }
        let found = match then.and_then(|t| Some((t, t.kept.as_deref()?))) {
            Some((then, kept)) => compare(tx, &how, &from, &then.how, kept).map_err(|cause| {
                // `from` was just read from the catalog: the table missing
                // is the kept one, dropped by a step (`DISCARD TEMP`).
                match cause.code() == Some(&SqlState::UNDEFINED_TABLE) {
                    true => PgError::RowsNotKept {
                        table: table.name.clone(),
                    },
                    false => PgError::sql(what())(cause),
                }
            })?,
            None => count(tx, &from)
                .map(|n| TableCounts {
                    added: n,
                    ..TableCounts::default()
                })
                .map_err(PgError::sql(what()))?,
        };
        let rows =
            first_rows(tx, &how, &from, samples, found.after()).map_err(PgError::sql(what()))?;
        counts.insert(table.name.clone(), found);
        tables.insert(
            table.name.clone(),
            TableState {
                how,
                count: found.after(),
                rows,
                kept: None,
            },
        );
    }
    // Tables the steps dropped: every row of each is removed.
    for (name, then) in &before.tables {
        if !tables.contains_key(name) {
            counts.insert(
                name.clone(),
                TableCounts {
                    removed: then.count,
                    ..TableCounts::default()
                },
            );
        }
    }
    Ok(State {
        schema: definitions,
        tables,
        counts,
        unsampled,
    })
}

/// How the rows of table `from` are matched: by its key, a single integer
/// column read as a number, or several columns (or one of another type)
/// read as the text of a JSON array; by content without a key.
fn matching(
    tx: &mut Transaction<'_>,
    from: &str,
    key: &[String],
) -> Result<Match, postgres::Error> {
    if key.is_empty() {
        return Ok(Match::Content);
    }
    if let [column] = key {
        let column = quote(column);
        let statement = tx.prepare(&format!("SELECT t.{column} FROM {from} t"))?;
        if (statement.columns().first())
            .is_some_and(|c| matches!(*c.type_(), Type::INT2 | Type::INT4 | Type::INT8))
        {
            return Ok(Match::Integer(column));
        }
    }
    let columns: Vec<String> = key.iter().map(|k| format!("t.{}", quote(k))).collect();
    Ok(Match::Json(format!(
        "json_build_array({})::text",
        columns.join(", ")
    )))
}

/// A query of every row of `from` as (k, h): its key and its hash. Rows
/// without a key are keyed by their hash and, for equal rows, their rank
/// among them, so that equal rows are matched one for one.
fn keyed(how: &Match, from: &str) -> String {
    match how {
        Match::Integer(column) => {
            format!("SELECT t.{column}::int8 AS k, {HASH} AS h FROM {from} t")
        }
        Match::Json(key) => format!("SELECT {key} AS k, {HASH} AS h FROM {from} t"),
        Match::Content => format!(
            "SELECT h::text || '/' || row_number() OVER (PARTITION BY h) AS k, h \
             FROM (SELECT {HASH} AS h FROM {from} t) r"
        ),
    }
}

/// The rows of `from` matched with those kept in `kept` (as `then`
/// matched them), counted on the server.
fn compare(
    tx: &mut Transaction<'_>,
    how: &Match,
    from: &str,
    then: &Match,
    kept: &str,
) -> Result<TableCounts, postgres::Error> {
    // Keys of different kinds (a key that changed type or columns) are
    // matched by their text, as the report writes them.
    let (old, new) = match (then, how) {
        (Match::Integer(_), Match::Integer(_)) => ("b.k".to_owned(), "a.k".to_owned()),
        _ => (then.as_text("b.k"), how.as_text("a.k")),
    };
    let row = tx.query_one(
        &format!(
            "SELECT count(*) FILTER (WHERE b.h = a.h), count(*) FILTER (WHERE b.h <> a.h), \
             count(*) FILTER (WHERE b.k IS NULL), count(*) FILTER (WHERE a.k IS NULL) \
             FROM {kept} b FULL JOIN ({}) a ON {new} = {old}",
            keyed(how, from)
        ),
        &[],
    )?;
    let n = |i: usize| usize::try_from(row.get::<_, i64>(i)).unwrap_or(usize::MAX);
    Ok(TableCounts {
        unchanged: n(0),
        changed: n(1),
        added: n(2),
        removed: n(3),
    })
}

/// How many rows `from` has.
fn count(tx: &mut Transaction<'_>, from: &str) -> Result<usize, postgres::Error> {
    let n: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {from}"), &[])?
        .get(0);
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The first `samples` rows of `from` (of `count`) by key, as text: none
/// for a table without a key.
fn first_rows(
    tx: &mut Transaction<'_>,
    how: &Match,
    from: &str,
    samples: usize,
    count: usize,
) -> Result<Rows, postgres::Error> {
    let mut rows = Rows::default();
    let (key, order) = match how {
        Match::Content => return Ok(rows),
        _ if samples == 0 => return Ok(rows),
        Match::Integer(column) => (format!("t.{column}::int8"), format!("t.{column}")),
        // In the order the keys' text compares in, as the report sorts
        // them.
        Match::Json(key) => (key.clone(), format!("{key} COLLATE \"C\"")),
    };
    let limit = i64::try_from(samples).unwrap_or(i64::MAX);
    let found = tx.query(
        &format!(
            "SELECT {key} AS verchain_key, row_to_json(t)::text FROM {from} t \
             ORDER BY {order} LIMIT $1"
        ),
        &[&limit],
    )?;
    for row in found {
        let key = match how {
            Match::Integer(_) => Key::Integer(row.get(0)),
            _ => Key::Text(row.get(0)),
        };
        rows.samples.insert(key, row.get(1));
    }
    rows.complete = rows.samples.len() == count;
    Ok(rows)
}

/// The changes from `before` to `after` (a state [`after`] took against
/// `before`), one per table (or other object) whose rows or definitions
/// differ, with a diff for each when `with_diff`, and the row counts summed
/// over every table.
pub(crate) fn changes(before: &State, after: &State, with_diff: bool) -> (Vec<Change>, Counts) {
    let hidden = &after.unsampled;
    table_diff::changes(
        &Side {
            state: before,
            hidden,
        },
        &Side {
            state: after,
            hidden,
        },
        with_diff,
    )
}

/// One side of a comparison, as the report shows it.
struct Side<'a> {
    state: &'a State,
    /// The tables whose rows are not shown.
    hidden: &'a BTreeSet<String>,
}

impl table_diff::Content for Side<'_> {
    type Key = Key;

    fn names(&self) -> Vec<String> {
        (self.state.tables.keys().cloned())
            .chain(self.state.schema.objects())
            .collect()
    }

    fn rows(&self, name: &str) -> Option<&Rows> {
        match self.hidden.contains(name) {
            true => None,
            false => self.state.tables.get(name).map(|t| &t.rows),
        }
    }

    fn schema(&self, name: &str) -> Vec<String> {
        self.state.schema.of(name)
    }

    fn counts(&self, _: &Self, name: &str) -> TableCounts {
        self.state.counts.get(name).copied().unwrap_or_default()
    }
}
