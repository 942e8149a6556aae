//! What a run changes in a schema, for the report: per table, the rows
//! changed, added and removed (matched by primary key, or by content where
//! a table has none), the definitions before and after (columns,
//! constraints, indexes, …), and the first rows that differ.
//!
//! Every row is read once before the steps and once after, inside the
//! run's transaction, and kept as a hash; only the first rows of each
//! table (up to the run's diff limit) are kept as text.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use postgres::Transaction;

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
        let key = match table.key.is_empty() {
            true => "''".to_owned(),
            false => format!(
                "json_build_array({})::text",
                table
                    .key
                    .iter()
                    .map(|k| format!("t.{}", quote(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let sql = format!(
            "SELECT {key}, row_to_json(t)::text FROM {} t ORDER BY 1",
            qualified(schema, &table.name)
        );
        let rows = tx
            .query(&sql, &[])
            .map_err(PgError::sql(format!("read the rows of `{}`", table.name)))?;
        let mut out = Rows::default();
        for row in rows {
            let (key, text): (String, String) = (row.get(0), row.get(1));
            let mut hasher = DefaultHasher::new();
            text.hash(&mut hasher);
            let hash = hasher.finish();
            // Rows without a key match by content.
            let key = if table.key.is_empty() {
                format!("{hash:016x}")
            } else {
                key
            };
            if !table.key.is_empty() && out.samples.len() < samples {
                out.samples.insert(key.clone(), text);
            }
            out.rows.push((key, hash));
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
