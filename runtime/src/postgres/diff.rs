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

use camino::Utf8PathBuf;
use postgres::Transaction;

use super::ddl::{self, Schema};
use super::error::PgError;
use super::sql::{qualified, quote};
use crate::run::{Change, ChangeKind, Counts};

/// The rows of one table, as fingerprints.
#[derive(Debug, Default)]
struct Rows {
    /// (key, hash of the row), sorted by key.
    rows: Vec<(String, u64)>,
    /// The first rows by key, as JSON.
    samples: BTreeMap<String, String>,
    /// Whether `samples` holds every row.
    complete: bool,
}

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

/// Rows changed, unchanged, added and removed in one table.
#[derive(Debug, Default, Clone, Copy)]
struct TableCounts {
    changed: usize,
    unchanged: usize,
    added: usize,
    removed: usize,
}

/// The changes from `before` to `after`, one per table (or other object)
/// whose rows or definitions differ, with a diff for each when
/// `with_diff`, and the row counts summed over every table.
pub(crate) fn changes(before: &State, after: &State, with_diff: bool) -> (Vec<Change>, Counts) {
    let empty = Rows::default();
    let mut names: Vec<String> = (before.tables.keys().chain(after.tables.keys()))
        .cloned()
        .chain(before.schema.objects())
        .chain(after.schema.objects())
        .collect();
    names.sort();
    names.dedup();
    let mut total = Counts::default();
    let mut out = Vec::new();
    for name in names {
        let old = before.tables.get(&name);
        let new = after.tables.get(&name);
        let counts = compare(old.unwrap_or(&empty), new.unwrap_or(&empty));
        total.changed += counts.changed;
        total.unchanged += counts.unchanged;
        total.created += counts.added;
        total.removed += counts.removed;
        let old_schema = before.schema.of(&name);
        let new_schema = after.schema.of(&name);
        if counts.changed + counts.added + counts.removed == 0 && old_schema == new_schema {
            continue;
        }
        let kind = match (old_schema.is_empty(), new_schema.is_empty()) {
            (true, false) => ChangeKind::Created,
            (false, true) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        };
        let diff = with_diff.then(|| {
            diff_text(
                &name,
                &counts,
                (
                    old.map_or(0, |r| r.rows.len()),
                    new.map_or(0, |r| r.rows.len()),
                ),
                (&old_schema, &new_schema),
                (old.unwrap_or(&empty), new.unwrap_or(&empty)),
            )
        });
        out.push(Change {
            path: Utf8PathBuf::from(name),
            kind,
            diff,
        });
    }
    (out, total)
}

/// Matches rows by key and compares their hashes.
fn compare(old: &Rows, new: &Rows) -> TableCounts {
    let mut counts = TableCounts::default();
    let (mut i, mut j) = (0, 0);
    while i < old.rows.len() || j < new.rows.len() {
        match (old.rows.get(i), new.rows.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                if a.1 == b.1 {
                    counts.unchanged += 1;
                } else {
                    counts.changed += 1;
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                counts.removed += 1;
                i += 1;
            }
            (Some(_), None) => {
                counts.removed += 1;
                i += 1;
            }
            _ => {
                counts.added += 1;
                j += 1;
            }
        }
    }
    counts
}

fn diff_text(
    table: &str,
    counts: &TableCounts,
    (rows_before, rows_after): (usize, usize),
    (old_schema, new_schema): (&[String], &[String]),
    (old, new): (&Rows, &Rows),
) -> String {
    let mut old_lines: Vec<String> = old_schema.to_vec();
    let mut new_lines: Vec<String> = new_schema.to_vec();
    // Past the last sampled row of a side that has more, that side's rows
    // are unknown: compare only up to there.
    let bound = [old, new]
        .iter()
        .filter(|r| !r.complete)
        .filter_map(|r| r.samples.keys().next_back())
        .min()
        .cloned();
    let keys: std::collections::BTreeSet<&String> = (old.samples.keys().chain(new.samples.keys()))
        .filter(|k| bound.as_ref().is_none_or(|b| *k <= b))
        .collect();
    for key in keys {
        let a = old.samples.get(key);
        let b = new.samples.get(key);
        if a == b {
            continue;
        }
        if let Some(a) = a {
            old_lines.push(format!("row {key}: {a}"));
        }
        if let Some(b) = b {
            new_lines.push(format!("row {key}: {b}"));
        }
    }
    let join = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let body = crate::run::report::diff(table, &join(&old_lines), &join(&new_lines));
    format!(
        "# table `{table}`: {rows_before} rows before, {rows_after} after; {} changed, {} \
         unchanged, {} added, {} removed\n{body}",
        counts.changed, counts.unchanged, counts.added, counts.removed
    )
}
