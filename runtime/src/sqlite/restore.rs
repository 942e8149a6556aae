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

use std::collections::BTreeMap;

use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::diff;
use super::error::SqliteError;
use super::history;
use super::record::Sql;
use super::run::Run;
use super::snapshot;
use super::store::user_version;
use crate::Chain;
use crate::run::{Counts, Direction, ErrorKind, HistoryRecord, Report, RunError, Stage, io};

/// Restores snapshot `id`, or the one taken before the last run not yet
/// rolled back.
pub(super) fn restore<C: Chain<Record = Sql>>(
    run: &Run<'_, C>,
    conn: &mut Connection,
    id: Option<&str>,
) -> Result<Report, RunError> {
    // Until the database is written, it is untouched.
    let fail = |k: ErrorKind| run.fail(Stage::Restore, k).unchanged();
    let store = run.store;
    let dir = store.snapshot_dir();
    if let Some(id) = id
        && crate::contain::snapshot_id_problem(id).is_some()
    {
        return Err(fail(ErrorKind::NoSnapshot(format!(
            "`{id}` is not a snapshot name; `snapshots` lists them"
        ))));
    }
    let records = history::read(conn, store.path()).map_err(fail)?;
    let snapshot_id = match id {
        Some(id) => id.strip_suffix(".sqlite").unwrap_or(id).to_owned(),
        None => crate::run::history::last_live_snapshot(&records).map_err(fail)?,
    };
    let manifest = snapshot::verify(&dir, &snapshot_id, store.file_name()).map_err(fail)?;
    let version = run.version(conn)?;
    let snapshot_path = snapshot::db_path(&dir, &snapshot_id);
    let saved = snapshot::open_kept(&snapshot_path).map_err(fail)?;
    let samples = run.options.diff_limit;
    let now = diff::capture(conn, samples).map_err(|e| fail(e.into()))?;
    let then = diff::capture(&saved, samples).map_err(|e| fail(e.into()))?;
    let (changes, counts) = diff::changes(&now, &then, samples > 0);
    let target = user_version(&saved)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v != 0)
        .unwrap_or(manifest.from_version);
    let report = Report {
        chain: C::NAME,
        run_id: run.info.run_id.clone(),
        dry_run: run.options.dry_run,
        direction: Direction::Restore,
        store_version: Some(version),
        target,
        plan: Vec::new(),
        versions: BTreeMap::from([(version, 1)]),
        counts,
        changes,
        failures: Vec::new(),
        snapshot: Some(snapshot_id.clone()),
    };
    if run.options.dry_run {
        return Ok(report);
    }
    run.emit(crate::Event::RunStarted {
        chain: C::NAME,
        run_id: run.info.run_id.clone(),
        direction: crate::Direction::Restore,
        dry_run: false,
        from: Some(version),
        to: target,
        plan: Vec::new(),
        records: 1,
    });
    run.emit(crate::Event::StageStarted {
        stage: Stage::Snapshot,
        total: 1,
    });
    // The database as it is now, in case this restore is itself a mistake.
    let before = snapshot::create(
        store.path(),
        &dir,
        store.file_name(),
        C::NAME,
        version,
        target,
    )
    .map_err(|k| run.fail(Stage::Snapshot, k))?;
    run.emit(crate::Event::SnapshotWritten {
        id: before.id.clone(),
        files: 1,
    });
    let saved_history = history::read(&saved, &snapshot_path).map_err(fail)?;
    let mut undone: Vec<HistoryRecord> = records
        .into_iter()
        .filter(|r| !saved_history.contains(r))
        .collect();
    undone.push(HistoryRecord {
        counts: Counts {
            changed: counts.changed,
            unchanged: counts.unchanged,
            created: counts.created,
            removed: counts.removed,
            quarantined: 0,
        },
        stamp_before: Some(version),
        ..run.info.restore_record(
            version,
            target,
            &snapshot_id,
            format!(
                "restored snapshot {snapshot_id}; the database before this restore is in \
                 snapshot {}",
                before.id
            ),
        )
    });
    let scratch = store.scratch_path();
    let put_back = (|| {
        snapshot::copy_database(&saved, &scratch)?;
        let mut copy =
            Connection::open(&scratch).map_err(SqliteError::sql(format!("open {scratch}")))?;
        let tx = copy
            .transaction()
            .map_err(SqliteError::sql(format!("write {scratch}")))?;
        history::append(&tx, &undone)?;
        tx.commit()
            .map_err(SqliteError::sql(format!("write {scratch}")))?;
        let backup = Backup::new(&copy, conn)
            .map_err(SqliteError::sql(format!("restore {}", store.path())))?;
        snapshot::step_to_end(&backup)
            .map_err(SqliteError::sql(format!("restore {}", store.path())))?;
        Ok::<_, ErrorKind>(())
    })();
    let removed = crate::fsio::remove_file(&scratch);
    put_back.map_err(|kind| {
        run.fail(
            Stage::Restore,
            ErrorKind::RestoreFailed {
                snapshot: snapshot_path.clone(),
                root: store.path().to_owned(),
                cause: Box::new(kind),
            },
        )
    })?;
    removed.map_err(|e| run.fail(Stage::Record, io("remove", &scratch)(e)))?;
    run.emit(crate::Event::RolledBack {
        snapshot: snapshot_id,
        version: Some(target),
    });
    Ok(report)
}
