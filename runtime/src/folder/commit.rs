//! Commit and record: the journal is written, the staged files are moved
//! into place, the stamp is written, the history is told, and the journal
//! goes. Recovery finishes a commit a crash interrupted through the same
//! code.

use std::fs;
use std::io;

use super::FolderStore;
use super::journal::{Journal, Op};
use super::store::{Staged, Stamp};
use crate::run::store::Failed;
use crate::run::{ErrorKind, HistoryRecord, Run, Stage, io};
use crate::{Chain, Document, fsio};

/// Commits what `staged` holds, with the run's history `records`.
pub(super) fn commit<C: Chain<Record = Document>>(
    store: &FolderStore,
    staged: Staged,
    run: &Run<'_, C>,
    records: &[HistoryRecord],
    snapshot: Option<&str>,
) -> Result<(), Failed> {
    let history = records
        .iter()
        .map(|record| {
            serde_json::to_string(record).map_err(|e| ErrorKind::Damaged {
                path: store.history_path(),
                line: 0,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<String>, ErrorKind>>();
    let history = match history {
        Ok(history) => history,
        Err(kind) => {
            store_discard(store, &staged);
            return Err(kind.into());
        }
    };
    let journal = Journal {
        run_id: run.id().to_owned(),
        chain: C::NAME.to_owned(),
        version: staged.stamp,
        snapshot: snapshot.map(str::to_owned),
        staging: staged.staging.clone(),
        ops: (staged.writes.iter())
            .map(|(path, blake3)| Op::Write {
                path: path.clone(),
                blake3: blake3.clone(),
            })
            .chain(
                staged
                    .removes
                    .iter()
                    .map(|p| Op::Remove { path: p.clone() }),
            )
            .collect(),
        history,
    };
    if let Err(kind) = journal.write(&store.journal_path()) {
        // No journal, so nothing moved: the store is as it was.
        let _ = fsio::remove_file(&store.journal_path());
        store_discard(store, &staged);
        return Err(kind.into());
    }
    let mut ticker = run.ticker(Stage::Commit, journal.ops.len());
    store
        .finish_commit(&journal, false, &mut || ticker.tick())
        .map_err(|kind| Failed {
            kind,
            unchanged: false,
        })
}

/// Removes a run's staging folder.
fn store_discard(store: &FolderStore, staged: &Staged) {
    let _ = fs::remove_dir_all(store.root().join(&staged.staging));
}

impl FolderStore {
    /// Applies a written journal, then stamps, records and cleans up; a
    /// commit and recovery alike (`recovering`: the history marks the
    /// steps as recovered).
    pub(super) fn finish_commit(
        &self,
        journal: &Journal,
        recovering: bool,
        tick: &mut dyn FnMut(),
    ) -> Result<(), ErrorKind> {
        journal.apply(self.root(), tick)?;
        let stamp_path = self.stamp_path();
        match journal.version {
            Some(version) => {
                let stamp = Stamp {
                    chain: journal.chain.clone(),
                    version,
                };
                let text = serde_json::to_string(&stamp).map_err(|e| ErrorKind::Damaged {
                    path: stamp_path.clone(),
                    line: 0,
                    message: e.to_string(),
                })?;
                fsio::write_atomic(&stamp_path, text.as_bytes())
                    .map_err(io("write", &stamp_path))?;
            }
            None => match fsio::point("remove", &stamp_path)
                .and_then(|()| fs::remove_file(&stamp_path))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &stamp_path)(e)),
            },
        }
        crate::run::journal::close(
            &self.history_path(),
            &self.journal_path(),
            &journal.run_id,
            &journal.history,
            recovering,
        )?;
        let _ = fs::remove_dir_all(self.root().join(&journal.staging));
        Ok(())
    }
}
