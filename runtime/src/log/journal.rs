//! A log's commit journal: the renames a commit performs (each new file over
//! its old one), written before the first, so a crash mid-commit is
//! finished on the next start. Every rename can be repeated safely.

use std::fs;
use std::io;

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::store::LogStore;
use crate::fsio;
use crate::run::{ErrorKind, io, journal};

/// A commit, as written to `.verchain/<log name>/journal.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    /// The run committing.
    pub run_id: String,
    /// The snapshot of the files from before this commit.
    pub snapshot: Option<String>,
    /// The renames, in order.
    pub renames: Vec<Rename>,
    /// History lines to append once the renames are done.
    pub history: Vec<String>,
}

/// One new file moved over its old one, both in the log's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rename {
    /// The new file's (hidden) temporary name.
    pub from: String,
    /// The log file it replaces.
    pub to: String,
    /// The new file's size on disk: when the temporary file is gone, the
    /// rename was done only if the log file has this size.
    pub size: u64,
}

fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl Journal {
    /// Writes the journal durably; from here on the commit will complete.
    pub fn write(&self, path: &Utf8Path) -> Result<(), ErrorKind> {
        journal::write(self, path)
    }

    /// Reads a journal left by an interrupted run, if there is one.
    pub fn read(path: &Utf8Path) -> Result<Option<Journal>, ErrorKind> {
        let Some(journal) = journal::read::<Journal>(path, "log")? else {
            return Ok(None);
        };
        let damaged = |line, message: String| journal::damaged(path, "log", line, &message);
        if let Some(id) = &journal.snapshot
            && !crate::run::is_plain_id(id)
        {
            return Err(damaged(
                0,
                format!("snapshot `{id}` is not a snapshot name"),
            ));
        }
        for rename in &journal.renames {
            if !plain_name(&rename.to)
                || !plain_name(&rename.from)
                || !rename.from.starts_with('.')
                || !rename.from.contains(".verchain-")
            {
                return Err(damaged(
                    0,
                    format!(
                        "rename of `{}` to `{}` is not one verchain writes",
                        rename.from, rename.to
                    ),
                ));
            }
        }
        Ok(Some(journal))
    }

    /// Checks, before recovery renames anything, that every rename can be
    /// finished: its new file is there at the size the journal names, or
    /// (renamed before the crash) the log file has that size; and that it
    /// renames only onto the files of `store` (the log and its rotated
    /// files), from and onto regular files.
    pub fn check(&self, store: &LogStore) -> Result<(), ErrorKind> {
        let dir = store.dir();
        // A file that cannot be inspected, or is not a regular file, is an
        // error, never taken for damage.
        let size = |path: &Utf8Path| match fs::symlink_metadata(path) {
            Ok(meta) => match crate::contain::special_kind(meta.file_type()) {
                None => Ok(Some(meta.len())),
                Some(kind) => Err(ErrorKind::BadPath {
                    path: path.to_owned(),
                    reason: format!(
                        "named by the commit journal: it is a {kind}, not a regular file"
                    ),
                }),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("inspect", path)(e)),
        };
        for rename in &self.renames {
            if !store.owns(&rename.to) {
                return Err(ErrorKind::BadPath {
                    path: dir.join(&rename.to),
                    reason: "named by the commit journal, but not the log nor one of its \
                             rotated files"
                        .to_owned(),
                });
            }
        }
        for rename in &self.renames {
            let from = dir.join(&rename.from);
            let to = dir.join(&rename.to);
            match size(&from)? {
                Some(n) if n == rename.size => {}
                Some(_) => return Err(ErrorKind::StagedFileDamaged { path: to }),
                None if size(&to)? == Some(rename.size) => {}
                None => return Err(ErrorKind::StagedFileLost { path: to }),
            }
        }
        Ok(())
    }

    /// Whether no rename has been performed yet: every new file is still
    /// under its temporary name.
    pub fn untouched(&self, dir: &Utf8Path) -> bool {
        self.renames.iter().all(|r| dir.join(&r.from).exists())
    }

    /// Performs every rename in `dir`; repeating it after a crash is safe.
    pub fn apply(&self, dir: &Utf8Path) -> Result<(), ErrorKind> {
        for rename in &self.renames {
            let from = dir.join(&rename.from);
            let to = dir.join(&rename.to);
            match fsio::point("rename", &to).and_then(|()| fs::rename(&from, &to)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && !from.exists() => {
                    let done = fs::metadata(&to).is_ok_and(|m| m.len() == rename.size);
                    if !done {
                        return Err(ErrorKind::StagedFileLost { path: to });
                    }
                }
                Err(e) => return Err(io("commit", &to)(e)),
            }
        }
        fsio::sync_dir(dir).map_err(io("sync", dir))
    }
}
