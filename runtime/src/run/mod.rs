//! The run protocol, written once: every store runs
//!
//! ```text
//! lock → recover → detect → plan → stage → validate → snapshot → commit → record
//! ```
//!
//! through this driver, and implements only what differs, through the
//! [`Store`] trait. Each stage, and each operation a user calls, has its
//! file:
//!
//! | stage or operation | file | what |
//! |---|---|---|
//! | lock | `lock.rs` | one runner per store; the lock file, who holds it |
//! | recover | `recover.rs` | finish, give up or stop an interrupted commit |
//! | detect | `detect.rs` | every record's version; every unreadable record at once |
//! | plan | `plan.rs` | the steps to the target, up or down, or one step alone |
//! | stage | `migrate.rs` (`execute`), `steps.rs` | the store runs the steps on staged copies, or the driver runs them in the store's transaction |
//! | validate | `validate.rs` | each step's `verify`, the target's schema, the store's checks |
//! | snapshot | `snapshot.rs` | the store before the commit; listing and pruning snapshots |
//! | commit | `commit.rs` | the store's atomic commit; what a failure leaves |
//! | record | `record.rs` | the history's lines of a run (`history.rs`: the history file; `history_row.rs`: a database's history table) |
//! | migrate, `--id`, startup | `migrate.rs` | the calls that go forward, and the stages in order |
//! | rollback, restore | `restore.rs` | a snapshot restored, or `down` steps |
//! | status | `status.rs` | the store's state, changing nothing |
//! | stamp | `stamp.rs` | a store built before verchain recorded at a version |
//! | verify | `verify.rs` | every record against its own version's schema |
//!
//! Around them: `store.rs` (the trait and what it exchanges with the
//! driver), `context.rs` (a run in progress: chain, steps, options,
//! events), `scope.rs` (what a step's helpers tell the run calling it), `info.rs` (a run's identity and its history lines),
//! `journal.rs` (the commit journal's file and the recovery decision),
//! `event.rs`, `report.rs` and `error/` (the run's error; `kind.rs`: every kind of failure).
//!
//! A store plugs in by implementing [`Store`] in its own module (`folder`,
//! `log`, `sqlite`, `postgres`): its record, its session, its staged state and its
//! journal; the trait's documentation says what each shape does at each
//! stage. Nothing here imports a store.

mod audit;
mod commit;
mod context;
pub(crate) mod detect;
mod error;
mod event;
pub(crate) mod history;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod history_row;
mod info;
pub(crate) mod journal;
mod leftover;
pub(crate) mod lock;
mod migrate;
pub(crate) mod plan;
mod record;
mod recover;
pub(crate) mod report;
mod restore;
pub(crate) mod scope;
pub(crate) mod snapshot;
mod stamp;
mod status;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod steps;
pub(crate) mod store;
mod validate;
mod verify;
mod work;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use serde::Serialize;

pub use audit::{AUDIT_TARGET, Audit, AuditEvent, AuditSink};
pub use context::{ChainInfo, Run};
pub use error::{ErrorKind, RunError, Stage};
pub(crate) use error::{call_step, io};
pub use event::{Event, Observer};
pub use history::{Counts, EditedStep, HistoryRecord, Outcome, edited_since_applied};
pub(crate) use info::RunInfo;
pub use leftover::Leftover;
pub use migrate::{migrate, migrate_step, run_startup, run_startup_with};
pub use recover::recover;
pub use report::{Change, ChangeKind, Direction, PlannedStep, Report, Skipped, StepLock};
pub use restore::rollback;
pub(crate) use snapshot::is_plain_id;
pub use snapshot::{prune_snapshots, snapshots};
pub use stamp::stamp;
pub use status::{history, status};
pub use store::Store;
pub(crate) use validate::FAILURES_LISTED;
pub use validate::ValidationFailure;
pub use verify::{Verified, verify};

use crate::chain::Releases;
use crate::clock::now_for_name;

/// The folder in which a store keeps verchain's files: a folder store at its
/// root, a log or a database beside it.
pub const STATE_DIR: &str = ".verchain";

/// What a folder store keeps in [`STATE_DIR`]; a log of the same name would
/// keep its own files there too, so no log may be named so.
pub(crate) const RESERVED: &[&str] = &[
    "lock",
    "journal.json",
    "stamp.json",
    "history.jsonl",
    "snapshots",
    "staging",
];

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The version to reach; the chain's current version when `None`.
    pub target: Option<u32>,
    /// Stop after validation and report; write nothing.
    pub dry_run: bool,
    /// How long to wait for another runner's lock before giving up.
    pub wait: Duration,
    /// How many changed documents get a diff in the report.
    pub diff_limit: usize,
    /// Receives the run's [`Event`]s as they happen.
    pub observer: Option<Observer>,
    /// Run even though steps the store has applied were edited since (the
    /// history then says so); refused otherwise.
    pub allow_changed: bool,
    /// Logs only: move malformed lines, unchanged, to a quarantine file
    /// and count them, instead of failing the run (as
    /// [`LogStore::skip_malformed`](crate::log::LogStore::skip_malformed)
    /// does for every run). Other stores refuse it: a document or a row
    /// that cannot be read is never set aside.
    pub skip_malformed: bool,
    /// Receives the run's audit events (what it committed, or its failure)
    /// as values; see [`AuditEvent`].
    pub audit: Option<Audit>,
    /// Asked before a real run whose plan has a `breaking` step; the run
    /// stops, changing nothing, when it answers no. Without it such a run
    /// goes ahead (an application's `run_startup` runs what it ships).
    pub confirm_breaking: Option<Confirm>,
    /// Commit without taking a snapshot first: an explicit choice for a
    /// store too large to copy on every run, which every history line of
    /// the run records. Such a run cannot be undone by itself: `rollback`
    /// restores the snapshot of an earlier run, undoing that run too.
    pub no_snapshot: bool,
}

/// Answers whether a plan with `breaking` steps may run: the command line
/// asks at the terminal, or `--yes` answers.
///
/// ```
/// use verchain::RunOptions;
/// use verchain::run::Confirm;
///
/// // Runs breaking steps only where the deployment says so.
/// let allowed = std::env::var_os("ALLOW_BREAKING").is_some();
/// let options = RunOptions {
///     confirm_breaking: Some(Confirm::new(move |plan| {
///         let breaking: Vec<&str> = plan.iter().filter(|s| s.breaking).map(|s| s.id).collect();
///         eprintln!("breaking steps: {}", breaking.join(", "));
///         allowed
///     })),
///     ..RunOptions::default()
/// };
/// assert!(options.confirm_breaking.is_some());
/// ```
#[derive(Clone)]
pub struct Confirm(Arc<Asks>);

/// What a [`Confirm`] calls.
type Asks = dyn Fn(&[PlannedStep]) -> bool + Send + Sync;

impl Confirm {
    /// Asks `f` with the plan's steps (the breaking ones say so).
    pub fn new(f: impl Fn(&[PlannedStep]) -> bool + Send + Sync + 'static) -> Self {
        Confirm(Arc::new(f))
    }

    pub(crate) fn ask(&self, plan: &[PlannedStep]) -> bool {
        (self.0)(plan)
    }
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirm(..)")
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            target: None,
            dry_run: false,
            wait: Duration::ZERO,
            diff_limit: 100,
            observer: None,
            allow_changed: false,
            skip_malformed: false,
            audit: None,
            confirm_breaking: None,
            no_snapshot: false,
        }
    }
}

impl RunOptions {
    /// The options [`run_startup`] runs with: wait up
    /// to a minute for another runner, no diffs.
    pub fn startup() -> Self {
        RunOptions {
            wait: migrate::STARTUP_WAIT,
            diff_limit: 0,
            ..RunOptions::default()
        }
    }

    /// These options, with `sink` receiving the run's audit events.
    pub fn with_audit(self, sink: impl AuditSink + 'static) -> Self {
        RunOptions {
            audit: Some(Audit::new(sink)),
            ..self
        }
    }

    /// Options for reading a store: a dry run, without diffs.
    pub(crate) fn reading(self) -> Self {
        RunOptions {
            dry_run: true,
            diff_limit: 0,
            ..self
        }
    }
}

/// What to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The snapshot taken before the last run that was not rolled back.
    LastRun,
    /// A snapshot by id (its file name).
    Snapshot(String),
    /// A version, with the `down` steps of every step on the way.
    Version(u32),
}

/// What [`run_startup`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// The store was already current; no document was read.
    UpToDate {
        /// The store's version.
        version: u32,
    },
    /// The store was migrated.
    Migrated(Box<Report>),
}

impl Startup {
    /// The services to restart now that the store is migrated, each once,
    /// sorted: the union of `requires_restart` over the steps that ran
    /// (none when the store was already current).
    pub fn requires_restart(&self) -> &[&'static str] {
        match self {
            Startup::UpToDate { .. } => &[],
            Startup::Migrated(report) => &report.requires_restart,
        }
    }
}

/// A store's state, read without changing anything (not even taking the
/// lock's file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The chain.
    pub chain: &'static str,
    /// The store's folder.
    pub store: Utf8PathBuf,
    /// The version stamped by the last commit, if any.
    pub stamp: Option<u32>,
    /// Whether the store holds records and says nothing of its version
    /// (verchain never ran on it): a run takes it to be at the chain's
    /// base, and [`stamp`] records the version an earlier release left it
    /// at.
    pub unstamped: bool,
    /// The chain's current version.
    pub current: u32,
    /// How many documents are at each version (empty while a run is
    /// interrupted).
    pub versions: BTreeMap<u32, usize>,
    /// The steps a migration to current would run.
    pub pending: Vec<PlannedStep>,
    /// The last run in the history.
    pub last_run: Option<LastRun>,
    /// How many snapshots the store keeps.
    pub snapshots: usize,
    /// Whether a crashed or failed run waits to be finished or undone (a
    /// commit journal, a database's hot journal).
    pub interrupted: bool,
    /// Applied steps whose source changed since (a run refuses them).
    pub edited_since_applied: Vec<EditedStep>,
    /// Records that cannot be read, or are at a version the chain does not
    /// have, each message naming one; a run refuses them all.
    pub unreadable: Vec<String>,
    /// Records the store's settings leave out of runs, each with why.
    pub skipped: Vec<Skipped>,
    /// What runs that never committed left (killed runs: their staged and
    /// temporary files, their snapshots), with sizes; the next run removes
    /// it.
    pub leftovers: Vec<Leftover>,
    /// The chain's releases and the version each ships.
    pub releases: Releases,
}

/// The last run of a store, from its lines in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// The run's id.
    pub run_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// The version before the run.
    pub from: u32,
    /// The version after it.
    pub to: u32,
    /// The steps it ran, in order (none for a snapshot restore).
    pub steps: Vec<String>,
    /// When it committed.
    pub finished: String,
    /// The snapshot taken before it, or the one it restored.
    pub snapshot: Option<String>,
    /// Whether it was a step run alone with `migrate --id`.
    pub operator_override: bool,
    /// Whether it ran although applied steps had been edited since
    /// (`--allow-changed`); the history's descriptions name them.
    pub allowed_changed: bool,
    /// Whether it committed without a snapshot (`--no-snapshot`).
    pub no_snapshot: bool,
}

impl LastRun {
    /// The last run recorded in `history`.
    pub(crate) fn of(history: &[HistoryRecord]) -> Option<LastRun> {
        let last = history.last()?;
        let lines: Vec<&HistoryRecord> =
            history.iter().filter(|r| r.run_id == last.run_id).collect();
        // A step outside a transaction has a line when it starts and one
        // when it is applied: it is named once.
        let mut steps: Vec<String> = lines.iter().filter_map(|r| r.step.clone()).collect();
        steps.dedup();
        Some(LastRun {
            run_id: last.run_id.clone(),
            outcome: last.outcome,
            from: lines[0].from,
            to: last.to,
            steps,
            finished: last.finished.clone(),
            snapshot: last.snapshot.clone(),
            operator_override: lines.iter().any(|r| r.operator_override),
            allowed_changed: lines
                .iter()
                .any(|r| r.description.contains(info::ALLOWED_CHANGED)),
            no_snapshot: lines
                .iter()
                .any(|r| r.description.contains(info::NO_SNAPSHOT)),
        })
    }
}

/// A run id unique on this machine: the time to the second (readable), the
/// process id, and a per-process counter.
pub(crate) fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", now_for_name(), std::process::id())
}
