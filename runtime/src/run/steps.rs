//! Stage, for a store that runs its steps inside one transaction (a
//! database): every step of the plan in order, each called so that the
//! helpers it calls report their progress and the records they find
//! invalid, then the records it wrote, the row counts it declared and its
//! `verify`. The store says only how to do each of these on its
//! transaction ([`StepTransaction`]); the order, the events and the
//! failures are the driver's.

use camino::{Utf8Path, Utf8PathBuf};

use super::context::Run;
use super::error::{ErrorKind, call_step};
use super::history::Counts;
use super::plan::Move;
use super::store::Store;
use super::validate::ValidationFailure;
use super::work::{Staging, Work};
use crate::BoxError;
use crate::chain::Record;

/// A database's open transaction, as the driver runs a plan's steps in it.
pub trait StepTransaction<R: Record> {
    /// Refuses a step whose function cannot run here (a step built by hand
    /// for another shape of run).
    fn fits(&self, _step: &Move<'_, R>) -> Result<(), ErrorKind> {
        Ok(())
    }

    /// How many records the transaction has written so far: the
    /// difference around a step is what the step changed.
    fn written(&mut self) -> Result<u64, ErrorKind>;

    /// Calls the step's function on the transaction.
    fn call(&mut self, step: &Move<'_, R>) -> Result<(), BoxError>;

    /// The row counts the step declared that its tables do not hold, as
    /// (table, message); the declarations are then cleared.
    fn unmet_expectations(&mut self) -> Result<Vec<(String, String)>, ErrorKind>;

    /// Runs the step's `verify`: its failure, as a message, or `None`.
    fn verify(&mut self, verify: &R::Verify) -> Result<Option<String>, ErrorKind>;

    /// Called before each step (the start of what the store watches,
    /// such as the locks a step takes).
    fn step_begins(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }

    /// Called after each step.
    fn step_ends(&mut self, _step: &'static str) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// Runs `plan` in `tx`, adding to `out` what each step did and every
/// failure found; `location` names the store in a step's error, `db` in
/// a failure of its `verify`.
pub(crate) fn run_in_transaction<R: Record, T: StepTransaction<R>>(
    tx: &mut T,
    run: &Run<'_, R>,
    plan: &[Move<'_, R>],
    location: &Utf8Path,
    db: &Utf8Path,
    out: &mut Staging,
) -> Result<(), ErrorKind> {
    // Failures the steps' helpers found beyond those they listed.
    let mut unlisted = 0;
    for m in plan {
        run.step_started(m);
        tx.fits(m)?;
        let written = tx.written()?;
        tx.step_begins()?;
        let (called, found) = run.in_step(m.meta.id, || {
            call_step(m.meta.id, m.from, m.to, location, || tx.call(m))
        });
        called?;
        tx.step_ends(m.meta.id)?;
        unlisted += found.total - found.failures.len();
        out.failures.extend(found.failures);
        let counts = Counts {
            changed: usize::try_from(tx.written()?.saturating_sub(written)).unwrap_or(usize::MAX),
            ..Counts::default()
        };
        run.step_finished(m, counts);
        out.per_step.push(counts);
        for (table, message) in tx.unmet_expectations()? {
            out.failures.push(ValidationFailure {
                path: Utf8PathBuf::from(table),
                step: Some(m.meta.id),
                version: m.to,
                message,
            });
        }
        if let Some(verify) = m.verify
            && let Some(message) = tx.verify(verify)?
        {
            out.failures.push(ValidationFailure {
                path: db.to_owned(),
                step: Some(m.meta.id),
                version: m.to,
                message,
            });
        }
    }
    out.failure_total = out.failures.len() + unlisted;
    // What the steps wrote, until a comparison of the rows says better.
    out.counts.changed = out.per_step.iter().map(|c| c.changed).sum();
    Ok(())
}

/// A database run as it stands between its stages: the open transaction,
/// the snapshot taken when it began, and the database before the steps.
pub struct Opened<T, B> {
    /// The open transaction.
    pub tx: T,
    /// The run's snapshot (none in a dry run, with nothing to run, or in a
    /// later part of a run).
    pub snapshot: Option<String>,
    /// The database before the steps, for the report's diff (none with
    /// nothing to run).
    pub before: Option<B>,
}

impl<T, B> Opened<T, B> {
    /// A transaction with nothing to run in it.
    pub(crate) fn idle(tx: T) -> Self {
        Opened {
            tx,
            snapshot: None,
            before: None,
        }
    }

    /// Begins a run's part on `tx`: with steps to run, the database as it
    /// is (`before`, for the diff, where the run compares rows) and, in a
    /// real run that takes one, the snapshot (`snapshot`, returning its
    /// id), both before any step changes it.
    pub(crate) fn begin<S: Store>(
        mut tx: T,
        run: &Run<'_, S::Record>,
        work: &Work<'_, '_, S>,
        before: impl FnOnce(&mut T) -> Result<Option<B>, ErrorKind>,
        snapshot: impl FnOnce(&mut T) -> Result<String, ErrorKind>,
    ) -> Result<Self, ErrorKind> {
        if work.plan.is_empty() {
            return Ok(Self::idle(tx));
        }
        let before = before(&mut tx)?;
        let snapshot = match run.dry_run() || !work.takes_snapshot() {
            true => None,
            false => {
                run.snapshot_started(1);
                Some(snapshot(&mut tx)?)
            }
        };
        Ok(Opened {
            tx,
            snapshot,
            before,
        })
    }

    /// The snapshot, as the snapshot stage reports it: one file.
    pub(crate) fn taken(&self) -> Option<super::store::Taken> {
        (self.snapshot.clone()).map(|id| super::store::Taken { id, files: 1 })
    }
}
