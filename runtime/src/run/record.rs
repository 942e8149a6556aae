//! Record: the history's lines for a run, one per step, written by the
//! commit together with the run's changes (in the commit journal of a
//! staged-files store, in the transaction of a database).

use super::Run;
use super::history::HistoryRecord;
use super::store::{Staging, Store, Work};

/// The history records of a run that staged `staging` and took `snapshot`.
pub(crate) fn records<S: Store>(
    run: &Run<'_, S::Record>,
    work: &Work<'_, '_, S>,
    staging: &Staging,
    snapshot: Option<&str>,
) -> Vec<HistoryRecord> {
    let mut records = run.info.step_records(work.plan, work.direction);
    for (i, record) in records.iter_mut().enumerate() {
        record.counts = staging.per_step.get(i).copied().unwrap_or_default();
        record.snapshot = snapshot.map(str::to_owned);
        record.stamp_before = work.stamp;
        // What the run as a whole did, once: a restore removes the paths it
        // created, and quarantined records are the run's, not a step's.
        if i == 0 {
            record.created_paths = staging.created.iter().map(ToString::to_string).collect();
            record.created_folders = (staging.created_folders.iter())
                .map(ToString::to_string)
                .collect();
            record.counts.quarantined = staging.counts.quarantined;
        }
    }
    records
}
