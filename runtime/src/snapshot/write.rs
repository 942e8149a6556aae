//! Writing a snapshot: hash the store files for the manifest, then stream
//! manifest and files into a temporary archive that is synced and linked
//! into place.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::time::SystemTime;

use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

use super::read::{CHUNK, sync_dir};
use super::{
    FORMAT, FileMeta, MANIFEST_NAME, MANIFEST_RATIO, MAX_MANIFEST, Manifest, ManifestEntry, SUFFIX,
    SnapshotError, SnapshotInfo, manifest_limit, path,
};
use crate::clock::Instant;

/// The zstd level: fast, and still a good ratio on text.
pub(super) const LEVEL: i32 = 3;

/// How many `-N` suffixes are tried when snapshots share a name.
const MAX_COUNTER: u32 = 10_000;

/// Snapshots `files` (relative to `root`) into a new archive in `dir` and
/// returns it.
///
/// The archive is named after the current UTC time and the versions,
/// `2026-11-23T14-05-09_pre_v1_to_v3.tar.zst`, with `-2`, `-3`, … added
/// when that name is taken. `dir` (e.g. `root/.verchain/snapshots`) is
/// created with mode 0700 if missing; the archive has mode 0600. See the
/// [module docs](super) for the layout and how it is written crash-safely.
///
/// Each file must be a regular file (not a symlink) at a plain relative
/// path; it is read twice (hash, then copy) and must not change in between.
///
/// # Errors
///
/// [`SnapshotError::InvalidSource`] for a path that cannot be stored, a
/// duplicate or something other than a regular file,
/// [`SnapshotError::ChangedWhileReading`] when a file changed under the
/// snapshot, and [`SnapshotError::Io`] naming the file or folder that could
/// not be read or written. On error no archive is left behind.
pub fn create(
    root: &Utf8Path,
    files: &[Utf8PathBuf],
    dir: &Utf8Path,
    chain: &str,
    run_id: &str,
    from_version: u32,
    to_version: u32,
) -> Result<SnapshotInfo, SnapshotError> {
    let now = Instant::from_system(SystemTime::now());
    let mut manifest = Manifest {
        format: FORMAT,
        chain: chain.to_owned(),
        run_id: Some(run_id.to_owned()),
        from_version,
        to_version,
        created: now.rfc3339(),
        files: Vec::with_capacity(files.len()),
    };
    let mut seen = HashSet::with_capacity(files.len());
    for file in files {
        let path = entry_path(file)?;
        if !seen.insert(path.clone()) {
            return Err(SnapshotError::InvalidSource {
                path,
                reason: "listed twice".into(),
            });
        }
        let (size, blake3, meta) = hash_file(&root.join(&path))?;
        manifest.files.push(ManifestEntry {
            path,
            size,
            blake3,
            meta: Some(meta),
        });
    }
    drop(seen);
    let json = manifest_json(root, &manifest)?;

    create_dir(dir)?;
    let base = format!("{}_pre_v{from_version}_to_v{to_version}", now.file_stamp());
    let (temp_path, temp) = temp_file(dir, &base)?;
    let written = write_archive(root, &manifest, &json, temp, &temp_path, now)
        .and_then(|()| check_manifest_size(root, files.len(), json.len() as u64, &temp_path))
        .and_then(|()| place(dir, &base, &temp_path));
    let (id, path) = match written {
        Ok(placed) => placed,
        Err(e) => {
            let _ = fs::remove_file(&temp_path);
            return Err(e);
        }
    };
    let size = fs::metadata(&path)
        .map_err(|e| SnapshotError::io("inspect", &path, e))?
        .len();
    Ok(SnapshotInfo {
        id,
        path,
        size,
        manifest,
    })
}

/// The `/` separated archive path of a store file given relative to the
/// root.
pub(super) fn entry_path(file: &Utf8Path) -> Result<String, SnapshotError> {
    let invalid = |reason: &str| SnapshotError::InvalidSource {
        path: file.to_string(),
        reason: reason.to_owned(),
    };
    let mut parts = Vec::new();
    for component in file.components() {
        match component {
            Utf8Component::Normal(part) => parts.push(part),
            _ => return Err(invalid("not a plain path relative to the store's root")),
        }
    }
    let path = parts.join("/");
    match path::problem(&path) {
        Some(reason) => Err(invalid(reason)),
        None => Ok(path),
    }
}

/// Opens a store file, refusing anything but a regular file.
fn open_regular(path: &Utf8Path) -> Result<File, SnapshotError> {
    crate::contain::open_regular(path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => SnapshotError::InvalidSource {
            path: path.to_string(),
            reason: e.to_string(),
        },
        _ => SnapshotError::io("open", path, e),
    })
}

/// First pass: the size and BLAKE3 of a store file, streamed, and its
/// attributes.
fn hash_file(path: &Utf8Path) -> Result<(u64, String, FileMeta), SnapshotError> {
    let mut file = open_regular(path)?;
    let meta = file
        .metadata()
        .map_err(|e| SnapshotError::io("inspect", path, e))?;
    let meta = FileMeta::of(&meta);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; CHUNK];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SnapshotError::io("read", path, e)),
        }
    }
    Ok((size, hasher.finalize().to_hex().to_string(), meta))
}

/// Creates the snapshot folder, mode 0700, and syncs its parent when it is
/// new.
pub(super) fn create_dir(dir: &Utf8Path) -> Result<(), SnapshotError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    crate::fsio::point("create folder", dir)
        .and_then(|()| builder.create(dir))
        .map_err(|e| SnapshotError::io("create folder", dir, e))?;
    match dir.parent() {
        Some(parent) if !parent.as_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Utf8Path::new(".")),
    }
}

/// A new hidden temporary file in `dir`, mode 0600 from the start. Its name
/// does not end in `.tar.zst`, so listing never takes it for a snapshot.
pub(super) fn temp_file(dir: &Utf8Path, base: &str) -> Result<(Utf8PathBuf, File), SnapshotError> {
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let path = dir.join(format!(".{base}.{pid}.{attempt}.partial"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match crate::fsio::point("create", &path).and_then(|()| options.open(&path)) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < MAX_COUNTER => {
                attempt += 1
            }
            Err(e) => return Err(SnapshotError::io("create", path, e)),
        }
    }
}

/// The manifest as the archive stores it (compact JSON).
pub(super) fn manifest_json(
    root: &Utf8Path,
    manifest: &Manifest,
) -> Result<Vec<u8>, SnapshotError> {
    serde_json::to_vec(manifest).map_err(|e| unwritable(root, e))
}

fn unwritable(root: &Utf8Path, e: serde_json::Error) -> SnapshotError {
    SnapshotError::InvalidSource {
        path: root.to_string(),
        reason: format!("its manifest cannot be written: {e}"),
    }
}

/// Refuses a manifest of `size` bytes, listing `files` files, larger than
/// a reader accepts from the archive written at `temp` ([`manifest_limit`]).
pub(super) fn check_manifest_size(
    root: &Utf8Path,
    files: usize,
    size: u64,
    temp: &Utf8Path,
) -> Result<(), SnapshotError> {
    if size <= MAX_MANIFEST {
        return Ok(());
    }
    let archive_size = fs::metadata(temp)
        .map_err(|e| SnapshotError::io("inspect", temp, e))?
        .len();
    let limit = manifest_limit(archive_size);
    if size > limit {
        return Err(SnapshotError::InvalidSource {
            path: root.to_string(),
            reason: format!(
                "the manifest of its {files} files would be {size} bytes, more than the \
                 {limit} an archive of {archive_size} bytes may hold ({MAX_MANIFEST}, or \
                 {MANIFEST_RATIO} times the archive's size)",
            ),
        });
    }
    Ok(())
}

/// Second pass: the manifest (`json`), then every file, streamed through
/// zstd into `temp`, which is synced.
pub(super) fn write_archive(
    root: &Utf8Path,
    manifest: &Manifest,
    json: &[u8],
    temp: File,
    temp_path: &Utf8Path,
    now: Instant,
) -> Result<(), SnapshotError> {
    let write_error = |e| SnapshotError::io("write", temp_path, e);
    let pointed = crate::fsio::PointedWriter::new(temp, temp_path);
    let mut encoder = zstd::Encoder::new(BufWriter::new(pointed), LEVEL).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    let mut tar = tar::Builder::new(encoder);

    let mut header = regular_header(json.len() as u64, 0o600, now.unix_secs());
    tar.append_data(&mut header, MANIFEST_NAME, json)
        .map_err(write_error)?;

    for entry in &manifest.files {
        let source = root.join(&entry.path);
        let file = open_regular(&source)?;
        let mut header = match &entry.meta {
            Some(meta) => file_header(entry.size, meta),
            None => regular_header(entry.size, 0o600, 0),
        };
        let mut reader = Exact {
            file,
            left: entry.size,
            hasher: blake3::Hasher::new(),
            failed: None,
        };
        if let Err(e) = tar.append_data(&mut header, &entry.path, &mut reader) {
            return Err(match reader.failed.take() {
                Some(Failed::Read(e)) => SnapshotError::io("read", source, e),
                Some(Failed::Shrank) => SnapshotError::ChangedWhileReading { path: source },
                None => write_error(e),
            });
        }
        if reader
            .grew()
            .map_err(|e| SnapshotError::io("read", &source, e))?
            || reader.hasher.finalize().to_hex().as_str() != entry.blake3
        {
            return Err(SnapshotError::ChangedWhileReading { path: source });
        }
    }

    let encoder = tar.into_inner().map_err(write_error)?;
    let buffered = encoder.finish().map_err(write_error)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?
        .inner;
    crate::fsio::point("sync", temp_path)
        .and_then(|()| file.sync_all())
        .map_err(|e| SnapshotError::io("sync", temp_path, e))
}

pub(super) fn regular_header(size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header
}

/// The tar header of a file of `size` bytes with the attributes `meta`.
pub(super) fn file_header(size: u64, meta: &FileMeta) -> tar::Header {
    let mut header = regular_header(size, meta.mode, u64::try_from(meta.mtime).unwrap_or(0));
    header.set_uid(meta.uid.unwrap_or(0).into());
    header.set_gid(meta.gid.unwrap_or(0).into());
    header
}

/// Why reading a store file for the archive failed.
enum Failed {
    Read(io::Error),
    Shrank,
}

/// Reads exactly `left` bytes of a store file, hashing them; a file that
/// ends early is an error (the tar header already promised the size).
struct Exact {
    file: File,
    left: u64,
    hasher: blake3::Hasher,
    failed: Option<Failed>,
}

impl Exact {
    /// Whether the file has more bytes than were promised.
    fn grew(&mut self) -> io::Result<bool> {
        let mut byte = [0u8; 1];
        loop {
            match self.file.read(&mut byte) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failed = Some(Failed::Read(e));
                return Err(io::Error::new(kind, "reading the store file failed"));
            }
        };
        if n == 0 {
            self.failed = Some(Failed::Shrank);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the store file shrank",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// Gives the synced temporary archive its final name without replacing an
/// existing one, then syncs the folder. Returns the id and path.
pub(super) fn place(
    dir: &Utf8Path,
    base: &str,
    temp: &Utf8Path,
) -> Result<(String, Utf8PathBuf), SnapshotError> {
    for counter in 1..=MAX_COUNTER {
        let id = if counter == 1 {
            base.to_owned()
        } else {
            format!("{base}-{counter}")
        };
        let path = dir.join(format!("{id}{SUFFIX}"));
        // A hard link fails if the name exists, so it never replaces a
        // snapshot; where the file system has no hard links, fall back to
        // a rename after checking the name is free.
        crate::fsio::point("link", &path).map_err(|e| SnapshotError::io("link", &path, e))?;
        match fs::hard_link(temp, &path) {
            Ok(()) => {
                // The snapshot is in place; a temporary name left behind by
                // a failure here is hidden and ignored by listing.
                let _ = fs::remove_file(temp);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                if fs::symlink_metadata(&path).is_ok() {
                    continue;
                }
                fs::rename(temp, &path).map_err(|e| SnapshotError::io("rename", temp, e))?;
            }
        }
        sync_dir(dir)?;
        return Ok((id, path));
    }
    Err(SnapshotError::io(
        "name",
        dir.join(format!("{base}{SUFFIX}")),
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{MAX_COUNTER} snapshots of that name exist"),
        ),
    ))
}
