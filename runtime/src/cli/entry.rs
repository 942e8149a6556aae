//! The chains the command line runs, their types erased into
//! [`ChainEntry`] values, and how each kind of store is opened at a path.

use std::marker::PhantomData;

use camino::{Utf8Path, Utf8PathBuf};

use crate::chain::{Record, StepMeta};
use crate::folder::FolderStore;
use crate::run::{HistoryRecord, ValidationFailure};
use crate::snapshot::SnapshotInfo;
use crate::{
    Chain, Document, ErrorKind, Report, RollbackTo, RunError, RunOptions, Stage, Status, Store,
};

/// One chain the command line can run, whatever kind of store it has; each
/// call opens the store at the path it is given.
pub trait ChainEntry {
    /// The chain's name.
    fn name(&self) -> &'static str;
    /// The store's path when neither `--store` nor the workspace's settings
    /// give one.
    fn default_store(&self) -> &Utf8Path;
    /// Its steps, in order.
    fn steps(&self) -> Vec<StepMeta>;
    /// The file declaring the chain, its type's name, its current version.
    fn source(&self) -> (&'static str, &'static str, u32);
    /// The parameter of an empty step of the chain (its name and type).
    fn step_parameter(&self) -> (&'static str, &'static str);
    /// Migrates the store (see [`crate::migrate`]).
    fn migrate(&self, store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError>;
    /// Runs one step alone, out of order (see [`crate::migrate_step`]).
    fn migrate_step(
        &self,
        store: &Utf8Path,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError>;
    /// Rolls the store back (see [`crate::rollback`]).
    fn rollback(
        &self,
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError>;
    /// The store's state (see [`crate::status`]).
    fn status(&self, store: &Utf8Path) -> Result<Status, RunError>;
    /// Checks every record against its version's schema (see [`crate::verify`]).
    fn verify(&self, store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError>;
    /// The store's history, oldest first.
    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError>;
    /// The store's snapshots, newest first.
    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError>;
    /// Removes all but the newest `keep` snapshots; returns the removed.
    fn prune_snapshots(&self, store: &Utf8Path, keep: usize)
    -> Result<Vec<SnapshotInfo>, RunError>;
    /// The chain with `exclude` added to the globs of documents its store
    /// leaves out, every glob checked (the chain's own too); refused where
    /// a glob is not valid, or where `exclude` is not empty and the store is
    /// not a folder of documents.
    fn excluding(&self, exclude: &[String]) -> Result<Box<dyn ChainEntry>, ExcludeError>;
}

/// Why a chain's store cannot leave out the documents asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExcludeError {
    /// A glob that cannot be read, or that is not relative to the store's
    /// root.
    #[error("`{glob}` is not a valid glob: {reason}")]
    BadGlob {
        /// The glob as given.
        glob: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The chain's store is not a folder of documents.
    #[error("exclude applies to folders of documents, and the store of chain `{chain}` is {kind}")]
    NotAFolder {
        /// The chain.
        chain: &'static str,
        /// What its store is, such as "a JSONL log".
        kind: &'static str,
    },
}

/// Checks one exclude glob: relative to the store's root, `/`-separated,
/// and one that [`FolderStore::exclude`] accepts.
pub(super) fn check_glob(glob: &str) -> Result<(), ExcludeError> {
    let bad = |reason: &str| ExcludeError::BadGlob {
        glob: glob.to_owned(),
        reason: reason.to_owned(),
    };
    if glob.is_empty() {
        return Err(bad("it is empty"));
    }
    if glob.starts_with('/') || glob.split('/').any(|part| part == "." || part == "..") {
        return Err(bad(
            "globs are relative to the store's root, `/`-separated, without `.` or `..`",
        ));
    }
    globset::Glob::new(glob)
        .map(drop)
        .map_err(|e| bad(&e.kind().to_string()))
}

/// How the command line opens one kind of store at a path; the commands
/// then go through [`Store`].
pub(super) trait Opens: Clone + 'static {
    type Store: Store;
    /// What this kind of store is, as a refusal names it ("a JSONL log").
    const KIND: &'static str;
    /// The store at `path`, set up as the chain's entry says.
    fn open(&self, path: &Utf8Path) -> Result<Self::Store, ErrorKind>;
    /// This kind of store leaving out what `exclude` matches as well, every
    /// glob checked; `None` where it holds no documents to leave out.
    fn excluding(&self, _exclude: &[String]) -> Option<Result<Self, ExcludeError>> {
        None
    }
}

/// Chain `C` on a store of kind `K`, with its default store.
pub(super) struct Entry<C, K> {
    store: Utf8PathBuf,
    kind: K,
    chain: PhantomData<fn() -> C>,
}

impl<C, K> Entry<C, K> {
    pub(super) fn boxed(store: Utf8PathBuf, kind: K) -> Box<Self> {
        Box::new(Entry {
            store,
            kind,
            chain: PhantomData,
        })
    }
}

/// Folders of documents, leaving out what the globs match.
#[derive(Clone)]
struct Folder {
    exclude: Vec<String>,
}

/// Chain `C` over a folder of documents, at `store` unless `--store` or the
/// workspace's settings say otherwise.
pub fn chain<C: Chain<Record = Document>>(store: impl Into<Utf8PathBuf>) -> Box<dyn ChainEntry> {
    chain_excluding::<C>(store, Vec::<String>::new())
}

/// Chain `C` over a folder of documents, as [`chain`], leaving out the
/// documents whose path (relative to the store's root, `/`-separated)
/// matches one of `exclude`, wherever `--store` points it; the workspace's
/// `exclude` and the command line's `--exclude` add to these. A glob that
/// is not valid is a usage error when a command runs.
///
/// ```no_run
/// # use verchain::Chain;
/// # #[derive(Chain)] #[chain(current = 1)] pub struct Notes;
/// let entry = verchain::cli::chain_excluding::<Notes>("vault", ["drafts/**", "**/*.tmp.md"]);
/// ```
pub fn chain_excluding<C: Chain<Record = Document>>(
    store: impl Into<Utf8PathBuf>,
    exclude: impl IntoIterator<Item = impl Into<String>>,
) -> Box<dyn ChainEntry> {
    let exclude = exclude.into_iter().map(Into::into).collect();
    Entry::<C, Folder>::boxed(store.into(), Folder { exclude })
}

impl<C: Chain, K: Opens> Entry<C, K> {
    /// The store at `path`; a store that cannot be set up changes nothing.
    fn open(&self, path: &Utf8Path) -> Result<K::Store, RunError> {
        self.kind
            .open(path)
            .map_err(|k| RunError::new(C::NAME, Stage::Detect, k).unchanged())
    }
}

impl<C: Chain, K: Opens> ChainEntry for Entry<C, K>
where
    K::Store: Store<Record = C::Record>,
{
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn default_store(&self) -> &Utf8Path {
        &self.store
    }

    fn steps(&self) -> Vec<StepMeta> {
        C::steps().iter().map(|s| *s.meta()).collect()
    }

    fn source(&self) -> (&'static str, &'static str, u32) {
        (C::SOURCE_FILE, C::TYPE_NAME, C::CURRENT)
    }

    fn step_parameter(&self) -> (&'static str, &'static str) {
        <C::Record as Record>::STEP_PARAMETER
    }

    fn migrate(&self, store: &Utf8Path, options: &RunOptions) -> Result<Report, RunError> {
        crate::migrate::<C>(&self.open(store)?, options)
    }

    fn migrate_step(
        &self,
        store: &Utf8Path,
        step: &str,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        crate::migrate_step::<C>(&self.open(store)?, step, options)
    }

    fn rollback(
        &self,
        store: &Utf8Path,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        crate::rollback::<C>(&self.open(store)?, to, options)
    }

    fn status(&self, store: &Utf8Path) -> Result<Status, RunError> {
        crate::status::<C>(&self.open(store)?)
    }

    fn verify(&self, store: &Utf8Path) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        crate::verify::<C>(&self.open(store)?)
    }

    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError> {
        crate::history(&self.open(store)?).map_err(|k| RunError::new(C::NAME, Stage::Detect, k))
    }

    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError> {
        crate::snapshots(&self.open(store)?).map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }

    fn prune_snapshots(
        &self,
        store: &Utf8Path,
        keep: usize,
    ) -> Result<Vec<SnapshotInfo>, RunError> {
        crate::prune_snapshots::<C>(&self.open(store)?, keep)
            .map_err(|k| RunError::new(C::NAME, Stage::Snapshot, k))
    }

    fn excluding(&self, exclude: &[String]) -> Result<Box<dyn ChainEntry>, ExcludeError> {
        let kind = match self.kind.excluding(exclude) {
            Some(kind) => kind?,
            None if exclude.is_empty() => self.kind.clone(),
            None => {
                return Err(ExcludeError::NotAFolder {
                    chain: C::NAME,
                    kind: K::KIND,
                });
            }
        };
        Ok(Entry::<C, K>::boxed(self.store.clone(), kind))
    }
}

impl Opens for Folder {
    type Store = FolderStore;
    const KIND: &'static str = "a folder of documents";

    fn open(&self, path: &Utf8Path) -> Result<FolderStore, ErrorKind> {
        let store = FolderStore::new(path);
        if self.exclude.is_empty() {
            return Ok(store);
        }
        store
            .exclude(self.exclude.iter().cloned())
            .map_err(|e| ErrorKind::Store {
                source: Box::new(e),
            })
    }

    fn excluding(&self, exclude: &[String]) -> Option<Result<Self, ExcludeError>> {
        let all: Vec<String> = self.exclude.iter().chain(exclude).cloned().collect();
        Some(
            all.iter()
                .try_for_each(|glob| check_glob(glob))
                .map(|()| Folder { exclude: all }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_is_relative_to_the_root_and_one_the_folder_store_reads() {
        for glob in ["drafts/**", "**/*.tmp.md", "a/{b,c}/*.md", "notes.md"] {
            assert_eq!(check_glob(glob), Ok(()), "{glob}");
        }
        for (glob, reason) in [
            ("", "it is empty"),
            ("/drafts/**", "relative to the store's root"),
            ("./drafts/**", "without `.` or `..`"),
            ("a/../b/*.md", "without `.` or `..`"),
            ("a/[b", "unclosed character class"),
            ("a/{b", "unclosed alternate group"),
        ] {
            let Err(ExcludeError::BadGlob {
                glob: named,
                reason: said,
            }) = check_glob(glob)
            else {
                panic!("`{glob}` was accepted");
            };
            assert_eq!(named, glob);
            assert!(said.contains(reason), "{glob}: {said}");
        }
    }
}
