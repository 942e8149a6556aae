//! What went wrong in a run: every kind of failure, with what it names
//! (the record, the step, both versions, the store).

use std::fmt;
use std::io;

use camino::Utf8PathBuf;
use thiserror::Error;

use crate::BoxError;
use crate::format::FormatError;
use crate::run::validate::ValidationFailure;
use crate::snapshot::SnapshotError;

/// What went wrong in a run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file operation failed.
    #[error("cannot {op} {path}: {cause}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder.
        path: Utf8PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// Another runner holds the store's lock.
    #[error("store {root} is locked by {owner}; wait for it to finish, or retry with a wait")]
    Locked {
        /// The store.
        root: Utf8PathBuf,
        /// Who holds the lock (pid, host, since), as it recorded itself.
        owner: String,
    },
    /// A document could not be read or written in its format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A document the steps changed cannot be written back: what the
    /// steps did is named by the versions it went through.
    #[error("{cause} (writing it back at v{to}, after the steps from v{from})")]
    WrittenBack {
        /// The version the document was at before the steps.
        from: u32,
        /// The version it was being written at.
        to: u32,
        /// Why it cannot be written.
        cause: FormatError,
    },
    /// A document's version key does not hold a version.
    #[error("{path}: `{key}` is {value}, not a version number")]
    BadVersion {
        /// The document.
        path: Utf8PathBuf,
        /// The version key.
        key: &'static str,
        /// What it holds.
        value: String,
    },
    /// A record (a document, a log file, the database) is newer than this
    /// program's chain.
    #[error(
        "{path} is at version {version}, newer than this program's newest version {current}; \
         upgrade the program before migrating"
    )]
    RecordTooNew {
        /// The document.
        path: Utf8PathBuf,
        /// Its version.
        version: u32,
        /// The chain's current version.
        current: u32,
    },
    /// A record is below the chain's base version.
    #[error("{path} is at version {version}, older than the chain's first version {base}")]
    RecordTooOld {
        /// The document.
        path: Utf8PathBuf,
        /// Its version.
        version: u32,
        /// The chain's base version.
        base: u32,
    },
    /// The target is past the chain's current version.
    #[error("target version {target} is past the chain's current version {current}")]
    TargetPastCurrent {
        /// The requested target.
        target: u32,
        /// The chain's current version.
        current: u32,
    },
    /// The target is below the chain's base version.
    #[error("target version {target} is below the chain's first version {base}")]
    TargetBelowBase {
        /// The requested target.
        target: u32,
        /// The chain's base version.
        base: u32,
    },
    /// A forward run was asked for a version below the store's.
    #[error(
        "target version {target} is below the store's version {store} ({path} is at {store}); \
         to go back, roll back"
    )]
    TargetBelowStore {
        /// The requested target.
        target: u32,
        /// The version of the newest document.
        store: u32,
        /// A document at that version.
        path: Utf8PathBuf,
    },
    /// A step run alone (`migrate --id`) has no record at the version it
    /// reads.
    #[error("step `{step}` reads v{version}, and no record is at v{version}: nothing to run")]
    NothingToRun {
        /// The step's id.
        step: String,
        /// The version it reads.
        version: u32,
    },
    /// A rollback was asked for a version above the store's.
    #[error(
        "target version {target} is above the store's version {store} ({path} is at {store}); \
         to go forward, migrate"
    )]
    TargetAboveStore {
        /// The requested target.
        target: u32,
        /// The version of the newest record.
        store: u32,
        /// A record at that version (the database, for one).
        path: Utf8PathBuf,
    },
    /// A step returned an error.
    #[error("step `{step}` (v{from} → v{to}) failed on {path}: {cause}")]
    Step {
        /// The step's id.
        step: &'static str,
        /// Its source version.
        from: u32,
        /// Its target version.
        to: u32,
        /// The document.
        path: Utf8PathBuf,
        /// The step's error.
        cause: BoxError,
    },
    /// A step panicked.
    #[error("step `{step}` (v{from} → v{to}) panicked on {path}: {message}")]
    StepPanicked {
        /// The step's id.
        step: &'static str,
        /// Its source version.
        from: u32,
        /// Its target version.
        to: u32,
        /// The document.
        path: Utf8PathBuf,
        /// The panic's message.
        message: String,
    },
    /// Staged records failed validation.
    #[error(
        "{total} record{} failed validation; {}",
        if *total == 1 { "" } else { "s" },
        listed(failures.iter(), *total, "first")
    )]
    Validation {
        /// The failures, the first hundred (never empty).
        failures: Vec<ValidationFailure>,
        /// How many records failed in all.
        total: usize,
    },
    /// Records cannot be read, or are at a version the chain does not
    /// have: the run refuses them all, named at once.
    #[error(
        "{total} record{} cannot be read; {}",
        if *total == 1 { "" } else { "s" },
        listed(records.iter(), *total, "")
    )]
    Unreadable {
        /// Why each cannot be read, the first hundred (never empty).
        records: Vec<ErrorKind>,
        /// How many in all.
        total: usize,
    },
    /// Documents the steps changed cannot be written back: the run names
    /// them together (the first hundred, and how many more).
    #[error(
        "{total} document{} cannot be written back; {}",
        if *total == 1 { "" } else { "s" },
        listed(records.iter(), *total, "")
    )]
    Unwritable {
        /// Why each cannot be written, the first hundred (never empty).
        records: Vec<ErrorKind>,
        /// How many in all.
        total: usize,
    },
    /// A step moved or created a document onto a path that is taken or
    /// outside the store.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: Utf8PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// A snapshot could not be written, read or verified.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The store's own error: a log's malformed line, a database's failed
    /// statement, …; the source is the store's error type
    /// ([`LogError`](crate::log::LogError), `SqliteError`).
    #[error("{source}")]
    Store {
        /// The store's error.
        #[source]
        source: BoxError,
    },
    /// Rolling back needs a snapshot and none fits.
    #[error("no snapshot to roll back to: {0}")]
    NoSnapshot(String),
    /// Steps the store has applied were edited since: the program would not
    /// do what the history says was done.
    #[error(
        "{}{}; restore the step's code as it was applied, or pass --allow-changed to run anyway",
        steps[0],
        if steps.len() > 1 { format!(" (and {} more)", steps.len() - 1) } else { String::new() }
    )]
    EditedSinceApplied {
        /// Every edited step (never empty).
        steps: Vec<crate::run::history::EditedStep>,
    },
    /// The store cannot do what was asked.
    #[error("{what} is not supported")]
    Unsupported {
        /// What was asked.
        what: &'static str,
    },
    /// `--id` named a step the chain does not have.
    #[error("chain has no step `{step}`; its steps: {}", known.join(", "))]
    UnknownStep {
        /// The id asked for.
        step: String,
        /// The chain's step ids, in order.
        known: Vec<&'static str>,
    },
    /// Rolling back with `down` steps needs every step to have one.
    #[error("step `{step}` (v{from} → v{to}) has no `down` step; roll back to a snapshot instead")]
    Irreversible {
        /// The step without `down`.
        step: &'static str,
        /// Its source version.
        from: u32,
        /// Its target version.
        to: u32,
    },
    /// A plan with `breaking` steps was not confirmed.
    #[error(
        "the plan has breaking steps ({}), which readers of the old version cannot read, and they \
         were not confirmed",
        steps.join(", ")
    )]
    NotConfirmed {
        /// The breaking steps of the plan.
        steps: Vec<&'static str>,
    },
    /// The chain's steps are not a valid chain (only for chains built by hand).
    #[error(transparent)]
    Chain(#[from] verchain_core::ChainRuleError),
    /// A verchain file under `.verchain/` is damaged.
    #[error("{path} line {line}: {message}")]
    Damaged {
        /// The file.
        path: Utf8PathBuf,
        /// The line, 1-based.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A commit's staged copy of a document is gone and the document is not
    /// the migrated version: the commit cannot be finished.
    #[error("the staged copy of {path} is gone and {path} is not the migrated version")]
    StagedFileLost {
        /// The document.
        path: Utf8PathBuf,
    },
    /// A commit's staged copy of a document (or new file of a log) is not
    /// what the commit journal says was staged (its BLAKE3 hash, or for a
    /// log its size, differs): recovery moves nothing.
    #[error("the staged copy of {path} is not what the commit staged")]
    StagedFileDamaged {
        /// The document.
        path: Utf8PathBuf,
    },
    /// An interrupted commit could not be finished; every run stops here
    /// until it is.
    #[error(
        "an interrupted commit could not be finished: {cause}. If the cause can be fixed, fix it \
         and run again to finish the commit; otherwise, to give it up and go back to the store \
         before it, stop the application, {restore}, then remove {journal}"
    )]
    RecoveryFailed {
        /// The snapshot of the store from before the commit.
        snapshot: Utf8PathBuf,
        /// The store.
        root: Utf8PathBuf,
        /// How to put the snapshot back by hand, for this kind of store.
        restore: String,
        /// The journal of the interrupted commit.
        journal: Utf8PathBuf,
        /// Why it could not be finished.
        cause: Box<ErrorKind>,
    },
    /// A document or a log file changed after the run read it (an
    /// application or an editor saved it, appended to it, or replaced or
    /// removed it): the commit does not replace or remove it, and is undone.
    #[error(
        "{path} changed after the run read it ({what}){}; a run never replaces what it did not \
         read. Stop what writes to the store (an application calls `run_startup` before it \
         opens it) and run again",
        kept_at(kept.as_ref())
    )]
    ChangedDuringRun {
        /// The document or log file.
        path: Utf8PathBuf,
        /// What changed, such as `its size went from 120 to 180 bytes`.
        what: String,
        /// Where the file saved since is now, when an interrupted commit
        /// had already moved it aside (under the store's state folder)
        /// before the crash; `None` when it is at `path` or was removed.
        kept: Option<Utf8PathBuf>,
    },
    /// A database's version moved on between the run's detection and its
    /// transaction: another session (a runner that does not take the lock)
    /// changed its history.
    #[error(
        "{store} changed while the run began: it was at version {detected}, it is at {now}; \
         nothing was changed, run again"
    )]
    VersionMoved {
        /// The database (a PostgreSQL URL without its password).
        store: String,
        /// The version the run detected.
        detected: u32,
        /// The version in its transaction.
        now: u32,
    },
    /// A commit could not be done, and what it had done was put back: the
    /// store is as it was.
    #[error("{cause}; what the commit had done was put back, the store is as it was")]
    CommitUndone {
        /// Why the commit could not be done.
        cause: Box<ErrorKind>,
    },
    /// A commit could not be done, and putting back what it had done failed
    /// too: the store is partly committed until the next run finishes the
    /// commit or the snapshot is restored by hand.
    #[error(
        "{cause}; putting back what the commit had done failed too ({undo}). Fix the cause and \
         run again to finish the commit{}",
        restore.as_ref().map(|r| format!(", or stop the application and {r}")).unwrap_or_default()
    )]
    UndoFailed {
        /// Why the commit could not be done.
        cause: Box<ErrorKind>,
        /// Why it could not be undone.
        undo: Box<ErrorKind>,
        /// How to put the snapshot back by hand, where there is one.
        restore: Option<String>,
    },
    /// A restore failed; the store may be partly restored.
    #[error(
        "{cause}; the snapshot is {snapshot}. The next run finishes or retries the restore. \
         To restore by hand, stop the application, then {restore}"
    )]
    RestoreFailed {
        /// The snapshot being restored.
        snapshot: Utf8PathBuf,
        /// The store.
        root: Utf8PathBuf,
        /// How to put the snapshot back by hand, for this kind of store.
        restore: String,
        /// What failed.
        cause: Box<ErrorKind>,
    },
    /// A run split in parts (around steps that run outside a transaction)
    /// stopped after some parts had committed.
    #[error(
        "the run commits in parts, and its first parts committed ({}), leaving the store at \
         v{version}; then {cause}. `status` says what to do next; `migrate` goes on from v{version}",
        committed.join(", ")
    )]
    PartlyApplied {
        /// The steps the committed parts applied, in order.
        committed: Vec<&'static str>,
        /// The version the store is at.
        version: u32,
        /// What stopped the run.
        cause: Box<ErrorKind>,
    },
    /// Dry runs cannot finish an interrupted run.
    #[error(
        "an interrupted run left a journal at {journal}; run `migrate` (not a dry run) to \
         finish it before anything reads the store"
    )]
    RecoveryNeeded {
        /// The journal.
        journal: Utf8PathBuf,
    },
    /// `stamp` was asked of a store that already says its version.
    #[error(
        "{store} already says its version ({said}); `stamp` records the version of a store \
         verchain has not run on: `migrate` or `rollback` move this one"
    )]
    AlreadyStamped {
        /// The store.
        store: Utf8PathBuf,
        /// What says it: its history, its stamp, its header.
        said: String,
    },
}

/// `a; b; c` of the first `items`, then `and N more` up to `total`;
/// `first` is said before a list of several.
fn listed<T: fmt::Display>(items: impl Iterator<Item = T>, total: usize, first: &str) -> String {
    let items: Vec<String> = items.map(|i| i.to_string()).collect();
    let mut said = match (items.len(), first) {
        (1, _) | (_, "") => items.join("; "),
        (_, first) => format!("{first}: {}", items.join("; ")),
    };
    if total > items.len() {
        said.push_str(&format!("; and {} more", total - items.len()));
    }
    said
}

impl ErrorKind {
    /// A store's own error.
    pub(crate) fn store(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorKind::Store {
            source: Box::new(source),
        }
    }

    /// The store's own error, if this is one of type `E`: a
    /// [`LogError`](crate::log::LogError), an `SqliteError`.
    pub fn store_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            ErrorKind::Store { source } => source.downcast_ref(),
            _ => None,
        }
    }
}

/// Where an interrupted commit moved a file saved after the run read it,
/// as [`ErrorKind::ChangedDuringRun`] says it.
fn kept_at(kept: Option<&Utf8PathBuf>) -> String {
    kept.map_or_else(String::new, |kept| {
        format!("; the interrupted commit had moved that file to {kept}")
    })
}
