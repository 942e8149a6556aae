//! What a run changes in one table of a database, whatever the database:
//! its rows matched by key and compared by hash, and the text of a diff of
//! its definitions and first rows. Each database store reads its own rows
//! (`sqlite/diff.rs`, `postgres/diff.rs`) and hands them here; a store
//! that compares the rows where they are (PostgreSQL, on the server) hands
//! only the counts and the first rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

/// The rows of one table, as fingerprints.
#[derive(Debug)]
pub(crate) struct Rows<K> {
    /// (key, hash of the row), sorted by key; empty where the store
    /// compares the rows itself ([`Content::counts`]).
    pub rows: Vec<(K, u64)>,
    /// The first rows by key, rendered.
    pub samples: BTreeMap<K, String>,
    /// Whether `samples` holds every row.
    pub complete: bool,
}

impl<K> Default for Rows<K> {
    fn default() -> Self {
        Rows {
            rows: Vec::new(),
            samples: BTreeMap::new(),
            complete: false,
        }
    }
}

/// Rows changed, unchanged, added and removed in one table.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TableCounts {
    pub changed: usize,
    pub unchanged: usize,
    pub added: usize,
    pub removed: usize,
}

impl TableCounts {
    /// Whether any row differs.
    pub fn any(&self) -> bool {
        self.changed + self.added + self.removed > 0
    }

    /// How many rows the table had before.
    pub fn before(&self) -> usize {
        self.changed + self.unchanged + self.removed
    }

    /// How many rows it has after.
    pub fn after(&self) -> usize {
        self.changed + self.unchanged + self.added
    }

    /// These counts added to a run's.
    pub fn add_to(&self, total: &mut crate::run::Counts) {
        total.changed += self.changed;
        total.unchanged += self.unchanged;
        total.created += self.added;
        total.removed += self.removed;
    }
}

/// Matches rows by key and compares their hashes.
pub(crate) fn compare<K: Ord>(old: &Rows<K>, new: &Rows<K>) -> TableCounts {
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

/// The diff of a table: a summary line, then a unified diff of its
/// definitions (`schema`, one statement a line, before and after) followed
/// by its sampled rows that differ.
pub(crate) fn diff_text<K: Ord + Display>(
    table: &str,
    counts: &TableCounts,
    (old_schema, new_schema): (&[String], &[String]),
    (old, new): (&Rows<K>, &Rows<K>),
) -> String {
    let mut old_lines: Vec<String> = old_schema.to_vec();
    let mut new_lines: Vec<String> = new_schema.to_vec();
    // Past the last sampled row of a side that has more, that side's row
    // is unknown: compare only up to there.
    let bound = [old, new]
        .iter()
        .filter(|r| !r.complete)
        .filter_map(|r| r.samples.keys().next_back())
        .min();
    let keys: BTreeSet<&K> = (old.samples.keys().chain(new.samples.keys()))
        .filter(|k| bound.is_none_or(|b| *k <= b))
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
        "# table `{table}`: {} rows before, {} after; {} changed, {} unchanged, {} added, {} \
         removed\n{body}",
        counts.before(),
        counts.after(),
        counts.changed,
        counts.unchanged,
        counts.added,
        counts.removed
    )
}

/// A database's content at one moment, as a store read it.
pub(crate) trait Content {
    /// Its row keys.
    type Key: Ord + Display;
    /// Every table and other object it has, in any order.
    fn names(&self) -> Vec<String>;
    /// The rows of table `name`, if it is a table.
    fn rows(&self, name: &str) -> Option<&Rows<Self::Key>>;
    /// The definitions of object `name`, one a line.
    fn schema(&self, name: &str) -> Vec<String>;
    /// The rows of table `name` changed, unchanged, added and removed from
    /// `before` to this content: by default, its rows' hashes matched by
    /// key.
    fn counts(&self, before: &Self, name: &str) -> TableCounts {
        let empty = Rows::default();
        compare(
            before.rows(name).unwrap_or(&empty),
            self.rows(name).unwrap_or(&empty),
        )
    }
}

/// The changes from `before` to `after`, one per table (or other object)
/// whose rows or definitions differ, with a diff for each when
/// `with_diff`, and the row counts summed over every table.
pub(crate) fn changes<C: Content>(
    before: &C,
    after: &C,
    with_diff: bool,
) -> (Vec<crate::run::Change>, crate::run::Counts) {
    use crate::run::{Change, ChangeKind, Counts};
    let empty = Rows::default();
    let mut names = before.names();
    names.extend(after.names());
    names.sort();
    names.dedup();
    let mut total = Counts::default();
    let mut out = Vec::new();
    for name in names {
        let old = before.rows(&name).unwrap_or(&empty);
        let new = after.rows(&name).unwrap_or(&empty);
        let counts = after.counts(before, &name);
        counts.add_to(&mut total);
        let (old_schema, new_schema) = (before.schema(&name), after.schema(&name));
        if !counts.any() && old_schema == new_schema {
            continue;
        }
        let kind = match (old_schema.is_empty(), new_schema.is_empty()) {
            (true, false) => ChangeKind::Created,
            (false, true) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        };
        let diff =
            with_diff.then(|| diff_text(&name, &counts, (&old_schema, &new_schema), (old, new)));
        out.push(Change {
            path: camino::Utf8PathBuf::from(name),
            kind,
            diff,
        });
    }
    (out, total)
}
