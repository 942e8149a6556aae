//! A real run's snapshot finished beside its steps. The copy is made
//! before the first step (it must hold the database as the steps find it);
//! checking it with `PRAGMA integrity_check`, hashing it, naming it and
//! writing its manifest need only the copy, so they run on a thread of
//! their own while the steps run, as does reading the rows the steps start
//! from for the report's diff (from the copy, which holds exactly them).
//! The run waits for the thread before it validates what the steps left (a
//! database that failed its check is refused as such), and a run that
//! fails waits for it before removing the snapshot.

use std::thread::{self, JoinHandle};
use std::{fs, io};

use super::diff::{self, State};
use super::snapshot::{self, Copied};
use crate::run::{ErrorKind, io};

/// What the thread found.
#[derive(Default)]
struct Sealed {
    /// The rows before the steps, when the run compares rows.
    before: Option<Result<State, ErrorKind>>,
    /// Whether the snapshot is whole and listed.
    sealed: Option<Result<(), ErrorKind>>,
}

/// A snapshot being checked and listed.
pub struct Sealing {
    thread: Option<JoinHandle<Sealed>>,
    done: Sealed,
}

impl Sealing {
    /// Finishes `copied` on a thread of its own, reading the rows from it
    /// first, with `samples` rows of each table kept as text, when
    /// `samples` is given.
    pub(crate) fn start(copied: Copied, samples: Option<usize>) -> Result<Sealing, ErrorKind> {
        let temp = copied.temp.clone();
        let span = tracing::Span::current();
        let thread = thread::Builder::new()
            .name("verchain-sqlite-snapshot".to_owned())
            .spawn(move || {
                let _entered = span.enter();
                let before = samples.map(|samples| {
                    let conn = snapshot::open_read_only(&copied.temp)?;
                    Ok(diff::capture(&conn, samples)?)
                });
                let sealed = Some(copied.seal().map(|_| ()));
                Sealed { before, sealed }
            })
            .map_err(|e| {
                let _ = fs::remove_file(&temp);
                io("start a thread to check", temp.clone())(e)
            })?;
        Ok(Sealing {
            thread: Some(thread),
            done: Sealed::default(),
        })
    }

    /// Waits for the thread.
    fn wait(&mut self) -> &mut Sealed {
        if let Some(thread) = self.thread.take() {
            self.done = thread.join().unwrap_or_else(|_| Sealed {
                before: None,
                sealed: Some(Err(io("check", "the snapshot")(io::Error::other(
                    "its check stopped before it finished",
                )))),
            });
        }
        &mut self.done
    }

    /// The rows before the steps, as read from the copy, if the run
    /// compares rows. When they cannot be read and the copy failed its
    /// check, the check's finding is the error: it says what is wrong.
    pub(crate) fn before(&mut self) -> Result<Option<State>, ErrorKind> {
        let done = self.wait();
        match done.before.take().transpose() {
            Err(read) => match done.sealed.take() {
                Some(Err(check)) => Err(check),
                sealed => {
                    done.sealed = sealed;
                    Err(read)
                }
            },
            found => found,
        }
    }

    /// Waits until the snapshot is whole and listed, or says why it is not.
    pub(crate) fn finish(&mut self) -> Result<(), ErrorKind> {
        self.wait().sealed.take().unwrap_or(Ok(()))
    }
}

impl Drop for Sealing {
    /// A run never leaves the thread writing behind it, whatever way it
    /// ends.
    fn drop(&mut self) {
        self.wait();
    }
}
