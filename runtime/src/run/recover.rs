//! Recover: before anything else, a run finishes the commit a crash or an
//! error interrupted, or gives it up when it cannot be finished and has
//! moved nothing, or stops and says how to restore the snapshot by hand.
//! What runs that never committed left (staged files, temporary files,
//! their snapshots) is removed then.

use super::error::{ErrorKind, RunError, Stage};
use super::history::{self, HistoryRecord, Outcome};
use super::journal::Recovery;
use super::store::{Pending, Store};
use super::{Run, snapshot};
use crate::Chain;

/// Finishes a commit or restore that a crash or an error interrupted, if
/// any; returns whether there was one. Every run does this first.
pub fn recover<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<bool, RunError> {
    let options = super::RunOptions::default();
    let run = Run::new::<C>(&options)?;
    let mut held = super::lock::hold(store, super::store::Purpose::Run, &options, &run.info)
        .map_err(|k| run.fail(Stage::Lock, k))?;
    recover_open(store, &mut held, &run)
}

/// Recovers what an interrupted run left, if anything; returns whether there
/// was a journal to finish or give up. A dry run refuses a store with a
/// journal (it cannot finish it, and the store is not whole until then).
pub(crate) fn recover_open<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
) -> Result<bool, RunError> {
    let fail = |k| run.fail(Stage::Recover, k);
    // A journal that cannot be read says nothing of how far its commit got.
    let Some(journal) = store
        .journal(session)
        .map_err(|k| fail(k).may_be_changed())?
    else {
        if !run.dry_run() {
            super::leftover::remove_all(store, session).map_err(fail)?;
        }
        return Ok(false);
    };
    let path = journal.path(store);
    if run.dry_run() {
        return Err(fail(ErrorKind::RecoveryNeeded { journal: path }));
    }
    // Where the run's snapshot is, if the journal names one verchain could
    // have written (never a path outside the snapshot folder).
    let snapshot = journal
        .snapshot()
        .and_then(|id| snapshot::entry(store, id).ok());
    let failed = |cause: ErrorKind| {
        match &snapshot {
            Some(snapshot) => fail(ErrorKind::RecoveryFailed {
                restore: keep_the_edit(store, &cause, store.manual_restore(&snapshot.path)),
                snapshot: snapshot.path.clone(),
                root: store.location().to_owned(),
                journal: path.clone(),
                cause: Box::new(cause),
            }),
            None => fail(cause),
        }
        .may_be_changed()
    };
    match Recovery::decide(journal.check(store), || journal.untouched(store)) {
        Recovery::Finish => {
            journal.finish(store, true).map_err(failed)?;
            let lines = journal.history().iter().map(|l| history::recovered_line(l));
            run.audit_committed(store.location(), &records_of(lines));
            super::leftover::remove_all(store, session).map_err(fail)?;
        }
        Recovery::GiveUp(cause) => {
            // The history first, then the snapshot, then the journal: a crash
            // in between repeats what is left, and recording is done once.
            journal.record_given_up(store, &cause).map_err(fail)?;
            let given_up = records_of(journal.history().iter().cloned())
                .into_iter()
                .map(|record| HistoryRecord {
                    outcome: Outcome::Abandoned,
                    snapshot: None,
                    ..record
                })
                .collect::<Vec<_>>();
            run.audit_committed(store.location(), &given_up);
            if let Some(snapshot) = &snapshot {
                snapshot::remove(store, snapshot).map_err(fail)?;
            }
            journal.remove(store).map_err(fail)?;
            super::leftover::remove_all(store, session).map_err(fail)?;
        }
        Recovery::Stop(cause) => return Err(failed(cause)),
    }
    Ok(true)
}

/// How to put the snapshot back by hand (`restore`), preceded, when the
/// commit stopped at a document saved after the run read it, by copying
/// that file away first: restoring overwrites it, and once the journal is
/// removed the next run clears the staging files that may hold it.
fn keep_the_edit<S: Store>(store: &S, cause: &ErrorKind, restore: String) -> String {
    let ErrorKind::ChangedDuringRun { path, kept, .. } = cause else {
        return restore;
    };
    let saved = kept.clone().or_else(|| {
        // A folder's documents are named from its root; a log's files by
        // their own path.
        let live = match store.location().is_dir() {
            true => store.location().join(path),
            false => path.clone(),
        };
        std::fs::symlink_metadata(&live).is_ok().then_some(live)
    });
    match saved {
        Some(saved) => format!(
            "copy {saved} elsewhere (it holds what was saved to {path} after the run read it, \
             which the restore or the next run would lose), {restore}"
        ),
        None => restore,
    }
}

/// The history records among a journal's `lines` (a line that is not one
/// was never going to be recorded either).
fn records_of(lines: impl Iterator<Item = String>) -> Vec<HistoryRecord> {
    lines
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}
