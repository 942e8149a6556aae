//! Commit: what was staged goes into the store, with the run's history
//! records, atomically. A staged-files store writes its journal first, so
//! that a crash in the middle is finished by the next run; a database
//! inserts the records and commits its transaction. A commit that fails
//! says whether the store is as it was; when it is, the run's snapshot,
//! which undoes nothing, is removed.

use super::error::{RunError, Stage};
use super::history::HistoryRecord;
use super::store::Store;
use super::{Run, snapshot};

/// Commits `staged` with `records`; `snapshot` is the run's, taken for
/// this commit when `taken_here` (a later part of a run split in parts
/// records the snapshot an earlier part took, which stays).
pub(crate) fn commit<S: Store>(
    store: &S,
    staged: S::Staged<'_>,
    run: &Run<'_, S::Record>,
    stage: Stage,
    records: &[HistoryRecord],
    snapshot: Option<&str>,
    taken_here: bool,
) -> Result<(), RunError> {
    store
        .commit(staged, run, records, snapshot)
        .map_err(|failed| {
            let error = run.fail(stage, failed.kind);
            if !failed.unchanged {
                return error;
            }
            if let Some(entry) =
                (snapshot.filter(|_| taken_here)).and_then(|id| snapshot::entry(store, id).ok())
            {
                let _ = snapshot::remove(store, &entry);
            }
            error.unchanged()
        })
}
