//! The chains the command line runs, their types erased into
//! [`ChainEntry`] values, and how each kind of store is opened at a path.

use std::marker::PhantomData;

use camino::{Utf8Path, Utf8PathBuf};

use crate::chain::{Record, Releases, StepMeta};
use crate::folder::{FolderStore, FrontMatterPolicy};
use crate::run::HistoryRecord;
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
    /// The names of its releases.
    fn releases(&self) -> Releases;
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
    /// Records the version of a store built before verchain (see
    /// [`crate::stamp`]).
    fn stamp(
        &self,
        store: &Utf8Path,
        version: u32,
        options: &RunOptions,
    ) -> Result<HistoryRecord, RunError>;
    /// Checks every record against its version's schema (see [`crate::verify`]).
    fn verify(&self, store: &Utf8Path) -> Result<crate::run::Verified, RunError>;
    /// The store's history, oldest first.
    fn history(&self, store: &Utf8Path) -> Result<Vec<HistoryRecord>, RunError>;
    /// The store's snapshots, newest first.
    fn snapshots(&self, store: &Utf8Path) -> Result<Vec<SnapshotInfo>, RunError>;
    /// Removes all but the newest `keep` snapshots; returns the removed.
    fn prune_snapshots(&self, store: &Utf8Path, keep: usize)
    -> Result<Vec<SnapshotInfo>, RunError>;
    /// The chain with `settings` added to its folder's own (globs added,
    /// a front matter policy replacing the chain's), every glob checked;
    /// refused where a glob is not valid, or where a setting is given and
    /// the store is not a folder of documents.
    fn with_settings(&self, settings: &FolderSettings)
    -> Result<Box<dyn ChainEntry>, SettingError>;
    /// Refuses, before anything runs, a store this chain's kind of store
    /// cannot be (a URL given to a chain of files, a connection string
    /// that cannot be read), saying why without its password. Every store
    /// is taken by default.
    fn check_store(&self, _store: &Utf8Path) -> Result<(), String> {
        Ok(())
    }
}

/// What the command line sets for a folder of documents, beside where it
/// is: the documents to leave out, and what to do with Markdown documents
/// without front matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderSettings {
    /// Globs of the documents to leave out, relative to the store's root
    /// and `/`-separated, such as `drafts/**`.
    pub exclude: Vec<String>,
    /// What runs do with Markdown documents without front matter (the
    /// store's default, refusing them, when `None`).
    pub without_front_matter: Option<FrontMatterPolicy>,
}

impl FolderSettings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.exclude.is_empty() && self.without_front_matter.is_none()
    }

    /// These settings and then `more`: globs added, a policy replaced.
    pub fn and(&self, more: &FolderSettings) -> FolderSettings {
        FolderSettings {
            exclude: self.exclude.iter().chain(&more.exclude).cloned().collect(),
            without_front_matter: more.without_front_matter.or(self.without_front_matter),
        }
    }

    /// The name of a setting that is given, as a refusal names it.
    fn given(&self) -> &'static str {
        match self.exclude.is_empty() {
            true => "without_front_matter",
            false => "exclude",
        }
    }
}

/// Why a chain's store cannot take the settings asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
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
    #[error(
        "{setting} applies to folders of documents, and the store of chain `{chain}` is {kind}"
    )]
    NotAFolder {
        /// The setting (`exclude`, `without_front_matter`).
        setting: &'static str,
        /// The chain.
        chain: &'static str,
        /// What its store is, such as "a JSONL log".
        kind: &'static str,
    },
}

/// Checks one exclude glob: relative to the store's root, `/`-separated,
/// and one that [`FolderStore::exclude`] accepts.
pub(super) fn check_glob(glob: &str) -> Result<(), SettingError> {
    let bad = |reason: &str| SettingError::BadGlob {
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
    /// Refuses a store this kind cannot be: by default a URL
    /// (`postgres://app:secret@db/forms`), which a store of files would
    /// take for a path and name, password and all, in its messages.
    fn check(&self, path: &Utf8Path) -> Result<(), String> {
        match looks_like_url(path.as_str()) {
            true => Err(format!(
                "{} is a URL, and the store of this chain is {}: give it a path",
                super::output::shown(path),
                Self::KIND
            )),
            false => Ok(()),
        }
    }
    /// This kind of store with `settings` added, every glob checked;
    /// `None` where it is not a folder of documents.
    fn with_settings(&self, _settings: &FolderSettings) -> Option<Result<Self, SettingError>> {
        None
    }
}

/// Whether `path` starts as a URL does: a scheme (a letter, then letters,
/// digits, `+`, `-` or `.`) and `://`.
fn looks_like_url(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
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

/// Folders of documents, with their settings.
#[derive(Clone)]
struct Folder {
    settings: FolderSettings,
}

/// Chain `C` over a folder of documents, at `store` unless `--store` or the
/// workspace's settings say otherwise.
pub fn chain<C: Chain<Record = Document>>(store: impl Into<Utf8PathBuf>) -> Box<dyn ChainEntry> {
    chain_with::<C>(store, FolderSettings::default())
}

/// Chain `C` over a folder of documents, as [`chain`], with the chain's own
/// `settings` wherever `--store` points it: the documents it leaves out
/// (globs relative to the store's root, `/`-separated) and what it does
/// with Markdown documents without front matter. The workspace's settings
/// and the command line's add to these (`--exclude` adds globs,
/// `--without-front-matter` replaces the policy). A glob that is not valid
/// is a usage error when a command runs.
///
/// ```no_run
/// # use verchain::Chain;
/// # #[derive(Chain)] #[chain(current = 1)] pub struct Notes;
/// use verchain::cli::FolderSettings;
/// use verchain::folder::FrontMatterPolicy;
///
/// let entry = verchain::cli::chain_with::<Notes>("vault", FolderSettings {
///     exclude: vec!["drafts/**".into(), "**/*.tmp.md".into()],
///     without_front_matter: Some(FrontMatterPolicy::Skip),
/// });
/// ```
pub fn chain_with<C: Chain<Record = Document>>(
    store: impl Into<Utf8PathBuf>,
    settings: FolderSettings,
) -> Box<dyn ChainEntry> {
    Entry::<C, Folder>::boxed(store.into(), Folder { settings })
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

    fn check_store(&self, store: &Utf8Path) -> Result<(), String> {
        self.kind.check(store)
    }

    fn steps(&self) -> Vec<StepMeta> {
        C::steps().iter().map(|s| *s.meta()).collect()
    }

    fn releases(&self) -> Releases {
        Releases::of::<C>()
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

    fn stamp(
        &self,
        store: &Utf8Path,
        version: u32,
        options: &RunOptions,
    ) -> Result<HistoryRecord, RunError> {
        crate::stamp::<C>(&self.open(store)?, version, options)
    }

    fn verify(&self, store: &Utf8Path) -> Result<crate::run::Verified, RunError> {
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

    fn with_settings(
        &self,
        settings: &FolderSettings,
    ) -> Result<Box<dyn ChainEntry>, SettingError> {
        let kind = match self.kind.with_settings(settings) {
            Some(kind) => kind?,
            None if settings.is_empty() => self.kind.clone(),
            None => {
                return Err(SettingError::NotAFolder {
                    setting: settings.given(),
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
        let mut store = FolderStore::new(path);
        if let Some(policy) = self.settings.without_front_matter {
            store = store.without_front_matter(policy);
        }
        if self.settings.exclude.is_empty() {
            return Ok(store);
        }
        store
            .exclude(self.settings.exclude.iter().cloned())
            .map_err(|e| ErrorKind::Store {
                source: Box::new(e),
            })
    }

    fn with_settings(&self, more: &FolderSettings) -> Option<Result<Self, SettingError>> {
        let settings = self.settings.and(more);
        Some(
            (settings.exclude.iter())
                .try_for_each(|glob| check_glob(glob))
                .map(|()| Folder { settings }),
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
            let Err(SettingError::BadGlob {
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
