//! Leftovers: what a run that never committed left behind — staged files,
//! temporary files, a scratch copy, and the snapshot it took before it was
//! killed. `status` lists them with their sizes; the next run removes them
//! once it holds the lock and has recovered.
//!
//! A run that may take a snapshot first leaves a marker beside the lock
//! file, named after the run (`<lock>.<run id>.pending`), and removes it
//! when it ends. A marker still there names a run that was killed: its
//! snapshots (their manifests carry the run's id) are leftovers unless the
//! history says it committed. Snapshots a user put in the folder carry no marked
//! run's id, and are never touched.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::error::{ErrorKind, RunError, io};
use super::history::Outcome;
use super::snapshot;
use super::store::{SnapshotFormat, Store};
use crate::fsio;

/// Something a run that never committed left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// Where it is.
    pub path: Utf8PathBuf,
    /// How many bytes it takes (a folder: its files together).
    pub size: u64,
}

/// One thing left behind: a snapshot goes as its format says (a database
/// copy with its manifest), anything else as a file or folder.
pub(crate) struct Found {
    path: Utf8PathBuf,
    snapshot: bool,
}

impl Found {
    fn file(path: Utf8PathBuf) -> Self {
        Found {
            path,
            snapshot: false,
        }
    }

    fn remove(&self, format: &dyn SnapshotFormat) -> io::Result<()> {
        fsio::point("remove", &self.path)?;
        let removed = match self.snapshot {
            true => format.remove(&self.path),
            false => remove(&self.path),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The suffix of a run's marker.
const MARKER: &str = ".pending";

/// The marker of run `run_id`, beside the store's lock file.
fn marker(store: &impl Store, run_id: &str) -> Utf8PathBuf {
    let lock = store.lock_path();
    let name = lock.file_name().unwrap_or("lock");
    lock.with_file_name(format!("{name}.{run_id}{MARKER}"))
}

/// Marks run `run_id` as one that may take a snapshot, before it takes
/// one: a crash from here on leaves the marker for the next run.
pub(crate) fn mark(store: &impl Store, run_id: &str) -> Result<(), ErrorKind> {
    let path = marker(store, run_id);
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    // A store locked elsewhere (a server's lock) may have no state folder
    // yet; the snapshot goes under it.
    let marked = fsio::create_dir_all(dir)
        .and_then(|()| fsio::point("create", &path))
        .and_then(|()| fsio::create(&path))
        .and_then(|_| fsio::sync_dir(dir));
    if marked.is_err() {
        let _ = fs::remove_file(&path);
    }
    marked.map_err(io("create", &path))
}

/// Ends the mark of run `run_id`, however it ended: a run that committed
/// has its snapshot in the history, and one that failed with no commit
/// pending has its snapshot removed here; either way the marker goes. A
/// run that left a commit journal keeps both for the recovery that
/// resolves it. Best effort: what is not removed, the next run removes.
pub(crate) fn settle<S: Store, T>(
    store: &S,
    session: &mut S::Session,
    run_id: &str,
    result: &Result<T, RunError>,
) {
    if result.is_err() {
        if !matches!(store.journal(session), Ok(None)) {
            return;
        }
        let Ok(snapshots) = uncommitted(store, session, run_id) else {
            return;
        };
        if snapshots
            .iter()
            .any(|s| s.remove(store.snapshots()).is_err())
        {
            return;
        }
    }
    let _ = Found::file(marker(store, run_id)).remove(store.snapshots());
}

/// What runs that never committed left, in the order to remove it (a
/// run's marker after its snapshots, so that a crash while removing them
/// leaves the marker to finish with).
fn find<S: Store>(store: &S, session: &mut S::Session) -> Result<Vec<Found>, ErrorKind> {
    let mut found: Vec<Found> = (store.leftovers(session)?.into_iter())
        .map(Found::file)
        .collect();
    let dir = store.snapshot_dir();
    found.extend(names(&dir)?.into_iter().filter_map(|name| {
        // A snapshot being written, under a hidden name until it is whole.
        let partial =
            name.starts_with('.') && (name.ends_with(".partial") || name.ends_with(".tmp"));
        partial.then(|| Found::file(dir.join(name)))
    }));
    let lock = store.lock_path();
    let prefix = format!("{}.", lock.file_name().unwrap_or("lock"));
    let state = lock.parent().unwrap_or(Utf8Path::new("."));
    for name in names(state)? {
        let Some(run_id) = (name.strip_prefix(&prefix)).and_then(|n| n.strip_suffix(MARKER)) else {
            continue;
        };
        found.extend(uncommitted(store, session, run_id)?);
        found.push(Found::file(state.join(&name)));
    }
    Ok(found)
}

/// What [`find`] finds, with sizes, for `status`.
pub(crate) fn list<S: Store>(
    store: &S,
    session: &mut S::Session,
) -> Result<Vec<Leftover>, ErrorKind> {
    let format = store.snapshots();
    Ok(find(store, session)?
        .into_iter()
        .map(|found| Leftover {
            size: match found.snapshot {
                true => format.size(&found.path),
                false => size_of(&found.path),
            },
            path: found.path,
        })
        .collect())
}

/// Removes what [`find`] finds.
pub(crate) fn remove_all<S: Store>(store: &S, session: &mut S::Session) -> Result<(), ErrorKind> {
    for found in find(store, session)? {
        (found.remove(store.snapshots())).map_err(io("remove", &found.path))?;
    }
    Ok(())
}

/// The snapshots run `run_id` took, if it never committed: the history
/// has no line of its, or only a line saying it was given up.
fn uncommitted<S: Store>(
    store: &S,
    session: &mut S::Session,
    run_id: &str,
) -> Result<Vec<Found>, ErrorKind> {
    let (found, _) = snapshot::scan(&store.snapshot_dir(), store.snapshots())?;
    let ours: Vec<_> = (found.into_iter())
        .filter(|info| info.manifest.run_id.as_deref() == Some(run_id))
        .collect();
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let history = store.history(session)?;
    if (history.iter()).any(|r| r.run_id == run_id && r.outcome != Outcome::Abandoned) {
        return Ok(Vec::new());
    }
    Ok(ours
        .into_iter()
        .map(|info| Found {
            path: info.path,
            snapshot: true,
        })
        .collect())
}

/// The names in folder `dir` (none when it is not there).
fn names(dir: &Utf8Path) -> Result<Vec<String>, ErrorKind> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read folder", dir)(e)),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

/// Removes the file or folder at `path`.
fn remove(path: &Utf8Path) -> io::Result<()> {
    match fs::symlink_metadata(path)? {
        meta if meta.is_dir() => crate::fsio::remove_tree(path),
        _ => fs::remove_file(path),
    }
}

/// The bytes the file or folder at `path` takes (links not followed).
fn size_of(path: &Utf8Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = path.read_dir_utf8() else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| size_of(e.path()))
        .sum()
}
