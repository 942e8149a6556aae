//! Snapshot, commit and record: the store as it was is archived, the
//! journal is written, the staged files are moved in, and the history is
//! told.

use std::fs;
use std::io;

use camino::Utf8PathBuf;

use super::{Detected, Move, Run, Staged, Stamp};
use crate::run::journal::Journal;
use crate::run::{Direction, ErrorKind, Event, RunError, Stage, Ticker, io};
use crate::snapshot;
use crate::{Chain, Document, fsio};

impl<'s, C: Chain<Record = Document>> Run<'s, C> {
    /// Archives every document of the store as it is now.
    pub(super) fn snapshot(
        &self,
        detected: &Detected,
        from: u32,
        to: u32,
    ) -> Result<String, RunError> {
        let files: Vec<Utf8PathBuf> = detected.docs.iter().map(|(p, _)| p.clone()).collect();
        self.snapshot_of(&files, from, to)
            .map_err(|k| self.fail(Stage::Snapshot, k))
    }

    /// Archives `files` of the store as they are now, as a snapshot from
    /// version `from` to `to`; returns its id.
    pub(super) fn snapshot_of(
        &self,
        files: &[Utf8PathBuf],
        from: u32,
        to: u32,
    ) -> Result<String, ErrorKind> {
        self.emit(Event::StageStarted {
            stage: Stage::Snapshot,
            total: files.len(),
        });
        let info = snapshot::create(
            self.store.root(),
            files,
            &self.store.snapshot_dir(),
            C::NAME,
            from,
            to,
        )?;
        self.emit(Event::SnapshotWritten {
            id: info.id.clone(),
            files: files.len(),
        });
        Ok(info.id)
    }

    pub(super) fn history_lines(
        &self,
        plan: &[Move<'_>],
        staged: &Staged,
        snapshot: Option<&str>,
        direction: Direction,
    ) -> Result<Vec<String>, RunError> {
        let stamp_before = self.stamp()?;
        let mut records = self.info.step_records(plan, direction);
        for (i, record) in records.iter_mut().enumerate() {
            let id = record.step.as_deref().unwrap_or_default();
            record.counts = staged.per_step.get(id).copied().unwrap_or_default();
            record.snapshot = snapshot.map(str::to_owned);
            record.stamp_before = stamp_before;
            // The run's new paths, once: a restore removes them.
            if i == 0 {
                record.created_paths = staged.created.iter().map(ToString::to_string).collect();
            }
        }
        records
            .iter()
            .map(|record| {
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
            })
            .collect()
    }

    /// Applies a written journal, then stamps, records and cleans up. Used by
    /// a commit and by recovery alike.
    pub(super) fn finish_commit(&self, journal: &Journal, stage: Stage) -> Result<(), RunError> {
        let root = self.store.root();
        let observer = (stage != Stage::Recover)
            .then_some(self.options.observer.as_ref())
            .flatten();
        let mut ticker = Ticker::start(observer, stage, journal.ops.len());
        journal
            .apply(root, &mut || ticker.tick())
            .map_err(|k| self.fail(stage, k))?;
        let stamp_path = self.store.stamp_path();
        match journal.version {
            Some(version) => {
                let stamp = Stamp {
                    chain: C::NAME.to_owned(),
                    version,
                };
                let text = serde_json::to_string(&stamp).map_err(|e| {
                    self.fail(
                        stage,
                        ErrorKind::Damaged {
                            path: stamp_path.clone(),
                            line: 0,
                            message: e.to_string(),
                        },
                    )
                })?;
                fsio::write_atomic(&stamp_path, text.as_bytes())
                    .map_err(|e| self.fail(stage, io("write", &stamp_path)(e)))?;
            }
            None => match fsio::point("remove", &stamp_path)
                .and_then(|()| fs::remove_file(&stamp_path))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.fail(stage, io("remove", &stamp_path)(e))),
            },
        }
        crate::run::journal::close(
            &self.store.history_path(),
            &self.store.journal_path(),
            &journal.run_id,
            &journal.history,
            stage == Stage::Recover,
        )
        .map_err(|k| self.fail(Stage::Record, k))?;
        self.discard(&journal.staging);
        Ok(())
    }
}
