//! Verify: every record checked against the schema of its own version,
//! without migrating or changing anything. A record that cannot be read is
//! a failure like any other; the rest are still checked.

use super::error::{RunError, Stage};
use super::store::{Purpose, Store};
use super::validate::FAILURES_LISTED;
use super::validate::ValidationFailure;
use super::{Run, RunOptions, detect};
use crate::Chain;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    /// How many records were checked.
    pub checked: usize,
    /// How many of them are invalid.
    pub invalid: usize,
    /// The first invalid ones (a hundred at most), with why.
    pub failures: Vec<ValidationFailure>,
}

impl Verified {
    /// `checked` records, of which every failure is in `failures`.
    pub(crate) fn of(checked: usize, failures: Vec<ValidationFailure>) -> Verified {
        Verified {
            checked,
            invalid: failures.len(),
            failures,
        }
    }
}

/// Checks every record against the schema of its own version; returns how
/// many were checked, how many are invalid, and the first hundred of
/// those. Changes nothing.
pub fn verify<C: Chain>(store: &impl Store<Record = C::Record>) -> Result<Verified, RunError> {
    let options = RunOptions {
        dry_run: true,
        diff_limit: 0,
        ..RunOptions::default()
    };
    let run = Run::new::<C>(&options)?;
    let fail = |k| run.fail(Stage::Detect, k);
    let mut session = super::lock::open(store, Purpose::Read, &run)?;
    let stamp = store.stamp(&mut session, &run.chain).map_err(fail)?;
    let found = detect::detect(store, &mut session, &run, stamp)?;
    let mut checked = 0;
    // A record that cannot be read, or is at a version the chain does not
    // have, is one failure among the others, not the end.
    let mut failures: Vec<ValidationFailure> = (found.unreadable.iter())
        .map(|(path, kind)| ValidationFailure {
            path: path.clone(),
            step: None,
            version: stamp.unwrap_or(run.chain.base),
            message: kind.to_string(),
        })
        .collect();
    checked += failures.len();
    let mut invalid = failures.len();
    for (item, version) in &found.detected.records {
        let found = store
            .check(&mut session, &run, item, *version)
            .map_err(|k| run.fail(Stage::Validate, k))?;
        checked += found.checked;
        invalid += found.invalid.max(found.failures.len());
        let room = FAILURES_LISTED.saturating_sub(failures.len());
        failures.extend(found.failures.into_iter().take(room));
    }
    Ok(Verified {
        checked,
        invalid,
        failures,
    })
}
