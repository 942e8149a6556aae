//! The commit journal: the list of file operations a commit performs,
//! written before the first one, so a crash mid-commit is finished on the
//! next start. Every operation can be repeated safely.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::error::{ErrorKind, io};
use crate::fsio;

/// A commit, as written to `.verchain/journal.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// The run committing.
    pub run_id: String,
    /// The store's stamped version once committed (`None`: no stamp, as
    /// before the first run).
    pub version: Option<u32>,
    /// The snapshot of the store from before this commit, if one was taken.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// The folder the staged files are in, relative to the store.
    pub staging: Utf8PathBuf,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// History lines to append once the operations are done.
    pub history: Vec<String>,
}

/// One file operation of a commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    /// Move the staged file (relative to staging) over `path` (relative to
    /// the store). `blake3` is the staged content's hash: when the staged
    /// file is gone, the write was done only if `path` has that content.
    Write { path: Utf8PathBuf, blake3: String },
    /// Remove `path` (relative to the store).
    Remove { path: Utf8PathBuf },
}

/// Writes a journal (of any store) durably, in one rename.
pub(crate) fn write<J: Serialize>(journal: &J, path: &Utf8Path) -> Result<(), ErrorKind> {
    let text = serde_json::to_string_pretty(journal).map_err(|e| ErrorKind::Damaged {
        path: path.to_owned(),
        line: 0,
        message: e.to_string(),
    })?;
    fsio::write_atomic(path, text.as_bytes()).map_err(io("write journal", path))
}

/// Reads the journal an interrupted run of a `what` (store, log) left at
/// `path`, if there is one; a journal that does not parse is damage.
pub(crate) fn read<J: serde::de::DeserializeOwned>(
    path: &Utf8Path,
    what: &str,
) -> Result<Option<J>, ErrorKind> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read journal", path)(e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| damaged(path, what, e.line(), &e.to_string()))
}

/// A journal that verchain did not write as it reads.
pub(crate) fn damaged(path: &Utf8Path, what: &str, line: usize, message: &str) -> ErrorKind {
    ErrorKind::Damaged {
        path: path.to_owned(),
        line,
        message: format!(
            "{message}; the {what} may be half-committed: restore the newest snapshot by hand"
        ),
    }
}

/// The end of a commit, for any store: the run's history `lines` appended
/// (marked as recovered when a recovery finishes the commit, and not again
/// if the run got that far), then the journal removed and its folder synced.
/// From here the store has no commit pending.
pub(crate) fn close(
    history_path: &Utf8Path,
    journal_path: &Utf8Path,
    run_id: &str,
    lines: &[String],
    recovering: bool,
) -> Result<(), ErrorKind> {
    // Only a recovery can find its lines already written (by the run it
    // finishes); a fresh commit does not read the whole history.
    let recorded = recovering
        && super::history::read(history_path)?
            .iter()
            .any(|r| r.run_id == run_id);
    let state = journal_path.parent().unwrap_or(Utf8Path::new("."));
    if !recorded {
        let created = !history_path.exists();
        let lines: Vec<String> = if recovering {
            lines
                .iter()
                .map(|l| super::history::recovered_line(l))
                .collect()
        } else {
            lines.to_vec()
        };
        fsio::append_lines(history_path, &lines).map_err(io("append to", history_path))?;
        if created {
            // The history file's name is durable before the journal goes.
            let folder = history_path.parent().unwrap_or(Utf8Path::new("."));
            fsio::sync_dir(folder).map_err(io("sync", folder))?;
        }
    }
    fsio::remove_file(journal_path).map_err(io("remove", journal_path))?;
    fsio::sync_dir(state).map_err(io("sync", state))
}

impl Journal {
    /// Writes the journal durably; from here on the commit will complete.
    pub fn write(&self, path: &Utf8Path) -> Result<(), ErrorKind> {
        write(self, path)
    }

    /// Reads a journal left by an interrupted run, if there is one.
    pub fn read(path: &Utf8Path) -> Result<Option<Journal>, ErrorKind> {
        let Some(journal) = read::<Journal>(path, "store")? else {
            return Ok(None);
        };
        let damaged = |line, message: String| damaged(path, "store", line, &message);
        // A journal only ever names plain paths inside the store, and staging
        // under `.verchain/staging/`: anything else was not written by verchain.
        let staging_ok = journal.staging.parent() == Some(Utf8Path::new(".verchain/staging"))
            && journal
                .staging
                .file_name()
                .is_some_and(|n| !n.starts_with('.'));
        if !staging_ok {
            return Err(damaged(
                0,
                format!("staging folder `{}` is not verchain's", journal.staging),
            ));
        }
        for op in &journal.ops {
            let (Op::Write { path, .. } | Op::Remove { path }) = op;
            if !crate::contain::is_plain(path) || path.starts_with(crate::dir::STATE_DIR) {
                return Err(damaged(
                    0,
                    format!("operation on `{path}`, outside the store's documents"),
                ));
            }
        }
        check_snapshot_id(path, "store", journal.snapshot.as_deref())?;
        Ok(Some(journal))
    }

    /// Checks, before recovery moves anything, that every write can be
    /// finished: its staged file has the content the journal names, or
    /// (moved before the crash) the document has. A recovery that would
    /// stop halfway is refused before it starts.
    pub fn check(&self, root: &Utf8Path) -> Result<(), ErrorKind> {
        self.contained(root)?;
        let staging = root.join(&self.staging);
        // Whether `file` has that content; `None` if there is no such file.
        // A file that cannot be read (or is not a regular file) is an
        // error, never taken for damage.
        let holds = |file: &Utf8Path, blake3: &str| {
            crate::contain::blake3_of(file)
                .map(|found| found.map(|found| found == blake3))
                .map_err(io("read", file))
        };
        for op in &self.ops {
            if let Op::Write { path, blake3 } = op {
                match holds(&staging.join(path), blake3)? {
                    Some(true) => {}
                    Some(false) => return Err(ErrorKind::StagedFileDamaged { path: path.clone() }),
                    None if holds(&root.join(path), blake3)? == Some(true) => {}
                    None => return Err(ErrorKind::StagedFileLost { path: path.clone() }),
                }
            }
        }
        Ok(())
    }

    /// Checks that every path the journal names stays inside the store at
    /// `root`: no folder on the way to a document, or to a staged file (the
    /// staging folder included), is a symbolic link or a file.
    pub fn contained(&self, root: &Utf8Path) -> Result<(), ErrorKind> {
        for op in &self.ops {
            let (path, staged) = match op {
                Op::Write { path, .. } => (path, Some(self.staging.join(path))),
                Op::Remove { path } => (path, None),
            };
            let found = crate::contain::link_on_way(root, path)
                .or_else(|| crate::contain::link_on_way(root, staged.as_deref()?));
            if let Some((path, reason)) = found {
                return Err(ErrorKind::BadPath {
                    path,
                    reason: format!("named by the commit journal: {reason}"),
                });
            }
        }
        Ok(())
    }

    /// Whether no operation has been performed yet: every staged file is
    /// still staged and every file to remove is still there.
    pub fn untouched(&self, root: &Utf8Path) -> bool {
        let staging = root.join(&self.staging);
        self.ops.iter().all(|op| match op {
            Op::Write { path, .. } => staging.join(path).exists(),
            Op::Remove { path } => root.join(path).exists(),
        })
    }

    /// Performs every operation, calling `tick` after each; repeating it after a crash is safe: a write
    /// whose staged file is gone was done, a removal of a missing file was
    /// done.
    pub fn apply(&self, root: &Utf8Path, tick: &mut dyn FnMut()) -> Result<(), ErrorKind> {
        let staging = root.join(&self.staging);
        let mut dirs = BTreeSet::new();
        for op in &self.ops {
            match op {
                Op::Write { path, blake3 } => {
                    let from = staging.join(path);
                    let to = root.join(path);
                    let parent = to.parent().unwrap_or(root).to_owned();
                    if !dirs.contains(&parent) {
                        fsio::create_dir_all(&parent).map_err(io("create", &parent))?;
                    }
                    fsio::point("commit", &to).map_err(io("commit", &to))?;
                    match fs::rename(&from, &to) {
                        Ok(()) => {}
                        // Done before a crash only if the target is the staged content.
                        Err(e) if e.kind() == io::ErrorKind::NotFound && !from.exists() => {
                            let done = crate::contain::blake3_of(&to)
                                .is_ok_and(|found| found.as_deref() == Some(blake3.as_str()));
                            if !done {
                                return Err(ErrorKind::StagedFileLost { path: path.clone() });
                            }
                        }
                        Err(e) => return Err(io("commit", &to)(e)),
                    }
                    dirs.insert(parent);
                }
                Op::Remove { path } => {
                    let target = root.join(path);
                    fsio::point("remove", &target).map_err(io("remove", &target))?;
                    match fs::remove_file(&target) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io("remove", &target)(e)),
                    }
                    dirs.insert(target.parent().unwrap_or(root).to_owned());
                }
            }
            tick();
        }
        for dir in dirs {
            fsio::sync_dir(&dir).map_err(io("sync", &dir))?;
        }
        Ok(())
    }
}

/// Refuses a journal at `path` (of a `what`: store, log) whose `snapshot`
/// could not name a snapshot in the store's snapshot folder: recovery may
/// remove that snapshot, so it must be checked as a user's id is.
pub(crate) fn check_snapshot_id(
    path: &Utf8Path,
    what: &str,
    snapshot: Option<&str>,
) -> Result<(), ErrorKind> {
    match snapshot.and_then(|id| Some((id, crate::contain::snapshot_id_problem(id)?))) {
        Some((id, problem)) => Err(damaged(
            path,
            what,
            0,
            &format!("snapshot `{id}` is not a snapshot name ({problem})"),
        )),
        None => Ok(()),
    }
}

/// What recovery does with the commit journal of an interrupted run, for
/// any store: finish it, give it up, or stop.
pub(crate) enum Recovery {
    /// Every staged file is as the journal says: finish the commit.
    Finish,
    /// It cannot finish, but nothing has been moved yet: the store is whole
    /// as before that run, which is given up (see [`GivenUp`]).
    GiveUp(ErrorKind),
    /// It cannot finish and files have been moved (or the check itself
    /// failed): stop, and say how to restore the snapshot.
    Stop(ErrorKind),
}

impl Recovery {
    /// Decides from the journal's `check` and whether it is `untouched`.
    pub fn decide(check: Result<(), ErrorKind>, untouched: impl Fn() -> bool) -> Recovery {
        match check {
            Ok(()) => Recovery::Finish,
            Err(
                cause @ (ErrorKind::StagedFileDamaged { .. } | ErrorKind::StagedFileLost { .. }),
            ) if untouched() => Recovery::GiveUp(cause),
            Err(cause) => Recovery::Stop(cause),
        }
    }
}

/// The error of a recovery that cannot finish the commit of the run whose
/// snapshot is `snapshot`: `cause`, and how to put the snapshot back by
/// hand (`restore`, given the snapshot and the store's root).
pub(crate) fn recovery_failed(
    snapshot: Option<Utf8PathBuf>,
    root: &Utf8Path,
    journal: &Utf8Path,
    restore: impl FnOnce(&Utf8Path, &Utf8Path) -> String,
    cause: ErrorKind,
) -> ErrorKind {
    match snapshot {
        Some(snapshot) => ErrorKind::RecoveryFailed {
            restore: restore(&snapshot, root),
            snapshot,
            root: root.to_owned(),
            journal: journal.to_owned(),
            cause: Box::new(cause),
        },
        None => cause,
    }
}

/// A commit that recovery found it cannot finish, though it had moved
/// nothing yet, so the store is whole as it was before that run: the run is
/// recorded in the history as abandoned (once, even if this is repeated),
/// its snapshot is removed with `remove_snapshot` (it undoes nothing), and
/// then its journal. The caller then clears what the run had staged.
pub(crate) struct GivenUp<'a> {
    pub history_path: &'a Utf8Path,
    pub journal_path: &'a Utf8Path,
    pub run_id: &'a str,
    /// The history lines the commit would have recorded.
    pub lines: &'a [String],
    /// Why the commit cannot finish.
    pub cause: &'a ErrorKind,
}

impl GivenUp<'_> {
    pub fn record(
        &self,
        remove_snapshot: impl FnOnce() -> Result<(), ErrorKind>,
    ) -> Result<(), ErrorKind> {
        super::history::record_abandoned(
            self.history_path,
            self.run_id,
            self.lines,
            &self.cause.to_string(),
        )?;
        remove_snapshot()?;
        let state = self.journal_path.parent().unwrap_or(Utf8Path::new("."));
        fsio::remove_file(self.journal_path)
            .and_then(|()| fsio::sync_dir(state))
            .map_err(io("remove", self.journal_path))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const VALID: &str = r#"{"run_id":"r1","version":2,"snapshot":"s1",
        "staging":".verchain/staging/r1",
        "ops":[{"op":"write","path":"notes/a.md","blake3":"00"},{"op":"remove","path":"b.md"}],
        "history":["{}"]}"#;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A damaged or hostile journal is refused with an error naming it,
        /// never a panic; one that is accepted names only plain paths of
        /// documents, verchain's own staging folder and a snapshot by a
        /// plain name.
        #[test]
        fn a_damaged_journal_is_refused_or_names_only_the_stores_documents(
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    b"\"/.\\:{}[],0aZ\xff ".to_vec()
                ), 0..3u8),
                0..8,
            ),
            random in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        ) {
            let mut bytes = random.unwrap_or_else(|| VALID.as_bytes().to_vec());
            for (at, byte, how) in edits {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, byte),
                }
            }
            let dir = tempfile::tempdir().unwrap();
            let path = Utf8Path::from_path(dir.path()).unwrap().join("journal.json");
            fs::write(&path, &bytes).unwrap();
            match Journal::read(&path) {
                Ok(Some(journal)) => {
                    prop_assert!(journal.staging.starts_with(".verchain/staging"));
                    if let Some(id) = &journal.snapshot {
                        prop_assert!(crate::contain::snapshot_id_problem(id).is_none(), "{}", id);
                    }
                    for op in &journal.ops {
                        let (Op::Write { path, .. } | Op::Remove { path }) = op;
                        prop_assert!(crate::contain::is_plain(path), "{}", path);
                        prop_assert!(!path.starts_with(".verchain"), "{}", path);
                    }
                }
                Ok(None) => prop_assert!(false, "the journal exists"),
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(message.contains("journal.json"), "{}", message);
                }
            }
        }
    }
}
