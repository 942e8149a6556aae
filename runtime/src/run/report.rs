//! What a run did or, for a dry run, would do.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use camino::Utf8PathBuf;
use serde::Serialize;

use super::history::Counts;
use super::validate::ValidationFailure;
use crate::chain::StepMeta;

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Forward, with `up` steps.
    Up,
    /// Back, with `down` steps.
    Down,
    /// Back, by restoring a snapshot.
    Restore,
}

/// One step of the plan, with what its attribute says of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// The step's id.
    pub id: &'static str,
    /// The version it reads (for a `down` step, the higher one).
    pub from: u32,
    /// The version it writes.
    pub to: u32,
    /// The step's description.
    pub description: &'static str,
    /// Whether readers of the version before cannot read the version after.
    pub breaking: bool,
    /// The services to restart once it has run.
    pub requires_restart: &'static [&'static str],
    /// Whether it needs the store's snapshot.
    pub backup_required: bool,
    /// How long it takes on a typical store, as written (`"5m"`).
    #[serde(serialize_with = "estimate_text")]
    pub estimate: Option<Duration>,
    /// Whether it runs inside the run's transaction; a step that does not
    /// runs alone, in a part of the run of its own (and a dry run cannot
    /// run it).
    pub transaction: bool,
}

fn estimate_text<S: serde::Serializer>(
    estimate: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    estimate
        .map(verchain_core::format_estimate)
        .serialize(serializer)
}

impl PlannedStep {
    /// `step` as a plan lists it, from `from` to `to` (`down` steps go the
    /// other way).
    pub fn of(meta: &StepMeta, from: u32, to: u32) -> Self {
        PlannedStep {
            id: meta.id,
            from,
            to,
            description: meta.description,
            breaking: meta.breaking,
            requires_restart: meta.requires_restart,
            backup_required: meta.backup_required,
            estimate: meta.estimate,
            transaction: meta.transaction,
        }
    }
}

/// Every service that `plan`'s steps say must restart, each once, sorted.
pub fn requires_restart(plan: &[PlannedStep]) -> Vec<&'static str> {
    let all: BTreeSet<&'static str> = plan
        .iter()
        .flat_map(|s| s.requires_restart.iter().copied())
        .collect();
    all.into_iter().collect()
}

/// What happens to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Its bytes change.
    Changed,
    /// It is new.
    Created,
    /// It goes away.
    Removed,
}

/// One document the run changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The document, relative to the store.
    pub path: Utf8PathBuf,
    /// What happens to it.
    pub kind: ChangeKind,
    /// A unified diff of its text, for the first changes up to the run's
    /// diff limit.
    pub diff: Option<String>,
}

/// The outcome of a run or a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The chain.
    pub chain: &'static str,
    /// The run's id (also in the history).
    pub run_id: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Which way the run went.
    pub direction: Direction,
    /// The store's version before the run: the newest document's version.
    pub store_version: Option<u32>,
    /// The version the run brings the store to.
    pub target: u32,
    /// The steps, in the order they run.
    pub plan: Vec<PlannedStep>,
    /// How many documents were at each version before the run.
    pub versions: BTreeMap<u32, usize>,
    /// Documents changed, unchanged, created, removed.
    pub counts: Counts,
    /// Every document the run changes, creates or removes.
    pub changes: Vec<Change>,
    /// The documents that failed validation, the first hundred (a real run
    /// with failures does not commit).
    pub failures: Vec<ValidationFailure>,
    /// How many failed validation in all.
    pub failure_total: usize,
    /// The snapshot taken before the commit, or restored by a rollback.
    pub snapshot: Option<String>,
    /// Records the store's settings leave out of every run (a folder told
    /// to skip documents without front matter), each with why.
    pub skipped: Vec<Skipped>,
    /// Every service the plan's steps say must restart once the run has
    /// committed (`requires_restart`), each once, sorted: what a deploy
    /// script restarts.
    pub requires_restart: Vec<&'static str>,
    /// Whether the run takes no snapshot, since every step of its plan says
    /// `backup_required = false` (such a run is undone with `down` steps
    /// only).
    pub skips_snapshot: bool,
    /// The locks each step took on tables that the run's transaction did
    /// not hold already, as the database reports them while the step's
    /// transaction is open (a PostgreSQL schema's; empty for other stores).
    pub locks: Vec<StepLock>,
}

/// A lock a step took on a table, which others wait for as long as the
/// run's transaction holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepLock {
    /// The step.
    pub step: &'static str,
    /// The table (with its schema, when not the store's).
    pub table: String,
    /// The lock's mode, as the database names it (`ACCESS EXCLUSIVE`).
    pub mode: String,
    /// How long the run's transaction held it: from the step's start to
    /// the end of the last step of the transaction (a real run holds it on
    /// through validation and the commit).
    #[serde(rename = "held_ms", serialize_with = "millis")]
    pub held: Duration,
    /// What others cannot do while it is held: `reads and writes`.
    pub blocks: &'static str,
}

fn millis<S: serde::Serializer>(held: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(held.as_millis()).unwrap_or(u64::MAX))
}

impl std::fmt::Display for StepLock {
    /// ``holds ACCESS EXCLUSIVE on `submissions` for 2.3 s: blocks reads and
    /// writes`` (`for 40 ms` under a second).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = match self.held.as_millis() {
            ms if ms < 1000 => format!("{ms} ms"),
            _ => format!("{:.1} s", self.held.as_secs_f64()),
        };
        write!(
            f,
            "holds {} on `{}` for {held}: blocks {}",
            self.mode, self.table, self.blocks
        )
    }
}

/// A record the store's settings leave out of runs: it is listed, never
/// silently passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The record.
    pub path: Utf8PathBuf,
    /// Why it is left out.
    pub reason: String,
}

impl Report {
    /// Whether the store had mixed versions before the run.
    pub fn mixed_versions(&self) -> bool {
        self.versions.len() > 1
    }
}

/// A unified diff of `old` and `new`, labelled with `path`.
pub(crate) fn diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
