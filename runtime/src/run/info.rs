//! What a run knows of itself, whatever its store (its id, when it
//! started, what the operator allowed), and the history lines it writes
//! from that.

use std::time::Instant;

use super::history::{EditedStep, HistoryRecord, Outcome, edited_since_applied};
use super::lock;
use super::plan::Move;
use super::{Direction, ErrorKind, new_run_id};
use crate::chain::{Record, Step, StepMeta};
use crate::clock::now_rfc3339;

/// How a history line's description begins when its run went ahead over
/// steps edited since they were applied.
pub(crate) const ALLOWED_CHANGED: &str = "RUN WITH --allow-changed";

/// How a history line's description begins when its run committed without
/// a snapshot.
pub(crate) const NO_SNAPSHOT: &str = "RUN WITH --no-snapshot";

/// A run's identity and the operator's choices, shared by every store.
pub struct RunInfo {
    pub chain: &'static str,
    pub run_id: String,
    pub started: Instant,
    /// When the run started (RFC 3339 UTC), as the history says it.
    pub started_at: String,
    /// Set by `migrate_step`: one step run alone, out of the chain's order.
    pub operator_override: bool,
    /// Applied steps edited since, run anyway with `allow_changed`.
    pub edited: Vec<EditedStep>,
    /// Set from `RunOptions::no_snapshot`: the run commits without a
    /// snapshot, and its history lines say so.
    pub no_snapshot: bool,
}

impl RunInfo {
    /// A run of `chain` starting now.
    pub fn new(chain: &'static str) -> Self {
        RunInfo {
            chain,
            run_id: new_run_id(),
            started: Instant::now(),
            started_at: now_rfc3339(),
            operator_override: false,
            edited: Vec::new(),
            no_snapshot: false,
        }
    }

    /// Refuses to run when a step `history` says was applied (up to
    /// `stamp`) has changed since, unless `allow_changed`; then the edited
    /// steps are named in every history line the run writes.
    pub fn check_unedited<R: Record>(
        &mut self,
        history: &[HistoryRecord],
        steps: &[Step<R>],
        stamp: Option<u32>,
        allow_changed: bool,
    ) -> Result<(), ErrorKind> {
        let metas: Vec<StepMeta> = steps.iter().map(|s| *s.meta()).collect();
        let edited = edited_since_applied(history, &metas, stamp);
        if !edited.is_empty() && !allow_changed {
            return Err(ErrorKind::EditedSinceApplied { steps: edited });
        }
        self.edited = edited;
        Ok(())
    }

    /// A step's description for the history, with what the operator
    /// overrode said first and loudly.
    pub fn described(&self, meta: &StepMeta) -> String {
        let mut said = String::new();
        if self.operator_override {
            said.push_str(&format!(
                "OPERATOR OVERRIDE: run alone with `migrate --id {}`, out of the chain's order; ",
                meta.id
            ));
        }
        if self.no_snapshot {
            said.push_str(&format!(
                "{NO_SNAPSHOT}: no snapshot was taken, so `rollback` cannot undo this run by \
                 itself; "
            ));
        }
        if !self.edited.is_empty() {
            let edited: Vec<String> = self.edited.iter().map(ToString::to_string).collect();
            said.push_str(&format!("{ALLOWED_CHANGED}: {}; ", edited.join("; ")));
        }
        said.push_str(meta.description);
        said
    }

    /// The history lines of the plan's steps, finished now: applied going
    /// up, rolled back going down. Counts, snapshot, created paths and the
    /// version before are the store's to fill in.
    pub fn step_records<R: Record>(
        &self,
        plan: &[Move<'_, R>],
        direction: Direction,
    ) -> Vec<HistoryRecord> {
        let outcome = match direction {
            Direction::Up if self.operator_override => Outcome::Override,
            Direction::Up => Outcome::Applied,
            Direction::Down | Direction::Restore => Outcome::RolledBack,
        };
        // Every line of the run says the same end and duration.
        let line = self.record(0, 0, outcome);
        plan.iter()
            .map(|m| HistoryRecord {
                step: Some(m.meta.id.to_owned()),
                from: m.from,
                to: m.to,
                description: self.described(m.meta),
                checksum: Some(m.meta.checksum.to_owned()),
                ..line.clone()
            })
            .collect()
    }

    /// The history line of a snapshot restore from version `from` to `to`,
    /// finished now.
    pub fn restore_record(
        &self,
        from: u32,
        to: u32,
        snapshot: &str,
        description: String,
    ) -> HistoryRecord {
        HistoryRecord {
            description,
            snapshot: Some(snapshot.to_owned()),
            // A restore is never a step run alone.
            operator_override: false,
            ..self.record(from, to, Outcome::RolledBack)
        }
    }

    /// The history line of a stamp at `version` (`stamp --version N`),
    /// finished now.
    pub fn stamp_record(&self, version: u32) -> HistoryRecord {
        HistoryRecord {
            description: format!(
                "STAMPED at v{version} with `stamp --version {version}`: the store was built \
                 before verchain ran on it; no step ran"
            ),
            operator_override: false,
            ..self.record(version, version, Outcome::Stamped)
        }
    }

    /// A line of this run with no step, counts or snapshot.
    fn record(&self, from: u32, to: u32, outcome: Outcome) -> HistoryRecord {
        HistoryRecord {
            run_id: self.run_id.clone(),
            chain: self.chain.to_owned(),
            step: None,
            from,
            to,
            description: String::new(),
            checksum: None,
            started: self.started_at.clone(),
            finished: now_rfc3339(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome,
            snapshot: None,
            counts: super::Counts::default(),
            created_paths: Vec::new(),
            created_folders: Vec::new(),
            stamp_before: None,
            operator_override: self.operator_override,
            host: lock::hostname(),
            verchain: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: StepMeta = StepMeta {
        id: "rename",
        from: 1,
        to: 2,
        description: "Renames a field.",
        checksum: "v1:blake3:00",
        down: None,
        file: "steps.rs",
        line: 1,
        breaking: false,
        requires_restart: &[],
        backup_required: true,
        estimate: None,
        transaction: true,
    };

    #[test]
    fn the_description_says_what_the_operator_overrode_first() {
        let mut info = RunInfo::new("c");
        assert_eq!(info.described(&META), "Renames a field.");
        info.operator_override = true;
        let said = info.described(&META);
        assert!(
            said.starts_with("OPERATOR OVERRIDE: run alone with `migrate --id rename`"),
            "{said}"
        );
        assert!(said.ends_with("; Renames a field."), "{said}");
    }

    #[test]
    fn a_restore_line_is_a_rollback_with_its_snapshot_and_no_step() {
        let info = RunInfo::new("c");
        let line = info.restore_record(3, 1, "snap", "restored".to_owned());
        assert_eq!((line.from, line.to), (3, 1));
        assert_eq!(line.outcome, Outcome::RolledBack);
        assert_eq!(line.snapshot.as_deref(), Some("snap"));
        assert_eq!(line.step, None);
        assert_eq!(line.run_id, info.run_id);
        assert!(!line.applied_a_step());
    }
}
