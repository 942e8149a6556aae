//! What a step tells its run while it works, through the helpers it calls
//! (a database's batched helpers): how far a walk through a table in
//! batches got, as `batch_progress` events, and the records a helper found
//! invalid, as validation failures reported with the run's. A store calls
//! each step inside [`Run::in_step`]; a helper called outside a run finds
//! no one listening and fails instead of reporting.

use std::cell::RefCell;

use super::Run;
use super::event::Observer;
use super::validate::ValidationFailure;
use crate::chain::Record;

/// The step a run is calling on this thread.
struct Scope {
    #[cfg_attr(not(any(test, feature = "postgres")), allow(dead_code))]
    step: &'static str,
    #[cfg_attr(not(any(test, feature = "postgres")), allow(dead_code))]
    observer: Option<Observer>,
    failures: Vec<ValidationFailure>,
    total: usize,
}

thread_local! {
    static STEP: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// What the helpers a step called found invalid: the first failures, and
/// how many in all.
#[derive(Debug, Default)]
pub struct Found {
    /// The first failures, up to the run's listing limit.
    pub failures: Vec<ValidationFailure>,
    /// How many records failed in all.
    pub total: usize,
}

/// Puts back the scope that was there before, however the step ends.
struct Restore(Option<Scope>);

impl Restore {
    fn take(&mut self) -> Option<Scope> {
        STEP.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), self.0.take()))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        self.take();
    }
}

impl<R: Record> Run<'_, R> {
    /// Calls `body` as step `step`: the helpers it calls report their
    /// progress to this run's observer and what they find invalid to the
    /// result, beside `body`'s own.
    pub fn in_step<T>(&self, step: &'static str, body: impl FnOnce() -> T) -> (T, Found) {
        let scope = Scope {
            step,
            observer: self.options.observer.clone(),
            failures: Vec::new(),
            total: 0,
        };
        let before = STEP.with(|slot| slot.borrow_mut().replace(scope));
        let mut restore = Restore(before);
        let out = body();
        let found = restore.take().map_or_else(Found::default, |scope| Found {
            failures: scope.failures,
            total: scope.total,
        });
        (out, found)
    }
}

/// `done` of `total` rows of `table`, walked in batches by the step the
/// run is calling: a `batch_progress` event, when the run has an
/// observer.
#[cfg(any(test, feature = "postgres"))]
pub fn batch_progress(table: &str, done: usize, total: usize) {
    STEP.with(|slot| {
        if let Some(Scope {
            step,
            observer: Some(observer),
            ..
        }) = &*slot.borrow()
        {
            observer.emit(&super::event::Event::BatchProgress {
                step,
                table: table.to_owned(),
                done,
                total,
            });
        }
    });
}

/// Reports a record a helper found invalid to the run calling the step;
/// gives it back when no run is (the helper then fails with it).
#[cfg(any(test, feature = "postgres"))]
pub fn invalid(failure: ValidationFailure) -> Result<(), ValidationFailure> {
    STEP.with(|slot| match &mut *slot.borrow_mut() {
        Some(scope) => {
            scope.total += 1;
            if scope.failures.len() < super::FAILURES_LISTED {
                scope.failures.push(failure);
            }
            Ok(())
        }
        None => Err(failure),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::run::{ChainInfo, RunInfo, RunOptions};

    fn failure(n: u32) -> ValidationFailure {
        ValidationFailure {
            path: format!("t[id={n}].doc").into(),
            step: Some("s"),
            version: 2,
            message: "bad".to_owned(),
        }
    }

    #[test]
    fn helpers_reach_the_run_calling_the_step_and_no_one_else() {
        assert!(invalid(failure(0)).is_err(), "no run: the helper fails");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let options = RunOptions {
            observer: Some(Observer::new(move |e| sink.lock().unwrap().push(e.clone()))),
            ..RunOptions::default()
        };
        let run: Run<'_, crate::Document> = Run {
            chain: ChainInfo {
                name: "c",
                base: 1,
                current: 2,
                version_key: "v",
                check_schema: |_, _| None,
                releases: crate::chain::Releases(&[]),
            },
            options: &options,
            steps: Vec::new(),
            info: RunInfo::new("c"),
        };
        let (out, found) = run.in_step("s", || {
            batch_progress("t", 10, 20);
            invalid(failure(1)).unwrap();
            invalid(failure(2)).unwrap();
            7
        });
        assert_eq!(out, 7);
        assert_eq!(found.total, 2);
        assert_eq!(found.failures[1].path, "t[id=2].doc");
        assert!(invalid(failure(3)).is_err(), "the scope ends with the step");
        let seen = seen.lock().unwrap();
        assert_eq!(
            serde_json::to_string(&seen[0]).unwrap(),
            r#"{"event":"batch_progress","step":"s","table":"t","done":10,"total":20}"#
        );
        // A step that panics ends its scope too.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run.in_step("s", || panic!("boom"))
        }));
        assert!(caught.is_err());
        assert!(invalid(failure(4)).is_err());
    }
}
