//! Status: a store's state, read without changing anything — its versions,
//! the pending steps, the last run, its snapshots, whether a run was
//! interrupted, the applied steps edited since, and every record that
//! cannot be read.

use std::collections::BTreeMap;

use super::error::{ErrorKind, RunError, Stage};
use super::history::{HistoryRecord, edited_since_applied};
use super::plan::{self, Move};
use super::store::{Purpose, Store};
use super::{LastRun, Run, RunInfo, RunOptions, Status, detect, snapshot};
use crate::Chain;
use crate::chain::StepMeta;

/// The store's versions, pending steps, last run, snapshots, and whether a
/// run was interrupted. Changes nothing (a dry run's lock, when the store
/// has a lock file: it waits for no one).
pub fn status<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Status, RunError> {
    let options = RunOptions::default().reading();
    let run = Run::new::<C>(&options)?;
    let fail = |k| run.fail(Stage::Detect, k);
    let mut session = super::lock::hold(store, Purpose::Read, &options, &run.info).map_err(fail)?;
    let history = store.history(&mut session).map_err(fail)?;
    let snapshots = snapshot::list(&store.snapshot_dir(), store.snapshots())
        .map_err(fail)?
        .len();
    let journal = store.journal(&mut session).map_err(fail)?;
    let mut status = Status {
        chain: run.chain.name,
        store: store.location().to_owned(),
        stamp: None,
        current: run.chain.current,
        versions: BTreeMap::new(),
        pending: Vec::new(),
        last_run: LastRun::of(&history),
        snapshots,
        interrupted: journal.is_some() || store.interrupted(&mut session).map_err(fail)?,
        edited_since_applied: Vec::new(),
        unreadable: Vec::new(),
        skipped: Vec::new(),
    };
    if status.interrupted {
        // The store is not whole until the next run finishes the commit.
        return Ok(status);
    }
    status.stamp = store.stamp(&mut session, &run.chain).map_err(fail)?;
    let metas: Vec<StepMeta> = run.steps.iter().map(|s| *s.meta()).collect();
    status.edited_since_applied = edited_since_applied(&history, &metas, status.stamp);
    let found = detect::detect(store, &mut session, &run, status.stamp)?;
    status.unreadable = (found.unreadable.iter())
        .map(|(_, kind)| kind.to_string())
        .collect();
    status.versions = found.detected.versions.clone();
    status.skipped = found.detected.skipped.clone();
    status.pending = plan::forward(
        &run.chain,
        &run.steps,
        &found.detected,
        status.stamp,
        store.location(),
        run.chain.current,
    )
    .map_err(|k| run.fail(Stage::Plan, k))?
    .iter()
    .map(Move::planned)
    .collect();
    Ok(status)
}

/// The store's history, oldest first.
pub fn history(store: &impl Store) -> Result<Vec<HistoryRecord>, ErrorKind> {
    let options = RunOptions::default().reading();
    let mut session = super::lock::hold(store, Purpose::Read, &options, &RunInfo::new(""))?;
    store.history(&mut session)
}
