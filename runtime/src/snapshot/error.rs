//! The one error type of snapshots: every message names the archive (or the
//! store file) and, where there is one, the entry.

use std::io;

use camino::Utf8PathBuf;
use thiserror::Error;

/// A snapshot could not be written, read, verified, extracted, listed or
/// pruned.
///
/// Messages are lowercase, name the archive and the entry, and read like
/// `snapshot .verchain/snapshots/x.tar.zst: entry notes/a.md: BLAKE3 mismatch
/// (expected …, found …)`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A file or folder operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `open` or `create folder`.
        action: &'static str,
        /// The file or folder.
        path: Utf8PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A path given to [`create`](crate::snapshot::create) cannot be stored
    /// in a snapshot.
    #[error("cannot snapshot {path}: {reason}")]
    InvalidSource {
        /// The path as given, or the file it names under the store's root.
        path: String,
        /// Why it cannot be stored.
        reason: String,
    },
    /// A store file changed between hashing it and copying it into the
    /// archive, so the snapshot would not be consistent.
    #[error("cannot snapshot {path}: it changed while it was being snapshotted")]
    ChangedWhileReading {
        /// The store file.
        path: Utf8PathBuf,
    },
    /// The archive is not a well-formed zstd-compressed tar file: it is
    /// truncated, corrupt, or not a snapshot at all.
    #[error("snapshot {archive}: corrupt or truncated archive: {source}")]
    Corrupt {
        /// The archive.
        archive: Utf8PathBuf,
        /// What the decompressor or tar reader reported.
        source: io::Error,
    },
    /// The archive's first entry is not a readable `MANIFEST.json`.
    #[error("snapshot {archive}: invalid manifest: {reason}")]
    InvalidManifest {
        /// The archive.
        archive: Utf8PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The manifest is of a format this version of verchain does not know.
    #[error(
        "snapshot {archive}: unknown manifest format {format} (this verchain reads formats up to \
         {known})"
    )]
    UnknownFormat {
        /// The archive.
        archive: Utf8PathBuf,
        /// The format found.
        format: String,
        /// The newest format this version reads.
        known: u32,
    },
    /// An entry's path could escape the destination or is not a plain
    /// relative path.
    #[error("snapshot {archive}: entry {entry}: unsafe path ({reason})")]
    UnsafePath {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry's path, lossily decoded.
        entry: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// An entry is not a regular file (a symlink, hard link, device,
    /// folder, …).
    #[error(
        "snapshot {archive}: entry {entry}: {kind} entries are not allowed, only regular files"
    )]
    NotARegularFile {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry's path, lossily decoded.
        entry: String,
        /// The kind of entry found.
        kind: String,
    },
    /// An entry is not listed in the manifest.
    #[error("snapshot {archive}: entry {entry}: not listed in the manifest")]
    NotInManifest {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
    },
    /// An entry appears twice in the archive.
    #[error("snapshot {archive}: entry {entry}: appears more than once")]
    Duplicate {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
    },
    /// An entry is listed in the manifest but not where the manifest puts
    /// it.
    #[error("snapshot {archive}: entry {entry}: out of manifest order (expected {expected})")]
    OutOfOrder {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry found.
        entry: String,
        /// The entry the manifest lists at this position.
        expected: String,
    },
    /// A manifest entry is missing from the archive.
    #[error(
        "snapshot {archive}: entry {entry}: listed in the manifest but missing from the archive"
    )]
    Missing {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
    },
    /// An entry's size differs from the manifest's.
    #[error(
        "snapshot {archive}: entry {entry}: size mismatch (expected {expected} bytes, found {found})"
    )]
    SizeMismatch {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
        /// The size in the manifest.
        expected: u64,
        /// The size in the archive.
        found: u64,
    },
    /// An entry holds more bytes than the manifest lists: reading stopped
    /// at the first byte too many.
    #[error(
        "snapshot {archive}: entry {entry}: longer than the {expected} bytes the manifest lists"
    )]
    TooLong {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
        /// The size in the manifest.
        expected: u64,
    },
    /// An entry's content does not hash to the manifest's BLAKE3.
    #[error(
        "snapshot {archive}: entry {entry}: BLAKE3 mismatch (expected {expected}, found {found})"
    )]
    HashMismatch {
        /// The archive.
        archive: Utf8PathBuf,
        /// The entry.
        entry: String,
        /// The hash in the manifest (hex).
        expected: String,
        /// The hash of the content (hex).
        found: String,
    },
    /// There is data after the end of the tar archive.
    #[error("snapshot {archive}: unexpected data after the end of the archive")]
    TrailingData {
        /// The archive.
        archive: Utf8PathBuf,
    },
    /// [`extract`](crate::snapshot::extract) needs an empty or new folder.
    #[error("cannot extract into {dest}: {reason}")]
    BadDestination {
        /// The destination.
        dest: Utf8PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// Listing a store's snapshots found archives it cannot read; the
    /// message names the first and why.
    #[error("snapshots in {dir}: {count} unreadable archive(s), the first: {first}")]
    Unreadable {
        /// The snapshot folder.
        dir: Utf8PathBuf,
        /// How many archives could not be read.
        count: usize,
        /// The error of the first one.
        first: Box<SnapshotError>,
    },
}

impl SnapshotError {
    pub(super) fn io(
        action: &'static str,
        path: impl Into<Utf8PathBuf>,
        source: io::Error,
    ) -> Self {
        SnapshotError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
