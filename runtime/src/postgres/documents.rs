//! Documents in a `jsonb` column, one a row, migrated by the same steps a
//! folder of such documents runs: the document collections of a service
//! (the way a document database keeps them) on the server that runs the
//! rest of its data. A step of a chain over the database calls
//! [`migrate_documents`] with a chain whose records are
//! [`Document`]s; each row's document goes from its own version through
//! that chain's steps, their `verify` and the target's schema (the very
//! functions a run over a folder calls on each file), in batches inside
//! the run's transaction.

use std::sync::mpsc;

use postgres::{Row, Transaction};
use serde_json::Value;

use super::batch::{Batches, Walk};
use super::error::{PgError, describe};
use super::sql::quote;
use super::table;
use crate::chain::checked_steps;
use crate::load::{InMemory, upgrade};
use crate::run::detect::in_range;
use crate::run::{ChainInfo, Counts, ErrorKind, ValidationFailure, scope};
use crate::table_error::TableError;
use crate::{Chain, Document};

/// Brings the documents in the `jsonb` column `column` of the rows
/// `batches` walks to version `to` of chain `C` (a chain whose records
/// are [`Document`]s, as a folder's are), in batches inside the run's
/// transaction; returns how many rows changed and how many were already at
/// `to`.
///
/// Each document starts from its own version (its version key, or the
/// chain's base where it has none) and goes through the same steps, each
/// step's `verify` and the schema type of `to` that a folder of such
/// documents goes through, then gets its version key set to `to`. In a run,
/// a document that fails a `verify` or the schema is reported with the
/// run's validation failures (a dry run lists them; a real run commits
/// nothing); outside a run, it fails the call. A row whose column does not
/// hold an object, a document past `to`, a step that fails or that
/// removes, creates or moves documents fails the call, naming the table,
/// the row by its key, the column, the step and both versions: the
/// document's path in messages is `table[key=value].column`.
///
/// ```no_run
/// use verchain::postgres::postgres::Transaction;
/// use verchain::postgres::{Batches, migrate_documents};
/// use verchain::{BoxError, Chain, Document, migration};
///
/// /// A submission's answers, one JSON document each.
/// #[derive(Chain)]
/// #[chain(base = 1, current = 2, name = "responses")]
/// pub struct Responses;
///
/// /// Renames `note` to `comment`.
/// #[migration(chain = Responses, from = 1, to = 2)]
/// fn comment(doc: &mut Document) -> Result<(), BoxError> {
///     doc.rename("note", "comment")?;
///     Ok(())
/// }
///
/// /// The database: its step brings every submission's answers to v2.
/// #[derive(Chain)]
/// #[chain(record = verchain::postgres::Pg, base = 1, current = 2, name = "forms")]
/// pub struct Forms;
///
/// /// Answers at v2 of `responses`, 5,000 rows at a time.
/// #[migration(chain = Forms, from = 1, to = 2)]
/// fn responses_v2(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
///     migrate_documents::<Responses>(tx, Batches::of("submissions").size(5_000), "responses", 2)?;
///     Ok(())
/// }
/// ```
pub fn migrate_documents<C: Chain<Record = Document>>(
    tx: &mut Transaction<'_>,
    batches: impl Into<Batches>,
    column: &str,
    to: u32,
) -> Result<Counts, PgError> {
    let document = |kind: ErrorKind| PgError::Document(Box::new(kind));
    let chain = ChainInfo::of::<C>();
    chain.check_target(to).map_err(document)?;
    let steps = checked_steps::<C>().map_err(|e| document(e.into()))?;
    let batches = batches.into();
    let table = table::find(tx, batches.table())?;
    table::jsonb_column(tx, &table, column)?;
    let mut walk = Walk::start(tx, &batches, None)?;
    let (name, key) = (walk.table.name.clone(), walk.key.clone());
    let pass = Pass {
        chain: &chain,
        steps: &steps,
        to,
        table: &name,
        key: &key,
        column,
    };
    // The documents of a batch are migrated on a thread of their own while
    // the server writes the batch before.
    std::thread::scope(|threads| {
        let (work, todo) = mpsc::sync_channel::<Vec<Row>>(1);
        let (done, made) = mpsc::sync_channel(1);
        let pass = &pass;
        // What the steps log stays within the caller's span.
        let span = tracing::Span::current();
        threads.spawn(move || {
            let _entered = span.enter();
            for rows in todo {
                if done.send(pass.batch(&rows)).is_err() {
                    break;
                }
            }
        });
        let counts = walk_batches(tx, &mut walk, &batches, column, &work, &made);
        drop(work);
        counts
    })
}

/// Reads the batches, hands each to the thread that migrates them, and
/// writes each back while the next is migrated.
fn walk_batches(
    tx: &mut Transaction<'_>,
    walk: &mut Walk,
    batches: &Batches,
    column: &str,
    work: &mpsc::SyncSender<Vec<Row>>,
    made: &mpsc::Receiver<Result<Batch, PgError>>,
) -> Result<Counts, PgError> {
    let (k, c) = (quote(&walk.key), quote(column));
    let table = walk.table.name.clone();
    let lost = || {
        PgError::Table(TableError::Row {
            table: table.clone(),
            row: None,
            column: Some(column.to_owned()),
            problem: "the documents' migration stopped before the batch was done".to_owned(),
        })
    };
    let mut counts = Counts::default();
    let mut lower: Option<String> = None;
    let mut pending: Option<Batch> = None;
    loop {
        // The key's text has a name of its own: `ORDER BY` would take an
        // output column named as the key for it, and order by its text.
        let rows = tx
            .query(
                &format!(
                    "SELECT {k}::text AS verchain_key, {c} AS verchain_document FROM {} WHERE {} \
                     ORDER BY {k} LIMIT {}",
                    walk.table.qualified,
                    walk.after(lower.as_deref()),
                    batches.rows()
                ),
                &[],
            )
            .map_err(PgError::sql(format!(
                "read column `{column}` of table `{}`",
                walk.table.name
            )))?;
        let more = match rows.last() {
            Some(last) => {
                lower = Some(last.get(0));
                work.send(rows).map_err(|_| lost())?;
                true
            }
            None => false,
        };
        if let Some(batch) = pending.take() {
            for failure in batch.invalid {
                scope::invalid(failure).map_err(|failure| {
                    PgError::Document(Box::new(ErrorKind::Validation {
                        failures: vec![failure],
                        total: 1,
                    }))
                })?;
            }
            if let Some(error) = batch.error {
                return Err(error);
            }
            counts.unchanged += batch.unchanged;
            counts.changed += batch.keys.len();
            write(tx, walk, column, &batch.keys, &batch.documents)?;
            walk.done(batch.rows);
        }
        if !more {
            return Ok(counts);
        }
        pending = Some(made.recv().map_err(|_| lost())??);
    }
}

/// What the migration of one batch's documents made.
#[derive(Default)]
struct Batch {
    /// The rows read.
    rows: usize,
    /// The keys of the rows whose documents changed, and those documents'
    /// JSON.
    keys: Vec<String>,
    documents: Vec<Vec<u8>>,
    /// The documents already at the target.
    unchanged: usize,
    /// The documents that failed validation, in the order of the rows.
    invalid: Vec<ValidationFailure>,
    /// What stopped the batch at a row, after the failures of the rows
    /// before it.
    error: Option<PgError>,
}

/// What every document of a call goes through.
struct Pass<'a> {
    chain: &'a ChainInfo<Document>,
    steps: &'a [crate::chain::Step<Document>],
    to: u32,
    table: &'a str,
    /// The walk's key.
    key: &'a str,
    column: &'a str,
}

/// What became of one document.
enum Outcome {
    /// Its JSON at the target.
    Changed(Vec<u8>),
    /// At the target already.
    Unchanged,
    /// It failed a `verify` or the schema.
    Invalid(ValidationFailure),
}

impl Pass<'_> {
    /// The documents of a batch's rows (key, document) at `to`, as JSON.
    fn batch(&self, rows: &[Row]) -> Result<Batch, PgError> {
        let mut batch = Batch {
            rows: rows.len(),
            ..Batch::default()
        };
        for row in rows {
            let key: String = row.get(0);
            match self.one(&key, row.get(1)) {
                Ok(Outcome::Changed(json)) => {
                    batch.keys.push(key);
                    batch.documents.push(json);
                }
                Ok(Outcome::Unchanged) => batch.unchanged += 1,
                Ok(Outcome::Invalid(failure)) => batch.invalid.push(failure),
                Err(error) if batch.invalid.is_empty() => return Err(error),
                Err(error) => {
                    batch.error = Some(error);
                    break;
                }
            }
        }
        Ok(batch)
    }

    /// The row at `key`'s document at `to`.
    fn one(&self, key: &str, value: Option<Value>) -> Result<Outcome, PgError> {
        let row = |problem: String| {
            PgError::Table(TableError::Row {
                table: self.table.to_owned(),
                row: Some(format!("{} = {key}", self.key)),
                column: Some(self.column.to_owned()),
                problem,
            })
        };
        let fields = match value {
            Some(Value::Object(fields)) => fields,
            None => return Err(row("is NULL, expected a JSON object".to_owned())),
            Some(other) => {
                return Err(row(format!(
                    "holds a JSON {}, expected a JSON object",
                    kind(&other)
                )));
            }
        };
        let path = format!("{}[{}={key}].{}", self.table, self.key, self.column);
        let mut doc = Document::new(path.as_str(), fields);
        let document = |kind: ErrorKind| PgError::Document(Box::new(kind));
        let read_at = crate::folder::version_of(self.chain, &doc, None)
            .and_then(|v| in_range(self.chain, doc.path(), v))
            .map_err(document)?;
        if read_at == self.to {
            return Ok(Outcome::Unchanged);
        }
        if read_at > self.to {
            return Err(row(format!(
                "is at version {read_at} of chain `{}`, past v{}, the version this step brings \
                 documents to",
                self.chain.name, self.to
            )));
        }
        let needs_store = |step: &str, from: u32, to: u32, what: &str| {
            row(format!(
                "step `{step}` (v{from} → v{to}) {what}, which a row of a table cannot do"
            ))
        };
        match upgrade(&mut doc, self.chain, self.steps, read_at, self.to) {
            Ok(None) if doc.path() != path => {
                let step = self.steps.iter().find(|s| s.to() == self.to);
                let (id, from) = step.map_or(("?", read_at), |s| (s.id(), s.from()));
                Err(needs_store(id, from, self.to, "moves the document"))
            }
            Ok(None) => {
                let new = Value::Object(std::mem::take(doc.fields_mut()));
                let json = serde_json::to_vec(&new).map_err(|e| row(e.to_string()))?;
                Ok(Outcome::Changed(json))
            }
            Ok(Some(failure)) => Ok(Outcome::Invalid(failure)),
            Err(InMemory::Refused(kind)) => Err(document(kind)),
            Err(InMemory::NeedsStore {
                step,
                from,
                to,
                what,
            }) => Err(needs_store(step, from, to, what)),
        }
    }
}

/// Writes `documents` into `column` of the rows at `keys`, in one
/// statement; when the server refuses it, the first row it refuses alone
/// is named.
fn write(
    tx: &mut Transaction<'_>,
    walk: &Walk,
    column: &str,
    keys: &[String],
    documents: &[Vec<u8>],
) -> Result<(), PgError> {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return Ok(());
    };
    let (k, c) = (quote(&walk.key), quote(column));
    let what = format!("write column `{column}` of table `{}`", walk.table.name);
    // The documents come as their JSON's UTF-8 bytes. The keys come in
    // the key's order: the first and the last bound the rows the server
    // looks at (without the range, it may join the batch with every row of
    // the table).
    let statement = format!(
        "UPDATE {} AS t SET {c} = convert_from(v.doc, 'UTF8')::jsonb \
         FROM unnest($1::text[], $2::bytea[]) AS v(k, doc) \
         WHERE t.{k} = v.k::{ty} AND t.{k} >= $3::text::{ty} AND t.{k} <= $4::text::{ty}",
        walk.table.qualified,
        ty = walk.key_type()
    );
    let mut savepoint = tx
        .savepoint("verchain_documents")
        .map_err(PgError::sql(what.clone()))?;
    let Err(cause) = savepoint.execute(&statement, &[&keys, &documents, first, last]) else {
        return savepoint.commit().map_err(PgError::sql(what));
    };
    savepoint.rollback().map_err(PgError::sql(what.clone()))?;
    // One row after the other, as the batch wrote them: the first the
    // server refuses is named.
    let mut all = tx
        .savepoint("verchain_rows")
        .map_err(PgError::sql(what.clone()))?;
    let mut refused = None;
    for (key, document) in keys.iter().zip(documents) {
        let mut one = all
            .savepoint("verchain_row")
            .map_err(PgError::sql(what.clone()))?;
        let (one_key, one_document) = (std::slice::from_ref(key), std::slice::from_ref(document));
        match one.execute(&statement, &[&one_key, &one_document, key, key]) {
            Ok(_) => one.commit().map_err(PgError::sql(what.clone()))?,
            Err(e) => {
                one.rollback().map_err(PgError::sql(what.clone()))?;
                refused = Some(PgError::Table(TableError::Row {
                    table: walk.table.name.clone(),
                    row: Some(walk.row(key)),
                    column: Some(column.to_owned()),
                    problem: describe(&e),
                }));
                break;
            }
        }
    }
    all.rollback().map_err(PgError::sql(what.clone()))?;
    Err(refused.unwrap_or(PgError::Sql { what, cause }))
}

/// What a JSON value is, as messages say it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
