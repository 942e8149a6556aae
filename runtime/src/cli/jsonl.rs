//! JSONL logs on the command line: the same commands over [`crate::jsonl`],
//! with the log file as the store (its rotated siblings come along).

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::commands::{Entry, StoreOps};
use crate::{
    Chain, ErrorKind, HistoryRecord, JsonlStore, LogRecord, Report, RollbackTo, RunError,
    RunOptions, SnapshotInfo, Status, ValidationFailure, jsonl,
};

/// JSONL logs.
struct Log;

/// Chain `C` over a JSONL log, at `log` unless `--store` or the workspace's
/// settings say otherwise.
pub fn jsonl_chain<C: Chain<Record = LogRecord>>(
    log: impl Into<Utf8PathBuf>,
) -> Box<dyn ChainEntry> {
    Entry::<C, Log>::boxed(log.into())
}

impl<C: Chain<Record = LogRecord>> StoreOps<C> for Log {
    fn migrate(store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError> {
        jsonl::migrate::<C>(&JsonlStore::new(store), options)
    }

    fn migrate_step(
        store: &Utf8Path,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        jsonl::migrate_step::<C>(&JsonlStore::new(store), step, options)
    }

    fn rollback(
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        jsonl::rollback::<C>(&JsonlStore::new(store), to, options)
    }

    fn status(store: &Utf8Path) -> Result<Status, RunError> {
        jsonl::status::<C>(&JsonlStore::new(store))
    }

    fn verify(store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        jsonl::verify::<C>(&JsonlStore::new(store))
    }

    fn history(store: &Utf8Path) -> Result<Vec<HistoryRecord>, ErrorKind> {
        jsonl::history(&JsonlStore::new(store))
    }

    fn snapshots(store: &Utf8Path) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        jsonl::snapshots(&JsonlStore::new(store))
    }

    fn prune_snapshots(store: &Utf8Path, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        jsonl::prune_snapshots(&JsonlStore::new(store), keep)
    }
}
