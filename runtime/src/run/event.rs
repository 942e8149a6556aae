//! What a run tells an observer while it works: the events behind the
//! command line's progress bars and its `--json` stream.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::error::Stage;
use super::history::Counts;
use super::report::{Direction, PlannedStep};
use super::validate::ValidationFailure;

/// One thing a run did. Serialized with an `event` field naming the variant
/// in snake case, so a stream of them reads as one JSON object a line:
///
/// ```json
/// {"event":"progress","stage":"stage","done":250,"total":1000}
/// ```
///
/// A run first reads every record's version (`stage_started` and
/// `progress` for [`Stage::Detect`]), then emits `run_started`; then, for
/// the stages that touch records,
/// `stage_started`, `progress` (as records are done) and, while staging,
/// `step_started` and `step_finished` for each step (and, between them,
/// `batch_progress` from a step that walks a table in batches);
/// `validation_failed` for
/// each record that fails; `snapshot_written`; and last `committed` or, for
/// a restore, `rolled_back`. A dry run stops after validation. A document
/// folder runs every step of the plan on one document before the next, so
/// its steps all start together and finish when the last document is
/// staged; a database runs them one after another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run holds the lock, recovered what needed it, and has a plan.
    RunStarted {
        /// The chain.
        chain: &'static str,
        /// The run's id, as the history will record it.
        run_id: String,
        /// Which way it goes.
        direction: Direction,
        /// Whether it writes nothing.
        dry_run: bool,
        /// The store's version before the run, when it has one.
        from: Option<u32>,
        /// The version the run brings the store to.
        to: u32,
        /// The steps, in order (empty for a restore).
        plan: Vec<PlannedStep>,
        /// How many records the run reads.
        records: usize,
    },
    /// A stage that works through records or files began.
    StageStarted {
        /// The stage.
        stage: Stage,
        /// How many records or files it goes through.
        total: usize,
    },
    /// A step began.
    StepStarted {
        /// The step's id.
        step: &'static str,
        /// The version it reads.
        from: u32,
        /// The version it writes.
        to: u32,
    },
    /// Records done so far in the current stage.
    Progress {
        /// The stage.
        stage: Stage,
        /// Done so far.
        done: usize,
        /// Done when the stage ends.
        total: usize,
    },
    /// Rows done so far by a step that walks a table in batches (through
    /// a helper such as `postgres::batched_update`), about two hundred a
    /// walk and always its last.
    BatchProgress {
        /// The step.
        step: &'static str,
        /// The table.
        table: String,
        /// Rows done so far.
        done: usize,
        /// Rows to do.
        total: usize,
    },
    /// A step is done with every record.
    StepFinished {
        /// The step's id.
        step: &'static str,
        /// The version it read.
        from: u32,
        /// The version it wrote.
        to: u32,
        /// What it did to the records it ran on.
        counts: Counts,
    },
    /// A record failed a step's `verify` or the target version's schema.
    ValidationFailed {
        /// Which record, and why.
        failure: ValidationFailure,
    },
    /// The store as it was before the run is archived.
    SnapshotWritten {
        /// The snapshot's id.
        id: String,
        /// How many files it holds.
        files: usize,
    },
    /// The run's changes are in the store and in its history.
    Committed {
        /// The store's version now.
        version: u32,
        /// Records changed, created, removed.
        counts: Counts,
    },
    /// A snapshot was restored.
    RolledBack {
        /// The snapshot restored.
        snapshot: String,
        /// The store's version now, when it has one.
        version: Option<u32>,
    },
}

/// Receives a run's events as they happen.
#[derive(Clone)]
pub struct Observer(Arc<dyn Fn(&Event) + Send + Sync>);

impl Observer {
    /// An observer that calls `f` with each event.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Observer(Arc::new(f))
    }

    pub(crate) fn emit(&self, event: &Event) {
        (self.0)(event);
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer(..)")
    }
}

/// Counts records for `progress` events, emitting one each `every` records
/// and at the end, so that a run over a million records does not make a
/// million calls.
pub struct Ticker<'o> {
    observer: Option<&'o Observer>,
    stage: Stage,
    done: usize,
    total: usize,
    every: usize,
}

impl<'o> Ticker<'o> {
    pub(crate) fn start(observer: Option<&'o Observer>, stage: Stage, total: usize) -> Self {
        if let Some(o) = observer {
            o.emit(&Event::StageStarted { stage, total });
        }
        Ticker {
            observer,
            stage,
            done: 0,
            total,
            every: (total / 200).max(1),
        }
    }

    /// One more record done.
    pub(crate) fn tick(&mut self) {
        self.done += 1;
        if self.done.is_multiple_of(self.every) || self.done == self.total {
            self.emit();
        }
    }

    fn emit(&self) {
        if let Some(o) = self.observer {
            o.emit(&Event::Progress {
                stage: self.stage,
                done: self.done,
                total: self.total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn events_serialize_with_their_name_in_snake_case() {
        let event = Event::Progress {
            stage: Stage::Stage,
            done: 3,
            total: 10,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"progress","stage":"stage","done":3,"total":10}"#
        );
    }

    #[test]
    fn a_ticker_reports_about_every_half_percent_and_always_the_last() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let observer = Observer::new(move |e| sink.lock().unwrap().push(e.clone()));
        let mut ticker = Ticker::start(Some(&observer), Stage::Commit, 1001);
        for _ in 0..1001 {
            ticker.tick();
        }
        let seen = seen.lock().unwrap();
        assert!(matches!(
            seen[0],
            Event::StageStarted {
                stage: Stage::Commit,
                total: 1001
            }
        ));
        let done: Vec<usize> = seen
            .iter()
            .filter_map(|e| match e {
                Event::Progress { done, .. } => Some(*done),
                _ => None,
            })
            .collect();
        assert_eq!(done.len(), 201, "every 5 of 1001, plus the last");
        assert_eq!(done.first(), Some(&5));
        assert_eq!(done.last(), Some(&1001));
    }
}
