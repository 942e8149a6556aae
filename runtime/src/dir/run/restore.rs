//! Restoring a snapshot: verified first, the store as it is now archived
//! too, then put back through the same journal as a commit.

use std::collections::{BTreeMap, BTreeSet};

use camino::{Utf8Path, Utf8PathBuf};

use super::Run;
use super::stage::staged_dirs;
use crate::run::journal::{Journal, Op};
use crate::run::{
    Change, ChangeKind, Counts, Direction, ErrorKind, Event, HistoryRecord, Report, RunError,
    Stage, history, io,
};
use crate::snapshot;
use crate::{Chain, Document, fsio};

impl<'s, C: Chain<Record = Document>> Run<'s, C> {
    /// Restores a snapshot (by id, or the one before the last run that was
    /// not rolled back), verified before anything is touched. The store as
    /// it is now is snapshotted first, so a restore can be undone too.
    pub(super) fn restore(&self, id: Option<&str>) -> Result<Report, RunError> {
        // Until the journal is written, the store is untouched.
        let fail = |k| self.fail(Stage::Restore, k).unchanged();
        if let Some(id) = id
            && crate::contain::snapshot_id_problem(id).is_some()
        {
            return Err(fail(ErrorKind::NoSnapshot(format!(
                "`{id}` is not a snapshot name; `snapshots` lists them"
            ))));
        }
        let records = history::read(&self.store.history_path()).map_err(fail)?;
        let undone = runs_to_undo(&records, id).map_err(fail)?;
        let snapshot_id = undone.snapshot.clone();
        let archive = snapshot::path_of(&self.store.snapshot_dir(), &snapshot_id);
        if self.options.dry_run {
            let manifest = snapshot::verify(&archive).map_err(|e| fail(e.into()))?;
            let restored = self.restorable(&manifest).map_err(fail)?;
            let removes = self.removable(&undone, &restored).map_err(fail)?;
            return Ok(self.restore_report(&snapshot_id, &manifest, &restored, &removes));
        }
        let staging_rel = Utf8PathBuf::from(crate::dir::STATE_DIR)
            .join("staging")
            .join(&self.info.run_id);
        let staging = self.store.root().join(&staging_rel);
        let stamp = self.stamp()?;
        let prepared = (|| {
            let manifest = snapshot::extract(&archive, &staging)?;
            self.emit(Event::RunStarted {
                chain: C::NAME,
                run_id: self.info.run_id.clone(),
                direction: Direction::Restore,
                dry_run: false,
                from: stamp,
                to: manifest.from_version,
                plan: Vec::new(),
                records: manifest.files.len(),
            });
            let restored = self.restorable(&manifest)?;
            let removes = self.removable(&undone, &restored)?;
            for dir in staged_dirs(&staging, [], self.store.root())
                .iter()
                .chain([&staging])
            {
                fsio::sync_dir(dir).map_err(io("sync", dir))?;
            }
            // The store as it is now, in case this restore is itself a mistake.
            let now = self.store.scan()?;
            let before = self.snapshot_of(&now, manifest.to_version, manifest.from_version)?;
            Ok::<_, ErrorKind>((manifest, restored, removes, before))
        })();
        let (manifest, restored, removes, before) = prepared.map_err(|k| {
            self.discard(&staging_rel);
            fail(k)
        })?;
        let report = self.restore_report(&snapshot_id, &manifest, &restored, &removes);
        let manual = |kind: ErrorKind| ErrorKind::RestoreFailed {
            snapshot: archive.clone(),
            root: self.store.root().to_owned(),
            cause: Box::new(kind),
        };
        let record = HistoryRecord {
            counts: report.counts,
            stamp_before: stamp,
            ..self.info.restore_record(
                manifest.to_version,
                manifest.from_version,
                &snapshot_id,
                format!(
                    "restored snapshot {snapshot_id}; the store before this restore is in \
                     snapshot {before}"
                ),
            )
        };
        let line = serde_json::to_string(&record).map_err(|e| {
            fail(ErrorKind::Damaged {
                path: self.store.history_path(),
                line: 0,
                message: e.to_string(),
            })
        })?;
        let journal = Journal {
            run_id: self.info.run_id.clone(),
            version: undone.stamp_before,
            snapshot: Some(before.clone()),
            staging: staging_rel,
            ops: manifest
                .files
                .iter()
                .filter(|f| restored.contains(Utf8Path::new(&f.path)))
                .map(|f| Op::Write {
                    path: Utf8PathBuf::from(&f.path),
                    blake3: f.blake3.clone(),
                })
                .chain(removes.into_iter().map(|path| Op::Remove { path }))
                .collect(),
            history: vec![line],
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Restore, manual(k)))?;
        self.finish_commit(&journal, Stage::Restore)
            .map_err(|e| self.fail(e.stage, manual(*e.kind)))?;
        self.emit(Event::RolledBack {
            snapshot: snapshot_id,
            version: journal.version,
        });
        Ok(report)
    }

    /// The paths a snapshot restores, each a document path of this store.
    fn restorable(
        &self,
        manifest: &snapshot::Manifest,
    ) -> Result<BTreeSet<Utf8PathBuf>, ErrorKind> {
        manifest
            .files
            .iter()
            .map(|f| self.writable(Utf8PathBuf::from(&f.path), "in the snapshot"))
            .collect()
    }

    /// The paths the undone runs created that the snapshot does not hold.
    fn removable(
        &self,
        undone: &Undo,
        restored: &BTreeSet<Utf8PathBuf>,
    ) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        undone
            .created
            .iter()
            .map(Utf8PathBuf::from)
            .filter(|p| !restored.contains(p))
            .map(|p| self.writable(p, "listed in the history as created by a run"))
            .collect()
    }

    /// `path` if a restore may write or remove it; `source` says where the
    /// path came from.
    fn writable(&self, path: Utf8PathBuf, source: &str) -> Result<Utf8PathBuf, ErrorKind> {
        match self.store.unwritable(&path) {
            None => Ok(path),
            Some(reason) => Err(ErrorKind::BadPath {
                path,
                reason: format!("{source}: {reason}"),
            }),
        }
    }

    fn restore_report(
        &self,
        snapshot_id: &str,
        manifest: &snapshot::Manifest,
        restored: &BTreeSet<Utf8PathBuf>,
        removes: &[Utf8PathBuf],
    ) -> Report {
        Report {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            dry_run: self.options.dry_run,
            direction: Direction::Restore,
            store_version: Some(manifest.to_version),
            target: manifest.from_version,
            plan: Vec::new(),
            versions: BTreeMap::new(),
            counts: Counts {
                changed: restored.len(),
                unchanged: 0,
                created: 0,
                removed: removes.len(),
                quarantined: 0,
            },
            changes: restored
                .iter()
                .map(|p| Change {
                    path: p.clone(),
                    kind: ChangeKind::Changed,
                    diff: None,
                })
                .chain(removes.iter().map(|p| Change {
                    path: p.clone(),
                    kind: ChangeKind::Removed,
                    diff: None,
                }))
                .collect(),
            failures: Vec::new(),
            snapshot: Some(snapshot_id.to_owned()),
        }
    }
}

/// What a restore undoes: the snapshot to restore, every path the undone
/// runs brought into the store, and the stamp from before them.
struct Undo {
    snapshot: String,
    created: Vec<String>,
    stamp_before: Option<u32>,
}

/// The runs a restore undoes: from the run whose snapshot is `id` (or the
/// last run not yet rolled back) to the end of the history. Runs of `down`
/// steps count as runs too (their snapshot undoes them). A snapshot that
/// belongs to no run still in effect is restored as it is, removing nothing.
fn runs_to_undo(records: &[HistoryRecord], id: Option<&str>) -> Result<Undo, ErrorKind> {
    let live = history::live_runs(records);
    let at = match id {
        Some(id) => {
            let id = id.strip_suffix(".tar.zst").unwrap_or(id);
            match live.iter().position(|l| l.snapshot == id) {
                Some(at) => at,
                None => {
                    return Ok(Undo {
                        snapshot: id.to_owned(),
                        created: Vec::new(),
                        stamp_before: None,
                    });
                }
            }
        }
        None => live.len().checked_sub(1).ok_or_else(|| {
            ErrorKind::NoSnapshot("the history has no applied run to undo".to_owned())
        })?,
    };
    Ok(Undo {
        snapshot: live[at].snapshot.clone(),
        created: live[at..]
            .iter()
            .flat_map(|l| l.created.iter().cloned())
            .collect(),
        stamp_before: live[at].stamp_before,
    })
}
