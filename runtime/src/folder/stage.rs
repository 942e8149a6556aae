//! Stage: the steps run on each document that needs them, in memory; the
//! result is checked (each step's `verify`, the target's schema) and
//! written under `.verchain/staging/<run id>/`. A dry run only diffs it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};

use super::store::Staged;
use super::{FolderStore, FrontMatterPolicy};
use crate::format::Parsed;
use crate::run::plan::Move;
use crate::run::store::{Staging, Work};
use crate::run::{Change, ChangeKind, Counts, ErrorKind, Run, Stage, io, report};
use crate::snapshot;
use crate::{Document, format, fsio, load};

/// What staging learns on its way through the documents.
struct Pass<'w, 'r, 'o> {
    store: &'w FolderStore,
    run: &'r Run<'o, Document>,
    plan: &'w [Move<'w, Document>],
    target: u32,
    staging: Utf8PathBuf,
    out: Staging,
    /// The versions of documents an operator's override left alone.
    versions_after: BTreeSet<u32>,
    /// Every path written, lowercase, with the document it came from.
    claimed: BTreeMap<String, Utf8PathBuf>,
    /// Paths written that were not a document of the run before.
    created: Vec<Utf8PathBuf>,
}

/// Runs the plan on every document that needs it, writing the results to
/// staging (or, in a dry run, only diffing them).
pub(super) fn stage(
    store: &FolderStore,
    staged: &mut Staged,
    run: &Run<'_, Document>,
    work: &Work<'_, '_, FolderStore>,
) -> Result<Staging, ErrorKind> {
    let mut pass = Pass {
        store,
        run,
        plan: work.plan,
        target: work.target,
        staging: store.root().join(&staged.staging),
        out: Staging {
            per_step: vec![Counts::default(); work.plan.len()],
            ..Staging::default()
        },
        versions_after: BTreeSet::new(),
        claimed: BTreeMap::new(),
        created: Vec::new(),
    };
    for m in work.plan {
        run.step_started(m);
    }
    let mut ticker = run.ticker(Stage::Stage, work.detected.records.len());
    for (path, version) in &work.detected.records {
        ticker.tick();
        pass.document(staged, path, *version)?;
    }
    for (m, counts) in work.plan.iter().zip(&pass.out.per_step) {
        run.step_finished(m, *counts);
    }
    staged.keep = (work.detected.records.iter())
        .map(|(p, _)| p.clone())
        .collect();
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
    /// Runs the plan on the document at `path`, at `version`.
    fn document(
        &mut self,
        staged: &mut Staged,
        path: &Utf8PathBuf,
        version: u32,
    ) -> Result<(), ErrorKind> {
        if version == self.target {
            self.out.counts.unchanged += 1;
            return Ok(());
        }
        let start = self.plan.iter().position(|m| m.from == version);
        let Some(start) = start else {
            if self.run.info.operator_override {
                self.out.counts.unchanged += 1;
                self.versions_after.insert(version);
                return Ok(());
            }
            return Err(ErrorKind::BadPath {
                path: path.clone(),
                reason: format!(
                    "is at version {version}, which no step of this run leaves (target {})",
                    self.target
                ),
            });
        };
        let (doc, parsed) = self.store.read(path)?;
        let mut work = vec![(doc, start, true)];
        while let Some((mut doc, start, is_original)) = work.pop() {
            let mut removed = false;
            for (i, m) in self.plan.iter().enumerate().skip(start) {
                let before = doc.clone();
                if let Some(failure) = load::apply_step(m, &mut doc)? {
                    self.out.failures.push(failure);
                }
                // Documents the step created go on, whatever it did to this one.
                let removed_now = doc.is_removed();
                let moved = doc.moved_to().is_some();
                let children = doc.settle();
                let next = (self.plan.iter())
                    .position(|n| n.from == m.to)
                    .unwrap_or(self.plan.len());
                let counts = &mut self.out.per_step[i];
                for child in children {
                    counts.created += 1;
                    work.push((child, next, false));
                }
                if removed_now {
                    counts.removed += 1;
                    removed = true;
                    break;
                }
                if moved {
                    counts.created += 1;
                    counts.removed += 1;
                } else if doc == before {
                    counts.unchanged += 1;
                } else {
                    counts.changed += 1;
                }
            }
            if removed {
                if is_original {
                    self.remove_original(staged, path);
                }
                continue;
            }
            self.write(staged, doc, path, is_original, &parsed)?;
        }
        Ok(())
    }

    /// Checks a document the plan has run on and stages it, or counts it
    /// as unchanged when its bytes are.
    fn write(
        &mut self,
        staged: &mut Staged,
        mut doc: Document,
        path: &Utf8PathBuf,
        is_original: bool,
        parsed: &Parsed,
    ) -> Result<(), ErrorKind> {
        if let Some(failure) = load::after_steps(&mut doc, &self.run.chain, self.target) {
            self.out.failures.push(failure);
        }
        let new_path = doc.path().to_owned();
        let same_place = is_original && new_path == *path;
        if !same_place && let Some(reason) = self.store.unwritable(&new_path) {
            return Err(ErrorKind::BadPath {
                path: new_path,
                reason: format!("{reason} (moved or created from {path})"),
            });
        }
        // Two documents may not land on one path, nor on paths that differ
        // only in case (one file on macOS and Windows).
        if let Some(first) = (self.claimed).insert(new_path.as_str().to_lowercase(), path.clone()) {
            return Err(ErrorKind::BadPath {
                path: new_path,
                reason: format!(
                    "both {first} and {path} would be written here (or to a path that differs \
                     only in case)"
                ),
            });
        }
        let format = self
            .store
            .format_of(&new_path)
            .ok_or_else(|| ErrorKind::BadPath {
                path: new_path.clone(),
                reason: "has no document format this store reads".to_owned(),
            })?;
        // The original's layout carries over, moved or not, unless the format
        // changes.
        let bytes = if is_original && format == parsed.format() {
            match self.store.front_matter_policy() {
                FrontMatterPolicy::Add => format::render_adding_front_matter(parsed, &doc),
                _ => format::render(parsed, &doc),
            }
        } else {
            format::render_new(format, &doc)
        }?;
        if is_original && !same_place {
            self.remove_original(staged, path);
        }
        let old_bytes = same_place.then(|| parsed.original());
        if old_bytes.as_deref() == Some(bytes.as_slice()) {
            self.out.counts.unchanged += 1;
            return Ok(());
        }
        let kind = if same_place {
            self.out.counts.changed += 1;
            ChangeKind::Changed
        } else {
            self.out.counts.created += 1;
            self.created.push(new_path.clone());
            ChangeKind::Created
        };
        let diff = (self.out.changes.len() < self.run.options.diff_limit).then(|| {
            let old = old_bytes
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            report::diff(new_path.as_str(), &old, &String::from_utf8_lossy(&bytes))
        });
        self.out.changes.push(Change {
            path: new_path.clone(),
            kind,
            diff,
        });
        if !self.run.dry_run() {
            let original = same_place.then(|| self.store.root().join(path));
            write_staged(&self.staging, &new_path, &bytes, original.as_deref())?;
            staged.writes.insert(new_path, snapshot::blake3_hex(&bytes));
        }
        Ok(())
    }

    /// The run's document at `path` goes away (removed, or moved elsewhere).
    fn remove_original(&mut self, staged: &mut Staged, path: &Utf8Path) {
        staged.removes.push(path.to_owned());
        self.out.counts.removed += 1;
        self.out.changes.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Removed,
            diff: None,
        });
    }

    /// Checks the paths the run creates and makes the staged files durable.
    fn finish(&mut self, staged: &mut Staged) -> Result<(), ErrorKind> {
        let removed: BTreeSet<_> = staged.removes.iter().cloned().collect();
        for path in std::mem::take(&mut self.created) {
            if fs::symlink_metadata(self.store.root().join(&path)).is_err() {
                self.out.created.push(path);
            } else if !removed.contains(&path) {
                return Err(ErrorKind::BadPath {
                    path,
                    reason: "a step creates or moves a document here, but a file is already there"
                        .to_owned(),
                });
            }
        }
        // A path written by this run replaces its old file by the rename; it
        // must not also be removed after it.
        let Staged {
            writes, removes, ..
        } = staged;
        removes.retain(|p| !writes.contains_key(p));
        if !self.run.dry_run() && !writes.is_empty() {
            let staging = &self.staging;
            let files: Vec<Utf8PathBuf> = writes.keys().map(|p| staging.join(p)).collect();
            fsio::sync_files(staging, files.iter().map(Utf8PathBuf::as_path))
                .map_err(io("sync staged files in", staging))?;
            for dir in staged_dirs(staging, writes.keys(), self.store.root()) {
                fsio::sync_dir(&dir).map_err(io("sync", &dir))?;
            }
        }
        Ok(())
    }
}

/// Writes one staged file, with the permissions of the document it
/// replaces; it is made durable with every other staged file, before the
/// journal.
fn write_staged(
    staging: &Utf8Path,
    path: &Utf8Path,
    bytes: &[u8],
    original: Option<&Utf8Path>,
) -> Result<(), ErrorKind> {
    let target = staging.join(path);
    if let Some(parent) = target.parent() {
        fsio::create_dir_all(parent).map_err(io("create", parent))?;
    }
    fsio::point("stage", &target).map_err(io("stage", &target))?;
    let mut file = fs::File::create(&target).map_err(io("stage", &target))?;
    fsio::write_all(&mut file, "write", &target, bytes).map_err(io("stage", &target))?;
    if let Some(original) = original {
        let permissions = fs::metadata(original)
            .map_err(io("inspect", original))?
            .permissions();
        fsio::point("set permissions of", &target)
            .and_then(|()| file.set_permissions(permissions))
            .map_err(io("set permissions of", &target))?;
    }
    Ok(())
}

/// Every folder that holds a staged file, deepest first, then the staging
/// folders up to the store root: syncing them all makes the staged files
/// durable before the journal refers to them.
pub(super) fn staged_dirs<'a>(
    staging: &Utf8Path,
    writes: impl IntoIterator<Item = &'a Utf8PathBuf>,
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
