//! Rolling a log back to a snapshot: the snapshot's files are checked as
//! they are copied out beside the log, the files as they are now are
//! snapshotted too, and the renames are journaled like a commit.

use std::collections::BTreeMap;
use std::fs;

use camino::Utf8PathBuf;

use super::Run;
use crate::jsonl::error::JsonlError;
use crate::jsonl::journal::{Journal, Rename};
use crate::jsonl::record::LogRecord;
use crate::jsonl::snapshot;
use crate::jsonl::store::LogFile;
use crate::jsonl::stream::{self, Seen};
use crate::run::Event;
use crate::run::history;
use crate::run::{
    Change, ChangeKind, Counts, Direction, ErrorKind, HistoryRecord, Report, Stage, io,
};
use crate::snapshot::SnapshotInfo;
use crate::{Chain, RunError};

impl<C: Chain<Record = LogRecord>> Run<'_, C> {
    /// Restores a snapshot (by id, or the one before the last run not yet
    /// undone), checked as it is copied. The files as they are now are
    /// snapshotted first, so a restore can be undone too.
    pub fn restore(&self, id: Option<&str>) -> Result<Report, RunError> {
        // Until the journal is written, the log is untouched.
        let fail = |k: ErrorKind| self.fail(Stage::Restore, k).unchanged();
        let records = history::read(&self.store.history_path()).map_err(fail)?;
        let id = match id {
            Some(id) => {
                if crate::contain::snapshot_id_problem(id).is_some() {
                    return Err(fail(ErrorKind::NoSnapshot(format!(
                        "`{id}` is not a snapshot name; `snapshots` lists them"
                    ))));
                }
                id.to_owned()
            }
            None => history::last_live_snapshot(&records).map_err(fail)?,
        };
        let dir = self.store.snapshot_dir();
        let info = snapshot::open(&dir, &id).map_err(|e| fail(e.into()))?;
        let stamp_before = records
            .iter()
            .find(|r| r.snapshot.as_deref() == Some(id.as_str()) && r.step.is_some())
            .and_then(|r| r.stamp_before);
        if let Some(committed) = snapshot::committed(&info.path).map_err(|e| fail(e.into()))? {
            for file in &committed.files {
                let path = self.store.dir().join(&file.name);
                let now = fs::metadata(&path).map(|m| m.len()).ok();
                if now != Some(file.size) {
                    let what = match now {
                        Some(now) => format!("{} bytes when committed, {now} now", file.size),
                        None => format!("{} bytes when committed, gone now", file.size),
                    };
                    return Err(fail(
                        JsonlError::ChangedSinceRun {
                            path,
                            snapshot: id.clone(),
                            what,
                        }
                        .into(),
                    ));
                }
            }
        }
        let files: Vec<LogFile> = info
            .manifest
            .files
            .iter()
            .map(|e| LogFile::new(self.store.dir(), &e.path))
            .collect();
        let report = self.restore_report(&info);
        self.emit(Event::RunStarted {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            direction: Direction::Restore,
            dry_run: self.options.dry_run,
            from: Some(info.manifest.to_version),
            to: info.manifest.from_version,
            plan: Vec::new(),
            records: info.manifest.files.len(),
        });
        if self.options.dry_run {
            snapshot::verify(&info).map_err(|e| fail(e.into()))?;
            return Ok(report);
        }
        let mut temps: Vec<Utf8PathBuf> = Vec::new();
        // The files as they are now are hashed (for a snapshot of them, in
        // case this restore is itself a mistake) while the snapshot's files
        // are copied out beside them.
        let (prepared, now) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| hash_now(&files));
            let prepared = (|| {
                for (entry, file) in info.manifest.files.iter().zip(&files) {
                    let temp = self.store.dir().join(self.temp_name(file));
                    temps.push(temp.clone());
                    snapshot::restore_file(&info.path, entry, &temp)?;
                }
                Ok::<_, crate::SnapshotError>(())
            })();
            let now = hashing.join().unwrap_or_else(|_| {
                Err(io("read", self.store.path())(std::io::Error::other(
                    "the hashing thread panicked",
                )))
            });
            (prepared, now)
        });
        let discard = || {
            for t in &temps {
                let _ = fs::remove_file(t);
            }
        };
        if let Err(e) = prepared {
            discard();
            return Err(fail(e.into()));
        }
        let now = now.map_err(|k| {
            discard();
            fail(k)
        })?;
        let before = self.snapshot_now(&now, &info).inspect_err(|_| discard())?;
        let mut renames = Vec::new();
        for (entry, file) in info.manifest.files.iter().zip(&files) {
            let _ = entry;
            let temp = self.store.dir().join(self.temp_name(file));
            let size = fs::metadata(&temp)
                .map_err(|e| fail(io("inspect", &temp)(e)))?
                .len();
            renames.push(Rename {
                from: self.temp_name(file),
                to: file.name.clone(),
                size,
            });
        }
        let record = HistoryRecord {
            counts: report.counts,
            stamp_before,
            ..self.info.restore_record(
                info.manifest.to_version,
                info.manifest.from_version,
                &id,
                format!(
                    "restored snapshot {id}; the log before this restore is in snapshot {}",
                    before.as_deref().unwrap_or("(none: no file to keep)")
                ),
            )
        };
        let journal = Journal {
            run_id: self.info.run_id.clone(),
            snapshot: before,
            renames,
            history: vec![self.history_line(&record)?],
        };
        let manual = |kind: ErrorKind| ErrorKind::RestoreFailed {
            snapshot: info.path.clone(),
            root: self.store.dir().to_owned(),
            cause: Box::new(kind),
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Restore, manual(k)))?;
        self.finish_commit(&journal, Stage::Restore)
            .map_err(|e| self.fail(e.stage, manual(*e.kind)))?;
        self.emit(Event::RolledBack {
            snapshot: id.clone(),
            version: Some(info.manifest.from_version),
        });
        Ok(report)
    }

    /// Snapshots the files a restore replaces, as they are now.
    fn snapshot_now(
        &self,
        now: &[(&LogFile, Seen)],
        info: &SnapshotInfo,
    ) -> Result<Option<String>, RunError> {
        if now.is_empty() {
            return Ok(None);
        }
        let kept: Vec<(&LogFile, &Seen)> = now.iter().map(|(f, s)| (*f, s)).collect();
        snapshot::create(
            &self.store.snapshot_dir(),
            C::NAME,
            info.manifest.to_version,
            info.manifest.from_version,
            &kept,
            self.store.compresses_snapshots(),
        )
        .map(|i| Some(i.id))
        .map_err(|e| self.fail(Stage::Snapshot, ErrorKind::Snapshot(e)))
    }

    fn restore_report(&self, info: &SnapshotInfo) -> Report {
        Report {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            dry_run: self.options.dry_run,
            direction: Direction::Restore,
            store_version: Some(info.manifest.to_version),
            target: info.manifest.from_version,
            plan: Vec::new(),
            versions: BTreeMap::new(),
            counts: Counts {
                changed: info.manifest.files.len(),
                ..Counts::default()
            },
            changes: info
                .manifest
                .files
                .iter()
                .map(|f| Change {
                    path: Utf8PathBuf::from(&f.path),
                    kind: ChangeKind::Changed,
                    diff: None,
                })
                .collect(),
            failures: Vec::new(),
            snapshot: Some(info.id.clone()),
        }
    }
}

/// Each of `files` that exists, as it is now.
fn hash_now(files: &[LogFile]) -> Result<Vec<(&LogFile, Seen)>, ErrorKind> {
    files
        .iter()
        .filter(|f| f.path.exists())
        .map(|f| stream::hash_file(&f.path).map(|seen| (f, seen)))
        .collect()
}
