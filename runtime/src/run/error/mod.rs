//! Why a run failed, at which stage, on which document and step.

use std::fmt;
use std::io;

use camino::Utf8Path;
use thiserror::Error;

use crate::BoxError;

mod kind;

pub use kind::ErrorKind;

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stage {
    /// Taking the store's lock.
    Lock,
    /// Finishing or undoing a run a crash interrupted.
    Recover,
    /// Reading the store and every document's version.
    Detect,
    /// Choosing the steps.
    Plan,
    /// Running the steps on staged copies.
    Stage,
    /// Checking the staged documents.
    Validate,
    /// Archiving the store before it changes.
    Snapshot,
    /// Replacing the store's files.
    Commit,
    /// Appending to the history.
    Record,
    /// Restoring a snapshot.
    Restore,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Lock => "lock",
            Stage::Recover => "recover",
            Stage::Detect => "detect",
            Stage::Plan => "plan",
            Stage::Stage => "stage",
            Stage::Validate => "validate",
            Stage::Snapshot => "snapshot",
            Stage::Commit => "commit",
            Stage::Record => "record",
            Stage::Restore => "restore",
        })
    }
}

/// A run that did not complete. Its message says it all: the chain, the
/// stage, and what went wrong (the document, the step, both versions).
/// [`RunError::store_unchanged`] says whether the store is exactly as it
/// was.
#[derive(Debug, Error)]
#[error("chain `{chain}`, stage `{stage}`: {kind}")]
pub struct RunError {
    /// The chain being run.
    pub chain: &'static str,
    /// Where the run stopped.
    pub stage: Stage,
    /// What went wrong (part of this error's message, not its `source`).
    pub kind: Box<ErrorKind>,
    /// What is known of the store, where the stage alone does not say it:
    /// `Some(true)` where the run had not begun to change it or undid what
    /// it did, `Some(false)` where it may be changed whatever the stage (a
    /// commit journal that cannot be read).
    unchanged: Option<bool>,
}

impl RunError {
    pub(crate) fn new(chain: &'static str, stage: Stage, kind: impl Into<ErrorKind>) -> Self {
        RunError {
            chain,
            stage,
            kind: Box::new(kind.into()),
            unchanged: None,
        }
    }

    /// The same error, known to leave the store as it was: the run had
    /// not begun to change it (a restore refused before its journal), or
    /// the store undid the run itself (a database whose transaction rolled
    /// back).
    pub(crate) fn unchanged(mut self) -> Self {
        self.unchanged = Some(true);
        self
    }

    /// The same error, where the store may be changed whatever the stage:
    /// a commit journal that cannot be read says nothing of how far its
    /// commit got.
    pub(crate) fn may_be_changed(mut self) -> Self {
        self.unchanged = Some(false);
        self
    }

    /// Whether the store is known to be as it was before the run. A
    /// failure before the commit changed nothing; a commit that fails undoes
    /// what it did where it can (a database's transaction rolls back, a
    /// staged-files store puts back what it had moved) and says so; what is
    /// left changed is finished or undone by the next run, or its error
    /// says how to restore by hand.
    pub fn store_unchanged(&self) -> bool {
        self.unchanged.unwrap_or(!matches!(
            self.stage,
            Stage::Commit | Stage::Restore | Stage::Record
        ))
    }
}

/// Builds the `Io` kind for `op` on `path`.
pub(crate) fn io(
    op: &'static str,
    path: impl AsRef<Utf8Path>,
) -> impl FnOnce(io::Error) -> ErrorKind {
    // The path is copied only on failure: this runs for every file.
    move |cause| ErrorKind::Io {
        op,
        path: path.as_ref().to_owned(),
        cause,
    }
}

/// Calls a step's function, turning its error or its panic into an error
/// that names the step, both versions and the record's path.
pub(crate) fn call_step(
    step: &'static str,
    from: u32,
    to: u32,
    path: &Utf8Path,
    body: impl FnOnce() -> Result<(), BoxError>,
) -> Result<(), ErrorKind> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(cause)) => Err(ErrorKind::Step {
            step,
            from,
            to,
            path: path.to_owned(),
            cause,
        }),
        Err(panic) => Err(ErrorKind::StepPanicked {
            step,
            from,
            to,
            path: path.to_owned(),
            message: panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned()),
        }),
    }
}
