//! Documents in a `jsonb` column, one a row, migrated by the same steps a
//! folder of such documents runs: the document collections of a service
//! (the way a document database keeps them) on the server that runs the
//! rest of its data. A step of a chain over the database calls
//! [`migrate_documents`] with a chain whose records are
//! [`Document`]s; each row's document goes from its own version through
//! that chain's steps, their `verify` and the target's schema (the very
//! functions a run over a folder calls on each file), in batches inside
//! the run's transaction.

use postgres::Transaction;
use serde_json::Value;

use super::batch::{Batches, Walk};
use super::error::{PgError, describe};
use super::sql::quote;
use super::table;
use crate::chain::checked_steps;
use crate::load::{InMemory, upgrade};
use crate::run::detect::in_range;
use crate::run::{ChainInfo, Counts, ErrorKind, scope};
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
    let pass = Pass {
        chain: &chain,
        steps: &steps,
        to,
        column,
    };
    let (k, c) = (quote(&walk.key), quote(column));
    let mut counts = Counts::default();
    let mut lower: Option<String> = None;
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
        let Some(last) = rows.last() else {
            break;
        };
        lower = Some(last.get(0));
        let mut keys = Vec::new();
        let mut documents = Vec::new();
        for row in &rows {
            let key: String = row.get(0);
            match pass.one(&walk, &key, row.get(1))? {
                Some(new) => {
                    keys.push(key);
                    documents.push(new);
                }
                None => counts.unchanged += 1,
            }
        }
        counts.changed += keys.len();
        write(tx, &walk, column, &keys, &documents)?;
        walk.done(rows.len());
    }
    Ok(counts)
}

/// What every document of a call goes through.
struct Pass<'a> {
    chain: &'a ChainInfo<Document>,
    steps: &'a [crate::chain::Step<Document>],
    to: u32,
    column: &'a str,
}

impl Pass<'_> {
    /// The row at `key`'s document at `to`, or `None` when it is there
    /// already or failed validation (reported to the run).
    fn one(&self, walk: &Walk, key: &str, value: Option<Value>) -> Result<Option<Value>, PgError> {
        let row = |problem: String| {
            PgError::Table(TableError::Row {
                table: walk.table.name.clone(),
                row: Some(walk.row(key)),
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
        let path = format!("{}[{}={key}].{}", walk.table.name, walk.key, self.column);
        let mut doc = Document::new(path.as_str(), fields);
        let document = |kind: ErrorKind| PgError::Document(Box::new(kind));
        let read_at = crate::folder::version_of(self.chain, &doc, None)
            .and_then(|v| in_range(self.chain, doc.path(), v))
            .map_err(document)?;
        if read_at == self.to {
            return Ok(None);
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
            Ok(None) => Ok(Some(Value::Object(std::mem::take(doc.fields_mut())))),
            Ok(Some(failure)) => {
                scope::invalid(failure).map_err(|failure| {
                    document(ErrorKind::Validation {
                        failures: vec![failure],
                        total: 1,
                    })
                })?;
                Ok(None)
            }
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
    documents: &[Value],
) -> Result<(), PgError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (k, c) = (quote(&walk.key), quote(column));
    let what = format!("write column `{column}` of table `{}`", walk.table.name);
    let statement = format!(
        "UPDATE {} AS t SET {c} = v.doc FROM unnest($1::text[], $2::jsonb[]) AS v(k, doc) \
         WHERE t.{k} = v.k::{}",
        walk.table.qualified,
        walk.key_type()
    );
    let mut savepoint = tx
        .savepoint("verchain_documents")
        .map_err(PgError::sql(what.clone()))?;
    let Err(cause) = savepoint.execute(&statement, &[&keys, &documents]) else {
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
        match one.execute(&statement, &[&one_key, &one_document]) {
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
