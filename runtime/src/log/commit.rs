//! The end of a run over a log: the journal of renames is written, each new
//! file is renamed over its old one, the committed sizes are recorded in
//! the snapshot, the history is told, and the journal goes. Recovery
//! finishes an interrupted commit through the same code.

use std::fs;

use camino::Utf8PathBuf;

use super::journal::{Journal, Rename};
use super::record::LogRecord;
use super::run::Staged;
use super::snapshot::{self, Committed, CommittedFile};
use super::store::LogStore;
use crate::Chain;
use crate::run::store::{self, Failed};
use crate::run::{ErrorKind, HistoryRecord, Run, history, io};

/// Commits the new files of `staged` with the run's history `records`.
pub(super) fn commit<C: Chain<Record = LogRecord>>(
    store: &LogStore,
    staged: Staged,
    run: &Run<'_, C>,
    records: &[HistoryRecord],
    snapshot: Option<&str>,
) -> Result<(), Failed> {
    let prepared = (|| {
        let mut renames = Vec::new();
        for (file, temp) in &staged.renames {
            let path = store.dir().join(temp);
            let size = fs::metadata(&path).map_err(io("inspect", &path))?.len();
            renames.push(Rename {
                from: temp.clone(),
                to: file.name.clone(),
                size,
            });
        }
        let history = (records.iter())
            .map(|record| {
                serde_json::to_string(record).map_err(|e| ErrorKind::Damaged {
                    path: store.history_path(),
                    line: 0,
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<String>, ErrorKind>>()?;
        let journal = Journal {
            run_id: run.id().to_owned(),
            snapshot: snapshot.map(str::to_owned),
            renames,
            history,
        };
        journal.write(&store.journal_path())?;
        Ok::<_, ErrorKind>(journal)
    })();
    let journal = match prepared {
        Ok(journal) => journal,
        Err(kind) => {
            // No journal, so nothing moved: the log is as it was.
            let _ = crate::fsio::remove_file(&store.journal_path());
            store::Store::discard(store, staged, run.id());
            return Err(kind.into());
        }
    };
    store.finish_commit(&journal, false).map_err(|kind| Failed {
        kind,
        unchanged: false,
    })
}

impl LogStore {
    /// Applies a written journal, then records the committed sizes and the
    /// history, and removes the journal; a commit and recovery alike.
    pub(super) fn finish_commit(
        &self,
        journal: &Journal,
        recovering: bool,
    ) -> Result<(), ErrorKind> {
        journal.apply(self.dir())?;
        if let Some(id) = &journal.snapshot {
            let committed = Committed {
                files: (journal.renames.iter())
                    .map(|r| CommittedFile {
                        name: r.to.clone(),
                        size: r.size,
                    })
                    .collect(),
            };
            let path = snapshot::path_of(&self.snapshot_dir(), id);
            // Written only into a real folder, never through a link.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                snapshot::write_committed(&path, &committed).map_err(io("write", &path))?;
            }
        }
        crate::run::journal::close(
            &self.history_path(),
            &self.journal_path(),
            &journal.run_id,
            &journal.history,
            recovering,
        )
    }
}

impl store::Journal<LogStore> for Journal {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn snapshot(&self) -> Option<&str> {
        self.snapshot.as_deref()
    }

    fn path(&self, store: &LogStore) -> Utf8PathBuf {
        store.journal_path()
    }

    fn history(&self) -> &[String] {
        &self.history
    }

    fn check(&self, store: &LogStore) -> Result<(), ErrorKind> {
        Journal::check(self, store)
    }

    fn untouched(&self, store: &LogStore) -> bool {
        Journal::untouched(self, store.dir())
    }

    fn finish(&self, store: &LogStore, recovering: bool) -> Result<(), ErrorKind> {
        store.finish_commit(self, recovering)
    }

    fn record_given_up(&self, store: &LogStore, cause: &ErrorKind) -> Result<(), ErrorKind> {
        history::record_abandoned(
            &store.history_path(),
            &self.run_id,
            &self.history,
            &cause.to_string(),
        )
    }

    fn remove(&self, store: &LogStore) -> Result<(), ErrorKind> {
        crate::run::journal::remove(&store.journal_path())
    }
}
