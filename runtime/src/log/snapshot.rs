//! Snapshots of a log: before a commit replaces its files, the old files are
//! kept aside in `.verchain/<log name>/snapshots/<id>/`, with a
//! `MANIFEST.json` (the same [`Manifest`] as folder snapshots: each file's
//! name, size and BLAKE3).
//!
//! The old files are kept as they are (hard links, so keeping them costs
//! nothing until the snapshot is pruned; a copy where the file system has no
//! links), or zstd-compressed as `<name>.snapshot.zst` when the store
//! compresses snapshots. A snapshot is built in a hidden folder and renamed
//! into place, so a crash leaves a whole snapshot or a hidden folder that
//! listings ignore. A restore reads each file once, checking its size and
//! BLAKE3 against the manifest as it copies it.

use std::fs::{self, File};
use std::io::{self, Read, Write};

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::store::LogFile;
use super::stream::Fingerprint;
use crate::clock::{now_for_name, now_rfc3339};
use crate::fsio;
use crate::snapshot::{
    FORMAT, FileMeta, MANIFEST_NAME, MAX_MANIFEST, Manifest, ManifestEntry, SnapshotError,
    SnapshotInfo,
};

/// The suffix of a compressed copy in a snapshot.
const COMPRESSED: &str = ".snapshot.zst";
/// The file, written at commit, that records each file's size once
/// committed, so a restore can tell that records were written since.
pub(crate) const COMMITTED: &str = "committed.json";

/// The size each file had when the run that took a snapshot committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Committed {
    pub files: Vec<CommittedFile>,
}

/// One committed file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CommittedFile {
    pub name: String,
    pub size: u64,
}

fn err(action: &'static str, path: &Utf8Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_owned();
    move |source| SnapshotError::Io {
        action,
        path,
        source,
    }
}

/// Copies `from` to `dest` (a new file) through the write fault points.
fn copy(from: &Utf8Path, dest: &Utf8Path) -> Result<(), SnapshotError> {
    let mut input = File::open(from).map_err(err("read", from))?;
    let output = fsio::point("create", dest)
        .and_then(|()| fsio::create(dest))
        .map_err(err("create", dest))?;
    io::copy(&mut input, &mut fsio::PointedWriter::new(output, dest)).map_err(err("copy", from))?;
    Ok(())
}

/// Keeps `files` (as they were read, `seen`) in a new snapshot in `dir`.
pub(crate) fn create(
    dir: &Utf8Path,
    chain: &str,
    run_id: &str,
    from_version: u32,
    to_version: u32,
    files: &[(&LogFile, &Fingerprint)],
    compress: bool,
) -> Result<SnapshotInfo, SnapshotError> {
    fsio::create_dir_all(dir).map_err(err("create folder", dir))?;
    let base = format!("{}_pre_v{from_version}_to_v{to_version}", now_for_name());
    let mut id = base.clone();
    let mut n = 1;
    while dir.join(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    let temp = dir.join(format!(".{id}.partial"));
    if temp.exists() {
        fsio::point("remove", &temp)
            .and_then(|()| fs::remove_dir_all(&temp))
            .map_err(err("remove", &temp))?;
    }
    fsio::point("create folder", &temp)
        .and_then(|()| fs::create_dir(&temp))
        .map_err(err("create folder", &temp))?;
    let result = (|| {
        let mut entries = Vec::new();
        for (file, seen) in files {
            if compress && !file.compressed {
                let dest = temp.join(format!("{}{COMPRESSED}", file.name));
                compress_copy(&file.path, &dest, seen)?;
            } else {
                let dest = temp.join(&file.name);
                fsio::point("link", &dest).map_err(err("link", &dest))?;
                if fs::hard_link(&file.path, &dest).is_err() {
                    copy(&file.path, &dest)?;
                    fsio::point("fsync", &dest)
                        .and_then(|()| File::open(&dest))
                        .and_then(|f| f.sync_all())
                        .map_err(err("sync", &dest))?;
                }
            }
            let meta = fs::symlink_metadata(&file.path).map_err(err("inspect", &file.path))?;
            entries.push(ManifestEntry {
                path: file.name.clone(),
                size: seen.size,
                blake3: seen.blake3.clone(),
                meta: Some(FileMeta::of(&meta)),
            });
        }
        let manifest = Manifest {
            format: FORMAT,
            chain: chain.to_owned(),
            run_id: Some(run_id.to_owned()),
            from_version,
            to_version,
            created: now_rfc3339(),
            files: entries,
        };
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        let path = temp.join(MANIFEST_NAME);
        fsio::write_atomic(&path, text.as_bytes()).map_err(err("write", &path))?;
        fsio::sync_dir(&temp).map_err(err("sync", &temp))?;
        let last = dir.join(&id);
        fsio::point("rename", &last)
            .and_then(|()| fs::rename(&temp, &last))
            .map_err(err("rename", &temp))?;
        fsio::sync_dir(dir).map_err(err("sync", dir))?;
        Ok(manifest)
    })();
    match result {
        Ok(manifest) => {
            let path = dir.join(&id);
            let size = folder_size(&path);
            Ok(SnapshotInfo {
                id,
                path,
                size,
                manifest,
            })
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&temp);
            Err(e)
        }
    }
}

fn compress_copy(src: &Utf8Path, dest: &Utf8Path, seen: &Fingerprint) -> Result<(), SnapshotError> {
    let input = File::open(src).map_err(err("open", src))?;
    let output = fsio::point("create", dest)
        .and_then(|()| fsio::create(dest))
        .map_err(err("create", dest))?;
    let output = fsio::PointedWriter::new(output, dest);
    let mut encoder =
        zstd::stream::write::Encoder::new(output, 3).map_err(err("compress", dest))?;
    let (size, hash) =
        copy_hashing(&mut input.take(seen.size), &mut encoder).map_err(|e| match e {
            CopyError::Read(e) => err("read", src)(e),
            CopyError::Write(e) => err("write", dest)(e),
        })?;
    let output = encoder.finish().map_err(err("compress", dest))?.inner;
    fsio::point("fsync", dest)
        .and_then(|()| output.sync_all())
        .map_err(err("sync", dest))?;
    if size != seen.size || hash != seen.blake3 {
        return Err(SnapshotError::ChangedWhileReading {
            path: src.to_owned(),
        });
    }
    Ok(())
}

/// Which side of a copy failed.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies everything, returning the size and BLAKE3 of what was copied.
fn copy_hashing(input: &mut dyn Read, output: &mut dyn Write) -> Result<(u64, String), CopyError> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).map_err(CopyError::Write)?;
        size += n as u64;
    }
    Ok((size, hasher.finalize().to_hex().to_string()))
}

/// The bytes the files of a snapshot folder take.
pub(crate) fn folder_size(dir: &Utf8Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The manifest of the snapshot folder at `snapshot`, checked: it names
/// plain file names only. The snapshot must be a real folder, not a link
/// to one elsewhere.
pub(crate) fn read_manifest(snapshot: &Utf8Path) -> Result<Manifest, SnapshotError> {
    match fs::symlink_metadata(snapshot) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) => {
            let kind = crate::contain::special_kind(meta.file_type()).unwrap_or("file");
            return Err(err("open", snapshot)(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is a {kind}, not a snapshot folder; verchain does not follow links"),
            )));
        }
        Err(e) => return Err(err("open", snapshot)(e)),
    }
    let path = snapshot.join(MANIFEST_NAME);
    let text = crate::contain::read_bounded(&path, MAX_MANIFEST).map_err(err("read", &path))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| SnapshotError::InvalidManifest {
            archive: snapshot.to_owned(),
            reason: e.to_string(),
        })?;
    if !crate::snapshot::reads_format(manifest.format.into()) {
        return Err(SnapshotError::UnknownFormat {
            archive: snapshot.to_owned(),
            format: manifest.format.to_string(),
            known: FORMAT,
        });
    }
    for entry in &manifest.files {
        if entry.path.is_empty()
            || entry.path.starts_with('.')
            || entry.path.contains(['/', '\\', '\0'])
        {
            return Err(SnapshotError::UnsafePath {
                archive: snapshot.to_owned(),
                entry: entry.path.clone(),
                reason: "a log snapshot holds plain file names".to_owned(),
            });
        }
        if let Some(problem) = entry.meta.as_ref().and_then(FileMeta::problem) {
            return Err(SnapshotError::InvalidManifest {
                archive: snapshot.to_owned(),
                reason: format!("entry {}: {problem}", entry.path),
            });
        }
    }
    Ok(manifest)
}

/// What the committed sizes of a snapshot's run were, if recorded.
pub(crate) fn committed(snapshot: &Utf8Path) -> Result<Option<Committed>, SnapshotError> {
    let path = snapshot.join(COMMITTED);
    match crate::contain::read_bounded(&path, MAX_MANIFEST) {
        Ok(text) => {
            serde_json::from_slice(&text)
                .map(Some)
                .map_err(|e| SnapshotError::InvalidManifest {
                    archive: snapshot.to_owned(),
                    reason: format!("{COMMITTED}: {e}"),
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err("read", &path)(e)),
    }
}

/// Records the committed sizes in the snapshot.
pub(crate) fn write_committed(snapshot: &Utf8Path, committed: &Committed) -> io::Result<()> {
    let text = serde_json::to_string_pretty(committed).unwrap_or_default();
    fsio::write_atomic(&snapshot.join(COMMITTED), text.as_bytes())
}

/// Opens the stored copy of `entry`, decompressing it if needed. Only a
/// regular file is read: a link is never followed, a FIFO never opened in
/// a way that blocks.
fn stored(snapshot: &Utf8Path, entry: &ManifestEntry) -> Result<Box<dyn Read>, SnapshotError> {
    let plain = snapshot.join(&entry.path);
    let compressed = snapshot.join(format!("{}{COMPRESSED}", entry.path));
    match crate::contain::open_regular(&plain) {
        Ok(file) => return Ok(Box::new(file)),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err("open", &plain)(e)),
        Err(_) => {}
    }
    match crate::contain::open_regular(&compressed) {
        Ok(file) => Ok(Box::new(
            zstd::stream::read::Decoder::new(file).map_err(err("decompress", &compressed))?,
        )),
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err("open", &compressed)(e)),
        Err(_) => Err(SnapshotError::Missing {
            archive: snapshot.to_owned(),
            entry: entry.path.clone(),
        }),
    }
}

/// Copies `entry` out of the snapshot to `dest` (a new file), checking its
/// size and BLAKE3 on the way, gives it back the permission bits,
/// modification time and (as root) owner the manifest records, and syncs
/// it. At most one byte more than the manifest's size is read: a copy that
/// is longer is refused there.
pub(crate) fn restore_file(
    snapshot: &Utf8Path,
    entry: &ManifestEntry,
    dest: &Utf8Path,
) -> Result<(), SnapshotError> {
    let mut input = stored(snapshot, entry)?.take(entry.size.saturating_add(1));
    let mut options = fs::OpenOptions::new();
    // A new file (never through a link), its owner's alone until it is
    // given its own attributes.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let output = fsio::point("create", dest)
        .and_then(|()| options.open(dest))
        .map_err(err("create", dest))?;
    let mut output = fsio::PointedWriter::new(output, dest);
    let result = copy_hashing(&mut input, &mut output)
        .map_err(|e| match e {
            CopyError::Read(source) => SnapshotError::Corrupt {
                archive: snapshot.to_owned(),
                source,
            },
            CopyError::Write(e) => err("write", dest)(e),
        })
        .and_then(|(size, hash)| check(snapshot, entry, size, &hash))
        .and_then(|()| match &entry.meta {
            Some(meta) => fsio::point("set attributes of", dest)
                .and_then(|()| meta.apply(&output.inner))
                .map_err(err("set attributes of", dest)),
            None => Ok(()),
        })
        .and_then(|()| {
            fsio::point("fsync", dest)
                .and_then(|()| output.inner.sync_all())
                .map_err(err("sync", dest))
        });
    if result.is_err() {
        let _ = fs::remove_file(dest);
    }
    result
}

/// Reads every file of the snapshot, checking sizes and hashes (and
/// reading no further than one byte past each size).
pub(crate) fn verify(info: &SnapshotInfo) -> Result<(), SnapshotError> {
    for entry in &info.manifest.files {
        let mut input = stored(&info.path, entry)?.take(entry.size.saturating_add(1));
        let (size, hash) =
            copy_hashing(&mut input, &mut io::sink()).map_err(|e| SnapshotError::Corrupt {
                archive: info.path.clone(),
                source: match e {
                    CopyError::Read(e) | CopyError::Write(e) => e,
                },
            })?;
        check(&info.path, entry, size, &hash)?;
    }
    Ok(())
}

fn check(
    snapshot: &Utf8Path,
    entry: &ManifestEntry,
    size: u64,
    hash: &str,
) -> Result<(), SnapshotError> {
    // Copies read one byte past the manifest's size at most.
    if size > entry.size {
        return Err(SnapshotError::TooLong {
            archive: snapshot.to_owned(),
            entry: entry.path.clone(),
            expected: entry.size,
        });
    }
    if size != entry.size {
        return Err(SnapshotError::SizeMismatch {
            archive: snapshot.to_owned(),
            entry: entry.path.clone(),
            expected: entry.size,
            found: size,
        });
    }
    if hash != entry.blake3 {
        return Err(SnapshotError::HashMismatch {
            archive: snapshot.to_owned(),
            entry: entry.path.clone(),
            expected: entry.blake3.clone(),
            found: hash.to_owned(),
        });
    }
    Ok(())
}

/// The snapshot folder's path for `id`.
pub(crate) fn path_of(dir: &Utf8Path, id: &str) -> Utf8PathBuf {
    dir.join(id)
}
