//! Stage: worker threads read each document, run the plan on it, check and
//! render the result (`work.rs`); this thread takes their results in the
//! documents' order, counts and reports them, writes each changed document
//! under `.verchain/staging/<run id>/`, and adds every document, as read,
//! to the snapshot of the run (from the first change on, so that a run
//! that changes nothing archives nothing). A dry run only diffs.

use std::collections::BTreeSet;
use std::fs;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use camino::{Utf8Path, Utf8PathBuf};

use super::FolderStore;
use super::claims::Claims;
use super::journal::Op;
use super::store::Staged;
use super::work::{self, Job, Piece, Read, Rendered, Worked};
use crate::run::store::{Staging, Work};
use crate::run::{Change, ChangeKind, Counts, ErrorKind, Run, Stage, io, report};
use crate::snapshot::Streamed;
use crate::{Document, fsio};

mod files;

use files::StagedFiles;

/// The name of the snapshot's body in the staging folder (never a
/// document's: documents do not start with a dot).
pub(super) const SNAPSHOT_BODY: &str = ".snapshot.partial";

/// What staging learns on its way through the documents.
struct Pass<'w, 'r, 'o> {
    store: &'w FolderStore,
    run: &'r Run<'o, Document>,
    target: u32,
    records: &'w [(Utf8PathBuf, u32)],
    out: Staging,
    /// The versions of documents an operator's override left alone.
    versions_after: BTreeSet<u32>,
    /// Every path written, with the document it came from.
    claimed: Claims,
    /// Paths written that were not a document of the run before.
    created: Vec<Utf8PathBuf>,
    /// Where staged files go.
    files: StagedFiles,
    /// How many documents, in order, the snapshot holds; `None` until the
    /// run first changes one.
    archived: Option<usize>,
    /// Whether the run takes a snapshot at all.
    snapshot: bool,
    /// Whether the workers read the documents they do not change, for the
    /// snapshot.
    archiving: &'w AtomicBool,
    /// Why documents the steps changed cannot be written back (the first
    /// hundred), and how many: the run names them together, then stops.
    unwritable: (Vec<ErrorKind>, usize),
}

/// Runs the plan on every document that needs it, writing the results to
/// staging and the documents to the run's snapshot (or, in a dry run,
/// only diffing them).
pub(super) fn stage(
    store: &FolderStore,
    staged: &mut Staged,
    run: &Run<'_, Document>,
    work: &Work<'_, '_, FolderStore>,
) -> Result<Staging, ErrorKind> {
    let archiving = AtomicBool::new(false);
    let records = &work.detected.records;
    let mut pass = Pass {
        store,
        run,
        target: work.target,
        records,
        out: Staging {
            per_step: vec![Counts::default(); work.plan.len()],
            ..Staging::default()
        },
        versions_after: BTreeSet::new(),
        claimed: Claims::default(),
        created: Vec::new(),
        files: StagedFiles::new(store.root().join(&staged.staging)),
        archived: None,
        snapshot: !run.dry_run() && work.takes_snapshot(),
        archiving: &archiving,
        unwritable: (Vec::new(), 0),
    };
    for m in work.plan {
        run.step_started(m);
    }
    let job = Job {
        store,
        run,
        plan: work.plan,
        target: work.target,
    };
    let mut ticker = run.ticker(Stage::Stage, records.len());
    let flow = work::in_order(
        records.len(),
        work::workers(),
        |i| {
            let (path, version) = &records[i];
            job.document(path, *version, archiving.load(Ordering::Relaxed))
        },
        |i, worked| {
            ticker.tick();
            match pass.take(staged, i, worked) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        },
    );
    if let ControlFlow::Break(e) = flow {
        return Err(e);
    }
    let (records, total) = std::mem::take(&mut pass.unwritable);
    if total > 0 {
        return Err(ErrorKind::Unwritable { records, total });
    }
    for (m, counts) in work.plan.iter().zip(&pass.out.per_step) {
        run.step_finished(m, *counts);
    }
    pass.finish(staged)?;
    // An override that leaves documents at other versions keeps the
    // stamp: it must not say the store is at a version it is not.
    if pass.versions_after.iter().all(|v| *v == work.target) {
        staged.stamp = Some(work.target);
    }
    pass.out.commits = !staged.changes_nothing();
    Ok(pass.out)
}

impl Pass<'_, '_, '_> {
    /// Takes what a worker made of document `i`, in order.
    fn take(&mut self, staged: &mut Staged, i: usize, worked: Worked) -> Result<(), ErrorKind> {
        let Worked {
            read,
            per_step,
            pieces,
        } = worked;
        for (total, counts) in self.out.per_step.iter_mut().zip(&per_step) {
            total.changed += counts.changed;
            total.unchanged += counts.unchanged;
            total.created += counts.created;
            total.removed += counts.removed;
        }
        let path = &self.records[i].0;
        let changes = pieces
            .iter()
            .any(|p| matches!(p, Piece::Write(_) | Piece::Removed));
        if changes && self.snapshot && self.archived.is_none() {
            self.start_snapshot(staged, i)?;
        }
        for piece in pieces {
            match piece {
                Piece::Stays { version } => {
                    self.out.counts.unchanged += 1;
                    if version != self.target {
                        self.versions_after.insert(version);
                    }
                }
                Piece::Failure(failure) => self.out.failures.push(failure),
                Piece::Write(rendered) => {
                    self.write(staged, rendered, i, read.as_ref())?;
                }
                Piece::Removed => self.remove_original(staged, path, read.as_ref())?,
                Piece::Error(e) => return Err(e),
            }
        }
        if self.archived == Some(i) {
            self.archive(staged, i, read)?;
        }
        Ok(())
    }

    /// The run changes its first document, `first`: the snapshot begins,
    /// with every document before it.
    fn start_snapshot(&mut self, staged: &mut Staged, first: usize) -> Result<(), ErrorKind> {
        let body = self.files.dir(Utf8Path::new(SNAPSHOT_BODY))?;
        staged.archive = Some(Streamed::new(&body)?);
        self.archiving.store(true, Ordering::Relaxed);
        self.archived = Some(0);
        for j in 0..first {
            self.archive(staged, j, None)?;
        }
        Ok(())
    }

    /// Adds document `i` to the snapshot, as `read` (or as on disk, when
    /// its worker did not read it).
    fn archive(
        &mut self,
        staged: &mut Staged,
        i: usize,
        read: Option<Read>,
    ) -> Result<(), ErrorKind> {
        let path = &self.records[i].0;
        let read = match read {
            Some(read) => read,
            None => work::read(self.store, path)?,
        };
        if let Some(archive) = &mut staged.archive {
            archive.add(path, &read.bytes, read.meta)?;
        }
        self.archived = Some(i + 1);
        Ok(())
    }

    /// Checks a document the plan has run on and stages it, or counts it
    /// as unchanged when its bytes are.
    fn write(
        &mut self,
        staged: &mut Staged,
        rendered: Rendered,
        index: usize,
        original: Option<&Read>,
    ) -> Result<(), ErrorKind> {
        let Rendered {
            path: new_path,
            is_original,
            same_place,
            bytes,
        } = rendered;
        let records = self.records;
        let path = &records[index].0;
        if !same_place && let Some(reason) = self.store.unwritable(&new_path) {
            return Err(ErrorKind::BadPath {
                path: new_path,
                reason: format!("{reason} (moved or created from {path})"),
            });
        }
        // Two documents may not land on one path, nor on paths that differ
        // only in case (one file on macOS and Windows).
        let claimed = (self.claimed).claim(records, &new_path, index, same_place);
        if let Some(first) = claimed {
            return Err(ErrorKind::BadPath {
                path: new_path,
                reason: format!(
                    "both {first} and {path} would be written here (or to a path that differs \
                     only in case)"
                ),
            });
        }
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(why) => {
                let (listed, total) = &mut self.unwritable;
                *total += 1;
                if listed.len() < 100 {
                    listed.push(why);
                }
                return Ok(());
            }
        };
        if is_original && !same_place {
            self.remove_original(staged, path, original)?;
        }
        let old_bytes = original.filter(|_| same_place).map(|r| r.bytes.as_slice());
        if old_bytes == Some(bytes.as_slice()) {
            self.out.counts.unchanged += 1;
            return Ok(());
        }
        let kind = if same_place {
            if let Some(read) = original {
                refuse_linked(path, read)?;
            }
            self.out.counts.changed += 1;
            ChangeKind::Changed
        } else {
            self.out.counts.created += 1;
            self.created.push(new_path.clone());
            ChangeKind::Created
        };
        let diff = (self.out.changes.len() < self.run.options.diff_limit).then(|| {
            let old = old_bytes.map(String::from_utf8_lossy).unwrap_or_default();
            report::diff(new_path.as_str(), &old, &String::from_utf8_lossy(&bytes))
        });
        self.out.changes.push(Change {
            path: new_path.clone(),
            kind,
            diff,
        });
        // A dry run says it too: the commit would fail.
        self.files.check_device(self.store.root(), &new_path)?;
        if !self.run.dry_run() {
            // A document moved or made from this one takes its mode and
            // owner too: one made from a private document stays private.
            self.files.write(&new_path, &bytes, original)?;
            // Claimed above: no other write has this path.
            staged.writes.push(Op::Write {
                path: new_path,
                blake3: blake3::hash(&bytes),
                was: original.filter(|_| same_place).map(|r| r.seen),
            });
        }
        Ok(())
    }

    /// The run's document at `path` goes away (removed, or moved elsewhere).
    fn remove_original(
        &mut self,
        staged: &mut Staged,
        path: &Utf8Path,
        read: Option<&Read>,
    ) -> Result<(), ErrorKind> {
        if let Some(read) = read {
            refuse_linked(path, read)?;
        }
        // The commit moves it aside into the staging folder, by a rename.
        self.files.check_device(self.store.root(), path)?;
        staged.removes.push((path.to_owned(), read.map(|r| r.seen)));
        self.out.counts.removed += 1;
        self.out.changes.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Removed,
            diff: None,
        });
        Ok(())
    }

    /// Adds to `folders` each folder above `path` that the store does not
    /// have: the commit makes it, a restore removes it.
    fn new_folders(&self, path: &Utf8Path, folders: &mut BTreeSet<Utf8PathBuf>) {
        for folder in path.ancestors().skip(1) {
            if folder.as_str().is_empty()
                || folders.contains(folder)
                || fs::symlink_metadata(self.store.root().join(folder)).is_ok()
            {
                break;
            }
            folders.insert(folder.to_owned());
        }
    }

    /// Checks the paths the run creates, ends the snapshot's list of
    /// documents, and makes the staged files durable.
    fn finish(&mut self, staged: &mut Staged) -> Result<(), ErrorKind> {
        let removed: BTreeSet<_> = staged.removes.iter().map(|(p, _)| p.clone()).collect();
        let mut folders = BTreeSet::new();
        for path in std::mem::take(&mut self.created) {
            if fs::symlink_metadata(self.store.root().join(&path)).is_err() {
                self.new_folders(&path, &mut folders);
                self.out.created.push(path);
            } else if !removed.contains(&path) {
                return Err(ErrorKind::BadPath {
                    path,
                    reason: "a step creates or moves a document here, but a file is already there"
                        .to_owned(),
                });
            }
        }
        // Sorted, a folder comes before the folders in it.
        self.out.created_folders = folders.into_iter().collect();
        if let Some(archived) = self.archived {
            for i in archived..self.records.len() {
                self.archive(staged, i, None)?;
            }
        }
        // A path written by this run replaces its old file by the rename; it
        // must not also be removed after it.
        let Staged {
            writes, removes, ..
        } = staged;
        writes.sort_unstable_by(|a, b| a.path().cmp(b.path()));
        removes.retain(
            |(p, was)| match writes.binary_search_by(|w| w.path().cmp(p)) {
                // The write replaces the document that goes away from here: it
                // is what the write must find there.
                Ok(i) => {
                    writes[i].expect(*was);
                    false
                }
                Err(_) => true,
            },
        );
        if !self.run.dry_run() && !writes.is_empty() {
            let staging = &self.files.staging;
            let files = writes.iter().map(|w| staging.join(w.path()));
            fsio::sync_files(staging, files).map_err(io("sync staged files in", staging))?;
            let dirs = staged_dirs(staging, writes.iter().map(Op::path), self.store.root());
            fsio::sync_dirs(staging, dirs.iter().map(Utf8PathBuf::as_path))
                .map_err(io("sync", staging))?;
        }
        Ok(())
    }
}

/// Refuses to replace or remove the document at `path`, `read`, when it has
/// other names (hard links): the run puts a new file in its place, and the
/// other names would keep the old content, outside the run's snapshot.
fn refuse_linked(path: &Utf8Path, read: &Read) -> Result<(), ErrorKind> {
    if read.seen.links <= 1 {
        return Ok(());
    }
    Err(ErrorKind::BadPath {
        path: path.to_owned(),
        reason: format!(
            "it has {} hard links; a run puts a new file in its place, and the other names \
             would keep the old content: give it a file of its own (`cp` it over itself \
             through a new name), or exclude it",
            read.seen.links
        ),
    })
}

/// Every folder that holds a staged file, deepest first, then the staging
/// folders up to the store root: syncing them all makes the staged files
/// durable before the journal refers to them.
pub(super) fn staged_dirs<'a>(
    staging: &Utf8Path,
    writes: impl IntoIterator<Item = &'a Utf8Path>,
    root: &Utf8Path,
) -> Vec<Utf8PathBuf> {
    let mut dirs = BTreeSet::new();
    for path in writes {
        let mut dir = staging.join(path);
        while dir.pop() && dir.starts_with(staging) {
            dirs.insert(dir.clone());
        }
    }
    let mut out: Vec<Utf8PathBuf> = dirs.into_iter().rev().collect();
    let mut dir = staging.to_owned();
    while dir.pop() && dir.starts_with(root) && dir != root {
        out.push(dir.clone());
    }
    out
}

#[cfg(test)]
mod tests;
