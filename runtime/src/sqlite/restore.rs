//! Rolling an SQLite database back to a snapshot.
//!
//! The snapshot is verified first (its BLAKE3 against its manifest, then
//! `PRAGMA integrity_check`), and the database as it is now is snapshotted
//! too, so the restore can itself be undone. The snapshot is copied to a
//! scratch database beside the store (`.verchain/<file>.restore`), the
//! history of the runs it undoes and a record of the restore are appended
//! to that copy, and the copy is written into the live database with the
//! online backup API, which is one SQLite transaction on the live database:
//! a crash during it leaves SQLite's own journal, which puts the database
//! back as it was on the next open. A crash before it leaves only the
//! scratch file, which the next run removes.

use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::diff;
use super::error::SqliteError;
use super::history;
use super::record::Sql;
use super::snapshot;
use super::store::{SqliteStore, user_version};
use crate::run::store::{Failed, Restoring, SnapshotEntry, Taken};
use crate::run::{ErrorKind, HistoryRecord, Run};

/// A restore staged: the live database's connection, and the snapshot's
/// database, verified and open read-only.
pub struct Staged<'s> {
    conn: &'s mut Connection,
    saved: Connection,
}

/// Verifies snapshot `entry` and stages its restore over the database at
/// `version`.
pub(super) fn stage<'s>(
    store: &SqliteStore,
    conn: &'s mut Connection,
    run: &Run<'_, Sql>,
    entry: &SnapshotEntry,
    version: u32,
) -> Result<(Staged<'s>, Restoring), ErrorKind> {
    let dir = store.snapshot_dir();
    let manifest = snapshot::verify(&dir, &entry.id, store.file_name())?;
    let saved = snapshot::open_kept(&entry.path)?;
    let samples = run.options.diff_limit;
    let now = diff::capture(conn, samples)?;
    let then = diff::capture(&saved, samples)?;
    let (changes, counts) = diff::changes(&now, &then, samples > 0);
    let target = user_version(&saved)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v != 0)
        .unwrap_or(manifest.from_version);
    let restoring = Restoring {
        from: Some(version),
        to: target,
        records: 1,
        counts,
        changes,
    };
    Ok((Staged { conn, saved }, restoring))
}

impl Staged<'_> {
    /// Snapshots the database as it is now, before the restore.
    pub(super) fn snapshot_now(
        &self,
        store: &SqliteStore,
        run: &Run<'_, Sql>,
        from: u32,
        to: u32,
    ) -> Result<Option<Taken>, ErrorKind> {
        run.snapshot_started(1);
        let info = snapshot::copy(
            store.path(),
            &store.snapshot_dir(),
            store.file_name(),
            run.chain.name,
            run.id(),
            from,
            to,
        )?
        .seal()?;
        Ok(Some(info.into()))
    }

    /// Writes the snapshot into the live database, with the history of the
    /// runs it undoes and `records` (the restore's own) appended.
    pub(super) fn commit(
        self,
        store: &SqliteStore,
        records: &[HistoryRecord],
    ) -> Result<(), Failed> {
        let Staged { conn, saved } = self;
        let live = history::read(conn, store.path())?;
        let saved_history = history::read(&saved, store.path())?;
        let mut undone: Vec<HistoryRecord> = live
            .into_iter()
            .filter(|r| !saved_history.contains(r))
            .collect();
        undone.extend(records.iter().cloned());
        let scratch = store.scratch_path();
        let mut written = false;
        let put_back = (|| {
            snapshot::copy_database(&saved, &scratch)?;
            let mut copy = Connection::open(super::store::literal(&scratch))
                .map_err(SqliteError::sql(format!("open {scratch}")))?;
            let tx = copy
                .transaction()
                .map_err(SqliteError::sql(format!("write {scratch}")))?;
            history::append(&tx, &undone)?;
            tx.commit()
                .map_err(SqliteError::sql(format!("write {scratch}")))?;
            written = true;
            // Another connection's lock refuses the backup's transaction
            // before it writes anything: the database is as it was.
            let refused = |cause| store.locked_or(cause, || format!("restore {}", store.path()));
            let backup = Backup::new(&copy, conn).map_err(refused)?;
            snapshot::step_to_end(&backup).map_err(refused)?;
            Ok::<_, ErrorKind>(())
        })();
        // A scratch copy that stays is removed by the next run, which
        // `status` reports until then.
        let _ = crate::fsio::remove_file(&scratch);
        put_back.map_err(|kind| Failed {
            // The backup writes the live database in one transaction of its
            // own; before it begins, or when a lock refused it, nothing of
            // the database has changed.
            unchanged: !written || matches!(kind, ErrorKind::Locked { .. }),
            kind,
        })
    }
}
