//! The end of a run over a log: the journal of renames is written (the
//! history's lines in it), then it is finished as recovery would finish
//! it: each new file renamed over its old one, the committed sizes
//! recorded in the snapshot, the history told, the journal removed.

use super::journal::{Journal, Rename, Renames};
use super::record::LogRecord;
use super::run::Staged;
use super::store::LogStore;
use crate::run::store::{Failed, Store};
use crate::run::{ErrorKind, HistoryRecord, Run, Stage, history, io};

/// Commits the new files of `staged` with the run's history `records`.
pub(super) fn commit(
    store: &LogStore,
    staged: Staged,
    run: &Run<'_, LogRecord>,
    records: &[HistoryRecord],
    snapshot: Option<&str>,
) -> Result<(), Failed> {
    let written = (|| {
        // No writer may have appended since the files were read: checked
        // here, before the journal, and again as each file is replaced.
        super::run::unchanged_since_read(&staged.keep)?;
        let mut renames = Vec::new();
        for (file, temp) in &staged.renames {
            let path = store.dir().join(temp);
            let size = std::fs::metadata(&path)
                .map_err(io("inspect", &path))?
                .len();
            let was = (staged.keep.iter())
                .find(|(kept, _)| kept.path == file.path)
                .map(|(_, seen)| seen.clone());
            renames.push(Rename {
                from: temp.clone(),
                to: file.name.clone(),
                size,
                was,
            });
        }
        let journal = Journal {
            run_id: run.id().to_owned(),
            snapshot: snapshot.map(str::to_owned),
            ops: Renames { renames },
            history: history::lines(records, &store.history_path())?,
        };
        journal.write(store)?;
        Ok::<_, ErrorKind>(journal)
    })();
    let journal = match written {
        Ok(journal) => journal,
        Err(kind) => {
            // No journal, so nothing moved: the log is as it was.
            let _ = crate::fsio::remove_file(&Journal::path_in(store));
            store.discard(staged, run.id());
            return Err(kind.into());
        }
    };
    let mut ticker = run.ticker(Stage::Commit, journal.ops.renames.len());
    journal
        .commit(store, &mut || ticker.tick())
        .inspect_err(|failed| {
            // Undone: the lines the run set aside go back to being nobody's.
            if failed.unchanged {
                let _ = std::fs::remove_dir_all(store.quarantine_dir().join(run.id()));
            }
        })
}
