//! A log's commit: the renames it performs (each new file over its old
//! one), written to the commit journal before the first, then the sizes
//! committed recorded in the run's snapshot. Every rename can be repeated
//! safely, so a crash in the middle is finished by the next run.

use std::fs;
use std::io;

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;
use super::snapshot::{self, Committed, CommittedFile};
use super::store::LogStore;
use crate::fsio;
use crate::run::journal::{self, Operations};
use crate::run::{ErrorKind, io};

/// A log's commit journal, `.verchain/<log name>/journal.json`.
pub type Journal = journal::Journal<Renames>;

/// What a log's commit does: its renames, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Renames {
    /// The renames.
    pub renames: Vec<Rename>,
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
    /// The log file as the run read it: a run's commit checks, once the
    /// rename is done, that the file it replaced is still that (a line an
    /// application appended meanwhile would otherwise be lost), and is
    /// undone if not; so does a recovery, before it renames anything
    /// (a journal written before `was` was kept has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Fingerprint>,
}

/// Where a rename keeps the file it replaces: beside the new file, hidden,
/// named after it.
fn aside(rename: &Rename) -> String {
    format!("{}.orig", rename.from)
}

fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl Operations for Renames {
    type Store = LogStore;
    const WHAT: &'static str = "log";

    /// Renames verchain writes move a hidden file of its own over a file
    /// in the log's folder, never elsewhere.
    fn refuse(&self) -> Option<String> {
        self.renames.iter().find_map(|rename| {
            let ours = plain_name(&rename.to)
                && plain_name(&rename.from)
                && rename.from.starts_with('.')
                && rename.from.contains(".verchain-");
            (!ours).then(|| {
                format!(
                    "rename of `{}` to `{}` is not one verchain writes",
                    rename.from, rename.to
                )
            })
        })
    }

    /// Checks, before recovery renames anything, that every rename can be
    /// finished: its new file is there at the size the journal names, or
    /// (renamed before the crash) the log file has that size; and that it
    /// renames only onto the files of `store` (the log and its rotated
    /// files), from and onto regular files.
    fn check(&self, store: &LogStore) -> Result<(), ErrorKind> {
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
            // The new file renamed is the log file only if the log has its
            // size and is not the file the run read (put back there, of the
            // same size, by an undo a crash cut short).
            let renamed = |to: &Utf8Path| -> Result<bool, ErrorKind> {
                Ok(size(to)? == Some(rename.size)
                    && !(rename.was.as_ref())
                        .is_some_and(|was| was.size == rename.size && was.same_bytes(to)))
            };
            match size(&from)? {
                Some(n) if n == rename.size => {}
                Some(_) => return Err(ErrorKind::StagedFileDamaged { path: to }),
                None if renamed(&to)? => {}
                None => return Err(ErrorKind::StagedFileLost { path: to }),
            }
        }
        // A log file the crashed commit had still to replace must be what
        // the run read, and so must one it did replace (kept aside): a line
        // appended since is never lost.
        for rename in &self.renames {
            let (from, to) = (dir.join(&rename.from), dir.join(&rename.to));
            let Some(was) = rename.was.as_ref() else {
                continue;
            };
            let kept = dir.join(aside(rename));
            let (what, kept) = match (from.exists(), size(&to)?) {
                (true, None) => (Some("it was removed".to_owned()), None),
                (true, Some(_)) => (was.changed(&to)?, None),
                (false, _) if size(&kept)?.is_some() => (was.changed(&kept)?, Some(kept)),
                (false, _) => (None, None),
            };
            if let Some(what) = what {
                return Err(ErrorKind::ChangedDuringRun {
                    path: to,
                    what,
                    kept,
                });
            }
        }
        Ok(())
    }

    /// Whether no rename has been performed yet: every new file is still
    /// under its temporary name.
    fn untouched(&self, store: &LogStore) -> bool {
        (self.renames.iter()).all(|r| store.dir().join(&r.from).exists())
    }

    /// Performs every rename in the log's folder, each file it replaces kept
    /// aside first (a hard link beside it), for [`Operations::undo`].
    fn apply(&self, store: &LogStore, tick: &mut dyn FnMut()) -> Result<(), ErrorKind> {
        let dir = store.dir();
        for rename in &self.renames {
            let from = dir.join(&rename.from);
            let to = dir.join(&rename.to);
            let aside = dir.join(aside(rename));
            if from.exists() && to.exists() && !aside.exists() {
                fsio::point("link", &aside)
                    .and_then(|()| fs::hard_link(&to, &aside))
                    .map_err(io("keep aside", &to))?;
            }
            match fsio::point("rename", &to).and_then(|()| fs::rename(&from, &to)) {
                Ok(()) => {
                    // The file it replaced is kept aside: whatever was
                    // written to it up to the rename is there.
                    let what = match &rename.was {
                        None => None,
                        Some(_) if fs::symlink_metadata(&aside).is_err() => {
                            Some("it was removed".to_owned())
                        }
                        Some(was) => was.changed(&aside)?,
                    };
                    if let Some(what) = what {
                        return Err(ErrorKind::ChangedDuringRun {
                            path: to,
                            what,
                            kept: None,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && !from.exists() => {
                    let done = fs::metadata(&to).is_ok_and(|m| m.len() == rename.size);
                    if !done {
                        return Err(ErrorKind::StagedFileLost { path: to });
                    }
                }
                Err(e) => return Err(io("commit", &to)(e)),
            }
            tick();
        }
        fsio::sync_dir(dir).map_err(io("sync", dir))
    }

    /// Puts back, newest first, every file a rename replaced (or removes
    /// the one it created).
    fn undo(&self, store: &LogStore) -> Result<(), ErrorKind> {
        let dir = store.dir();
        for rename in self.renames.iter().rev() {
            if dir.join(&rename.from).exists() {
                continue;
            }
            let to = dir.join(&rename.to);
            let aside = dir.join(aside(rename));
            let put = match aside.exists() {
                true => fsio::point("put back", &to).and_then(|()| fs::rename(&aside, &to)),
                false => fsio::point("remove", &to).and_then(|()| fs::remove_file(&to)),
            };
            put.map_err(io("put back", &to))?;
        }
        fsio::sync_dir(dir).map_err(io("sync", dir))
    }

    fn clean(&self, store: &LogStore) {
        for rename in &self.renames {
            let _ = fs::remove_file(store.dir().join(&rename.from));
            let _ = fs::remove_file(store.dir().join(aside(rename)));
        }
    }

    /// Records in the run's snapshot the size each file had once
    /// committed, so that a restore can tell that records were written
    /// since.
    fn done(&self, store: &LogStore, snapshot: Option<&str>) -> Result<(), ErrorKind> {
        let Some(id) = snapshot else {
            return Ok(());
        };
        let committed = Committed {
            files: (self.renames.iter())
                .map(|r| CommittedFile {
                    name: r.to.clone(),
                    size: r.size,
                })
                .collect(),
        };
        let path = snapshot::path_of(&store.snapshot_dir(), id);
        // Written only into a real folder, never through a link.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            snapshot::write_committed(&path, &committed).map_err(io("write", &path))?;
        }
        Ok(())
    }
}
