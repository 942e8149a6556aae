//! Logs on the command line: the same commands over a [`LogStore`],
//! with the log file as the store (its rotated siblings come along).

use std::rc::Rc;

use camino::{Utf8Path, Utf8PathBuf};

use super::ChainEntry;
use super::entry::{Entry, Opens};
use crate::log::{LogRecord, LogStore};
use crate::{Chain, ErrorKind};

/// JSONL logs, each set up by the chain's entry.
#[derive(Clone)]
struct Log {
    setup: Rc<dyn Fn(LogStore) -> LogStore>,
}

/// Chain `C` over a log, at `log` unless `--store` or the workspace's
/// settings say otherwise, with the store's defaults (rotated files named
/// `<log name>.*`, a log without a header at the chain's base version,
/// malformed lines stopping the run).
pub fn log_chain<C: Chain<Record = LogRecord>>(log: impl Into<Utf8PathBuf>) -> Box<dyn ChainEntry> {
    log_chain_with::<C>(log, |store| store)
}

/// Chain `C` over a log, as [`log_chain`], with the store set up by
/// `setup` wherever it is (its rotated files' pattern, the version of a log
/// without a header, compressed snapshots, quarantining malformed lines in
/// every run):
///
/// ```no_run
/// # use verchain::Chain;
/// # use verchain::log::LogRecord;
/// # #[derive(Chain)] #[chain(current = 1, record = LogRecord)] pub struct Audit;
/// let entry = verchain::cli::log_chain_with::<Audit>("logs/audit.jsonl", |store| {
///     store
///         .rotated("audit-*.jsonl.zst")
///         .expect("a valid glob")
///         .compress_snapshots(true)
/// });
/// ```
pub fn log_chain_with<C: Chain<Record = LogRecord>>(
    log: impl Into<Utf8PathBuf>,
    setup: impl Fn(LogStore) -> LogStore + 'static,
) -> Box<dyn ChainEntry> {
    Entry::<C, Log>::boxed(
        log.into(),
        Log {
            setup: Rc::new(setup),
        },
    )
}

impl Opens for Log {
    type Store = LogStore;
    const KIND: &'static str = "a JSONL log";

    fn open(&self, path: &Utf8Path) -> Result<LogStore, ErrorKind> {
        Ok((self.setup)(LogStore::new(path)))
    }
}
