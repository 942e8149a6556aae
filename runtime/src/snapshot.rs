//! Snapshots of a folder store: before a commit the runner archives the
//! files it is about to change, and a rollback restores such an archive.
//!
//! # Archive layout
//!
//! A snapshot is one zstd-compressed tar file (with zstd's content
//! checksum), named after when it was taken and the versions of the run,
//! `2026-11-23T14-05-09_pre_v1_to_v3.tar.zst` (a second snapshot of the
//! same run in the same second gets `-2`, `-3`, … before `.tar.zst`; an
//! existing archive is never overwritten). Inside:
//!
//! 1. `MANIFEST.json`, a [`Manifest`]: format, chain, versions, creation
//!    time and, for every file, its path, size, BLAKE3 and [`FileMeta`]
//!    (permission bits, modification time, owner), which a restore puts
//!    back whatever the umask (the owner only when run as root);
//! 2. the files, as regular-file entries in manifest order, under their
//!    `/` separated paths relative to the store's root, with the same
//!    permission bits, time (to the second) and owner in their headers, so
//!    `tar` restores them as verchain does. No folders, links
//!    or other entries: folders are implied by the paths.
//!
//! # Why the manifest comes first
//!
//! The manifest is the first entry so that listing a store's snapshots reads only the start
//! of each archive, and so that a reader knows, before it writes a single
//! file, which paths, sizes and hashes to expect. The price is that
//! [`create`] reads every file twice: once to hash it for the manifest,
//! once to copy it into the archive. The second read hashes again and must
//! give the same size and hash, so a file that changes in between fails
//! the snapshot instead of producing an archive that does not match its
//! manifest. Both passes stream: no whole file and no whole archive is ever
//! held in memory, only the manifest.
//!
//! # Crash safety
//!
//! [`create`] writes to a hidden temporary file in the snapshot folder
//! (mode 0600 from the moment it exists), syncs it, links it under its
//! final name (which fails rather than replaces if that name is taken),
//! removes the temporary name and syncs the folder. A crash leaves either
//! no archive or a complete one, plus at most a hidden temporary file that
//! a listing ignores. The folder is created with mode 0700 if missing.
//!
//! # Hostile archives
//!
//! [`verify`] and [`extract`] trust nothing in an archive: see
//! [`SnapshotError`] for everything they refuse. Their work is bounded
//! whatever the archive holds: a manifest over [`manifest_limit`] (a
//! bound proportional to the archive's own size) and a name over 4096
//! bytes are refused unread, the manifest is read as a stream (never held
//! whole as bytes), each file is read only as far as
//! the size its header (checked against the manifest) gives, and reading
//! stops at the tar end marker plus at most one 10 KiB record of zeros.

mod error;
mod manifest;
mod meta;
mod path;
mod read;
mod stream;
mod write;

#[cfg(test)]
mod tests;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

pub use error::SnapshotError;
#[cfg(feature = "fuzzing")]
pub(crate) use manifest::parse_manifest;
pub use meta::FileMeta;
pub use read::{extract, verify};
pub(crate) use read::{extract_where, read_manifest};
pub(crate) use stream::Streamed;
pub use write::create;

/// The manifest format this version of verchain writes: 2, where each
/// file also has its [`FileMeta`] (permission bits, modification time,
/// owner). Format 1, without them, is still read: its archive's tar
/// headers give the permission bits and the time to the second.
pub const FORMAT: u32 = 2;

/// The oldest manifest format this version of verchain reads.
pub const OLDEST_FORMAT: u32 = 1;

/// Whether this version of verchain reads manifests of `format`.
pub(crate) fn reads_format(format: u64) -> bool {
    (u64::from(OLDEST_FORMAT)..=u64::from(FORMAT)).contains(&format)
}

/// The name of an archive's first entry, which holds its [`Manifest`].
pub const MANIFEST_NAME: &str = "MANIFEST.json";

/// The largest manifest any snapshot may have, in bytes: 64 MiB, about
/// 300,000 files. A larger one is accepted only from an archive large
/// enough for it ([`manifest_limit`]).
pub const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// How many times its archive's own size a manifest over [`MAX_MANIFEST`]
/// may be. The archive holds that manifest, compressed, and a tar header
/// for every file it lists (the manifest of 400,000 notes is 1.5 times
/// their archive's size), so the bound leaves a wide margin, while a small
/// archive that expands to a huge manifest (a "manifest bomb") is refused
/// before a byte of the manifest is read. [`create`] refuses to write an
/// archive whose manifest is over the bound.
pub const MANIFEST_RATIO: u64 = 32;

/// The largest manifest an archive of `archive_size` bytes may have:
/// [`MAX_MANIFEST`], or [`MANIFEST_RATIO`] times the archive's size when
/// that is more. A manifest over it is refused before it is read (so a
/// hostile archive cannot make a listing take more memory than this), and
/// [`create`] refuses to write one.
pub fn manifest_limit(archive_size: u64) -> u64 {
    MAX_MANIFEST.max(archive_size.saturating_mul(MANIFEST_RATIO))
}

/// What a snapshot holds, stored as the archive's first entry
/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format: [`FORMAT`] when written by this version, from
    /// [`OLDEST_FORMAT`] up to it when read.
    pub format: u32,
    /// The chain whose run took the snapshot.
    pub chain: String,
    /// The run that took the snapshot: a run that never committed leaves
    /// its snapshot to be removed by the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The store's version when the snapshot was taken.
    pub from_version: u32,
    /// The version the run was migrating to.
    pub to_version: u32,
    /// When the snapshot was taken, RFC 3339 in UTC with microseconds,
    /// e.g. `2026-11-23T14:05:09.123456Z`.
    pub created: String,
    /// The files, in archive order.
    pub files: Vec<ManifestEntry>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The path relative to the store's root, `/` separated.
    pub path: String,
    /// The size in bytes.
    pub size: u64,
    /// The BLAKE3 hash of the content, lowercase hex.
    pub blake3: String,
    /// The file's permission bits, modification time and owner, which a
    /// restore puts back (format 2; `None` in format 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<FileMeta>,
}

/// A snapshot archive on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The archive's file name without `.tar.zst`, e.g.
    /// `2026-11-23T14-05-09_pre_v1_to_v3`.
    pub id: String,
    /// The archive.
    pub path: Utf8PathBuf,
    /// The archive's size in bytes.
    pub size: u64,
    /// Its manifest.
    pub manifest: Manifest,
}

/// The file name suffix of snapshot archives.
pub(crate) const SUFFIX: &str = ".tar.zst";

/// The archive of snapshot `id` in `dir`; `id` may be given with or without
/// its `.tar.zst` suffix.
pub fn path_of(dir: &Utf8Path, id: &str) -> Utf8PathBuf {
    let id = id.strip_suffix(SUFFIX).unwrap_or(id);
    dir.join(format!("{id}{SUFFIX}"))
}

/// The BLAKE3 hash of `bytes` as lowercase hex, as manifests and journals
/// record it.
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
