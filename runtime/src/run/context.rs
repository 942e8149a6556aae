//! A run in progress, as the driver hands it to a store: what it knows of
//! its chain, the chain's steps, the options, who the run is, and the
//! events it tells.

use super::audit::AuditEvent;
use super::error::{RunError, Stage};
use super::event::{Event, Ticker};
use super::history::{Counts, HistoryRecord};
use super::plan::Move;
use super::{ErrorKind, RunInfo, RunOptions};
use crate::BoxError;
use crate::Chain;
use crate::chain::{Record, Releases, Step};
use camino::Utf8Path;

/// What a run knows of its chain: the constants of its [`Chain`] and its
/// schema check, as values.
#[doc(hidden)]
pub struct ChainInfo<R: Record> {
    /// The chain's name.
    pub name: &'static str,
    /// Its first version.
    pub base: u32,
    /// Its newest version.
    pub current: u32,
    /// The key in each record that holds its version.
    pub version_key: &'static str,
    /// Checks a record against the schema type declared for a version.
    pub check_schema: fn(u32, &R) -> Option<Result<(), BoxError>>,
    /// The names of the chain's releases.
    pub releases: Releases,
}

/// A run of one chain over records `R`: what every stage and every store
/// needs to know.
#[doc(hidden)]
pub struct Run<'o, R: Record> {
    /// The chain.
    pub chain: ChainInfo<R>,
    /// How to run.
    pub options: &'o RunOptions,
    /// The chain's steps, checked, in order.
    pub steps: Vec<Step<R>>,
    /// The run's id, start, and what the operator allowed.
    pub info: RunInfo,
}

impl<'o, R: Record> Run<'o, R> {
    /// A run of chain `C` with `options`, its steps checked as the compiler
    /// did.
    pub(crate) fn new<C: Chain<Record = R>>(options: &'o RunOptions) -> Result<Self, RunError> {
        let steps = crate::chain::checked_steps::<C>()
            .map_err(|e| RunError::new(C::NAME, Stage::Plan, ErrorKind::from(e)))?;
        Ok(Run {
            chain: ChainInfo::of::<C>(),
            options,
            steps,
            info: RunInfo {
                no_snapshot: options.no_snapshot,
                ..RunInfo::new(C::NAME)
            },
        })
    }

    /// Whether the run writes nothing.
    pub fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.info.run_id
    }

    /// Tells the observer, if any.
    pub fn emit(&self, event: Event) {
        if let Some(observer) = &self.options.observer {
            observer.emit(&event);
        }
    }

    /// Progress through `total` records or bytes of `stage`.
    pub fn ticker(&self, stage: Stage, total: usize) -> Ticker<'o> {
        Ticker::start(self.options.observer.as_ref(), stage, total)
    }

    /// Whether a database's run compares every row before and after its
    /// steps: in a dry run, and whenever the report shows diffs. A real run
    /// with `diff_limit` 0 (`--no-diff`) reads no row for the report, and
    /// its counts are the rows the steps wrote, as the database counts
    /// them.
    pub fn compares_rows(&self) -> bool {
        self.dry_run() || self.options.diff_limit > 0
    }

    /// The snapshot stage begins, over `total` records.
    pub fn snapshot_started(&self, total: usize) {
        self.emit(Event::StageStarted {
            stage: super::Stage::Snapshot,
            total,
        });
    }

    /// A step begins.
    pub fn step_started(&self, m: &Move<'_, R>) {
        self.emit(Event::StepStarted {
            step: m.meta.id,
            from: m.from,
            to: m.to,
        });
    }

    /// A step is done with every record it ran on.
    pub fn step_finished(&self, m: &Move<'_, R>, counts: Counts) {
        self.emit(Event::StepFinished {
            step: m.meta.id,
            from: m.from,
            to: m.to,
            counts,
        });
    }

    /// Emits the audit events of the history lines a real run committed.
    pub(crate) fn audit_committed(&self, store: &Utf8Path, records: &[HistoryRecord]) {
        for record in records {
            super::audit::emit(
                self.options.audit.as_ref(),
                &AuditEvent::of_record(store, record),
            );
        }
    }

    /// Emits the audit event of a real run that failed, and gives back its
    /// result; `to` is the version it was going to, where known.
    pub(crate) fn audit_failure<T>(
        &self,
        store: &Utf8Path,
        to: Option<u32>,
        result: Result<T, RunError>,
    ) -> Result<T, RunError> {
        if let Err(error) = &result
            && !self.dry_run()
        {
            let took = u64::try_from(self.info.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let event = AuditEvent::failed(store, self.id(), error, (None, to), took);
            super::audit::emit(self.options.audit.as_ref(), &event);
        }
        result
    }

    /// An error of this run at `stage`.
    pub fn fail(&self, stage: Stage, kind: impl Into<ErrorKind>) -> RunError {
        RunError::new(self.chain.name, stage, kind)
    }
}

impl<R: Record> ChainInfo<R> {
    /// What chain `C` declares.
    pub(crate) fn of<C: Chain<Record = R>>() -> Self {
        ChainInfo {
            name: C::NAME,
            base: C::BASE,
            current: C::CURRENT,
            version_key: C::VERSION_KEY,
            check_schema: C::check_schema,
            releases: Releases::of::<C>(),
        }
    }

    /// Refuses a version outside the chain's.
    pub(crate) fn check_target(&self, target: u32) -> Result<(), ErrorKind> {
        if target > self.current {
            return Err(ErrorKind::TargetPastCurrent {
                target,
                current: self.current,
            });
        }
        if target < self.base {
            return Err(ErrorKind::TargetBelowBase {
                target,
                base: self.base,
            });
        }
        Ok(())
    }
}
