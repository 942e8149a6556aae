//! A run in progress, as the driver hands it to a store: the chain, its
//! steps, the options, who the run is, and the events it tells.

use std::marker::PhantomData;

use super::error::{RunError, Stage};
use super::event::{Event, Ticker};
use super::history::Counts;
use super::plan::Move;
use super::{ErrorKind, RunInfo, RunOptions};
use crate::Chain;
use crate::chain::Step;

/// A run of chain `C`: what every stage and every store needs to know.
#[doc(hidden)]
pub struct Run<'o, C: Chain> {
    /// How to run.
    pub options: &'o RunOptions,
    /// The chain's steps, checked, in order.
    pub steps: Vec<Step<C::Record>>,
    /// The run's id, start, and what the operator allowed.
    pub info: RunInfo,
    chain: PhantomData<fn() -> C>,
}

impl<'o, C: Chain> Run<'o, C> {
    /// A run of `C` with `options`, its steps checked as the compiler did.
    pub(crate) fn new(options: &'o RunOptions) -> Result<Self, RunError> {
        let steps = crate::chain::checked_steps::<C>()
            .map_err(|e| RunError::new(C::NAME, Stage::Plan, ErrorKind::from(e)))?;
        Ok(Run {
            options,
            steps,
            info: RunInfo::new(C::NAME),
            chain: PhantomData,
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

    /// A step begins.
    pub fn step_started(&self, m: &Move<'_, C::Record>) {
        self.emit(Event::StepStarted {
            step: m.meta.id,
            from: m.from,
            to: m.to,
        });
    }

    /// A step is done with every record it ran on.
    pub fn step_finished(&self, m: &Move<'_, C::Record>, counts: Counts) {
        self.emit(Event::StepFinished {
            step: m.meta.id,
            from: m.from,
            to: m.to,
            counts,
        });
    }

    /// An error of this run at `stage`.
    pub fn fail(&self, stage: Stage, kind: impl Into<ErrorKind>) -> RunError {
        RunError::new(C::NAME, stage, kind)
    }
}
