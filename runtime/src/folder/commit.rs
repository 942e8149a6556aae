//! Commit and record: the journal is written (the history's lines in it),
//! then it is finished as recovery would finish it: the staged files moved
//! into place, the stamp written, the history told, the journal removed.

use std::fs;

use super::FolderStore;
use super::journal::{Commit, Journal, Op};
use super::store::Staged;
use crate::run::store::Failed;
use crate::run::{HistoryRecord, Run, Stage};
use crate::{Document, fsio};

/// Commits what `staged` holds, with the run's history `records`.
pub(super) fn commit(
    store: &FolderStore,
    staged: Staged,
    run: &Run<'_, Document>,
    records: &[HistoryRecord],
    snapshot: Option<&str>,
) -> Result<(), Failed> {
    let history = match crate::run::history::lines(records, &store.history_path()) {
        Ok(history) => history,
        Err(kind) => {
            store.remove_staging(&staged.staging);
            return Err(kind.into());
        }
    };
    // The staged writes become the journal's operations where they are.
    let mut ops = staged.writes;
    ops.reserve_exact(staged.removes.len());
    ops.extend((staged.removes.into_iter()).map(|(path, was)| Op::Remove { path, was }));
    let journal = Journal {
        run_id: run.id().to_owned(),
        snapshot: snapshot.map(str::to_owned),
        ops: Commit {
            chain: run.chain.name.to_owned(),
            version: staged.stamp,
            staging: staged.staging.clone(),
            ops,
            fresh: true,
            checked: staged.checked,
        },
        history,
    };
    if let Err(kind) = journal.write(store) {
        // No journal, so nothing moved: the store is as it was.
        let _ = fsio::remove_file(&Journal::path_in(store));
        store.remove_staging(&staged.staging);
        return Err(kind.into());
    }
    let mut ticker = run.ticker(Stage::Commit, journal.ops.ops.len());
    journal.commit(store, &mut || ticker.tick())?;
    // The folders a restore's undone runs added, deepest first; one that
    // is not empty (or not there) stays as it is: a removal of a folder
    // never removes what is in it, and an empty folder left is no loss.
    for folder in staged.remove_folders.iter().rev() {
        let _ = fs::remove_dir(store.root().join(folder));
    }
    Ok(())
}
