//! Staging a snapshot restore: the archive is verified and extracted under
//! `.verchain/staging/<run id>/` (a dry run only verifies it), each path it
//! holds must be a document path of this store, and the paths the undone
//! runs created are removed. The commit then goes through the same journal
//! as a run's.

use std::collections::BTreeSet;
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};

use super::FolderStore;
use super::journal::Op;
use super::stage::{SNAPSHOT_BODY, staged_dirs};
use super::store::Staged;
use super::work;
use crate::run::store::{Restoring, SnapshotEntry, Undo};
use crate::run::{Change, ChangeKind, Counts, ErrorKind, Run, STATE_DIR, io};
use crate::snapshot::{self, FileMeta, Manifest, ManifestEntry, SnapshotError, Streamed};
use crate::{Document, fsio};

/// Stages the restore of `snapshot`, undoing `undo`.
pub(super) fn stage(
    store: &FolderStore,
    run: &Run<'_, Document>,
    snapshot: &SnapshotEntry,
    undo: &Undo,
) -> Result<(Staged, Restoring), ErrorKind> {
    let mut staged = Staged::new(run.id(), undo.stamp_before);
    staged.stamp = undo.stamp_before;
    let staging = store.root().join(&staged.staging);
    let prepared = (|| {
        let (manifest, extracted) = if run.dry_run() {
            (snapshot::verify(&snapshot.path)?, None)
        } else {
            let wanted = |entry: &ManifestEntry| !unchanged(store.root(), entry);
            let (manifest, extracted) = snapshot::extract_where(&snapshot.path, &staging, &wanted)?;
            (manifest, Some(extracted))
        };
        for file in &manifest.files {
            writable(store, Utf8Path::new(&file.path), "in the snapshot")?;
        }
        // A snapshot of no run in effect puts the store back at the version
        // it was taken at, stamp included (a rollback's, undoing it).
        if !undo.undoes_runs {
            staged.stamp = Some(manifest.from_version);
        }
        let removes = removable(store, undo, &manifest)?;
        staged.remove_folders = added_folders(store, undo)?;
        if !run.dry_run() {
            let dirs = staged_dirs(&staging, [], store.root());
            let dirs = dirs.iter().chain([&staging]).map(Utf8PathBuf::as_path);
            fsio::sync_dirs(store.root(), dirs).map_err(io("sync", &staging))?;
        }
        staged.removes = removes.into_iter().map(|p| (p, None)).collect();
        // The store's version now is its stamp, where it has one (the
        // snapshot's last version otherwise): what the snapshot this
        // restore takes of the store says it was taken at.
        let now = crate::run::store::Store::stamp(store, &mut (), &run.chain)?;
        let mut restoring = restoring(&snapshot.path, manifest, extracted, &mut staged)?;
        restoring.from = now.or(restoring.from);
        if !run.dry_run() && !run.options.no_snapshot {
            staged.archive = archive_before(store, &staging, &staged)?;
        }
        Ok::<_, ErrorKind>(restoring)
    })();
    let restoring = prepared.inspect_err(|_| {
        store.remove_staging(&staged.staging);
    })?;
    Ok((staged, restoring))
}

/// The snapshot of what the restore `staged` changes, as the store holds it
/// now, so that restoring it undoes the restore: each document it rewrites
/// or removes that is there, read once, in the order of their paths.
/// `None` when it changes no document.
fn archive_before(
    store: &FolderStore,
    staging: &Utf8Path,
    staged: &Staged,
) -> Result<Option<Streamed>, ErrorKind> {
    let mut changed: Vec<&Utf8Path> = (staged.writes.iter().map(Op::path))
        .chain(staged.removes.iter().map(|(p, _)| p.as_path()))
        .collect();
    changed.sort_unstable();
    changed.dedup();
    if changed.is_empty() {
        return Ok(None);
    }
    let mut archive = Streamed::new(&staging.join(SNAPSHOT_BODY))?;
    for path in changed {
        let full = store.root().join(path);
        match fs::symlink_metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("inspect", &full)(e)),
            // A folder holds no document of its own: the commit refuses to
            // replace it, and puts back what it did.
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {}
        }
        let read = work::read(store, path)?;
        archive.add(path, &read.bytes, read.meta)?;
    }
    Ok(Some(archive))
}

/// The BLAKE3 the manifest of `archive` lists for `entry`.
fn hash_of(archive: &Utf8Path, entry: &ManifestEntry) -> Result<blake3::Hash, SnapshotError> {
    blake3::Hash::from_hex(&entry.blake3).map_err(|e| SnapshotError::InvalidManifest {
        archive: archive.to_owned(),
        reason: format!("entry {}: BLAKE3 `{}`: {e}", entry.path, entry.blake3),
    })
}

/// Whether the store's file at `entry`'s path is what the snapshot holds
/// there: a regular file with the same attributes, size and content.
fn unchanged(root: &Utf8Path, entry: &ManifestEntry) -> bool {
    let Some(meta) = entry.meta else {
        return false;
    };
    let path = root.join(&entry.path);
    let same_file = fs::symlink_metadata(&path).is_ok_and(|found| {
        found.is_file() && found.len() == entry.size && FileMeta::of(&found) == meta
    });
    same_file && crate::contain::blake3_of(&path).is_ok_and(|b| b.as_ref() == Some(&entry.blake3))
}

/// The paths the undone runs created that the snapshot does not hold.
fn removable(
    store: &FolderStore,
    undo: &Undo,
    manifest: &Manifest,
) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
    let mut created: BTreeSet<&str> = undo.created.iter().map(String::as_str).collect();
    for file in &manifest.files {
        if created.is_empty() {
            break;
        }
        created.remove(file.path.as_str());
    }
    (undo.created.iter())
        .filter(|p| created.remove(p.as_str()))
        .map(|p| {
            writable(
                store,
                Utf8Path::new(p),
                "listed in the history as created by a run",
            )
        })
        .collect()
}

/// The folders the undone runs added, each before the folders in it, once
/// each checked to be one of the store's own (not its state folder, no
/// link on the way).
fn added_folders(store: &FolderStore, undo: &Undo) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
    let folders: BTreeSet<&str> = undo.created_folders.iter().map(String::as_str).collect();
    (folders.into_iter())
        .map(|folder| {
            let path = Utf8Path::new(folder);
            let reason = if !crate::contain::is_plain(path) || path.starts_with(STATE_DIR) {
                Some(
                    "a folder of the store must be a relative path, without `..`, `.` or a \
                     root, outside the state folder",
                )
            } else {
                crate::contain::link_on_way(store.root(), path).map(|(_, reason)| reason)
            };
            match reason {
                None => Ok(path.to_owned()),
                Some(reason) => Err(ErrorKind::BadPath {
                    path: path.to_owned(),
                    reason: format!("listed in the history as a folder added by a run: {reason}"),
                }),
            }
        })
        .collect()
}

/// `path` if a restore may write or remove it; `source` says where the path
/// came from.
fn writable(store: &FolderStore, path: &Utf8Path, source: &str) -> Result<Utf8PathBuf, ErrorKind> {
    match store.unwritable(path) {
        None => Ok(path.to_owned()),
        Some(reason) => Err(ErrorKind::BadPath {
            path: path.to_owned(),
            reason: format!("{source}: {reason}"),
        }),
    }
}

/// What the restore does, as the report says it: every document of the
/// snapshot is restored, in the order of their paths, and the documents
/// `staged` removes are removed. Each one `extracted` (all of them, when
/// `None`: a dry run) is also a write of `staged`; a document the store
/// holds as the snapshot does is left as it is. The manifest's list of
/// files is taken apart as it goes.
fn restoring(
    archive: &Utf8Path,
    manifest: Manifest,
    extracted: Option<Vec<bool>>,
    staged: &mut Staged,
) -> Result<Restoring, SnapshotError> {
    let Manifest {
        from_version,
        to_version,
        files,
        ..
    } = manifest;
    let records = files.len();
    let mut changes = Vec::with_capacity(files.len() + staged.removes.len());
    let writes = extracted
        .as_ref()
        .map_or(records, |e| e.iter().filter(|x| **x).count());
    staged.writes.reserve_exact(writes);
    for (i, file) in files.into_iter().enumerate() {
        if extracted.as_ref().is_none_or(|e| e[i]) {
            let blake3 = hash_of(archive, &file)?;
            staged.writes.push(Op::Write {
                path: Utf8PathBuf::from(&file.path),
                blake3,
                was: None,
            });
        }
        changes.push(Change {
            path: Utf8PathBuf::from(file.path),
            kind: ChangeKind::Changed,
            diff: None,
        });
    }
    (staged.writes).sort_unstable_by(|a, b| a.path().cmp(b.path()));
    changes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let changed = changes.len();
    changes.extend(staged.removes.iter().map(|(p, _)| Change {
        path: p.clone(),
        kind: ChangeKind::Removed,
        diff: None,
    }));
    Ok(Restoring {
        from: Some(to_version),
        to: from_version,
        records,
        counts: Counts {
            changed,
            removed: staged.removes.len(),
            ..Counts::default()
        },
        changes,
    })
}
