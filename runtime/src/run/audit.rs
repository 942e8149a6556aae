//! Audit events: what a run changed, once it has changed it, or that it
//! failed. Each is a `tracing` event (target `verchain::audit`) and a value
//! handed to the application's [`AuditSink`], if it registered one in
//! [`RunOptions::audit`](super::RunOptions::audit).
//!
//! | name | when | level |
//! |---|---|---|
//! | `migration.applied` | a step committed (an operator's `--id` too: its outcome says `override`) | info |
//! | `migration.rolled_back` | a `down` step committed | info |
//! | `migration.restored` | a snapshot restore committed | info |
//! | `migration.recovered` | a run finished a step whose commit a crash interrupted | info |
//! | `migration.stamped` | a store built before verchain was recorded at a version (`stamp`) | info |
//! | `migration.abandoned` | a run gave up a commit a crash interrupted before it moved anything (the store stayed as it was before that run) | warn |
//! | `migration.failed` | a run that changes the store failed; the store is as it was (or, where `store_unchanged` is false, its commit waits to be finished) | warn |
//!
//! A dry run emits none: it changes nothing.

use std::fmt;
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::error::{RunError, Stage};
use super::history::{Counts, HistoryRecord, Outcome};

/// The `tracing` target of every audit event.
pub const AUDIT_TARGET: &str = "verchain::audit";

/// One thing a run did to a store, or its failure, as a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// `migration.applied`, `migration.rolled_back`, `migration.restored`,
    /// `migration.recovered`, `migration.stamped`, `migration.abandoned` or
    /// `migration.failed`.
    pub name: &'static str,
    /// What happened, in the history's words.
    pub outcome: Outcome,
    /// The run (as in the history).
    pub run_id: String,
    /// The chain.
    pub chain: String,
    /// The store's path.
    pub store: Utf8PathBuf,
    /// The step (`None` for a restore and for a failed run).
    pub step: Option<String>,
    /// The version before (for a failed run, the store's when it is known).
    pub from: Option<u32>,
    /// The version after (for a failed run, the version it was going to).
    pub to: Option<u32>,
    /// Records the step touched.
    pub counts: Counts,
    /// How long the run had taken, in milliseconds.
    pub duration_ms: u64,
    /// The snapshot taken before the run, or restored.
    pub snapshot: Option<String>,
    /// Where a failed run stopped.
    pub stage: Option<Stage>,
    /// Why a run failed.
    pub error: Option<String>,
    /// For a failed run: whether the store is known to be exactly as it
    /// was (always true for the other events).
    pub store_unchanged: bool,
}

/// Receives audit events as values: forward them to an event bus or an
/// audit log. A closure `Fn(&AuditEvent)` is one.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use verchain::{AuditEvent, RunOptions};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// let options = RunOptions::default().with_audit(move |event: &AuditEvent| {
///     sink.lock().unwrap().push(event.name);
/// });
/// assert!(options.audit.is_some());
/// ```
pub trait AuditSink: Send + Sync {
    /// Called once for each event, on the thread that runs the store.
    fn record(&self, event: &AuditEvent);
}

impl<F: Fn(&AuditEvent) + Send + Sync> AuditSink for F {
    fn record(&self, event: &AuditEvent) {
        self(event);
    }
}

/// A registered [`AuditSink`], shared by the runs that are given it.
#[derive(Clone)]
pub struct Audit(Arc<dyn AuditSink>);

impl Audit {
    /// Wraps `sink`.
    pub fn new(sink: impl AuditSink + 'static) -> Self {
        Audit(Arc::new(sink))
    }

    /// Wraps a sink already shared as a trait object.
    pub fn shared(sink: Arc<dyn AuditSink>) -> Self {
        Audit(sink)
    }
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Audit(..)")
    }
}

impl AuditEvent {
    /// The event of one committed history line of a run on `store`.
    pub(crate) fn of_record(store: &Utf8Path, record: &HistoryRecord) -> Self {
        let name = match (record.outcome, &record.step) {
            (Outcome::RolledBack, None) => "migration.restored",
            (Outcome::RolledBack, Some(_)) => "migration.rolled_back",
            (Outcome::Recovered, _) => "migration.recovered",
            (Outcome::Abandoned, _) => "migration.abandoned",
            (Outcome::Stamped, _) => "migration.stamped",
            _ => "migration.applied",
        };
        AuditEvent {
            name,
            outcome: record.outcome,
            run_id: record.run_id.clone(),
            chain: record.chain.clone(),
            store: store.to_owned(),
            step: record.step.clone(),
            from: Some(record.from),
            to: Some(record.to),
            counts: record.counts,
            duration_ms: record.duration_ms,
            snapshot: record.snapshot.clone(),
            stage: None,
            error: None,
            store_unchanged: true,
        }
    }

    /// The event of a run that failed with `error`.
    pub(crate) fn failed(
        store: &Utf8Path,
        run_id: &str,
        error: &RunError,
        versions: (Option<u32>, Option<u32>),
        duration_ms: u64,
    ) -> Self {
        AuditEvent {
            name: "migration.failed",
            outcome: Outcome::Failed,
            run_id: run_id.to_owned(),
            chain: error.chain.to_owned(),
            store: store.to_owned(),
            step: None,
            from: versions.0,
            to: versions.1,
            counts: Counts::default(),
            duration_ms,
            snapshot: None,
            stage: Some(error.stage),
            error: Some(error.kind.to_string()),
            store_unchanged: error.store_unchanged(),
        }
    }
}

/// Emits `event` as a `tracing` event and hands it to `sink`.
pub(crate) fn emit(sink: Option<&Audit>, event: &AuditEvent) {
    trace(event);
    if let Some(Audit(sink)) = sink {
        sink.record(event);
    }
}

/// The `tracing` event; its fields are the event's.
fn trace(e: &AuditEvent) {
    macro_rules! event {
        ($level:expr, $name:literal) => {
            tracing::event!(
                name: $name,
                target: "verchain::audit",
                $level,
                event = $name,
                outcome = ?e.outcome,
                run_id = %e.run_id,
                chain = %e.chain,
                store = %e.store,
                step = e.step.as_deref(),
                from = e.from,
                to = e.to,
                changed = e.counts.changed,
                unchanged = e.counts.unchanged,
                created = e.counts.created,
                removed = e.counts.removed,
                duration_ms = e.duration_ms,
                snapshot = e.snapshot.as_deref(),
                stage = e.stage.map(|s| s.to_string()),
                error = e.error.as_deref(),
                store_unchanged = e.store_unchanged,
            )
        };
    }
    match e.name {
        "migration.failed" => event!(tracing::Level::WARN, "migration.failed"),
        "migration.rolled_back" => event!(tracing::Level::INFO, "migration.rolled_back"),
        "migration.restored" => event!(tracing::Level::INFO, "migration.restored"),
        "migration.recovered" => event!(tracing::Level::INFO, "migration.recovered"),
        "migration.abandoned" => event!(tracing::Level::WARN, "migration.abandoned"),
        "migration.stamped" => event!(tracing::Level::INFO, "migration.stamped"),
        _ => event!(tracing::Level::INFO, "migration.applied"),
    }
}

impl fmt::Display for AuditEvent {
    /// One line: `migration.applied notes v1 → v2 step add_status (run …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} chain `{}`", self.name, self.chain)?;
        match (self.from, self.to) {
            (Some(from), Some(to)) => write!(f, " v{from} → v{to}")?,
            (None, Some(to)) => write!(f, " → v{to}")?,
            _ => {}
        }
        if let Some(step) = &self.step {
            write!(f, " step `{step}`")?;
        }
        let c = &self.counts;
        if self.error.is_none() {
            write!(
                f,
                ": {} changed, {} unchanged, {} created, {} removed",
                c.changed, c.unchanged, c.created, c.removed
            )?;
        }
        if let Some(snapshot) = &self.snapshot {
            write!(f, "; snapshot {snapshot}")?;
        }
        if let (Some(stage), Some(error)) = (self.stage, &self.error) {
            write!(f, " at stage `{stage}`: {error}")?;
        }
        write!(f, " (run {}, {} ms)", self.run_id, self.duration_ms)
    }
}
