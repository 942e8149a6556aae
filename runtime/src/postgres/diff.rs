//! What a run changes in a schema, for the report: per table, the rows
//! changed, added and removed (matched by primary key, or by content where
//! a table has none), the definitions before and after (columns,
//! constraints, indexes, …), and the first rows that differ.
//!
//! Every row is read once before the steps and once after, inside the
//! run's transaction, and kept as a hash the server computes from its
//! binary form (`record_send`, the bytes `COPY … (FORMAT binary)` writes
//! for it, so any change of its bytes is a change); only the first rows of
//! each table (up to the run's diff limit) are read and kept as text.

use postgres::Transaction;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use std::collections::{BTreeMap, BinaryHeap};

use super::ddl::{self, Schema};
use super::error::PgError;
use super::sql::{qualified, quote};
use crate::run::{Change, Counts};
use crate::table_diff;

/// The rows of one table, by primary key (or by hash).
type Rows = table_diff::Rows<String>;

/// A schema's content at one moment.
#[derive(Debug, Default)]
pub struct State {
    schema: Schema,
    tables: BTreeMap<String, Rows>,
}

/// Reads the definitions and fingerprints every row of every table of
/// `schema`, keeping the first `samples` rows of each as text.
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
        let integer = integer_key(tx, &from, &table.key).map_err(PgError::sql(what()))?;
        let key = match (&integer, table.key.is_empty()) {
            (Some(column), _) => format!("t.{column}::int8"),
            (None, true) => "''".to_owned(),
            (None, false) => format!(
                "json_build_array({})::text",
                table
                    .key
                    .iter()
                    .map(|k| format!("t.{}", quote(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let sampled = !table.key.is_empty() && samples > 0;
        // Each row's hash is taken on the server and only its key, its
        // hash and (for the samples) where it lies cross the connection,
        // row by row.
        let sql = format!(
            "SELECT {key}, hash_array_extended(ARRAY[record_send(t)], 0){} FROM {from} t",
            if sampled { ", t.ctid::text" } else { "" }
        );
        let mut rows = tx
            .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
            .map_err(PgError::sql(what()))?;
        let mut out = Rows::default();
        // The first rows by key (in the order keys compare in), and where
        // they lie.
        let mut first: BinaryHeap<(String, String)> = BinaryHeap::new();
        while let Some(row) = rows.next().map_err(PgError::sql(what()))? {
            let key = match integer {
                // As `json_build_array` writes it.
                Some(_) => format!("[{}]", row.get::<_, i64>(0)),
                None => row.get(0),
            };
            let hash = u64::from_ne_bytes(row.get::<_, i64>(1).to_ne_bytes());
            // Rows without a key match by content.
            let key = if table.key.is_empty() {
                format!("{hash:016x}")
            } else {
                key
            };
            if sampled && (first.len() < samples || first.peek().is_some_and(|(k, _)| key < *k)) {
                first.push((key.clone(), row.get(2)));
                if first.len() > samples {
                    first.pop();
                }
            }
            out.rows.push((key, hash));
        }
        drop(rows);
        if !first.is_empty() {
            // Only the sampled rows are read as text, by where they lie
            // (the transaction's snapshot still sees them there).
            let (keys, places): (Vec<String>, Vec<String>) = first.into_iter().unzip();
            let sql = format!(
                "SELECT t.ctid::text, row_to_json(t)::text FROM {from} t \
                 WHERE t.ctid = ANY($1::text[]::tid[])"
            );
            let texts: BTreeMap<String, String> = tx
                .query(&sql, &[&places])
                .map_err(PgError::sql(what()))?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            for (key, place) in keys.into_iter().zip(&places) {
                if let Some(text) = texts.get(place) {
                    out.samples.insert(key, text.clone());
                }
            }
        }
        out.rows.sort_unstable();
        out.complete = out.samples.len() == out.rows.len();
        tables.insert(table.name.clone(), out);
    }
    Ok(State {
        schema: definitions,
        tables,
    })
}

/// The key column of a table whose primary key is one integer column,
/// quoted; such a key is read as a number rather than as the text of a
/// JSON array.
fn integer_key(
    tx: &mut Transaction<'_>,
    from: &str,
    key: &[String],
) -> Result<Option<String>, postgres::Error> {
    let [column] = key else {
        return Ok(None);
    };
    let column = quote(column);
    let statement = tx.prepare(&format!("SELECT t.{column} FROM {from} t"))?;
    let integer = (statement.columns().first())
        .is_some_and(|c| matches!(*c.type_(), Type::INT2 | Type::INT4 | Type::INT8));
    Ok(integer.then_some(column))
}

/// The changes from `before` to `after`, one per table (or other object)
/// whose rows or definitions differ, with a diff for each when
/// `with_diff`, and the row counts summed over every table.
pub(crate) fn changes(before: &State, after: &State, with_diff: bool) -> (Vec<Change>, Counts) {
    table_diff::changes(before, after, with_diff)
}

impl table_diff::Content for State {
    type Key = String;

    fn names(&self) -> Vec<String> {
        (self.tables.keys().cloned())
            .chain(self.schema.objects())
            .collect()
    }

    fn rows(&self, name: &str) -> Option<&Rows> {
        self.tables.get(name)
    }

    fn schema(&self, name: &str) -> Vec<String> {
        self.schema.of(name)
    }
}
