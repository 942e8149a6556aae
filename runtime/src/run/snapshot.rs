//! Snapshot: the store as it was before a run, taken before the commit
//! (a transactional store takes it when its transaction begins and hands
//! it over here). Also what every store shares about its snapshot folder:
//! finding a snapshot by id (ids read from a journal or a history are
//! checked like ids a user types), listing newest first, pruning.

use std::fs;
use std::io;

use super::Run;
use super::error::{ErrorKind, RunError, Stage, io};
use super::event::Event;
use camino::{Utf8Path, Utf8PathBuf};

use super::store::{SnapshotEntry, Store};
use crate::clock::Instant;
use crate::snapshot::{Manifest, SnapshotError, SnapshotInfo};

/// The store's snapshots, newest first.
pub fn snapshots(store: &impl Store) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    store.open(
        super::store::Purpose::Read,
        &super::RunOptions::default().reading(),
    )?;
    list(&store.snapshot_dir(), store.snapshots())
}

/// Removes all but the newest `keep` snapshots of the store of chain `C`;
/// returns the removed ones. Takes the store's lock, so that no run is
/// using them.
pub fn prune_snapshots<C: crate::Chain>(
    store: &impl Store<Record = C::Record>,
    keep: usize,
) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    let _held = super::lock::hold(
        store,
        super::store::Purpose::Prune,
        &super::RunOptions::default(),
        &super::RunInfo::new(C::NAME),
    )?;
    prune(&store.snapshot_dir(), store.snapshots(), keep)
}

/// Takes the snapshot of the store as it is before the commit, if the run
/// changes anything a snapshot keeps; returns its id.
pub(crate) fn take<S: Store>(
    store: &S,
    staged: &mut S::Staged<'_>,
    run: &Run<'_, S::Record>,
    from: u32,
    to: u32,
) -> Result<Option<String>, RunError> {
    let taken = store
        .snapshot(staged, run, from, to)
        .map_err(|k| run.fail(Stage::Snapshot, k))?;
    Ok(taken.map(|taken| {
        run.emit(Event::SnapshotWritten {
            id: taken.id.clone(),
            files: taken.files,
        });
        taken.id
    }))
}

/// Whether `id` names a snapshot and nothing else: a plain name in the
/// snapshot folder, never a path that leads out of it.
pub(crate) fn is_plain_id(id: &str) -> bool {
    crate::contain::snapshot_id_problem(id).is_none()
}

/// Snapshot `id` of `store` (given with or without its file name's
/// suffix), wherever the id comes from: a user, a journal or a history.
/// An id that is not a plain name is refused before any path is made of it.
pub(crate) fn entry<S: Store>(store: &S, id: &str) -> Result<SnapshotEntry, ErrorKind> {
    let format = store.snapshots();
    let id = format.strip(id);
    if !is_plain_id(id) {
        return Err(ErrorKind::NoSnapshot(format!(
            "`{id}` is not a snapshot name; `snapshots` lists them"
        )));
    }
    let mut path = format.path_of(&store.snapshot_dir(), id);
    if let Some(former) = store.former_snapshot_dir()
        && fs::symlink_metadata(&path).is_err()
    {
        let there = format.path_of(&former, id);
        if fs::symlink_metadata(&there).is_ok() {
            path = there;
        }
    }
    Ok(SnapshotEntry {
        id: id.to_owned(),
        path,
    })
}

/// Removes a snapshot; one that is already gone is fine.
pub(crate) fn remove<S: Store>(store: &S, snapshot: &SnapshotEntry) -> Result<(), ErrorKind> {
    removed_path(store.snapshots(), &snapshot.path)
}

/// Removes the snapshot at `path`; one that is already gone is fine.
fn removed_path(format: &dyn SnapshotFormat, path: &Utf8Path) -> Result<(), ErrorKind> {
    match crate::fsio::point("remove", path).and_then(|()| format.remove(path)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

/// The snapshots in `dir`, kept as `format` says, that can be read, newest
/// first, and the errors of the ones whose manifest cannot be.
pub(crate) fn scan(
    dir: &Utf8Path,
    format: &dyn SnapshotFormat,
) -> Result<(Vec<SnapshotInfo>, Vec<SnapshotError>), ErrorKind> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(io("read folder", dir)(e)),
    };
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("read folder", dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let Some(id) = format.id_of(&name, is_dir) else {
            continue;
        };
        let path = format.path_of(dir, id);
        match format.manifest(&path) {
            Ok(manifest) => found.push(SnapshotInfo {
                id: id.to_owned(),
                size: format.size(&path),
                path,
                manifest,
            }),
            Err(error) => unreadable.push(error),
        }
    }
    found.sort_by(newest_first);
    Ok((found, unreadable))
}

/// The snapshots in `dir`, newest first; refused when one of them cannot
/// be read (its error says which, and how many).
pub(crate) fn list(
    dir: &Utf8Path,
    format: &dyn SnapshotFormat,
) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    let (found, mut unreadable) = scan(dir, format)?;
    if unreadable.is_empty() {
        return Ok(found);
    }
    Err(ErrorKind::Snapshot(SnapshotError::Unreadable {
        dir: dir.to_owned(),
        count: unreadable.len(),
        first: Box::new(unreadable.swap_remove(0)),
    }))
}

/// Removes all but the `keep` newest readable snapshots in `dir`; returns
/// the removed ones, newest first. Snapshots that cannot be read are left
/// alone.
pub(crate) fn prune(
    dir: &Utf8Path,
    format: &dyn SnapshotFormat,
    keep: usize,
) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    let (mut found, _) = scan(dir, format)?;
    if found.len() <= keep {
        return Ok(Vec::new());
    }
    let removed = found.split_off(keep);
    for info in &removed {
        removed_path(format, &info.path)?;
    }
    crate::fsio::sync_dir(dir).map_err(io("sync", dir))?;
    Ok(removed)
}

/// Newest first by the manifest's `created`, then by the id's counter (so
/// `…-2` comes before the snapshot of the same second it follows), then by
/// id.
fn newest_first(a: &SnapshotInfo, b: &SnapshotInfo) -> std::cmp::Ordering {
    let created = |info: &SnapshotInfo| Instant::parse_rfc3339(&info.manifest.created);
    created(b)
        .cmp(&created(a))
        .then_with(|| counter(b).cmp(&counter(a)))
        .then_with(|| b.id.cmp(&a.id))
}

/// The `-N` suffix of an id, 1 without one.
fn counter(info: &SnapshotInfo) -> u32 {
    info.id
        .rsplit_once('-')
        .filter(|(stem, _)| stem.contains("_to_v"))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

/// How a kind of store keeps its snapshots in its snapshot folder.
#[doc(hidden)]
pub trait SnapshotFormat: Sync {
    /// The id of the snapshot a folder entry named `name` is, if it is one
    /// (`is_dir`: the entry is a folder).
    fn id_of<'n>(&self, name: &'n str, is_dir: bool) -> Option<&'n str>;
    /// The id a user means by `given`, which may carry a snapshot file's
    /// suffix.
    fn strip<'n>(&self, given: &'n str) -> &'n str {
        self.id_of(given, false).unwrap_or(given)
    }
    /// Where snapshot `id` is in `dir`.
    fn path_of(&self, dir: &Utf8Path, id: &str) -> Utf8PathBuf;
    /// Reads the manifest of the snapshot at `path`, checked.
    fn manifest(&self, path: &Utf8Path) -> Result<Manifest, SnapshotError>;
    /// How many bytes the snapshot takes.
    fn size(&self, path: &Utf8Path) -> u64;
    /// Removes the snapshot.
    fn remove(&self, path: &Utf8Path) -> std::io::Result<()>;
}
