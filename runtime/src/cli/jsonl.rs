//! JSONL logs on the command line: the same commands over [`crate::jsonl`],
//! with the log file as the store (its rotated siblings come along).

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::commands::{Entry, StoreOps};
use crate::{
    Chain, ErrorKind, HistoryRecord, JsonlStore, LogRecord, Report, RollbackTo, RunError,
    RunOptions, SnapshotInfo, Status, ValidationFailure, jsonl,
};

/// JSONL logs, each set up by the chain's entry.
struct Log {
    setup: fn(JsonlStore) -> JsonlStore,
}

/// Chain `C` over a JSONL log, at `log` unless `--store` or the workspace's
/// settings say otherwise, with the store's defaults (rotated files named
/// `<log name>.*`, a log without a header at the chain's base version,
/// malformed lines stopping the run).
pub fn jsonl_chain<C: Chain<Record = LogRecord>>(
    log: impl Into<Utf8PathBuf>,
) -> Box<dyn ChainEntry> {
    jsonl_chain_with::<C>(log, |store| store)
}

/// Chain `C` over a JSONL log, as [`jsonl_chain`], with the store set up by
/// `setup` wherever it is (its rotated files' pattern, the version of a log
/// without a header, compressed snapshots, quarantining malformed lines in
/// every run):
///
/// ```no_run
/// # use verchain::{Chain, LogRecord};
/// # #[derive(Chain)] #[chain(current = 1, record = LogRecord)] pub struct Audit;
/// let entry = verchain::cli::jsonl_chain_with::<Audit>("logs/audit.jsonl", |store| {
///     store
///         .rotated("audit-*.jsonl.zst")
///         .expect("a valid glob")
///         .compress_snapshots(true)
/// });
/// ```
pub fn jsonl_chain_with<C: Chain<Record = LogRecord>>(
    log: impl Into<Utf8PathBuf>,
    setup: fn(JsonlStore) -> JsonlStore,
) -> Box<dyn ChainEntry> {
    Entry::<C, Log>::boxed(log.into(), Log { setup })
}

impl<C: Chain<Record = LogRecord>> StoreOps<C> for Log {
    type Store = JsonlStore;

    fn open(&self, path: &Utf8Path) -> JsonlStore {
        (self.setup)(JsonlStore::new(path))
    }

    fn migrate(store: &JsonlStore, options: &RunOptions) -> Result<Report, RunError> {
        jsonl::migrate::<C>(store, options)
    }

    fn migrate_step(
        store: &JsonlStore,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        jsonl::migrate_step::<C>(store, step, options)
    }

    fn rollback(
        store: &JsonlStore,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        jsonl::rollback::<C>(store, to, options)
    }

    fn status(store: &JsonlStore) -> Result<Status, RunError> {
        jsonl::status::<C>(store)
    }

    fn verify(store: &JsonlStore) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        jsonl::verify::<C>(store)
    }

    fn history(store: &JsonlStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
        jsonl::history(store)
    }

    fn snapshots(store: &JsonlStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        jsonl::snapshots(store)
    }

    fn prune_snapshots(store: &JsonlStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
        jsonl::prune_snapshots(store, keep)
    }
}
