//! Status: a store's state, read without changing anything — its versions,
//! the pending steps, the last run, its snapshots, whether a run was
//! interrupted, what runs that never committed left, the applied steps
//! edited since, and every record that cannot be read.

use std::collections::BTreeMap;

use super::error::{ErrorKind, RunError, Stage};
use super::history::{HistoryRecord, edited_since_applied};
use super::plan::{self, Move};
use super::store::{Purpose, StampState, Store};
use super::{LastRun, Run, RunInfo, RunOptions, Status, detect, leftover, snapshot};
use crate::Chain;
use crate::chain::StepMeta;

/// The store's versions, pending steps, last run, snapshots, and whether a
/// run was interrupted. Changes nothing (a dry run's lock, when the store
/// has a lock file: it waits for no one).
///
/// ```
/// use verchain::folder::FolderStore;
/// use verchain::{Chain, Document, migration, status};
///
/// /// Notes.
/// #[derive(Chain)]
/// #[chain(current = 2)]
/// pub struct Notes;
///
/// /// Adds `status`.
/// #[migration(chain = Notes, from = 1, to = 2)]
/// fn add_status(note: &mut Document) {
///     note.set_default("status", "draft");
/// }
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a.md"), "---\ntitle: A\n---\n")?;
/// let store = FolderStore::new(camino::Utf8Path::from_path(dir.path()).unwrap());
/// let now = status::<Notes>(&store)?;
/// assert_eq!(now.versions.get(&1), Some(&1));
/// assert_eq!(now.pending[0].id, "add_status");
/// assert!(now.last_run.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Status, RunError> {
    let options = RunOptions::default().reading();
    let run = Run::new::<C>(&options)?;
    let fail = |k| run.fail(Stage::Detect, k);
    let mut session = super::lock::hold(store, Purpose::Read, &options, &run.info).map_err(fail)?;
    let journal = store.journal(&mut session).map_err(fail)?;
    let interrupted = journal.is_some() || store.interrupted(&mut session).map_err(fail)?;
    // A database whose interrupted transaction awaits its rollback cannot
    // be read until then; its last run is the one the next run shows.
    let history = match store.history(&mut session) {
        Err(_) if interrupted => Vec::new(),
        history => history.map_err(fail)?,
    };
    let snapshots = snapshot::list(&store.snapshot_dir(), store.snapshots())
        .map_err(fail)?
        .len();
    let mut status = Status {
        chain: run.chain.name,
        store: store.location().to_owned(),
        stamp: None,
        unstamped: false,
        current: run.chain.current,
        versions: BTreeMap::new(),
        pending: Vec::new(),
        last_run: LastRun::of(&history),
        snapshots,
        interrupted,
        edited_since_applied: Vec::new(),
        unreadable: Vec::new(),
        skipped: Vec::new(),
        leftovers: Vec::new(),
        releases: run.chain.releases,
    };
    if status.interrupted {
        // The store is not whole until the next run finishes the commit.
        return Ok(status);
    }
    // While a run holds the lock, what it is writing is not left over.
    if !super::lock::busy(&store.lock_path()) {
        status.leftovers = leftover::list(store, &mut session).map_err(fail)?;
    }
    status.stamp = store.stamp(&mut session, &run.chain).map_err(fail)?;
    status.unstamped =
        store.stamp_state(&mut session, &run.chain).map_err(fail)? == StampState::Unstamped;
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
