//! Snapshots of an SQLite database: a copy made with SQLite's online
//! backup API, checked with `PRAGMA integrity_check`, beside a manifest
//! with its BLAKE3.
//!
//! A snapshot is two files in the database's snapshot folder: `<id>.sqlite`,
//! a database SQLite (or the `sqlite3` tool) opens as it is, and
//! `<id>.json`, a [`Manifest`] naming the database file, its size and its
//! BLAKE3. The id says when and which run: `2026-11-23T14-05-09_pre_v1_to_v5`
//! (`-2`, `-3`, … when taken). The copy is written under a hidden temporary
//! name, synced, checked and hashed, then renamed; the manifest is written
//! last, atomically, so a snapshot without its manifest is one a crash
//! interrupted, and listing ignores it.

use std::fs;
use std::io::{self, Read};

use camino::{Utf8Path, Utf8PathBuf};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::error::SqliteError;
use super::store::literal;
use crate::clock::{now_for_name, now_rfc3339};
use crate::fsio;
use crate::run::store::SnapshotFormat;
use crate::run::{ErrorKind, io};
use crate::snapshot::{FORMAT, MAX_MANIFEST, Manifest, ManifestEntry, SnapshotError, SnapshotInfo};

/// The suffix of a snapshot's database file.
pub(crate) const DB_SUFFIX: &str = ".sqlite";
/// The suffix of a snapshot's manifest.
pub(crate) const MANIFEST_SUFFIX: &str = ".json";

/// A snapshot's copy, made and synced under its hidden temporary name, not
/// yet checked nor listed: [`Copied::seal`] finishes it (on another thread
/// if need be, while the run's steps go on).
#[derive(Debug)]
pub(crate) struct Copied {
    pub id: String,
    /// The copy, under its temporary name.
    pub temp: Utf8PathBuf,
    dir: Utf8PathBuf,
    db_name: String,
    /// The database copied.
    db: Utf8PathBuf,
    chain: String,
    run_id: String,
    from: u32,
    to: u32,
}

/// Copies the committed state of the database at `db` for a new snapshot
/// in `dir`, under a temporary name, and syncs it; [`Copied::seal`] then
/// checks, hashes and lists it.
///
/// The copy is read through a connection of its own: SQLite refuses to
/// back up from a connection that holds a write transaction, and the run
/// holds one (which keeps every other writer out while the copy is made).
pub(crate) fn copy(
    db: &Utf8Path,
    dir: &Utf8Path,
    db_name: &str,
    chain: &str,
    run_id: &str,
    from: u32,
    to: u32,
) -> Result<Copied, ErrorKind> {
    fsio::create_dir_all(dir).map_err(io("create", dir))?;
    let base = format!("{}_pre_v{from}_to_v{to}", now_for_name());
    let id = (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        })
        .find(|id| !db_path(dir, id).exists() && !manifest_path(dir, id).exists())
        .unwrap_or(base);
    let temp = dir.join(format!(".{id}{DB_SUFFIX}.tmp"));
    let result = (|| {
        // `copy_database` removes what is at `temp` first.
        let source = open_read_only(db)?;
        copy_database(&source, &temp)?;
        drop(source);
        fsio::point("fsync", &temp)
            .and_then(|()| fs::File::open(&temp))
            .and_then(|f| f.sync_all())
            .map_err(io("sync", &temp))
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(Copied {
        id,
        temp,
        dir: dir.to_owned(),
        db_name: db_name.to_owned(),
        db: db.to_owned(),
        chain: chain.to_owned(),
        run_id: run_id.to_owned(),
        from,
        to,
    })
}

impl Copied {
    /// Checks the copy with `PRAGMA integrity_check`, hashes it, gives it
    /// its name and writes its manifest; on error, nothing of it is left.
    pub(crate) fn seal(self) -> Result<SnapshotInfo, ErrorKind> {
        let Copied { id, temp, dir, .. } = &self;
        let result = (|| {
            // The copy is the database's pages as they are: what it finds
            // is in the database.
            integrity_check_named(temp, &self.db)?;
            let (size, blake3) = hash_file(temp)?;
            let path = db_path(dir, id);
            fsio::point("rename", &path)
                .and_then(|()| fs::rename(temp, &path))
                .map_err(io("rename snapshot to", &path))?;
            let manifest = Manifest {
                format: FORMAT,
                chain: self.chain.clone(),
                run_id: Some(self.run_id.clone()),
                from_version: self.from,
                to_version: self.to,
                created: now_rfc3339(),
                files: vec![ManifestEntry {
                    path: self.db_name.clone(),
                    size,
                    blake3,
                    meta: None,
                }],
            };
            write_manifest(dir, id, &manifest)?;
            Ok(SnapshotInfo {
                id: id.clone(),
                path,
                size,
                manifest,
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(temp);
        }
        result
    }
}

/// Removes a snapshot: its manifest first, so that what a crash leaves is
/// never listed.
pub(crate) fn remove(dir: &Utf8Path, id: &str) -> Result<(), ErrorKind> {
    remove_if_present(&manifest_path(dir, id))?;
    remove_if_present(&db_path(dir, id))?;
    fsio::sync_dir(dir).map_err(io("sync", dir))
}

/// Checks snapshot `id` in `dir` against its manifest (size, BLAKE3) and
/// with `PRAGMA integrity_check`; returns its manifest.
pub(crate) fn verify(dir: &Utf8Path, id: &str, db_name: &str) -> Result<Manifest, ErrorKind> {
    let manifest = read_manifest(&manifest_path(dir, id))?;
    let path = db_path(dir, id);
    let damaged = |reason: String| SqliteError::SnapshotDamaged {
        path: path.clone(),
        reason,
    };
    let [entry] = manifest.files.as_slice() else {
        return Err(damaged(format!(
            "its manifest lists {} files; a database snapshot has one",
            manifest.files.len()
        ))
        .into());
    };
    if entry.path != db_name {
        return Err(damaged(format!(
            "it is a snapshot of `{}`, not of `{db_name}`",
            entry.path
        ))
        .into());
    }
    if fs::symlink_metadata(&path).is_err() {
        return Err(damaged("its database file is missing".to_owned()).into());
    }
    let (size, blake3) = hash_file(&path)?;
    if size != entry.size || blake3 != entry.blake3 {
        return Err(damaged(format!(
            "the file does not match its manifest (expected {} bytes with BLAKE3 {}, found {size} \
             bytes with BLAKE3 {blake3})",
            entry.size, entry.blake3
        ))
        .into());
    }
    integrity_check(&path)?;
    Ok(manifest)
}

/// The manifest of the snapshot whose database file is `db`.
pub(crate) fn manifest_of(db: &Utf8Path) -> Result<Manifest, ErrorKind> {
    read_manifest(&manifest_beside(db))
}

/// The manifest file beside the snapshot database `db`.
fn manifest_beside(db: &Utf8Path) -> Utf8PathBuf {
    let name = db.as_str().strip_suffix(DB_SUFFIX).unwrap_or(db.as_str());
    Utf8PathBuf::from(format!("{name}{MANIFEST_SUFFIX}"))
}

/// Removes the snapshot whose database file is `db`: its manifest first, so
/// that what a crash leaves is never listed.
pub(crate) fn remove_files(db: &Utf8Path) -> io::Result<()> {
    for path in [manifest_beside(db), db.to_owned()] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// The snapshot's database file.
pub(crate) fn db_path(dir: &Utf8Path, id: &str) -> Utf8PathBuf {
    let id = id.strip_suffix(DB_SUFFIX).unwrap_or(id);
    dir.join(format!("{id}{DB_SUFFIX}"))
}

fn manifest_path(dir: &Utf8Path, id: &str) -> Utf8PathBuf {
    let id = id.strip_suffix(DB_SUFFIX).unwrap_or(id);
    dir.join(format!("{id}{MANIFEST_SUFFIX}"))
}

/// Copies the database `from` has open into a new file at `to` with the
/// online backup API, in one step.
pub(crate) fn copy_database(from: &Connection, to: &Utf8Path) -> Result<(), ErrorKind> {
    let what = || format!("copy the database to {to}");
    fsio::point("copy the database to", to).map_err(io("copy the database to", to))?;
    // A new file, in verchain's own folder: whatever is at `to` (a link
    // planted there included) goes first, and a link put there meanwhile
    // is refused, never written through.
    remove_if_present(to)?;
    let resolved = folders_resolved(to).map_err(io("copy the database to", to))?;
    let mut dest = Connection::open_with_flags(
        literal(&resolved),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(SqliteError::sql(what()))?;
    let backup = Backup::new(from, &mut dest).map_err(SqliteError::sql(what()))?;
    step_to_end(&backup).map_err(SqliteError::sql(what()))?;
    drop(backup);
    dest.close().map_err(|(_, e)| SqliteError::sql(what())(e))?;
    Ok(())
}

/// Runs a backup in one step; a busy or locked database is an error.
pub(crate) fn step_to_end(backup: &Backup<'_, '_>) -> rusqlite::Result<()> {
    match backup.step(-1)? {
        StepResult::Done => Ok(()),
        _ => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("the database is busy".to_owned()),
        )),
    }
}

/// Opens the database at `path` read-only.
pub(crate) fn open_read_only(path: &Utf8Path) -> Result<Connection, ErrorKind> {
    Ok(Connection::open_with_flags(
        literal(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(SqliteError::sql(format!("open {path}")))?)
}

/// Opens a snapshot's database read-only, refusing a symbolic link (a
/// snapshot is a file in the snapshot folder, never one elsewhere).
///
/// SQLite's `NOFOLLOW` refuses a link anywhere on the path, so the folders
/// on the way are resolved first: a store in a linked folder (`/tmp` on
/// macOS) is one, and only the snapshot itself may not be a link.
pub(crate) fn open_kept(path: &Utf8Path) -> Result<Connection, ErrorKind> {
    Ok(Connection::open_with_flags(
        literal(&folders_resolved(path).map_err(io("open", path))?),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(SqliteError::sql(format!("open {path}")))?)
}

/// `path` with the folders on its way resolved (on Unix, where `NOFOLLOW`
/// acts), so that SQLite's `NOFOLLOW`, which refuses a link anywhere on
/// the path, refuses only the file itself being one.
pub(crate) fn folders_resolved(path: &Utf8Path) -> io::Result<Utf8PathBuf> {
    Ok(match (path.parent(), path.file_name()) {
        (Some(folder), Some(name)) if cfg!(unix) && !folder.as_str().is_empty() => {
            folder.canonicalize_utf8()?.join(name)
        }
        _ => path.to_owned(),
    })
}

/// Runs `PRAGMA integrity_check` on the snapshot database at `path`, opened
/// read-only.
pub(crate) fn integrity_check(path: &Utf8Path) -> Result<(), ErrorKind> {
    integrity_check_named(path, path)
}

/// [`integrity_check`] of the copy at `path`, its problems told as those
/// of the database `named` (what it is a copy of).
fn integrity_check_named(path: &Utf8Path, named: &Utf8Path) -> Result<(), ErrorKind> {
    let conn = open_kept(path)?;
    let problems = integrity_problems(&conn).map_err(SqliteError::sql(format!("check {path}")))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SqliteError::Integrity {
            path: named.to_owned(),
            problems,
        }
        .into())
    }
}

/// What `PRAGMA integrity_check` reports, at most ten problems; empty when
/// the database is sound.
pub(crate) fn integrity_problems(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA main.integrity_check(10)")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

/// The size and BLAKE3 (lowercase hex) of the regular file at `path`,
/// streamed (never through a link, never blocking on a FIFO).
fn hash_file(path: &Utf8Path) -> Result<(u64, String), ErrorKind> {
    let mut file = crate::contain::open_regular(path).map_err(io("read", path))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hasher.finalize().to_hex().to_string()))
}

fn read_manifest(path: &Utf8Path) -> Result<Manifest, ErrorKind> {
    let text = crate::contain::read_bounded(path, MAX_MANIFEST).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ErrorKind::NoSnapshot(format!("{path} does not exist; `snapshots` lists them"))
        } else {
            io("read", path)(e)
        }
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| ErrorKind::Damaged {
        path: path.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })?;
    if !crate::snapshot::reads_format(manifest.format.into()) {
        return Err(SqliteError::SnapshotDamaged {
            path: path.to_owned(),
            reason: format!(
                "its manifest has format {}; this verchain reads formats up to {FORMAT}",
                manifest.format
            ),
        }
        .into());
    }
    Ok(manifest)
}

fn write_manifest(dir: &Utf8Path, id: &str, manifest: &Manifest) -> Result<(), ErrorKind> {
    let path = manifest_path(dir, id);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| ErrorKind::Damaged {
        path: path.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    fsio::write_atomic(&path, text.as_bytes()).map_err(io("write", &path))
}

fn remove_if_present(path: &Utf8Path) -> Result<(), ErrorKind> {
    // A link is removed, whether what it points to exists or not.
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match fsio::point("remove", path).and_then(|()| fs::remove_file(path)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", path)(e)),
    }
}

/// A database's snapshots: `<id>.sqlite`, a database the `sqlite3` tool
/// opens as it is, beside `<id>.json`, its manifest (written last, so a
/// copy without one is never listed).
pub(crate) struct Copies;

impl SnapshotFormat for Copies {
    fn id_of<'n>(&self, name: &'n str, is_dir: bool) -> Option<&'n str> {
        name.strip_suffix(MANIFEST_SUFFIX)
            .filter(|id| !is_dir && !id.is_empty())
    }

    fn strip<'n>(&self, given: &'n str) -> &'n str {
        (given.strip_suffix(DB_SUFFIX))
            .or_else(|| given.strip_suffix(MANIFEST_SUFFIX))
            .unwrap_or(given)
    }

    fn path_of(&self, dir: &Utf8Path, id: &str) -> Utf8PathBuf {
        db_path(dir, id)
    }

    fn manifest(&self, path: &Utf8Path) -> Result<Manifest, SnapshotError> {
        manifest_of(path).map_err(|e| SnapshotError::InvalidManifest {
            archive: path.to_owned(),
            reason: e.to_string(),
        })
    }

    fn size(&self, path: &Utf8Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    fn remove(&self, path: &Utf8Path) -> std::io::Result<()> {
        remove_files(path)
    }
}
