//! The commit journal of a staged-files store (a folder, a log),
//! `<state folder>/journal.json`: the run, its snapshot, the history lines
//! to append once done, and the store's own operations (renames of staged
//! files, removals), written before the first operation so that a crash in
//! the middle is finished on the next start; and what recovery decides
//! about one.

use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{ErrorKind, io};
use super::store::{Failed, Store};
use crate::fsio;

/// A commit, as written to the journal file. `ops` is the store's part,
/// written beside the other fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal<O> {
    /// The run committing.
    pub run_id: String,
    /// The snapshot of the store from before this commit, if one was taken.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// The store's operations.
    #[serde(flatten)]
    pub ops: O,
    /// History lines to append once the operations are done.
    pub history: Vec<String>,
}

/// The operations of one kind of store's commit: what it checks, performs
/// and finishes. Every operation can be repeated after a crash.
pub trait Operations: Serialize + DeserializeOwned {
    /// The store they apply to.
    type Store: Store;
    /// What the journal is of, in messages (`store`, `log`).
    const WHAT: &'static str;
    /// Why verchain cannot have written these operations, if it cannot:
    /// each path must be one of the store's, never one outside it.
    fn refuse(&self) -> Option<String>;
    /// Checks, before anything moves, that every operation can be finished.
    fn check(&self, store: &Self::Store) -> Result<(), ErrorKind>;
    /// Whether no operation has been performed yet.
    fn untouched(&self, store: &Self::Store) -> bool;
    /// Performs every operation, calling `tick` after each. What an
    /// operation replaces or removes is first kept aside (a hard link in the
    /// staging area), so that [`Operations::undo`] can put it back.
    fn apply(&self, store: &Self::Store, tick: &mut dyn FnMut()) -> Result<(), ErrorKind>;
    /// Puts back what [`Operations::apply`] and [`Operations::done`] did, in
    /// the same run, from what they kept aside: the store is then as it was
    /// before the commit.
    fn undo(&self, store: &Self::Store) -> Result<(), ErrorKind>;
    /// Removes what the commit staged and kept aside; the journal is gone.
    fn clean(&self, store: &Self::Store);
    /// What the store does once the operations are done and before the
    /// history is told (a stamp, a record in the snapshot); `snapshot` is
    /// the commit's.
    fn done(&self, store: &Self::Store, snapshot: Option<&str>) -> Result<(), ErrorKind>;
}

impl<O: Operations> Journal<O> {
    /// The journal file of `store`.
    pub(crate) fn path_in(store: &O::Store) -> Utf8PathBuf {
        store.state_dir().join("journal.json")
    }

    /// The history file of `store`.
    fn history_path(store: &O::Store) -> Utf8PathBuf {
        store.state_dir().join("history.jsonl")
    }

    /// Writes the journal durably; from here on the commit will complete.
    pub(crate) fn write(&self, store: &O::Store) -> Result<(), ErrorKind> {
        self.write_at(&Self::path_in(store))
    }

    /// Writes the journal durably at `path`, in one rename.
    /// The JSON is written as it is made, never held whole in memory.
    pub(crate) fn write_at(&self, path: &Utf8Path) -> Result<(), ErrorKind> {
        fsio::write_atomic_with(path, &mut |out| {
            serde_json::to_writer_pretty(out, self).map_err(io::Error::from)
        })
        .map_err(io("write journal", path))
    }

    /// Reads the journal an interrupted run of `store` left, if there is
    /// one; a journal that does not parse, or names what verchain does not
    /// write, is damage.
    pub(crate) fn read(store: &O::Store) -> Result<Option<Self>, ErrorKind> {
        Self::read_at(&Self::path_in(store))
    }

    /// Reads the journal at `path`, as [`Journal::read`].
    pub(crate) fn read_at(path: &Utf8Path) -> Result<Option<Self>, ErrorKind> {
        let bytes = match crate::fsio::read_regular(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read journal", path)(e)),
        };
        let journal: Self = serde_json::from_slice(&bytes)
            .map_err(|e| damaged(path, O::WHAT, e.line(), &e.to_string()))?;
        if let Some(id) = &journal.snapshot
            && !super::is_plain_id(id)
        {
            let message = format!("snapshot `{id}` is not a snapshot name");
            return Err(damaged(path, O::WHAT, 0, &message));
        }
        if let Some(message) = journal.ops.refuse() {
            return Err(damaged(path, O::WHAT, 0, &message));
        }
        Ok(Some(journal))
    }

    /// A run's own commit: performs the journal written for it. Where an
    /// operation fails (a file that cannot be replaced, a full disk), what
    /// the commit had done is put back in the same run, the run is recorded
    /// as given up, and the journal goes: the store is as it was. Where even
    /// that fails, the journal stays for the next run, and the error says
    /// how to restore the snapshot by hand.
    pub(crate) fn commit(&self, store: &O::Store, tick: &mut dyn FnMut()) -> Result<(), Failed> {
        let applied = (self.ops.apply(store, tick))
            .and_then(|()| self.ops.done(store, self.snapshot.as_deref()));
        let Err(cause) = applied else {
            // Once the history may hold the run's lines, only finishing is
            // right: the next run does it, from the journal.
            self.close(store, false).map_err(|kind| Failed {
                kind,
                unchanged: false,
            })?;
            self.ops.clean(store);
            return Ok(());
        };
        match self.ops.undo(store) {
            Ok(()) => {
                // The run is recorded as given up where the history can be
                // written; the store itself is as it was either way.
                let _ = Pending::record_given_up(self, store, &cause);
                let _ = remove(&Self::path_in(store));
                self.ops.clean(store);
                Err(Failed {
                    kind: ErrorKind::CommitUndone {
                        cause: Box::new(cause),
                    },
                    unchanged: true,
                })
            }
            Err(undo) => {
                let snapshot = (self.snapshot.as_deref())
                    .and_then(|id| super::snapshot::entry(store, id).ok())
                    .map(|entry| entry.path);
                Err(Failed {
                    kind: ErrorKind::UndoFailed {
                        restore: snapshot.as_ref().map(|path| store.manual_restore(path)),
                        cause: Box::new(cause),
                        undo: Box::new(undo),
                    },
                    unchanged: false,
                })
            }
        }
    }

    /// Performs the operations, then records the history (marked as
    /// recovered when `recovering`, and not again if the run got that far)
    /// and removes the journal: from here the store has no commit pending.
    pub(crate) fn finish(
        &self,
        store: &O::Store,
        recovering: bool,
        tick: &mut dyn FnMut(),
    ) -> Result<(), ErrorKind> {
        self.ops.apply(store, tick)?;
        self.ops.done(store, self.snapshot.as_deref())?;
        self.close(store, recovering)?;
        self.ops.clean(store);
        Ok(())
    }

    /// Records the history (marked as recovered when `recovering`, and not
    /// again if the run got that far) and removes the journal.
    fn close(&self, store: &O::Store, recovering: bool) -> Result<(), ErrorKind> {
        let history_path = Self::history_path(store);
        // Only a recovery can find its lines already written (by the run it
        // finishes); a fresh commit does not read the whole history.
        let recorded = recovering
            && super::history::read(&history_path)?
                .iter()
                .any(|r| r.run_id == self.run_id);
        if !recorded {
            let created = !history_path.exists();
            let lines: Vec<String> = match recovering {
                true => (self.history.iter())
                    .map(|l| super::history::recovered_line(l))
                    .collect(),
                false => self.history.clone(),
            };
            fsio::append_lines(&history_path, &lines).map_err(io("append to", &history_path))?;
            if created {
                // The history file's name is durable before the journal goes.
                let folder = history_path.parent().unwrap_or(Utf8Path::new("."));
                fsio::sync_dir(folder).map_err(io("sync", folder))?;
            }
        }
        remove(&Self::path_in(store))
    }
}

impl<O: Operations> Pending<O::Store> for Journal<O> {
    fn read(store: &O::Store) -> Result<Option<Self>, ErrorKind> {
        Journal::read(store)
    }

    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn snapshot(&self) -> Option<&str> {
        self.snapshot.as_deref()
    }

    fn path(&self, store: &O::Store) -> Utf8PathBuf {
        Self::path_in(store)
    }

    fn history(&self) -> &[String] {
        &self.history
    }

    fn check(&self, store: &O::Store) -> Result<(), ErrorKind> {
        self.ops.check(store)
    }

    fn untouched(&self, store: &O::Store) -> bool {
        self.ops.untouched(store)
    }

    fn finish(&self, store: &O::Store, recovering: bool) -> Result<(), ErrorKind> {
        Journal::finish(self, store, recovering, &mut || {})
    }

    fn record_given_up(&self, store: &O::Store, cause: &ErrorKind) -> Result<(), ErrorKind> {
        super::history::record_abandoned(
            &Self::history_path(store),
            &self.run_id,
            &self.history,
            &cause.to_string(),
        )
    }

    fn remove(&self, store: &O::Store) -> Result<(), ErrorKind> {
        remove(&Self::path_in(store))
    }
}

/// A journal that verchain did not write as it reads.
fn damaged(path: &Utf8Path, what: &str, line: usize, message: &str) -> ErrorKind {
    ErrorKind::Damaged {
        path: path.to_owned(),
        line,
        message: format!(
            "{message}; the {what} may be half-committed: restore the newest snapshot by hand"
        ),
    }
}

/// Removes the journal at `path` and syncs its folder: from here the store
/// has no commit pending.
fn remove(path: &Utf8Path) -> Result<(), ErrorKind> {
    let state = path.parent().unwrap_or(Utf8Path::new("."));
    fsio::remove_file(path)
        .and_then(|()| fsio::sync_dir(state))
        .map_err(io("remove", path))
}

/// What recovery does with the commit journal of an interrupted run, for
/// any store: finish it, give it up, or stop.
pub(crate) enum Recovery {
    /// Every staged file is as the journal says: finish the commit.
    Finish,
    /// It cannot finish, but nothing has been moved yet: the store is whole
    /// as before that run, which is given up.
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
                cause @ (ErrorKind::StagedFileDamaged { .. }
                | ErrorKind::StagedFileLost { .. }
                | ErrorKind::ChangedDuringRun { .. }),
            ) if untouched() => Recovery::GiveUp(cause),
            Err(cause) => Recovery::Stop(cause),
        }
    }
}

/// A commit journal: the operations a commit performs, written before the
/// first, so that a crash in the middle is finished (or given up) by the
/// next run. A store that commits with one transaction has none
/// ([`NoJournal`]).
#[doc(hidden)]
pub trait Pending<S: Store>: Sized {
    /// Reads the journal an interrupted run of `store` left, if any.
    fn read(store: &S) -> Result<Option<Self>, ErrorKind>;
    /// The run that wrote it.
    fn run_id(&self) -> &str;
    /// The snapshot of the store from before that run.
    fn snapshot(&self) -> Option<&str>;
    /// Where the journal is.
    fn path(&self, store: &S) -> Utf8PathBuf;
    /// The history lines the commit records once done.
    fn history(&self) -> &[String];
    /// Checks, before anything moves, that every operation can be finished.
    fn check(&self, store: &S) -> Result<(), ErrorKind>;
    /// Whether no operation has been performed yet.
    fn untouched(&self, store: &S) -> bool;
    /// Performs every operation, then records the history and removes the
    /// journal; repeating it after a crash is safe.
    fn finish(&self, store: &S, recovering: bool) -> Result<(), ErrorKind>;
    /// Records in the history (once) that recovery gave the run up.
    fn record_given_up(&self, store: &S, cause: &ErrorKind) -> Result<(), ErrorKind>;
    /// Removes the journal: the store has no commit pending.
    fn remove(&self, store: &S) -> Result<(), ErrorKind>;
}

/// The journal of a store that commits with one transaction: there never is
/// one.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Debug)]
#[doc(hidden)]
pub enum NoJournal {}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<S: Store> Pending<S> for NoJournal {
    fn read(_: &S) -> Result<Option<Self>, ErrorKind> {
        Ok(None)
    }
    fn run_id(&self) -> &str {
        match *self {}
    }
    fn snapshot(&self) -> Option<&str> {
        match *self {}
    }
    fn path(&self, _: &S) -> Utf8PathBuf {
        match *self {}
    }
    fn history(&self) -> &[String] {
        match *self {}
    }
    fn check(&self, _: &S) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn untouched(&self, _: &S) -> bool {
        match *self {}
    }
    fn finish(&self, _: &S, _: bool) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn record_given_up(&self, _: &S, _: &ErrorKind) -> Result<(), ErrorKind> {
        match *self {}
    }
    fn remove(&self, _: &S) -> Result<(), ErrorKind> {
        match *self {}
    }
}
