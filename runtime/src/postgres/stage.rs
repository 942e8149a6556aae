//! Stage and validate, for a PostgreSQL schema: every step of a part of
//! the run inside its transaction (or, for a step marked `transaction =
//! false`, alone on the connection), each called so that the helpers it
//! calls report their progress and the rows they find invalid; the rows
//! each step wrote; the row counts steps declared; each step's `verify`;
//! the table locks each step took (`pg_locks`); then the deferred
//! constraints, or the indexes a concurrent build left INVALID.

use std::time::Instant;

use camino::Utf8PathBuf;
use postgres::Transaction;

use super::error::PgError;
use super::record::{Pg, PgBody, PgVerify};
use super::run::Staged;
use super::store::PostgresStore;
use super::{diff, helpers, history, lock_report, tx};
use crate::run::plan::Move;
use crate::run::steps::{Opened, StepTransaction, run_in_transaction};
use crate::run::store::{Staging, Work};
use crate::run::{Counts, ErrorKind, Run, ValidationFailure};

/// Runs the part's steps.
pub(super) fn stage(
    store: &PostgresStore,
    staged: &mut Staged<'_>,
    run: &Run<'_, Pg>,
    work: &Work<'_, '_, PostgresStore>,
) -> Result<Staging, ErrorKind> {
    let mut out = Staging {
        commits: !work.plan.is_empty(),
        ..Staging::default()
    };
    let path = store.location();
    // Failures the steps' helpers found beyond those they listed.
    let mut unlisted = 0;
    match staged {
        Staged::Alone { client, .. } => {
            for m in work.plan {
                run.step_started(m);
                let PgBody::Alone(body) = m.body else {
                    return Err(shape_error(m.meta.id, false));
                };
                let (called, found) = run.in_step(m.meta.id, || {
                    tx::outside(store, client, |client| {
                        crate::run::call_step(m.meta.id, m.from, m.to, path, || {
                            body(client).map_err(said)
                        })
                    })
                });
                called?;
                unlisted += found.total - found.failures.len();
                out.failures.extend(found.failures);
                run.step_finished(m, Counts::default());
                out.per_step.push(Counts::default());
            }
            out.failure_total = out.failures.len() + unlisted;
            Ok(out)
        }
        Staged::Run(Opened { tx, before, .. }) => {
            let mut steps = InRun {
                tx,
                schema: store.schema_name(),
                locks: lock_report::Taken::default(),
                held: None,
            };
            let schema = Utf8PathBuf::from(store.schema_name());
            run_in_transaction(&mut steps, run, work.plan, path, &schema, &mut out)?;
            out.locks = steps.locks.finish();
            if let Some(before) = before {
                let after = diff::after(tx, store.schema_name(), run.options.diff_limit, before)?;
                let (changes, counts) = diff::changes(before, &after, run.options.diff_limit > 0);
                out.changes = changes;
                out.counts = counts;
            }
            Ok(out)
        }
        Staged::Restore(_) => Ok(Staging::default()),
    }
}

/// The run's transaction as its steps run in it, and the locks they take.
struct InRun<'a, 't> {
    tx: &'a mut Transaction<'t>,
    schema: &'a str,
    locks: lock_report::Taken,
    /// The locks held, and the time, when the step running now began.
    held: Option<(lock_report::Held, Instant)>,
}

impl StepTransaction<Pg> for InRun<'_, '_> {
    fn fits(&self, step: &Move<'_, Pg>) -> Result<(), ErrorKind> {
        match step.body {
            PgBody::Transaction(_) => Ok(()),
            PgBody::Alone(_) => Err(shape_error(step.meta.id, true)),
        }
    }

    fn written(&mut self) -> Result<u64, ErrorKind> {
        Ok(u64::try_from(rows_written(self.tx, self.schema)?).unwrap_or(0))
    }

    fn call(&mut self, step: &Move<'_, Pg>) -> Result<(), crate::BoxError> {
        match step.body {
            PgBody::Transaction(body) => body(self.tx).map_err(said),
            PgBody::Alone(_) => Err(shape_error(step.meta.id, true).into()),
        }
    }

    fn unmet_expectations(&mut self) -> Result<Vec<(String, String)>, ErrorKind> {
        Ok(helpers::unmet_expectations(self.tx)?)
    }

    fn verify(&mut self, verify: &PgVerify) -> Result<Option<String>, ErrorKind> {
        checked(self.tx, |tx| verify(tx))
    }

    fn step_begins(&mut self) -> Result<(), ErrorKind> {
        self.held = Some((lock_report::held(self.tx, self.schema)?, Instant::now()));
        Ok(())
    }

    fn step_ends(&mut self, step: &'static str) -> Result<(), ErrorKind> {
        let now_held = lock_report::held(self.tx, self.schema)?;
        if let Some((held, start)) = self.held.take() {
            self.locks.step(step, start, &held, &now_held);
        }
        Ok(())
    }
}

/// Checks what the part's steps left.
pub(super) fn validate(
    store: &PostgresStore,
    staged: &mut Staged<'_>,
    _: &Run<'_, Pg>,
    work: &Work<'_, '_, PostgresStore>,
) -> Result<Vec<ValidationFailure>, ErrorKind> {
    let schema = Utf8PathBuf::from(store.schema_name());
    match staged {
        Staged::Run(Opened { tx, .. }) if !work.plan.is_empty() => {
            let deferred = checked(tx, |tx| {
                tx.batch_execute("SET CONSTRAINTS ALL IMMEDIATE")
                    .map_err(|e| super::error::describe(&e).into())
            })?;
            Ok(deferred
                .map(|message| ValidationFailure {
                    path: schema,
                    step: None,
                    version: work.target,
                    message: format!("a deferred constraint fails: {message}"),
                })
                .into_iter()
                .collect())
        }
        Staged::Alone { client, .. } => {
            let mut failures = Vec::new();
            let mut tx = tx::begin(store, client)?;
            for index in invalid_indexes(&mut tx, store.schema_name())? {
                failures.push(ValidationFailure {
                    path: schema.clone(),
                    step: work.plan.first().map(|m| m.meta.id),
                    version: work.target,
                    message: format!(
                        "index `{index}` is INVALID (a concurrent build failed): drop it, \
                         then run again"
                    ),
                });
            }
            for m in work.plan {
                if let Some(verify) = m.verify
                    && let Some(message) = checked(&mut tx, |tx| verify(tx))?
                {
                    failures.push(ValidationFailure {
                        path: schema.clone(),
                        step: Some(m.meta.id),
                        version: m.to,
                        message,
                    });
                }
            }
            drop(tx);
            Ok(failures)
        }
        _ => Ok(Vec::new()),
    }
}

/// A step built by hand whose function does not fit where it runs.
fn shape_error(step: &'static str, in_transaction: bool) -> ErrorKind {
    PgError::StepShape {
        step,
        problem: match in_transaction {
            true => "it takes the connection, but is not marked `transaction = false`",
            false => "it is marked `transaction = false`, but takes a transaction",
        },
    }
    .into()
}

/// Runs `check` in a savepoint of `tx`: its error, as a message, is a
/// validation failure, and `tx` goes on as before the check.
pub(super) fn checked(
    tx: &mut Transaction<'_>,
    check: impl FnOnce(&mut Transaction<'_>) -> Result<(), crate::BoxError>,
) -> Result<Option<String>, ErrorKind> {
    let mut savepoint = tx
        .savepoint("verchain_check")
        .map_err(PgError::sql("open a savepoint for a check"))?;
    match check(&mut savepoint).map_err(said) {
        Ok(()) => {
            savepoint
                .commit()
                .map_err(PgError::sql("release the savepoint of a check"))?;
            Ok(None)
        }
        Err(e) => {
            savepoint
                .rollback()
                .map_err(PgError::sql("roll back the savepoint of a check"))?;
            Ok(Some(e.to_string()))
        }
    }
}

/// A step's error as it is said: the server's message, detail and hint
/// where the step passed on the client's error (whose own message is
/// only "db error").
fn said(error: crate::BoxError) -> crate::BoxError {
    match error.downcast::<postgres::Error>() {
        Ok(error) => super::error::describe(&error).into(),
        Err(error) => error,
    }
}

/// Rows inserted, updated and deleted in the schema's tables by this
/// transaction so far.
fn rows_written(tx: &mut Transaction<'_>, schema: &str) -> Result<i64, PgError> {
    Ok(tx
        .query_one(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int8 \
             FROM pg_stat_xact_user_tables WHERE schemaname = $1 AND relname <> $2",
            &[&schema, &history::TABLE],
        )
        .map_err(PgError::sql("count the rows written"))?
        .get(0))
}

/// The schema's indexes that are not valid (a concurrent build that failed
/// leaves one).
fn invalid_indexes(tx: &mut Transaction<'_>, schema: &str) -> Result<Vec<String>, PgError> {
    Ok(tx
        .query(
            "SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = i.relnamespace \
             WHERE n.nspname = $1 AND NOT x.indisvalid ORDER BY 1",
            &[&schema],
        )
        .map_err(PgError::sql("look for invalid indexes"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
