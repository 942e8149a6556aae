//! Walking a large table by its key, so many rows at a time, inside the
//! run's transaction: [`Batches`] says how, [`batched_update`] runs an
//! `UPDATE` over each batch, and the other helpers walk the same way. Each
//! batch is one statement: none runs long enough to meet the store's
//! `statement_timeout`, memory stays bounded, and the run reports how far
//! the walk got (`batch_progress` events) as batches are done. A batch the
//! server refuses is searched row by row for the first row it refuses,
//! which the error names by its key.

use postgres::Transaction;

use super::error::{PgError, describe};
use super::sql::{literal, quote};
use super::table::{self, Table};
use crate::run::scope;
use crate::table_error::TableError;

/// How many rows a batch holds unless [`Batches::size`] says otherwise.
pub const DEFAULT_BATCH: usize = 10_000;

/// How a helper walks a table: in the order of a key (the table's
/// single-column primary key, or a unique `NOT NULL` column named with
/// [`Batches::key`]), [`Batches::size`] rows a batch, over the rows
/// [`Batches::only`] selects. A table's name converts into the default
/// walk: `"submissions".into()`.
///
/// ```
/// use verchain::postgres::Batches;
///
/// let walk = Batches::of("submissions").size(5_000).only("form_id = 2");
/// assert_eq!(walk.table(), "submissions");
/// let default: Batches = "submissions".into();
/// assert_eq!(default, Batches::of("submissions"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batches {
    table: String,
    key: Option<String>,
    size: usize,
    only: Option<String>,
}

impl Batches {
    /// Every row of `table` (found through the run's `search_path`), by its
    /// primary key, [`DEFAULT_BATCH`] rows a batch.
    pub fn of(table: impl Into<String>) -> Self {
        Batches {
            table: table.into(),
            key: None,
            size: DEFAULT_BATCH,
            only: None,
        }
    }

    /// Walks by `column` instead of the primary key: it must be `NOT NULL`
    /// and, alone, unique.
    #[must_use]
    pub fn key(mut self, column: impl Into<String>) -> Self {
        self.key = Some(column.into());
        self
    }

    /// `rows` rows a batch (at least one).
    #[must_use]
    pub fn size(mut self, rows: usize) -> Self {
        self.size = rows.max(1);
        self
    }

    /// Only the rows for which `condition` (SQL over the table's columns,
    /// such as `form_id = 2`) holds.
    #[must_use]
    pub fn only(mut self, condition: impl Into<String>) -> Self {
        self.only = Some(condition.into());
        self
    }

    /// The table walked.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How many rows a batch holds.
    pub fn rows(&self) -> usize {
        self.size
    }
}

impl From<&str> for Batches {
    fn from(table: &str) -> Self {
        Batches::of(table)
    }
}

impl From<String> for Batches {
    fn from(table: String) -> Self {
        Batches::of(table)
    }
}

/// Runs `UPDATE table SET set` over the rows `batches` walks, one batch a
/// statement inside the run's transaction; returns how many rows were
/// updated. `set` is an `UPDATE`'s assignments over the row, such as
/// `status = 'idle'` or `responses = responses - 'email'`.
///
/// A batch the server refuses (a constraint, a cast that fails) fails the
/// call with an error naming the table and the first row it refuses by its
/// key; what the call updated is undone when the run rolls back, as every
/// failed step's work is.
pub fn batched_update(
    tx: &mut Transaction<'_>,
    batches: impl Into<Batches>,
    set: &str,
) -> Result<u64, PgError> {
    update(tx, &batches.into(), set, None, None)
}

/// [`batched_update`] over the rows `condition` selects beside the
/// walk's own, naming `column` in a row's error.
pub(crate) fn update(
    tx: &mut Transaction<'_>,
    batches: &Batches,
    set: &str,
    condition: Option<&str>,
    column: Option<&str>,
) -> Result<u64, PgError> {
    let table = table::find(tx, batches.table())?;
    let statement = |rows: &str| format!("UPDATE {} SET {set} WHERE {rows}", table.qualified);
    each(tx, batches, condition, column, statement)
}

/// Runs `statement(rows)` for each batch `batches` walks (with `rows` the
/// SQL that selects the batch's rows, and `condition`'s), naming `column`
/// in a row's error; returns how many rows the statements changed.
pub(crate) fn each(
    tx: &mut Transaction<'_>,
    batches: &Batches,
    condition: Option<&str>,
    column: Option<&str>,
    statement: impl Fn(&str) -> String,
) -> Result<u64, PgError> {
    let mut walk = Walk::start(tx, batches, condition)?;
    let mut lower: Option<String> = None;
    let mut changed = 0;
    while let Some((upper, rows)) = walk.next(tx, lower.as_deref())? {
        let range = walk.range(lower.as_deref(), &upper);
        changed += walk.guarded(tx, &range, column, &statement)?;
        walk.done(rows);
        lower = Some(upper);
    }
    Ok(changed)
}

/// One walk through a table, batch by batch.
pub(crate) struct Walk {
    pub table: Table,
    /// The key's name.
    pub key: String,
    /// Its type, for the bounds' literals.
    key_type: String,
    size: i64,
    /// What selects the rows walked (the walk's and the helper's), if
    /// anything does.
    condition: Option<String>,
    total: usize,
    done: usize,
    /// Batches done, and how many between two progress events.
    batches: usize,
    every: usize,
}

impl Walk {
    /// Finds the table and its key, counts the rows to walk, and tells the
    /// run the walk begins.
    pub(crate) fn start(
        tx: &mut Transaction<'_>,
        batches: &Batches,
        condition: Option<&str>,
    ) -> Result<Walk, PgError> {
        let mut walk = Walk::resolve(tx, batches, condition)?;
        walk.total =
            usize::try_from(table::count(tx, &walk.table, walk.condition.as_deref())?).unwrap_or(0);
        walk.every = walk.total.div_ceil(batches.size).div_ceil(200).max(1);
        scope::batch_progress(&walk.table.name, 0, walk.total);
        Ok(walk)
    }

    /// Finds the table and its key.
    pub(crate) fn resolve(
        tx: &mut Transaction<'_>,
        batches: &Batches,
        condition: Option<&str>,
    ) -> Result<Walk, PgError> {
        let table = table::find(tx, &batches.table)?;
        let columns = table::columns(tx, &table)?;
        let key = match &batches.key {
            None => columns.iter().find(|c| c.primary_key).ok_or_else(|| {
                PgError::Table(TableError::BadName {
                    what: "table",
                    name: table.name.clone(),
                    reason: "it has no single-column primary key to walk it by; name a unique, \
                             NOT NULL column with `Batches::key`"
                        .to_owned(),
                })
            })?,
            Some(name) => {
                let column = columns.iter().find(|c| c.name == *name).ok_or_else(|| {
                    PgError::Table(TableError::NoSuchColumn {
                        table: table.name.clone(),
                        column: name.clone(),
                    })
                })?;
                let problem = match (column.not_null, column.primary_key || column.unique) {
                    (false, _) => Some("it may be NULL, and a walk by it would miss such rows"),
                    (true, false) => Some("no unique index holds it alone"),
                    (true, true) => None,
                };
                if let Some(reason) = problem {
                    return Err(PgError::Table(TableError::BadName {
                        what: "key of table",
                        name: format!("{}.{name}", table.name),
                        reason: reason.to_owned(),
                    }));
                }
                column
            }
        };
        let condition = match (&batches.only, condition) {
            (Some(a), Some(b)) => Some(format!("({a}) AND ({b})")),
            (Some(a), None) => Some(format!("({a})")),
            (None, Some(b)) => Some(format!("({b})")),
            (None, None) => None,
        };
        Ok(Walk {
            key: key.name.clone(),
            key_type: key.ty.clone(),
            table,
            size: i64::try_from(batches.size).unwrap_or(i64::MAX),
            condition,
            total: 0,
            done: 0,
            batches: 0,
            every: 1,
        })
    }

    /// The key's type, as `format_type` writes it.
    pub(crate) fn key_type(&self) -> &str {
        &self.key_type
    }

    /// The key as a literal of its type.
    fn bound(&self, key: &str) -> String {
        format!("{}::{}", literal(key), self.key_type)
    }

    /// The rows after `lower` (from the first, without one) up to `upper`,
    /// that the walk selects, as SQL.
    pub(crate) fn range(&self, lower: Option<&str>, upper: &str) -> String {
        let k = quote(&self.key);
        let mut parts = Vec::new();
        if let Some(lower) = lower {
            parts.push(format!("{k} > {}", self.bound(lower)));
        }
        parts.push(format!("{k} <= {}", self.bound(upper)));
        parts.extend(self.condition.clone());
        parts.join(" AND ")
    }

    /// The rows after `lower` that the walk selects, as SQL.
    pub(crate) fn after(&self, lower: Option<&str>) -> String {
        let k = quote(&self.key);
        let mut parts: Vec<String> = lower
            .map(|l| format!("{k} > {}", self.bound(l)))
            .into_iter()
            .collect();
        parts.extend(self.condition.clone());
        match parts.is_empty() {
            true => "true".to_owned(),
            false => parts.join(" AND "),
        }
    }

    /// The last key of the next batch after `lower`, and how many rows it
    /// holds; `None` when the walk is done.
    pub(crate) fn next(
        &mut self,
        tx: &mut Transaction<'_>,
        lower: Option<&str>,
    ) -> Result<Option<(String, usize)>, PgError> {
        let k = quote(&self.key);
        let row = tx
            .query_one(
                &format!(
                    "SELECT max(k)::text, count(*) FROM (SELECT {k} AS k FROM {} WHERE {} \
                     ORDER BY {k} LIMIT {}) batch",
                    self.table.qualified,
                    self.after(lower),
                    self.size
                ),
                &[],
            )
            .map_err(PgError::sql(format!(
                "find the next batch of table `{}`",
                self.table.name
            )))?;
        let upper: Option<String> = row.get(0);
        let rows: i64 = row.get(1);
        Ok(upper.map(|upper| (upper, usize::try_from(rows).unwrap_or(0))))
    }

    /// `rows` more rows done.
    pub(crate) fn done(&mut self, rows: usize) {
        self.done += rows;
        self.batches += 1;
        if self.batches.is_multiple_of(self.every) || self.done >= self.total {
            scope::batch_progress(&self.table.name, self.done.min(self.total), self.total);
        }
    }

    /// A row as its key names it: `id = 42`.
    pub(crate) fn row(&self, key: &str) -> String {
        format!("{} = {key}", self.key)
    }

    /// Runs `statement(rows)` over the rows `rows` selects, in a savepoint;
    /// when the server refuses it, finds the first of those rows it
    /// refuses alone and names it (and `column`) in the error. Returns how
    /// many rows the statement changed.
    pub(crate) fn guarded(
        &self,
        tx: &mut Transaction<'_>,
        rows: &str,
        column: Option<&str>,
        statement: impl Fn(&str) -> String,
    ) -> Result<u64, PgError> {
        let what = format!("update table `{}`", self.table.name);
        let mut savepoint = tx
            .savepoint("verchain_batch")
            .map_err(PgError::sql(what.clone()))?;
        let cause = match savepoint.execute(&statement(rows), &[]) {
            Ok(n) => {
                savepoint.commit().map_err(PgError::sql(what))?;
                return Ok(n);
            }
            Err(cause) => cause,
        };
        savepoint.rollback().map_err(PgError::sql(what))?;
        let Some(db) = cause
            .as_db_error()
            .filter(|db| row_specific(db.code().code()))
        else {
            return Err(PgError::Table(TableError::Row {
                table: self.table.name.clone(),
                row: None,
                column: column.map(str::to_owned),
                problem: describe(&cause),
            }));
        };
        let column = column.map(str::to_owned).or(db.column().map(str::to_owned));
        let (key, problem) = match self.first_refused(tx, rows, &statement) {
            Ok(Some((key, problem))) => (Some(self.row(&key)), problem),
            // Not finding the row is no reason to hide the server's error.
            _ => (None, describe(&cause)),
        };
        Err(PgError::Table(TableError::Row {
            table: self.table.name.clone(),
            row: key,
            column,
            problem,
        }))
    }

    /// The first row `rows` selects on which `statement` fails, run one
    /// row after the other in key order (a row may conflict with one
    /// before it), and why; all of it is rolled back.
    fn first_refused(
        &self,
        tx: &mut Transaction<'_>,
        rows: &str,
        statement: &impl Fn(&str) -> String,
    ) -> Result<Option<(String, String)>, postgres::Error> {
        let k = quote(&self.key);
        let keys: Vec<String> = tx
            .query(
                &format!(
                    "SELECT {k}::text AS verchain_key FROM {} WHERE {rows} ORDER BY {k}",
                    self.table.qualified
                ),
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut all = tx.savepoint("verchain_rows")?;
        let mut found = None;
        for key in keys {
            let mut one = all.savepoint("verchain_row")?;
            match one.execute(&statement(&format!("{k} = {}", self.bound(&key))), &[]) {
                Ok(_) => one.commit()?,
                Err(e) => {
                    one.rollback()?;
                    found = Some((key, describe(&e)));
                    break;
                }
            }
        }
        all.rollback()?;
        Ok(found)
    }
}

/// Whether an error of this SQLSTATE is about the data of a row (a value
/// that does not convert, a constraint, a trigger's exception) rather than
/// the statement itself.
fn row_specific(code: &str) -> bool {
    code.starts_with("22") || code.starts_with("23") || code == "P0001"
}
