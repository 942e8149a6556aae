//! Reading archives: the manifest alone (for listing), a full verification,
//! and extraction into an empty folder. All three go through the same
//! checks, so `extract` refuses exactly what `verify` refuses.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};

use camino::{Utf8Path, Utf8PathBuf};

use super::manifest::manifest_entry;
use super::{FileMeta, Manifest, ManifestEntry, SnapshotError, path};

/// The longest name an entry may have (a GNU long-name entry before it
/// holds names over 100 bytes); a longer one is refused unread.
const MAX_NAME: u64 = 4096;

/// How many bytes may follow the first block of the tar end marker: the
/// rest of the marker and the padding of a 10 KiB tar record, all zeros.
/// Reading stops there: anything after it is refused, not read.
const END_SLACK: u64 = 10 * 1024;

/// The size of the buffer files are streamed through.
pub(super) const CHUNK: usize = 64 * 1024;

/// The decompressing reader an archive is read through.
pub(super) type Decoder = zstd::Decoder<'static, io::BufReader<File>>;

/// Checks an archive completely without writing anything: the manifest,
/// then every entry's path, type, position, size and BLAKE3, then that
/// nothing follows the end of the archive.
///
/// Returns the manifest of a sound snapshot.
///
/// # Errors
///
/// Any [`SnapshotError`] about the archive: it cannot be read, it is
/// truncated or corrupt, its manifest is missing, invalid or of an unknown
/// format, or an entry is unsafe, not a regular file, not in the manifest,
/// duplicated, out of order, missing, or of the wrong size or hash.
pub fn verify(archive: &Utf8Path) -> Result<Manifest, SnapshotError> {
    read_archive(archive, None)
}

/// Extracts an archive into `dest`, which must be an empty folder or not
/// exist yet (it is then created, with its parents).
///
/// Every entry passes the same checks as in [`verify`] and is written only
/// to the path its manifest entry names inside `dest`, into a file created
/// fresh (never through an existing file or symlink), and given back the
/// permission bits (whatever the umask), modification time and (when run
/// as root) owner it had in the store. Each file's BLAKE3 is
/// checked as it is written and the whole archive is read to its end before
/// this returns `Ok`; files and folders are synced to disk.
///
/// On error, `dest` may hold some of the files, one of them possibly
/// incomplete or with content that failed its check: the caller deletes
/// `dest`. Nothing is ever written outside it.
///
/// # Errors
///
/// [`SnapshotError::BadDestination`] if `dest` is not an empty folder (or
/// is a symlink), an [`SnapshotError::Io`] naming the file that could not be
/// written, or any error of [`verify`].
pub fn extract(archive: &Utf8Path, dest: &Utf8Path) -> Result<Manifest, SnapshotError> {
    extract_where(archive, dest, &|_| true).map(|(manifest, _)| manifest)
}

/// Extracts, as [`extract`] does, only the entries `wanted` says yes to;
/// every other entry is checked all the same. Returns the manifest and,
/// for each of its files, whether it was extracted.
pub(crate) fn extract_where(
    archive: &Utf8Path,
    dest: &Utf8Path,
    wanted: &dyn Fn(&ManifestEntry) -> bool,
) -> Result<(Manifest, Vec<bool>), SnapshotError> {
    prepare_dest(dest)?;
    let mut out = Extract {
        dest: dest.to_owned(),
        folders: BTreeSet::new(),
        wanted,
        extracted: Vec::new(),
    };
    let manifest = read_archive(archive, Some(&mut out))?;
    out.sync_folders(&manifest)?;
    Ok((manifest, out.extracted))
}

/// Reads only the first entry of an archive, its manifest, and checks the
/// manifest itself (not the files).
pub(crate) fn read_manifest(archive: &Utf8Path) -> Result<Manifest, SnapshotError> {
    let (mut tar, size) = open(archive)?;
    let mut entries = entries(archive, &mut tar)?;
    manifest_entry(archive, size, entries.next())
}

/// The archive's entries as they are stored: a GNU long name or a pax
/// header is an entry of its own, never read whole into memory by the tar
/// reader (see [`long_name`]).
fn entries<'a>(
    archive: &Utf8Path,
    tar: &'a mut tar::Archive<Decoder>,
) -> Result<tar::Entries<'a, Decoder>, SnapshotError> {
    Ok(tar.entries().map_err(|e| corrupt(archive, e))?.raw(true))
}

/// Reads a GNU long-name entry: the name of the entry that follows it, at
/// most [`MAX_NAME`] bytes (what tar writes: the name and a NUL).
fn long_name(
    archive: &Utf8Path,
    entry: &mut tar::Entry<'_, Decoder>,
) -> Result<Vec<u8>, SnapshotError> {
    if entry.size() > MAX_NAME + 1 {
        return Err(SnapshotError::UnsafePath {
            archive: archive.to_owned(),
            entry: format!("(a name of {} bytes)", entry.size()),
            reason: format!("longer than {MAX_NAME} bytes"),
        });
    }
    let mut name = Vec::new();
    entry
        .read_to_end(&mut name)
        .map_err(|e| corrupt(archive, e))?;
    if name.last() == Some(&0) {
        name.pop();
    }
    Ok(name)
}

pub(super) fn corrupt(archive: &Utf8Path, source: io::Error) -> SnapshotError {
    SnapshotError::Corrupt {
        archive: archive.to_owned(),
        source,
    }
}

/// Opens an archive to read, with its size in bytes as it was opened.
fn open(archive: &Utf8Path) -> Result<(tar::Archive<Decoder>, u64), SnapshotError> {
    // Never through a link, never blocking on a FIFO: a snapshot is a
    // regular file in the snapshot folder.
    let file =
        crate::contain::open_regular(archive).map_err(|e| SnapshotError::io("open", archive, e))?;
    let size = file
        .metadata()
        .map_err(|e| SnapshotError::io("inspect", archive, e))?
        .len();
    let decoder = zstd::Decoder::new(file).map_err(|e| corrupt(archive, e))?;
    Ok((tar::Archive::new(decoder), size))
}

/// Where extracted files go, which entries are, and which folders were
/// made for them.
struct Extract<'w> {
    dest: Utf8PathBuf,
    /// Every folder (relative to `dest`) that holds an extracted file.
    folders: BTreeSet<String>,
    /// Whether an entry is extracted (every entry is checked).
    wanted: &'w dyn Fn(&ManifestEntry) -> bool,
    /// Whether each entry, in the manifest's order, was extracted.
    extracted: Vec<bool>,
}

impl Extract<'_> {
    /// Creates the file for entry `path` (already checked against the
    /// manifest, so a plain relative path), readable by its owner alone
    /// until [`FileMeta::apply`] gives it its own attributes.
    fn create(&mut self, path: &str) -> Result<(File, Utf8PathBuf), SnapshotError> {
        let target = self.dest.join(path);
        if let Some((parent, _)) = path.rsplit_once('/') {
            let folder = self.dest.join(parent);
            crate::fsio::point("create folder", &folder)
                .and_then(|()| fs::create_dir_all(&folder))
                .map_err(|e| SnapshotError::io("create folder", &folder, e))?;
            let mut ancestor = parent;
            while self.folders.insert(ancestor.to_owned()) {
                match ancestor.rsplit_once('/') {
                    Some((up, _)) => ancestor = up,
                    None => break,
                }
            }
        }
        let mut options = fs::OpenOptions::new();
        // `create_new` fails on anything that exists, a symlink included,
        // so nothing is written through a link.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = crate::fsio::point("create", &target)
            .and_then(|()| options.open(&target))
            .map_err(|e| SnapshotError::io("create", &target, e))?;
        Ok((file, target))
    }

    /// Syncs every extracted file, `dest` and every folder created in it, so
    /// the new entries survive a crash.
    fn sync_folders(&self, manifest: &Manifest) -> Result<(), SnapshotError> {
        let files = (manifest.files.iter().zip(&self.extracted))
            .filter(|(_, extracted)| **extracted)
            .map(|(entry, _)| self.dest.join(&entry.path));
        crate::fsio::sync_files(&self.dest, files)
            .map_err(|e| SnapshotError::io("sync files in", &self.dest, e))?;
        let folders: Vec<Utf8PathBuf> = (self.folders.iter())
            .map(|folder| self.dest.join(folder))
            .chain([self.dest.clone()])
            .collect();
        crate::fsio::sync_dirs(&self.dest, folders.iter().map(Utf8PathBuf::as_path))
            .map_err(|e| SnapshotError::io("sync folder", &self.dest, e))
    }
}

/// Syncs a folder so that entries added to or removed from it are durable.
pub(super) fn sync_dir(dir: &Utf8Path) -> Result<(), SnapshotError> {
    #[cfg(unix)]
    {
        crate::fsio::point("sync folder", dir)
            .and_then(|()| File::open(dir))
            .and_then(|d| d.sync_all())
            .map_err(|e| SnapshotError::io("sync folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn prepare_dest(dest: &Utf8Path) -> Result<(), SnapshotError> {
    let bad = |reason: &str| SnapshotError::BadDestination {
        dest: dest.to_owned(),
        reason: reason.to_owned(),
    };
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.file_type().is_symlink() => Err(bad("it is a symlink")),
        Ok(meta) if !meta.is_dir() => Err(bad("it is not a folder")),
        Ok(_) => {
            let mut listing =
                fs::read_dir(dest).map_err(|e| SnapshotError::io("read folder", dest, e))?;
            if listing.next().is_some() {
                Err(bad("it is not empty"))
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(dest)
                .map_err(|e| SnapshotError::io("create folder", dest, e))
        }
        Err(e) => Err(SnapshotError::io("inspect", dest, e)),
    }
}

/// The one reading loop of `verify` and `extract`.
fn read_archive(
    archive: &Utf8Path,
    mut out: Option<&mut Extract<'_>>,
) -> Result<Manifest, SnapshotError> {
    let (mut tar, size) = open(archive)?;
    let mut entries = entries(archive, &mut tar)?;
    let manifest = manifest_entry(archive, size, entries.next())?;
    let error_at = |entry: &str| EntryError {
        archive,
        entry: entry.to_owned(),
    };
    let mut buf = vec![0; CHUNK];
    let mut index = 0;
    let mut named: Option<Vec<u8>> = None;
    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| corrupt(archive, e))?;
        if entry.header().entry_type().is_gnu_longname() && named.is_none() {
            named = Some(long_name(archive, &mut entry)?);
            continue;
        }
        let raw = named
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let name = match String::from_utf8(raw) {
            Ok(name) => name,
            Err(e) => {
                let entry = String::from_utf8_lossy(e.as_bytes()).into_owned();
                return Err(error_at(&entry).unsafe_path("not UTF-8"));
            }
        };
        if let Some(reason) = path::problem(&name) {
            return Err(error_at(&name).unsafe_path(reason));
        }
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(SnapshotError::NotARegularFile {
                archive: archive.to_owned(),
                entry: name,
                kind: kind_name(kind),
            });
        }
        let expected = match manifest.files.get(index) {
            Some(expected) if expected.path == name => expected,
            expected => {
                return Err(misplaced(
                    archive,
                    &manifest,
                    index,
                    name,
                    expected.map(|e| e.path.as_str()),
                ));
            }
        };
        if entry.size() != expected.size {
            return Err(SnapshotError::SizeMismatch {
                archive: archive.to_owned(),
                entry: name,
                expected: expected.size,
                found: entry.size(),
            });
        }
        let meta = expected.meta.unwrap_or_else(|| header_meta(entry.header()));
        let mut sink = match out.as_deref_mut() {
            Some(out) if (out.wanted)(expected) => Some(out.create(&name)?),
            _ => None,
        };
        let mut hasher = blake3::Hasher::new();
        let mut read = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(archive, e)),
            };
            hasher.update(&buf[..n]);
            read += n as u64;
            if let Some((file, target)) = &mut sink {
                crate::fsio::write_all(file, "write", target, &buf[..n])
                    .map_err(|e| SnapshotError::io("write", &*target, e))?;
            }
        }
        if read != expected.size {
            return Err(corrupt(
                archive,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("entry {name} is cut short"),
                ),
            ));
        }
        let found = hasher.finalize().to_hex();
        if found.as_str() != expected.blake3 {
            return Err(SnapshotError::HashMismatch {
                archive: archive.to_owned(),
                entry: name,
                expected: expected.blake3.clone(),
                found: found.to_string(),
            });
        }
        if let (Some((file, target)), Some(out)) = (sink, out.as_deref_mut()) {
            crate::fsio::point("set attributes of", &target)
                .and_then(|()| meta.apply(&file))
                .map_err(|e| SnapshotError::io("set attributes of", &target, e))?;
            // Made durable with all the others in `sync_folders`.
            drop(file);
            out.extracted.push(true);
        } else if let Some(out) = out.as_deref_mut() {
            out.extracted.push(false);
        }
        index += 1;
    }
    if named.is_some() {
        return Err(corrupt(
            archive,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a long name with no entry after it",
            ),
        ));
    }
    if let Some(missing) = manifest.files.get(index) {
        return Err(SnapshotError::Missing {
            archive: archive.to_owned(),
            entry: missing.path.clone(),
        });
    }
    read_to_end(archive, tar.into_inner(), &mut buf)?;
    Ok(manifest)
}

/// Reads what follows the tar end marker's first block: at most
/// [`END_SLACK`] zero bytes, then the end of the stream (where zstd checks
/// its content checksum). Anything else, or more, is refused unread.
fn read_to_end(archive: &Utf8Path, rest: Decoder, buf: &mut [u8]) -> Result<(), SnapshotError> {
    let mut rest = rest.take(END_SLACK + 1);
    let mut read = 0u64;
    loop {
        let n = match rest.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(archive, e)),
        };
        read += n as u64;
        if read > END_SLACK || buf[..n].iter().any(|&b| b != 0) {
            return Err(SnapshotError::TrailingData {
                archive: archive.to_owned(),
            });
        }
    }
}

/// What a format 1 archive records of a file's attributes, in its tar
/// header: the permission bits and the modification time to the second
/// (not the owner: format 1 wrote none).
fn header_meta(header: &tar::Header) -> FileMeta {
    FileMeta {
        mode: header.mode().unwrap_or(0o600) & 0o777,
        mtime: header
            .mtime()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0),
        mtime_nsec: 0,
        uid: None,
        gid: None,
    }
}

/// Names an archive and an entry for errors.
struct EntryError<'a> {
    archive: &'a Utf8Path,
    entry: String,
}

impl EntryError<'_> {
    fn unsafe_path(self, reason: &str) -> SnapshotError {
        SnapshotError::UnsafePath {
            archive: self.archive.to_owned(),
            entry: self.entry,
            reason: reason.to_owned(),
        }
    }
}

/// The error for entry `name` found where the manifest expects `expected`
/// (the manifest's entry `index`, or nothing past its end).
fn misplaced(
    archive: &Utf8Path,
    manifest: &Manifest,
    index: usize,
    name: String,
    expected: Option<&str>,
) -> SnapshotError {
    let archive = archive.to_owned();
    let position = manifest.files.iter().position(|f| f.path == name);
    match (position, expected) {
        (Some(at), _) if at < index => SnapshotError::Duplicate {
            archive,
            entry: name,
        },
        (Some(_), Some(expected)) => SnapshotError::OutOfOrder {
            archive,
            entry: name,
            expected: expected.to_owned(),
        },
        _ => SnapshotError::NotInManifest {
            archive,
            entry: name,
        },
    }
}

fn kind_name(kind: tar::EntryType) -> String {
    use tar::EntryType::*;
    match kind {
        Symlink => "symlink".into(),
        Link => "hard link".into(),
        Char => "character device".into(),
        Block => "block device".into(),
        Directory => "folder".into(),
        Fifo => "fifo".into(),
        Continuous => "contiguous file".into(),
        GNUSparse => "sparse file".into(),
        XGlobalHeader => "pax global header".into(),
        other => format!("type {:?}", char::from(other.as_byte())),
    }
}
