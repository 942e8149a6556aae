//! `JsonlStore`: an append-only log of JSON records, one a line, with its
//! rotated files, migrated in one streaming pass per file.
//!
//! The functions here are the log store's counterparts of the folder
//! store's [`migrate`](crate::migrate), [`run_startup`](crate::run_startup)
//! and the rest, with the same shapes and the same [`Report`],
//! [`RunError`] and history.
//!
//! ```
//! use verchain::{Chain, LogHeader, LogRecord, RunOptions, migration};
//! use verchain::jsonl::{JsonlStore, migrate};
//!
//! /// An audit log.
//! #[derive(Chain)]
//! #[chain(current = 3, record = LogRecord)]
//! pub struct Audit;
//!
//! /// Names the log in its header.
//! #[migration(chain = Audit, from = 1, to = 2)]
//! fn add_header(mut header: LogHeader) -> LogHeader {
//!     header.set_default("log", "audit");
//!     header
//! }
//!
//! /// Renames `actor` to `user`; `severity` defaults to `info`.
//! #[migration(chain = Audit, from = 2, to = 3)]
//! fn rename_actor(entry: &mut LogRecord) -> Result<(), verchain::FieldExists> {
//!     entry.rename("actor", "user")?;
//!     entry.set_default("severity", "info");
//!     Ok(())
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = camino::Utf8Path::from_path(dir.path()).unwrap().join("audit.jsonl");
//! std::fs::write(&path, "{\"actor\":\"ana\",\"action\":\"login\"}\n")?;
//! let report = migrate::<Audit>(&JsonlStore::new(&path), &RunOptions::default())?;
//! assert_eq!(report.counts.changed, 1);
//! assert_eq!(
//!     std::fs::read_to_string(&path)?,
//!     "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n\
//!      {\"user\":\"ana\",\"action\":\"login\",\"severity\":\"info\"}\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod de;
mod error;
mod header;
pub(crate) mod journal;
mod output;
pub(crate) mod parse;
mod record;
mod run;
mod scan;
mod snapshot;
mod step;
pub(crate) mod store;
pub(crate) mod stream;
mod worker;

use std::collections::BTreeMap;
use std::fs;

pub use error::JsonlError;
pub use header::LogHeader;
pub use record::LogRecord;
pub use step::{LogBody, LogVerify};
pub use store::JsonlStore;

use crate::run::history as history_file;
use crate::run::lock;
use crate::run::{
    ErrorKind, HistoryRecord, LastRun, Report, RollbackTo, RunError, RunOptions, Stage, Startup,
    Status, ValidationFailure, io,
};
use crate::snapshot::SnapshotInfo;
use crate::{Chain, fsio};
use run::Run;

/// Migrates the log and its rotated files to the target version (or
/// reports what that would do, with `dry_run`). Each file is streamed to a
/// new file beside it; the old files become the run's snapshot.
pub fn migrate<C: Chain<Record = LogRecord>>(
    store: &JsonlStore,
    options: &RunOptions,
) -> Result<Report, RunError> {
    must_exist::<C>(store)?;
    let mut run = Run::<C>::open(store, options)?;
    run.check_unedited()?;
    let detected = run.detect()?;
    let target = options.target.unwrap_or(C::CURRENT);
    let plan = run.plan_up(&detected, target)?;
    run.execute(&detected, &plan, target, crate::Direction::Up)
}

/// Runs the one step `id` on the files at its `from` version, out of the
/// chain's order: an operator's override, recorded as such in the history.
/// Files at other versions are left as they are.
pub fn migrate_step<C: Chain<Record = LogRecord>>(
    store: &JsonlStore,
    id: &str,
    options: &RunOptions,
) -> Result<Report, RunError> {
    must_exist::<C>(store)?;
    let mut run = Run::<C>::open(store, options)?;
    run.info.operator_override = true;
    run.check_unedited()?;
    let detected = run.detect()?;
    let (to, plan) = run.plan_one(id, &detected)?;
    run.execute(&detected, &plan, to, crate::Direction::Up)
}

/// Refuses to migrate, check or report on a log that is not there (a
/// mistyped path), before anything is created beside it; `run_startup`
/// creates a missing log instead, and a rollback may restore one.
fn must_exist<C: Chain>(store: &JsonlStore) -> Result<(), RunError> {
    match fs::metadata(store.path()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RunError::new(
            C::NAME,
            Stage::Detect,
            io("open log", store.path())(e),
        )),
        _ => Ok(()),
    }
}

/// The call an application makes before it opens the log for appending:
/// migrates every file to the current version, or returns at once (after
/// reading each file's first line) when they are current. A missing log is
/// created with only a header at the current version. Waits up to a minute
/// for another runner.
pub fn run_startup<C: Chain<Record = LogRecord>>(store: &JsonlStore) -> Result<Startup, RunError> {
    let options = RunOptions {
        wait: run::STARTUP_WAIT,
        diff_limit: 0,
        ..RunOptions::default()
    };
    let mut run = Run::<C>::open(store, &options)?;
    run.check_unedited()?;
    if !store.path().exists() {
        let mut meta = serde_json::Map::new();
        meta.insert(C::VERSION_KEY.to_owned(), C::CURRENT.into());
        let line = serde_json::json!({ "_meta": meta }).to_string() + "\n";
        fsio::write_atomic(store.path(), line.as_bytes())
            .map_err(|e| run.fail(Stage::Commit, io("create", store.path())(e)))?;
    }
    let detected = run.detect()?;
    if detected.files.iter().all(|(_, v)| *v == C::CURRENT) {
        return Ok(Startup::UpToDate {
            version: C::CURRENT,
        });
    }
    let plan = run.plan_up(&detected, C::CURRENT)?;
    let report = run.execute(&detected, &plan, C::CURRENT, crate::Direction::Up)?;
    Ok(Startup::Migrated(Box::new(report)))
}

/// Finishes a commit or restore that a crash interrupted, if any; returns
/// whether there was one. Every run does this first.
pub fn recover<C: Chain<Record = LogRecord>>(store: &JsonlStore) -> Result<bool, RunError> {
    let pending = store.journal_path().exists();
    Run::<C>::open(store, &RunOptions::default())?;
    Ok(pending)
}

/// Rolls the log back: to a snapshot (checked as it is restored), or to a
/// version with `down` steps. A restore refuses to run when a file has
/// changed since the run it undoes committed (records appended since would
/// be lost); `down` steps have no such limit.
pub fn rollback<C: Chain<Record = LogRecord>>(
    store: &JsonlStore,
    to: &RollbackTo,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let run = Run::<C>::open(store, options)?;
    match to {
        RollbackTo::Version(version) => {
            let mut run = run;
            run.check_unedited()?;
            let detected = run.detect()?;
            let plan = run.plan_down(&detected, *version)?;
            run.execute(&detected, &plan, *version, crate::Direction::Down)
        }
        RollbackTo::LastRun => run.restore(None),
        RollbackTo::Snapshot(id) => run.restore(Some(id)),
    }
}

/// The log's state: each file's version, pending steps, last run,
/// snapshots, and whether an interrupted commit waits to be finished.
/// `stamp` is the version in the log file's header.
pub fn status<C: Chain<Record = LogRecord>>(store: &JsonlStore) -> Result<Status, RunError> {
    must_exist::<C>(store)?;
    let fail = |stage, kind| RunError::new(C::NAME, stage, kind);
    let history = history(store).map_err(|k| fail(Stage::Detect, k))?;
    let snapshots = snapshots(store).map_err(|k| fail(Stage::Detect, k))?.len();
    let mut status = Status {
        chain: C::NAME,
        store: store.path().to_owned(),
        stamp: None,
        current: C::CURRENT,
        versions: BTreeMap::new(),
        pending: Vec::new(),
        last_run: LastRun::of(&history),
        snapshots,
        interrupted: store.journal_path().exists(),
        edited_since_applied: Vec::new(),
        unreadable: Vec::new(),
    };
    if status.interrupted {
        return Ok(status);
    }
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let run = Run::<C>::open(store, &options)?;
    let detected = run.detect()?;
    status.stamp = run.stamp()?;
    let metas: Vec<crate::StepMeta> = run.steps.iter().map(|s| *s.meta()).collect();
    status.edited_since_applied = crate::edited_since_applied(&history, &metas, status.stamp);
    status.versions = detected.versions.clone();
    status.pending = run
        .plan_up(&detected, C::CURRENT)?
        .iter()
        .map(crate::run::plan::Move::planned)
        .collect();
    Ok(status)
}

/// Checks every record of every file against the schema type its chain
/// declares for the file's version, changing nothing; returns how many
/// records were checked and the failures (the first hundred).
pub fn verify<C: Chain<Record = LogRecord>>(
    store: &JsonlStore,
) -> Result<(usize, Vec<ValidationFailure>), RunError> {
    must_exist::<C>(store)?;
    let options = RunOptions {
        dry_run: true,
        diff_limit: 0,
        ..RunOptions::default()
    };
    let run = Run::<C>::open(store, &options)?;
    let detected = run.detect()?;
    let mut records = 0;
    let mut failures = Vec::new();
    for (file, version) in &detected.files {
        let (count, found) = run.check_file(file, *version)?;
        records += count;
        failures.extend(found);
    }
    failures.truncate(stream::FAILURES_LISTED);
    Ok((records, failures))
}

/// The log's history, oldest first.
pub fn history(store: &JsonlStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
    store.check_name()?;
    history_file::read(&store.history_path())
}

/// The log's snapshots, newest first.
pub fn snapshots(store: &JsonlStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    store.check_name()?;
    Ok(snapshot::list(&store.snapshot_dir())?)
}

/// Removes all but the `keep` newest snapshots; returns the removed ones.
/// Takes the log's lock, so no run is using them.
pub fn prune_snapshots(store: &JsonlStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    store.check_name()?;
    let dir = store.snapshot_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let _lock = lock::acquire(
        store.path(),
        &store.lock_path(),
        std::time::Duration::ZERO,
        true,
    )?;
    Ok(snapshot::prune(&dir, keep)?)
}

/// Quarantine files a run wrote (malformed lines moved out of the log),
/// oldest run first.
pub fn quarantined(store: &JsonlStore) -> Result<Vec<camino::Utf8PathBuf>, ErrorKind> {
    store.check_name()?;
    let dir = store.quarantine_dir();
    let mut out = Vec::new();
    let runs = match fs::read_dir(&dir) {
        Ok(runs) => runs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("read folder", &dir)(e)),
    };
    let mut runs: Vec<_> = runs.filter_map(Result::ok).map(|e| e.path()).collect();
    runs.sort();
    for run in runs {
        let Ok(run) = camino::Utf8PathBuf::from_path_buf(run) else {
            continue;
        };
        let mut files: Vec<_> = fs::read_dir(&run)
            .map_err(io("read folder", &run))?
            .filter_map(Result::ok)
            .filter_map(|e| camino::Utf8PathBuf::from_path_buf(e.path()).ok())
            .collect();
        files.sort();
        out.extend(files);
    }
    Ok(out)
}
