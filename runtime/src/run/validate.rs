//! Validate: every staged record against the target version's checks
//! (each step's `verify`, the schema type the chain declares for the
//! version; inside the transaction, a database's own checks). A real run
//! with failures commits nothing; a dry run reports them.

use super::Run;
use std::fmt;

use camino::Utf8PathBuf;

use super::error::{ErrorKind, RunError, Stage};
use super::event::Event;
use super::store::{Staging, Store, Work};

/// How many failures a run keeps (and an error lists); the rest are counted.
pub(crate) const FAILURES_LISTED: usize = 100;

/// Every failure of the run: what staging found and what the store's own
/// checks find now, each told to the observer.
pub(crate) fn validate<S: Store>(
    store: &S,
    staged: &mut S::Staged<'_>,
    run: &Run<'_, S::Record>,
    work: &Work<'_, '_, S>,
    staging: &mut Staging,
) -> Result<(Vec<ValidationFailure>, usize), RunError> {
    let mut failures = std::mem::take(&mut staging.failures);
    let mut total = staging.failure_total.max(failures.len());
    let more = store
        .validate(staged, run, work)
        .map_err(|k| run.fail(Stage::Validate, k))?;
    total += more.len();
    failures.extend(more);
    failures.truncate(FAILURES_LISTED);
    for failure in &failures {
        run.emit(Event::ValidationFailed {
            failure: failure.clone(),
        });
    }
    Ok((failures, total))
}

/// The error of a run whose records failed validation, if any did.
pub(crate) fn refuse(failures: &[ValidationFailure], total: usize) -> Option<ErrorKind> {
    (!failures.is_empty()).then(|| ErrorKind::Validation {
        failures: failures.to_vec(),
        total: total.max(failures.len()),
    })
}

/// One document that did not pass validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidationFailure {
    /// The document, relative to the store.
    pub path: Utf8PathBuf,
    /// The step whose `verify` failed, or `None` for the target schema.
    pub step: Option<&'static str>,
    /// The version the document was checked at.
    pub version: u32,
    /// Why.
    pub message: String,
}

impl fmt::Display for ValidationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(step) => write!(
                f,
                "{}: `verify` of step `{step}` failed at v{}: {}",
                self.path, self.version, self.message
            ),
            // A document that could not be read at all: the error names it.
            None if self.message.starts_with(self.path.as_str()) => f.write_str(&self.message),
            None => write!(
                f,
                "{}: does not match the schema of v{}: {}",
                self.path, self.version, self.message
            ),
        }
    }
}
