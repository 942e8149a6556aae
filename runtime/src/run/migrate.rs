//! Migrate: the calls that move a store forward (or back with `down`
//! steps), and the stages they run in order once the lock is held and the
//! plan made: stage → validate → (a dry run reports here) → snapshot →
//! commit → record.

use std::time::Duration;

use super::error::{ErrorKind, RunError, Stage};
use super::event::Event;
use super::history::Counts;
use super::plan::{self, Move};
use super::report::{Direction, Report};
use super::store::{Detected, Purpose, Store, Work};
use super::{Run, RunOptions, Startup, commit, detect, leftover, lock, record, snapshot, validate};
use crate::Chain;

/// How long `run_startup` waits for another runner.
pub(crate) const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// Migrates `store` along chain `C` to its current version (or
/// `options.target`): lock → recover → detect → plan → stage → validate →
/// snapshot → commit → record. A dry run stops after validation and writes
/// nothing.
pub fn migrate<C: Chain>(
    store: &impl Store<Record = C::Record>,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let mut run = Run::new::<C>(options)?;
    let target = options.target.unwrap_or(C::CURRENT);
    let result = lock::open(store, Purpose::Run, &run)
        .and_then(|mut session| forward(store, &mut session, &mut run, target));
    run.audit_failure(store.location(), Some(target), result)
}

/// Runs the one step `id` on the records at its `from` version, out of the
/// chain's order: an operator's override, recorded as such in the history.
/// Records at other versions are left as they are.
pub fn migrate_step<C: Chain>(
    store: &impl Store<Record = C::Record>,
    id: &str,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let mut run = Run::new::<C>(options)?;
    run.info.operator_override = true;
    let result = one_step(store, &mut run, id);
    run.audit_failure(store.location(), None, result)
}

fn one_step<S: Store>(
    store: &S,
    run: &mut Run<'_, S::Record>,
    id: &str,
) -> Result<Report, RunError> {
    plan::one(&run.steps, id).map_err(|k| run.fail(Stage::Plan, k))?;
    let mut session = lock::open(store, Purpose::Run, run)?;
    let stamp = guard(store, &mut session, run)?;
    let detected = detect::detect(store, &mut session, run, stamp)?
        .or_refuse()
        .map_err(|k| run.fail(Stage::Detect, k))?;
    let step =
        plan::one_at(&run.steps, id, &detected.versions).map_err(|k| run.fail(Stage::Plan, k))?;
    let target = step.to;
    let plan = vec![step];
    let work = Work {
        detected: &detected,
        plan: &plan,
        target,
        direction: Direction::Up,
        stamp,
        snapshot: !run.options.no_snapshot,
    };
    execute(store, &mut session, run, &work)
}

/// The call an application makes before it serves: migrates to the current
/// version, or returns at once when the store says it is current (a folder
/// without reading a document). Waits up to a minute for another runner.
pub fn run_startup<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Startup, RunError> {
    run_startup_with::<C>(store, &RunOptions::startup())
}

/// [`run_startup`] with `options`: an audit sink, an observer, how long to
/// wait (start from [`RunOptions::startup`]). Startup always migrates to
/// the current version and writes: a `target` or a dry run is refused.
pub fn run_startup_with<C: Chain>(
    store: &impl Store<Record = C::Record>,
    options: &RunOptions,
) -> Result<Startup, RunError> {
    let mut run = Run::new::<C>(options)?;
    if options.target.is_some() || options.dry_run {
        return Err(run.fail(
            Stage::Plan,
            super::ErrorKind::Unsupported {
                what: "a target or a dry run at startup (use `migrate`)",
            },
        ));
    }
    let result = startup(store, &mut run);
    run.audit_failure(store.location(), Some(C::CURRENT), result)
}

fn startup<S: Store>(store: &S, run: &mut Run<'_, S::Record>) -> Result<Startup, RunError> {
    let mut session = lock::open(store, Purpose::Startup, run)?;
    store
        .prepare_startup(&mut session, &run.chain)
        .map_err(|k| run.fail(Stage::Detect, k))?;
    let stamp = guard(store, &mut session, run)?;
    if stamp == Some(run.chain.current) {
        return Ok(Startup::UpToDate {
            version: run.chain.current,
        });
    }
    let current = run.chain.current;
    let report = plan_forward(store, &mut session, run, stamp, current)?;
    Ok(Startup::Migrated(Box::new(report)))
}

/// Forward to `target`, once the store is open: the edited-step guard,
/// detect, plan, and the run.
fn forward<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &mut Run<'_, S::Record>,
    target: u32,
) -> Result<Report, RunError> {
    let stamp = guard(store, session, run)?;
    plan_forward(store, session, run, stamp, target)
}

fn plan_forward<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    stamp: Option<u32>,
    target: u32,
) -> Result<Report, RunError> {
    let detected = detected(store, session, run, stamp)?;
    let plan = plan::forward(
        &run.chain,
        &run.steps,
        &detected,
        stamp,
        store.location(),
        target,
    )
    .map_err(|k| run.fail(Stage::Plan, k))?;
    let work = Work {
        detected: &detected,
        plan: &plan,
        target,
        direction: Direction::Up,
        stamp,
        snapshot: !run.options.no_snapshot,
    };
    execute(store, session, run, &work)
}

/// Back to `target` with `down` steps.
pub(crate) fn backward<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &mut Run<'_, S::Record>,
    target: u32,
) -> Result<Report, RunError> {
    let stamp = guard(store, session, run)?;
    let detected = detected(store, session, run, stamp)?;
    let plan = plan::backward(&run.chain, &run.steps, &detected, target)
        .map_err(|k| run.fail(Stage::Plan, k))?;
    let work = Work {
        detected: &detected,
        plan: &plan,
        target,
        direction: Direction::Down,
        stamp,
        snapshot: !run.options.no_snapshot,
    };
    execute(store, session, run, &work)
}

/// Every record's version, or the error naming every record that cannot
/// be read.
fn detected<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    stamp: Option<u32>,
) -> Result<Detected<S::Item>, RunError> {
    detect::detect(store, session, run, stamp)?
        .or_refuse()
        .map_err(|k| run.fail(Stage::Detect, k))
}

/// The edited-step guard: refuses to run when steps the store has applied
/// were edited since, unless the options allow it (then every history
/// line of the run says so). Returns the store's stamp.
pub(crate) fn guard<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &mut Run<'_, S::Record>,
) -> Result<Option<u32>, RunError> {
    let history = store
        .history(session)
        .map_err(|k| run.fail(Stage::Plan, k))?;
    let stamp = store
        .stamp(session, &run.chain)
        .map_err(|k| run.fail(Stage::Detect, k))?;
    let allow = run.options.allow_changed;
    let Run { info, steps, .. } = run;
    info.check_unedited(&history, steps, stamp, allow)
        .map_err(|k| RunError::new(run.chain.name, Stage::Plan, k))?;
    Ok(stamp)
}

/// Stage → validate → (dry run: report) → snapshot → commit → record, for
/// each part of the plan in turn (a plan is one part unless a step runs
/// outside the transaction; see [`plan::parts`]). A real run is marked
/// first, so that what it leaves if it is killed is found by the next run.
pub(crate) fn execute<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    work: &Work<'_, '_, S>,
) -> Result<Report, RunError> {
    // Only a run that may take a snapshot can leave one.
    if run.dry_run() || !work.takes_snapshot() {
        return stages(store, session, run, work);
    }
    leftover::mark(store, run.id()).map_err(|k| run.fail(Stage::Stage, k).unchanged())?;
    let result = stages(store, session, run, work);
    leftover::settle(store, session, run.id(), &result);
    result
}

fn stages<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    work: &Work<'_, '_, S>,
) -> Result<Report, RunError> {
    let planned = || work.plan.iter().map(Move::planned).collect();
    let from = work.detected.newest().map(|(v, _)| v);
    run.emit(Event::RunStarted {
        chain: run.chain.name,
        run_id: run.id().to_owned(),
        direction: work.direction,
        dry_run: run.dry_run(),
        from,
        to: work.target,
        plan: planned(),
        records: work.detected.records.len(),
    });
    let mut report = Report {
        chain: run.chain.name,
        run_id: run.id().to_owned(),
        dry_run: run.dry_run(),
        direction: work.direction,
        store_version: from,
        target: work.target,
        plan: planned(),
        versions: work.detected.versions.clone(),
        counts: Counts::default(),
        changes: Vec::new(),
        failures: Vec::new(),
        failure_total: 0,
        snapshot: None,
        skipped: work.detected.skipped.clone(),
        requires_restart: Vec::new(),
        skips_snapshot: work.skips_snapshot(),
        locks: Vec::new(),
    };
    report.requires_restart = super::report::requires_restart(&report.plan);
    if !run.dry_run() {
        confirm_breaking(run, &report.plan)?;
    }
    let parts = plan::parts(work.plan, run.dry_run());
    let last = parts.len() - 1;
    let mut committed: Vec<&'static str> = Vec::new();
    // The version the committed parts left the store at.
    let mut now = from.unwrap_or(work.target);
    let mut redetected;
    for (i, part) in parts.iter().enumerate() {
        let (detected, stamp) = if i == 0 {
            (work.detected, work.stamp)
        } else {
            // The parts before committed: the store is read again, as a
            // run of its own would.
            let stamp = store
                .stamp(session, &run.chain)
                .map_err(|k| run.fail(Stage::Detect, k))
                .map_err(|e| partly(run, e, &committed, now))?;
            redetected = detected(store, session, run, stamp)
                .map_err(|e| partly(run, e, &committed, now))?;
            (&redetected, stamp)
        };
        let part_work = Work {
            detected,
            plan: part,
            target: match (i == last, part.last()) {
                (false, Some(m)) => m.to,
                _ => work.target,
            },
            direction: work.direction,
            stamp,
            snapshot: i == 0 && work.snapshot,
        };
        if let Err(e) = execute_part(store, session, run, &part_work, &mut report) {
            return Err(match committed.is_empty() {
                true => e,
                false => partly(run, e, &committed, now),
            });
        }
        committed.extend(part.iter().map(|m| m.meta.id));
        now = part_work.target;
    }
    Ok(report)
}

/// `error`, which stopped a run after its parts that applied `committed`.
fn partly<R: crate::chain::Record>(
    run: &Run<'_, R>,
    error: RunError,
    committed: &[&'static str],
    version: u32,
) -> RunError {
    let stage = error.stage;
    run.fail(
        stage,
        ErrorKind::PartlyApplied {
            committed: committed.to_vec(),
            version,
            cause: error.kind,
        },
    )
    .may_be_changed()
}

/// One part of a run: stage → validate → (dry run: report) → snapshot →
/// commit → record; what it did is added to `report`. A part that takes no
/// snapshot of its own records the run's (an earlier part's).
fn execute_part<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    work: &Work<'_, '_, S>,
    report: &mut Report,
) -> Result<(), RunError> {
    let mut staged = store
        .begin(session, run, work)
        .map_err(|k| run.fail(Stage::Stage, k))?;
    let staged_and_checked = store
        .stage(&mut staged, run, work)
        .map_err(|k| run.fail(Stage::Stage, k))
        .and_then(|mut staging| {
            let failures = validate::validate(store, &mut staged, run, work, &mut staging)?;
            Ok((staging, failures))
        });
    let (mut staging, (failures, failure_total)) = match staged_and_checked {
        Ok(done) => done,
        Err(e) => {
            store.discard(staged, run.id());
            return Err(e);
        }
    };
    add(&mut report.counts, staging.counts);
    // Moved, not copied: a run may change millions of documents.
    let changes = std::mem::take(&mut staging.changes);
    if report.changes.is_empty() {
        report.changes = changes;
    } else {
        report.changes.extend(changes);
    }
    report.failures.extend(failures.iter().cloned());
    report.failure_total += failure_total.max(failures.len());
    report.locks.extend(staging.locks.iter().cloned());
    if run.dry_run() || !staging.commits || !failures.is_empty() {
        store.discard(staged, run.id());
        return match validate::refuse(&failures, failure_total) {
            Some(kind) if !run.dry_run() => Err(run.fail(Stage::Validate, kind)),
            _ => Ok(()),
        };
    }
    let from_version = work.detected.newest().map_or(work.target, |(v, _)| v);
    let taken = if !work.takes_snapshot() {
        None
    } else {
        match snapshot::take(store, &mut staged, run, from_version, work.target) {
            Ok(taken) => taken,
            Err(e) => {
                store.discard(staged, run.id());
                return Err(e);
            }
        }
    };
    if taken.is_some() {
        report.snapshot = taken.clone();
    }
    let snapshot = taken.as_deref().or(report.snapshot.as_deref());
    let records = record::records(run, work, &staging, snapshot);
    commit::commit(
        store,
        staged,
        run,
        Stage::Commit,
        &records,
        snapshot,
        taken.is_some(),
    )?;
    run.emit(Event::Committed {
        version: work.target,
        counts: staging.counts,
    });
    run.audit_committed(store.location(), &records);
    Ok(())
}

/// `more` added to `counts`.
fn add(counts: &mut Counts, more: Counts) {
    counts.changed += more.changed;
    counts.unchanged += more.unchanged;
    counts.created += more.created;
    counts.removed += more.removed;
    counts.quarantined += more.quarantined;
}

/// Asks the options' [`Confirm`](super::Confirm), if any, before a plan
/// with `breaking` steps runs; refuses the run when it answers no.
fn confirm_breaking<R: crate::chain::Record>(
    run: &Run<'_, R>,
    plan: &[super::PlannedStep],
) -> Result<(), RunError> {
    let breaking: Vec<&'static str> = plan.iter().filter(|s| s.breaking).map(|s| s.id).collect();
    match &run.options.confirm_breaking {
        Some(confirm) if !breaking.is_empty() && !confirm.ask(plan) => Err(run.fail(
            Stage::Plan,
            super::ErrorKind::NotConfirmed { steps: breaking },
        )),
        _ => Ok(()),
    }
}
