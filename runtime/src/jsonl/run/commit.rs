//! The end of a run over a log: check that no file changed since it was
//! read, snapshot the old files, write the journal, rename the new files
//! into place, record the history.

use std::fs;

use super::{Detected, Run, Streamed};
use crate::jsonl::error::JsonlError;
use crate::jsonl::journal::{Journal, Rename};
use crate::jsonl::record::LogRecord;
use crate::jsonl::snapshot::{self, Committed, CommittedFile};
use crate::jsonl::store::LogFile;
use crate::jsonl::stream::{Move, Seen};
use crate::run::Event;
use crate::run::{Counts, Direction, ErrorKind, HistoryRecord, RunError, Stage, io};
use crate::{Chain, fsio};

impl<C: Chain<Record = LogRecord>> Run<'_, C> {
    /// Refuses the commit if a file changed since it was read.
    pub(super) fn unchanged_since_read(
        &self,
        streamed: &[Streamed<'_>],
        stage: Stage,
    ) -> Result<(), RunError> {
        for s in streamed {
            let seen = s.outcome.seen.as_ref();
            if let Some(seen) = seen
                && let Some(what) = seen
                    .changed(&s.file.path)
                    .map_err(|k| self.fail(stage, k))?
            {
                return Err(self.fail(
                    stage,
                    JsonlError::ChangedDuringRun {
                        path: s.file.path.clone(),
                        what,
                    },
                ));
            }
        }
        Ok(())
    }

    pub(super) fn commit(
        &self,
        streamed: &[Streamed<'_>],
        detected: &Detected,
        target: u32,
        plan: &[Move<'_>],
        per_step: &[Counts],
        direction: Direction,
    ) -> Result<String, RunError> {
        self.unchanged_since_read(streamed, Stage::Snapshot)?;
        let from_version = detected.newest().map_or(target, |(v, _)| v);
        let kept: Vec<(&LogFile, &Seen)> = streamed
            .iter()
            .filter_map(|s| s.outcome.seen.as_ref().map(|seen| (s.file, seen)))
            .collect();
        let info = snapshot::create(
            &self.store.snapshot_dir(),
            C::NAME,
            from_version,
            target,
            &kept,
            self.store.compresses_snapshots(),
        )
        .map_err(|e| self.fail(Stage::Snapshot, ErrorKind::Snapshot(e)))?;
        // The last moment a writer could have appended unnoticed is before
        // this check; see the store's docs on live appends.
        if let Err(e) = self.unchanged_since_read(streamed, Stage::Snapshot) {
            let _ = fsio::point("remove", &info.path).and_then(|()| fs::remove_dir_all(&info.path));
            return Err(e);
        }
        self.emit(Event::SnapshotWritten {
            id: info.id.clone(),
            files: info.manifest.files.len(),
        });
        let mut renames = Vec::new();
        for s in streamed {
            let Some(temp) = &s.temp else { continue };
            let size = fs::metadata(temp)
                .map_err(|e| self.fail(Stage::Commit, io("inspect", temp)(e)))?
                .len();
            renames.push(Rename {
                from: self.temp_name(s.file),
                to: s.file.name.clone(),
                size,
            });
        }
        let quarantined: usize = streamed
            .iter()
            .map(|s| s.outcome.quarantined as usize)
            .sum();
        let history = self.history_lines(
            plan,
            per_step,
            quarantined,
            &info.id,
            direction,
            detected.files.first().map(|(_, v)| *v),
        )?;
        let journal = Journal {
            run_id: self.info.run_id.clone(),
            snapshot: Some(info.id.clone()),
            renames,
            history,
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Commit, k))?;
        self.finish_commit(&journal, Stage::Commit)?;
        Ok(info.id)
    }

    fn history_lines(
        &self,
        plan: &[Move<'_>],
        per_step: &[Counts],
        quarantined: usize,
        snapshot: &str,
        direction: Direction,
        version_before: Option<u32>,
    ) -> Result<Vec<String>, RunError> {
        let mut records = self.info.step_records(plan, direction);
        for (i, record) in records.iter_mut().enumerate() {
            record.counts = per_step.get(i).copied().unwrap_or_default();
            if i == 0 {
                record.counts.quarantined = quarantined;
            }
            record.snapshot = Some(snapshot.to_owned());
            record.stamp_before = version_before;
        }
        records
            .iter()
            .map(|record| self.history_line(record))
            .collect()
    }

    pub fn history_line(&self, record: &HistoryRecord) -> Result<String, RunError> {
        serde_json::to_string(record).map_err(|e| {
            self.fail(
                Stage::Record,
                ErrorKind::Damaged {
                    path: self.store.history_path(),
                    line: 0,
                    message: e.to_string(),
                },
            )
        })
    }

    /// Applies a written journal, then records the committed sizes and the
    /// history, and removes the journal. Used by a commit and by recovery.
    pub fn finish_commit(&self, journal: &Journal, stage: Stage) -> Result<(), RunError> {
        let dir = self.store.dir();
        journal.apply(dir).map_err(|k| self.fail(stage, k))?;
        if let Some(id) = &journal.snapshot {
            let committed = Committed {
                files: journal
                    .renames
                    .iter()
                    .map(|r| CommittedFile {
                        name: r.to.clone(),
                        size: r.size,
                    })
                    .collect(),
            };
            let path = snapshot::path_of(&self.store.snapshot_dir(), id);
            // Written only into a real folder, never through a link.
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                snapshot::write_committed(&path, &committed)
                    .map_err(|e| self.fail(Stage::Record, io("write", &path)(e)))?;
            }
        }
        crate::run::journal::close(
            &self.store.history_path(),
            &self.store.journal_path(),
            &journal.run_id,
            &journal.history,
            stage == Stage::Recover,
        )
        .map_err(|k| self.fail(Stage::Record, k))?;
        Ok(())
    }
}
