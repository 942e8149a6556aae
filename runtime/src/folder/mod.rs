//! Folders of documents: [`FolderStore`], a folder of JSON, TOML, YAML and
//! Markdown files, and where verchain keeps its own files in it
//! (`.verchain/`). The store stages each changed document under
//! `.verchain/staging/<run id>/`, snapshots the documents into a `tar.zst`
//! archive, and commits by journaled renames (see [`crate::Store`] for the
//! run they make part of).

mod claims;
mod commit;
pub(crate) mod journal;
mod restore;
mod stage;
mod stamp;
mod store;
mod work;

#[cfg(any(test, feature = "postgres"))]
pub(crate) use store::Archives;
pub(crate) use store::version_of;

use std::fs;

use camino::{Utf8Path, Utf8PathBuf};
use globset::{Glob, GlobSet, GlobSetBuilder};

pub use crate::document::{Document, DocumentBody, DocumentVerify};
pub use crate::error::DocumentError;
pub use crate::format::{Format, FormatError, FrontMatter};
use crate::run::{ErrorKind, STATE_DIR, io};

/// A folder of documents in JSON, TOML, YAML or Markdown with front matter.
///
/// Every file whose extension names a format is a document, except hidden
/// files and folders (`.git/`, `.verchain/`, …) and what the globs exclude.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: Utf8PathBuf,
    include: Option<GlobSet>,
    include_patterns: Vec<String>,
    exclude: Option<GlobSet>,
    exclude_patterns: Vec<String>,
    formats: Vec<Format>,
    front_matter: FrontMatterPolicy,
}

/// What a folder store does with a Markdown document that has no front
/// matter (a README, a LICENSE among the notes), or one whose start looks
/// like front matter that the site generators would not read alike.
/// Whatever the choice, such a document is never silently given a second
/// front matter, nor left out without being listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrontMatterPolicy {
    /// A run refuses them, naming every one (the default).
    #[default]
    Refuse,
    /// Runs leave them as they are and list them in the report
    /// ([`Report::skipped`](crate::Report::skipped)) and in `status`.
    Skip,
    /// A document without front matter is migrated, and gets a YAML front
    /// matter written at its top when a step gives it fields; one whose
    /// front matter is not recognised is still refused.
    Add,
}

impl FrontMatterPolicy {
    /// The policy's name on the command line: `refuse`, `skip`, `add`.
    pub fn name(self) -> &'static str {
        match self {
            FrontMatterPolicy::Refuse => "refuse",
            FrontMatterPolicy::Skip => "skip",
            FrontMatterPolicy::Add => "add",
        }
    }
}

impl std::str::FromStr for FrontMatterPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "refuse" => Ok(FrontMatterPolicy::Refuse),
            "skip" => Ok(FrontMatterPolicy::Skip),
            "add" => Ok(FrontMatterPolicy::Add),
            other => Err(format!("`{other}` is not `refuse`, `skip` or `add`")),
        }
    }
}

/// What went wrong with a folder of documents, beside its documents'
/// formats.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// A Markdown document has no front matter, and the store refuses such
    /// documents ([`FrontMatterPolicy::Refuse`]).
    #[error(
        "{path}: a Markdown document without front matter; verchain gives none unless told to \
         (`--without-front-matter add`), or leaves such documents out and lists them \
         (`--without-front-matter skip`), or exclude it (`--exclude`)"
    )]
    NoFrontMatter {
        /// The document, relative to the store.
        path: Utf8PathBuf,
    },
}

impl FolderStore {
    /// The store at `root`, a folder that must exist.
    pub fn new(root: impl Into<Utf8PathBuf>) -> Self {
        FolderStore {
            root: root.into(),
            include: None,
            include_patterns: Vec::new(),
            exclude: None,
            exclude_patterns: Vec::new(),
            formats: vec![Format::Json, Format::Toml, Format::Yaml, Format::Markdown],
            front_matter: FrontMatterPolicy::Refuse,
        }
    }

    /// Only documents whose path (relative to the root, `/`-separated)
    /// matches one of these globs, such as `notes/**/*.md`.
    pub fn include<I, S>(mut self, patterns: I) -> Result<Self, globset::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.include_patterns = patterns.into_iter().map(Into::into).collect();
        self.include = Some(glob_set(&self.include_patterns)?);
        Ok(self)
    }

    /// Skips documents whose path matches one of these globs.
    pub fn exclude<I, S>(mut self, patterns: I) -> Result<Self, globset::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude_patterns = patterns.into_iter().map(Into::into).collect();
        self.exclude = Some(glob_set(&self.exclude_patterns)?);
        Ok(self)
    }

    /// Only documents in these formats.
    #[must_use]
    pub fn formats(mut self, formats: &[Format]) -> Self {
        self.formats = formats.to_vec();
        self
    }

    /// What runs do with Markdown documents without front matter, or
    /// with front matter that is not recognised (refused by default).
    #[must_use]
    pub fn without_front_matter(mut self, policy: FrontMatterPolicy) -> Self {
        self.front_matter = policy;
        self
    }

    /// The store's [`FrontMatterPolicy`].
    pub fn front_matter_policy(&self) -> FrontMatterPolicy {
        self.front_matter
    }

    /// The store's folder.
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    pub(crate) fn state_dir(&self) -> Utf8PathBuf {
        self.root.join(STATE_DIR)
    }

    pub(crate) fn stamp_path(&self) -> Utf8PathBuf {
        self.state_dir().join("stamp.json")
    }

    /// The history file, `.verchain/history.jsonl`.
    pub fn history_path(&self) -> Utf8PathBuf {
        self.state_dir().join("history.jsonl")
    }

    /// The snapshot folder, `.verchain/snapshots/`.
    pub fn snapshot_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("snapshots")
    }

    /// Removes a run's staging folder (`staging`, relative to the root), and
    /// the folder of staging folders once it is empty: what a run that
    /// commits nothing leaves.
    pub(crate) fn remove_staging(&self, staging: &Utf8Path) {
        let _ = crate::fsio::remove_tree(&self.root().join(staging));
        let _ = fs::remove_dir(self.staging_root());
    }

    pub(crate) fn staging_root(&self) -> Utf8PathBuf {
        self.state_dir().join("staging")
    }

    /// The format of `path` if it is one of this store's documents.
    pub(crate) fn format_of(&self, path: &Utf8Path) -> Option<Format> {
        Format::from_path(path).filter(|f| self.formats.contains(f))
    }

    /// Whether `path` (relative) is a document of this store by its name.
    pub(crate) fn selects(&self, path: &Utf8Path) -> bool {
        let hidden = path.components().any(|c| c.as_str().starts_with('.'));
        !hidden
            && self.format_of(path).is_some()
            && self
                .include
                .as_ref()
                .is_none_or(|g| g.is_match(path.as_str()))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|g| g.is_match(path.as_str()))
    }

    /// Why verchain may not write a document at `path` (relative to the root),
    /// or `None` when it may: the path must be plain (relative, no `..`), a
    /// document of this store (not hidden, not excluded, a known format), and
    /// no folder on the way may be a symbolic link or a file.
    pub(crate) fn unwritable(&self, path: &Utf8Path) -> Option<&'static str> {
        if !crate::contain::is_plain(path) {
            return Some("a document path must be relative, without `..`, `.` or a root");
        }
        if !self.selects(path) {
            return Some(
                "is not a document of this store (hidden, excluded, or not a document format)",
            );
        }
        crate::contain::link_on_way(&self.root, path).map(|(_, reason)| reason)
    }

    /// Every document's path relative to the root, sorted. A symbolic link,
    /// FIFO, socket or device that would be a document is an error naming
    /// it: verchain never follows links, and reads only regular files.
    pub(crate) fn scan(&self) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        let meta = fs::metadata(&self.root).map_err(io("open store", &self.root))?;
        if !meta.is_dir() {
            return Err(ErrorKind::BadPath {
                path: self.root.clone(),
                reason: "the store must be a folder".to_owned(),
            });
        }
        let mut found = Vec::new();
        let mut pending = vec![Utf8PathBuf::new()];
        while let Some(rel) = pending.pop() {
            let dir = self.root.join(&rel);
            let entries = fs::read_dir(&dir).map_err(io("read folder", &dir))?;
            for entry in entries {
                let entry = entry.map_err(io("read folder", &dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    return Err(ErrorKind::BadPath {
                        path: dir.join(name.to_string_lossy().as_ref()),
                        reason: "the name is not UTF-8".to_owned(),
                    });
                };
                if name.starts_with('.') {
                    continue;
                }
                let child = rel.join(name);
                let kind = entry
                    .file_type()
                    .map_err(io("inspect", self.root.join(&child)))?;
                if kind.is_dir() {
                    pending.push(child);
                } else if kind.is_symlink()
                    && self.root.join(&child).is_dir()
                    && !self
                        .exclude
                        .as_ref()
                        .is_some_and(|g| g.is_match(child.as_str()))
                {
                    return Err(ErrorKind::BadPath {
                        path: child,
                        reason: "is a symbolic link to a folder; verchain does not follow links \
                                 (exclude it, or replace it with the folder)"
                            .to_owned(),
                    });
                } else if self.selects(&child) {
                    match crate::contain::special_kind(kind) {
                        None => found.push(child),
                        Some("symbolic link") => {
                            return Err(ErrorKind::BadPath {
                                path: child,
                                reason: "is a symbolic link; verchain does not follow links \
                                         (exclude it, or replace it with the file)"
                                    .to_owned(),
                            });
                        }
                        // A FIFO, socket or device named like a document is
                        // never skipped silently: reading it could block.
                        Some(other) => {
                            return Err(ErrorKind::BadPath {
                                path: child,
                                reason: format!(
                                    "is a {other}, not a regular file; verchain reads only \
                                     regular files (exclude it, or remove it)"
                                ),
                            });
                        }
                    }
                }
            }
        }
        found.sort();
        Ok(found)
    }
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern)?);
    }
    builder.build()
}
