//! The snapshot folder: listing its archives newest first and pruning old
//! ones.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};

use super::read::{read_manifest, sync_dir};
use super::{SUFFIX, SnapshotError, SnapshotInfo};
use crate::clock::Instant;

/// What [`scan`] found in a snapshot folder.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Listing {
    /// The readable snapshots, newest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// The archives whose manifest could not be read, by file name.
    pub unreadable: Vec<Unreadable>,
}

/// An archive in the snapshot folder whose manifest could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub struct Unreadable {
    /// The archive.
    pub path: Utf8PathBuf,
    /// Why it could not be read.
    pub error: SnapshotError,
}

/// Lists the snapshots in `dir`, newest first, reading only each archive's
/// manifest (use [`verify`](super::verify) to check the files too).
///
/// Only `*.tar.zst` files whose names do not start with `.` are archives:
/// temporary files of a snapshot being written, or left by a crash, are
/// ignored, and so are names that are not UTF-8. A folder that does not
/// exist holds no snapshots.
///
/// # Errors
///
/// [`SnapshotError::Unreadable`] when some archive's manifest cannot be read
/// (use [`scan`] to list the others and see why each failed), or
/// [`SnapshotError::Io`] when the folder cannot be read.
pub fn list(dir: &Utf8Path) -> Result<Vec<SnapshotInfo>, SnapshotError> {
    let mut listing = scan(dir)?;
    if listing.unreadable.is_empty() {
        return Ok(listing.snapshots);
    }
    let count = listing.unreadable.len();
    let first = listing.unreadable.swap_remove(0);
    Err(SnapshotError::Unreadable {
        dir: dir.to_owned(),
        count,
        first: Box::new(first.error),
    })
}

/// Like [`list`], but an archive whose manifest cannot be read is reported
/// in [`Listing::unreadable`] with its error instead of failing the listing.
///
/// # Errors
///
/// [`SnapshotError::Io`] when the folder cannot be read.
pub fn scan(dir: &Utf8Path) -> Result<Listing, SnapshotError> {
    let read_error = |e| SnapshotError::io("read folder", dir, e);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(read_error(e)),
    };
    let mut listing = Listing::default();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(id) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if name.starts_with('.') || id.is_empty() {
            continue;
        }
        let path = dir.join(&name);
        match read_info(&path, id) {
            Ok(info) => listing.snapshots.push(info),
            Err(error) => listing.unreadable.push(Unreadable { path, error }),
        }
    }
    listing.snapshots.sort_by(newest_first);
    listing.unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

fn read_info(path: &Utf8Path, id: &str) -> Result<SnapshotInfo, SnapshotError> {
    let meta = fs::symlink_metadata(path).map_err(|e| SnapshotError::io("inspect", path, e))?;
    if !meta.is_file() {
        return Err(SnapshotError::io(
            "read",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let manifest = read_manifest(path)?;
    Ok(SnapshotInfo {
        id: id.to_owned(),
        path: path.to_owned(),
        size: meta.len(),
        manifest,
    })
}

/// Newest first by the manifest's `created`, then by id (so `…-2` comes
/// before the snapshot of the same second it follows).
fn newest_first(a: &SnapshotInfo, b: &SnapshotInfo) -> std::cmp::Ordering {
    // Manifests that were read are checked, so `created` parses.
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

/// Removes all but the `keep` newest readable snapshots in `dir` and returns
/// the removed ones, newest first. Archives whose manifest cannot be read
/// are left alone (see [`scan`]).
///
/// # Errors
///
/// [`SnapshotError::Io`] when the folder cannot be read or an archive
/// cannot be removed; the ones removed before that stay removed.
pub fn prune(dir: &Utf8Path, keep: usize) -> Result<Vec<SnapshotInfo>, SnapshotError> {
    let mut snapshots = scan(dir)?.snapshots;
    if snapshots.len() <= keep {
        return Ok(Vec::new());
    }
    let removed = snapshots.split_off(keep);
    for info in &removed {
        crate::fsio::point("remove", &info.path)
            .and_then(|()| fs::remove_file(&info.path))
            .map_err(|e| SnapshotError::io("remove", &info.path, e))?;
    }
    sync_dir(dir)?;
    Ok(removed)
}
