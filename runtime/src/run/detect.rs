//! Detect: every record's version. Mixed versions are fine (each record
//! migrates from its own); a record newer than the chain, older than its
//! base, or that cannot be read stops a run — all of them named at once —
//! and is listed by `status` and `verify`.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;

use super::Run;
use super::context::ChainInfo;
use super::error::{ErrorKind, RunError, Stage};
use super::report::Skipped;
use super::store::{Detected, Item, Store, Version};
use crate::chain::Record;

/// How many unreadable records an error lists before it only counts them.
pub(crate) const UNREADABLE_LISTED: usize = 100;

/// Every record's version and every record that cannot be read.
pub(crate) struct Found<I> {
    pub detected: Detected<I>,
    /// Each record that cannot be read (or is at a version the chain does
    /// not have): its path and why.
    pub unreadable: Vec<(Utf8PathBuf, ErrorKind)>,
}

impl<I> Found<I> {
    /// The records, or the error that names every one that cannot be read.
    pub fn or_refuse(self) -> Result<Detected<I>, ErrorKind> {
        if self.unreadable.is_empty() {
            return Ok(self.detected);
        }
        let mut unreadable = self.unreadable;
        let total = unreadable.len();
        // One record: its own error says it all.
        if total == 1
            && let Some((_, kind)) = unreadable.pop()
        {
            return Err(kind);
        }
        let records = (unreadable.into_iter())
            .take(UNREADABLE_LISTED)
            .map(|(_, kind)| kind)
            .collect();
        Err(ErrorKind::Unreadable { records, total })
    }
}

/// Reads every record's version. `stamp` is the store's own.
pub(crate) fn detect<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    stamp: Option<u32>,
) -> Result<Found<S::Item>, RunError> {
    let fail = |k| run.fail(Stage::Detect, k);
    if let Some(version) = stamp {
        in_range(&run.chain, store.location(), version).map_err(fail)?;
    }
    let items = store.items(session).map_err(fail)?;
    let mut ticker = run.ticker(Stage::Detect, items.len());
    let mut records = Vec::with_capacity(items.len());
    let mut versions = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut skipped = Vec::new();
    for item in items {
        ticker.tick();
        let version = store.version_of(session, &run.chain, &item, stamp);
        match version {
            Ok(Version::At(version)) => match in_range(&run.chain, item.path(), version) {
                Ok(version) => {
                    *versions.entry(version).or_insert(0) += 1;
                    records.push((item, version));
                }
                Err(kind) => unreadable.push((item.path().to_owned(), kind)),
            },
            Ok(Version::Skipped(reason)) => skipped.push(Skipped {
                path: item.path().to_owned(),
                reason,
            }),
            Err(kind) => unreadable.push((item.path().to_owned(), kind)),
        }
    }
    Ok(Found {
        detected: Detected {
            records,
            versions,
            skipped,
        },
        unreadable,
    })
}

/// `version` if the chain has it; the record at `path` is refused otherwise.
pub(crate) fn in_range<R: Record>(
    chain: &ChainInfo<R>,
    path: &camino::Utf8Path,
    version: u32,
) -> Result<u32, ErrorKind> {
    if version > chain.current {
        return Err(ErrorKind::RecordTooNew {
            path: path.to_owned(),
            version,
            current: chain.current,
        });
    }
    if version < chain.base {
        return Err(ErrorKind::RecordTooOld {
            path: path.to_owned(),
            version,
            base: chain.base,
        });
    }
    Ok(version)
}
