//! Stage and validate: the steps run on copies of the documents, written
//! under `.verchain/staging/`; a dry run stops here.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};

use super::{Detected, Move, Run, Staged};
use crate::run::{
    Change, ChangeKind, ErrorKind, Event, RunError, Stage, Ticker, ValidationFailure, call_step,
    io, report,
};
use crate::snapshot;
use crate::{Chain, Document, format, fsio};

impl<'s, C: Chain<Record = Document>> Run<'s, C> {
    /// Removes a run's staging folder; the store is untouched by it.
    pub(super) fn discard(&self, staging_rel: &Utf8Path) {
        let _ = fs::remove_dir_all(self.store.root().join(staging_rel));
    }

    /// Runs the plan on every document that needs it, writing results to
    /// staging (or, in a dry run, only diffing them).
    pub(super) fn stage(
        &self,
        detected: &Detected,
        plan: &[Move<'_>],
        target: u32,
        staging_rel: &Utf8Path,
    ) -> Result<Staged, RunError> {
        let fail = |k| self.fail(Stage::Stage, k);
        let staging = self.store.root().join(staging_rel);
        let mut staged = Staged::default();
        let mut claimed: BTreeMap<String, Utf8PathBuf> = BTreeMap::new();
        let mut created: Vec<Utf8PathBuf> = Vec::new();
        for m in plan {
            self.emit(Event::StepStarted {
                step: m.meta.id,
                from: m.from,
                to: m.to,
            });
        }
        let mut ticker = Ticker::start(
            self.options.observer.as_ref(),
            Stage::Stage,
            detected.docs.len(),
        );
        for (path, version) in &detected.docs {
            ticker.tick();
            if *version == target {
                staged.counts.unchanged += 1;
                continue;
            }
            let start = plan.iter().position(|m| m.from == *version);
            if start.is_none() && self.info.operator_override {
                staged.counts.unchanged += 1;
                staged.versions_after.insert(*version);
                continue;
            }
            let start = start.ok_or_else(|| {
                fail(ErrorKind::BadPath {
                    path: path.clone(),
                    reason: format!(
                        "is at version {version}, which no step of this run leaves (target {target})"
                    ),
                })
            })?;
            let (doc, parsed) = self.read(path).map_err(fail)?;
            let original = self.store.root().join(path);
            let mut work = vec![(doc, start, true)];
            while let Some((mut doc, start, is_original)) = work.pop() {
                let mut removed = false;
                for m in &plan[start..] {
                    let before = doc.clone();
                    self.apply(m, &mut doc)?;
                    let counts = staged.per_step.entry(m.meta.id).or_default();
                    if let Some(verify) = m.verify
                        && let Err(e) = verify(&doc)
                    {
                        self.invalid(
                            &mut staged.failures,
                            ValidationFailure {
                                path: doc.path().to_owned(),
                                step: Some(m.meta.id),
                                version: m.to,
                                message: e.to_string(),
                            },
                        );
                    }
                    // Documents the step created go on, whatever it did to this one.
                    let removed_now = doc.is_removed();
                    let moved = doc.moved_to().is_some();
                    let children = doc.settle();
                    let next = plan
                        .iter()
                        .position(|n| n.from == m.to)
                        .unwrap_or(plan.len());
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
                        staged.remove_original(path);
                    }
                    continue;
                }
                doc.set(C::VERSION_KEY, target);
                if let Some(Err(e)) = C::check_schema(target, &doc) {
                    self.invalid(
                        &mut staged.failures,
                        ValidationFailure {
                            path: doc.path().to_owned(),
                            step: None,
                            version: target,
                            message: e.to_string(),
                        },
                    );
                }
                let new_path = doc.path().to_owned();
                let same_place = is_original && new_path == *path;
                if !same_place && let Some(reason) = self.store.unwritable(&new_path) {
                    return Err(fail(ErrorKind::BadPath {
                        path: new_path,
                        reason: format!("{reason} (moved or created from {path})"),
                    }));
                }
                // Two documents may not land on one path, nor on paths that
                // differ only in case (one file on macOS and Windows).
                if let Some(first) = claimed.insert(new_path.as_str().to_lowercase(), path.clone())
                {
                    return Err(fail(ErrorKind::BadPath {
                        path: new_path,
                        reason: format!(
                            "both {first} and {path} would be written here (or to a path that \
                             differs only in case)"
                        ),
                    }));
                }
                let format = self.store.format_of(&new_path).ok_or_else(|| {
                    fail(ErrorKind::BadPath {
                        path: new_path.clone(),
                        reason: "has no document format this store reads".to_owned(),
                    })
                })?;
                // The original's layout carries over, moved or not, unless the
                // format changes.
                let bytes = if is_original && format == parsed.format() {
                    format::render(&parsed, &doc)
                } else {
                    format::render_new(format, &doc)
                }
                .map_err(|e| fail(e.into()))?;
                if is_original && !same_place {
                    staged.remove_original(path);
                }
                let old_bytes = same_place.then(|| parsed.original());
                if old_bytes.as_deref() == Some(bytes.as_slice()) {
                    staged.counts.unchanged += 1;
                    continue;
                }
                let kind = if same_place {
                    staged.counts.changed += 1;
                    ChangeKind::Changed
                } else {
                    staged.counts.created += 1;
                    created.push(new_path.clone());
                    ChangeKind::Created
                };
                let diff = (staged.changes.len() < self.options.diff_limit).then(|| {
                    let old = old_bytes
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    report::diff(new_path.as_str(), &old, &String::from_utf8_lossy(&bytes))
                });
                staged.changes.push(Change {
                    path: new_path.clone(),
                    kind,
                    diff,
                });
                if !self.options.dry_run {
                    self.write_staged(&staging, &new_path, &bytes, same_place.then_some(&original))
                        .map_err(fail)?;
                    staged.writes.insert(new_path, snapshot::blake3_hex(&bytes));
                }
            }
        }
        for m in plan {
            self.emit(Event::StepFinished {
                step: m.meta.id,
                from: m.from,
                to: m.to,
                counts: staged.per_step.get(m.meta.id).copied().unwrap_or_default(),
            });
        }
        let removed: BTreeSet<_> = staged.removes.iter().collect();
        for path in created {
            if fs::symlink_metadata(self.store.root().join(&path)).is_err() {
                staged.created.push(path);
            } else if !removed.contains(&path) {
                return Err(fail(ErrorKind::BadPath {
                    path,
                    reason: "a step creates or moves a document here, but a file is already there"
                        .to_owned(),
                }));
            }
        }
        // A path written by this run replaces its old file by the rename; it
        // must not also be removed after it.
        let Staged {
            writes, removes, ..
        } = &mut staged;
        removes.retain(|p| !writes.contains_key(p));
        if !self.options.dry_run && !staged.writes.is_empty() {
            let files: Vec<Utf8PathBuf> = staged.writes.keys().map(|p| staging.join(p)).collect();
            fsio::sync_files(&staging, files.iter().map(Utf8PathBuf::as_path))
                .map_err(|e| fail(io("sync staged files in", &staging)(e)))?;
            for dir in staged_dirs(&staging, staged.writes.keys(), self.store.root()) {
                fsio::sync_dir(&dir).map_err(|e| fail(io("sync", &dir)(e)))?;
            }
        }
        Ok(staged)
    }

    /// Records a validation failure and tells the observer.
    fn invalid(&self, failures: &mut Vec<ValidationFailure>, failure: ValidationFailure) {
        self.emit(Event::ValidationFailed {
            failure: failure.clone(),
        });
        failures.push(failure);
    }

    /// Runs one step on one document, turning an error or a panic into a
    /// run error that names both.
    fn apply(&self, m: &Move<'_>, doc: &mut Document) -> Result<(), RunError> {
        let path = doc.path().to_owned();
        call_step(m.meta.id, m.from, m.to, &path, || (m.body)(doc))
            .map_err(|k| self.fail(Stage::Stage, k))
    }

    fn write_staged(
        &self,
        staging: &Utf8Path,
        path: &Utf8Path,
        bytes: &[u8],
        original: Option<&Utf8PathBuf>,
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
        // Made durable with every other staged file, before the journal.
        Ok(())
    }
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
