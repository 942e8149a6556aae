//! Rollback and restore: undoing runs, either by restoring the snapshot
//! taken before them (verified before anything is touched; the store as it
//! is now is snapshotted too, so that a restore can be undone in turn), or
//! by running `down` steps back to a version.

use super::error::{ErrorKind, RunError, Stage};
use super::event::Event;
use super::history::{self, HistoryRecord};
use super::migrate::backward;
use super::report::{Direction, PlannedStep, Report};
use super::store::{Purpose, SnapshotEntry, Store, Undo};
use super::{RollbackTo, Run, RunOptions, commit, leftover, lock, snapshot};
use crate::Chain;

/// Rolls the store back: to a snapshot (verified first), or to a version
/// with `down` steps.
pub fn rollback<C: Chain>(
    store: &impl Store<Record = C::Record>,
    to: &RollbackTo,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let mut run = Run::new::<C>(options)?;
    let (result, to) = match to {
        RollbackTo::Version(version) => (
            lock::open(store, Purpose::Run, &run)
                .and_then(|mut session| backward(store, &mut session, &mut run, *version)),
            Some(*version),
        ),
        RollbackTo::LastRun => (restore(store, &run, None), None),
        RollbackTo::Snapshot(id) => (restore(store, &run, Some(id)), None),
    };
    run.audit_failure(store.location(), to, result)
}

/// Restores snapshot `id`, or the one taken before the last run still in
/// effect. Until the commit, the store is untouched.
fn restore<S: Store>(
    store: &S,
    run: &Run<'_, S::Record>,
    id: Option<&str>,
) -> Result<Report, RunError> {
    let fail = |k| run.fail(Stage::Restore, k).unchanged();
    let mut session = lock::open(store, Purpose::Restore, run)?;
    let records = store.history(&mut session).map_err(fail)?;
    let (id, undo) = runs_to_undo(&records, id).map_err(fail)?;
    let entry = snapshot::entry(store, &id).map_err(fail)?;
    // A restore may take its snapshot of the store as it is while it stages.
    if !run.dry_run() {
        leftover::mark(store, run.id()).map_err(fail)?;
    }
    let result = restore_marked(store, &mut session, run, &entry, &undo);
    if !run.dry_run() {
        leftover::settle(store, &mut session, run.id(), &result);
    }
    result
}

/// Stages the restore of `entry`, then (unless a dry run) snapshots the
/// store as it is and commits.
fn restore_marked<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    entry: &SnapshotEntry,
    undo: &Undo,
) -> Result<Report, RunError> {
    let fail = |k| run.fail(Stage::Restore, k).unchanged();
    let (staged, restoring) = store
        .stage_restore(session, run, entry, undo)
        .map_err(fail)?;
    run.emit(Event::RunStarted {
        chain: run.chain.name,
        run_id: run.id().to_owned(),
        direction: Direction::Restore,
        dry_run: run.dry_run(),
        from: restoring.from,
        to: restoring.to,
        plan: Vec::new(),
        records: restoring.records,
    });
    let report = Report {
        chain: run.chain.name,
        run_id: run.id().to_owned(),
        dry_run: run.dry_run(),
        direction: Direction::Restore,
        store_version: restoring.from,
        target: restoring.to,
        plan: Vec::new(),
        versions: Default::default(),
        counts: restoring.counts,
        changes: restoring.changes,
        failures: Vec::new(),
        failure_total: 0,
        snapshot: Some(entry.id.clone()),
        skipped: Vec::new(),
        requires_restart: undone_restarts(run, restoring.from, restoring.to),
        skips_snapshot: false,
        locks: Vec::new(),
    };
    if run.dry_run() {
        store.discard(staged, run.id());
        return Ok(report);
    }
    let record = commit_restore(store, staged, run, entry, undo, &report)?;
    run.emit(Event::RolledBack {
        snapshot: entry.id.clone(),
        version: Some(restoring.to),
    });
    run.audit_committed(store.location(), &[record]);
    Ok(report)
}

/// Snapshots the store as it is now (in case this restore is itself a
/// mistake), then commits the restore with its history record, which it
/// returns.
fn commit_restore<S: Store>(
    store: &S,
    mut staged: S::Staged<'_>,
    run: &Run<'_, S::Record>,
    entry: &SnapshotEntry,
    undo: &Undo,
    report: &Report,
) -> Result<HistoryRecord, RunError> {
    let to = report.target;
    let from = report.store_version.unwrap_or(to);
    let before = match run.options.no_snapshot {
        // The operator chose to restore without keeping the store as it is.
        true => None,
        false => match snapshot::take(store, &mut staged, run, from, to) {
            Ok(before) => before,
            Err(e) => {
                store.discard(staged, run.id());
                return Err(e.unchanged());
            }
        },
    };
    let record = HistoryRecord {
        counts: report.counts,
        stamp_before: undo.stamp_before,
        ..run.info.restore_record(
            from,
            to,
            &entry.id,
            format!(
                "restored snapshot {}; the {} before this restore is in snapshot {}",
                entry.id,
                S::KIND,
                before.as_deref().unwrap_or("(none: nothing to keep)")
            ),
        )
    };
    commit::commit(
        store,
        staged,
        run,
        Stage::Restore,
        std::slice::from_ref(&record),
        before.as_deref(),
        true,
    )
    .map_err(|e| {
        if e.store_unchanged() {
            return e;
        }
        let stage = e.stage;
        run.fail(
            stage,
            ErrorKind::RestoreFailed {
                restore: store.manual_restore(&entry.path),
                snapshot: entry.path.clone(),
                root: store.location().to_owned(),
                cause: e.kind,
            },
        )
    })?;
    Ok(record)
}

/// The runs a restore undoes: from the run whose snapshot is `id` (or the
/// last run not yet rolled back) to the end of the history. Runs of `down`
/// steps count as runs too (their snapshot undoes them). A snapshot that
/// belongs to no run still in effect is restored as it is, removing
/// nothing. Returns the snapshot's id and what the restore undoes.
fn runs_to_undo(records: &[HistoryRecord], id: Option<&str>) -> Result<(String, Undo), ErrorKind> {
    let live = history::live_runs(records);
    let at = match id {
        Some(id) => match live.iter().position(|l| snapshot_matches(&l.snapshot, id)) {
            Some(at) => at,
            None => {
                let undo = Undo {
                    created: Vec::new(),
                    created_folders: Vec::new(),
                    stamp_before: None,
                    undoes_runs: false,
                };
                return Ok((id.to_owned(), undo));
            }
        },
        None => live.len().checked_sub(1).ok_or_else(|| {
            ErrorKind::NoSnapshot("the history has no applied run to undo".to_owned())
        })?,
    };
    let undo = Undo {
        created: live[at..]
            .iter()
            .flat_map(|l| l.created.iter().cloned())
            .collect(),
        created_folders: live[at..]
            .iter()
            .flat_map(|l| l.created_folders.iter().cloned())
            .collect(),
        stamp_before: live[at].stamp_before,
        undoes_runs: true,
    };
    Ok((live[at].snapshot.clone(), undo))
}

/// Whether snapshot `id` as the history records it is the one a user
/// named (perhaps with its file name's suffix).
fn snapshot_matches(recorded: &str, named: &str) -> bool {
    named
        .strip_prefix(recorded)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The services that the steps a restore undoes (from `from` back to `to`)
/// say must restart: they read the store too.
fn undone_restarts<R: crate::chain::Record>(
    run: &Run<'_, R>,
    from: Option<u32>,
    to: u32,
) -> Vec<&'static str> {
    let Some(from) = from else {
        return Vec::new();
    };
    let undone: Vec<PlannedStep> = (run.steps.iter())
        .filter(|s| s.to() > to && s.to() <= from)
        .map(|s| PlannedStep::of(s.meta(), s.to(), s.from()))
        .collect();
    super::report::requires_restart(&undone)
}
