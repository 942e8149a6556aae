//! The history: one JSON line per applied step or rollback, appended to
//! `.verchain/history.jsonl` and never rewritten.

use std::io;

use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use super::error::{ErrorKind, io};

/// What happened to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// A step was applied.
    Applied,
    /// A step was applied by finishing an interrupted commit.
    Recovered,
    /// The store was rolled back.
    RolledBack,
    /// The run's commit was given up, and the store is as it was before the
    /// run: recovery found it could not be finished and had moved nothing,
    /// or the run's own commit failed part way and put back what it had
    /// done.
    Abandoned,
    /// A step an operator ran alone, out of the chain's order
    /// (`migrate --id`), was applied.
    Override,
    /// The run failed and changed nothing. Only audit events say it: a
    /// failed run writes nothing to the store, its history included.
    Failed,
    /// A step that runs outside a transaction (`#[migration(transaction =
    /// false)]`) began, and is not finished until a later line of its run
    /// says it was applied: without one, the run stopped during the step,
    /// which may have left part of its work.
    Started,
    /// A store built before verchain was recorded at a version (`stamp
    /// --version N`), without running a step: the line's `to`.
    Stamped,
}

impl Outcome {
    /// The outcome as every history spells it (`applied`, `rolled_back`, …).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

/// Documents a step touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Documents whose bytes changed.
    pub changed: usize,
    /// Documents left as they were.
    pub unchanged: usize,
    /// Documents created (including the new path of a moved one).
    pub created: usize,
    /// Documents removed (including the old path of a moved one).
    pub removed: usize,
    /// Malformed records moved to a quarantine file instead of failing the
    /// run (a log store with `skip_malformed`); never counted elsewhere.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quarantined: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// The run, shared by every step it applied.
    pub run_id: String,
    /// The chain.
    pub chain: String,
    /// The step's id (`None` for a rollback to a snapshot).
    pub step: Option<String>,
    /// The version before.
    pub from: u32,
    /// The version after.
    pub to: u32,
    /// The step's description, or what the rollback did.
    pub description: String,
    /// The step's checksum with its algorithm (`v1:blake3:…`).
    pub checksum: Option<String>,
    /// When the run started (RFC 3339 UTC).
    pub started: String,
    /// When it committed.
    pub finished: String,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// What happened.
    pub outcome: Outcome,
    /// The snapshot taken before the run, or restored by a rollback.
    pub snapshot: Option<String>,
    /// Documents this step touched.
    pub counts: Counts,
    /// Paths this step brought into the store (so a rollback can remove
    /// them).
    #[serde(default)]
    pub created_paths: Vec<String>,
    /// Folders this step added to the store for them, each before the
    /// folders in it (a rollback removes each that it leaves empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_folders: Vec<String>,
    /// The store's stamped version before the run (`None`: no stamp yet), so
    /// a restore can put it back.
    #[serde(default)]
    pub stamp_before: Option<u32>,
    /// Whether an operator ran this step alone, out of the chain's order
    /// (`migrate --id`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub operator_override: bool,
    /// The machine that ran it.
    pub host: String,
    /// The verchain version that ran it.
    pub verchain: String,
}

impl HistoryRecord {
    /// Refuses a record whose snapshot could not name a snapshot in the
    /// store's snapshot folder: a rollback restores from it, so it is
    /// checked as a user's `--snapshot` id is. Every reader of a history
    /// calls this on each record.
    pub(crate) fn contained(&self) -> Result<(), String> {
        let Some(id) = &self.snapshot else {
            return Ok(());
        };
        match crate::contain::snapshot_id_problem(id) {
            Some(problem) => Err(format!(
                "snapshot `{id}` is not a snapshot name ({problem})"
            )),
            None => Ok(()),
        }
    }

    /// Whether this record applied a step (in a run, or by recovery
    /// finishing one).
    pub fn applied_a_step(&self) -> bool {
        self.step.is_some()
            && matches!(
                self.outcome,
                Outcome::Applied | Outcome::Recovered | Outcome::Override
            )
    }
}

/// `records` as the history's lines; `path` names the history in an error.
pub(crate) fn lines(records: &[HistoryRecord], path: &Utf8Path) -> Result<Vec<String>, ErrorKind> {
    records
        .iter()
        .map(|record| {
            serde_json::to_string(record).map_err(|e| ErrorKind::Damaged {
                path: path.to_owned(),
                line: 0,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Reads every record of the history at `path` (none if it does not exist).
/// A line that is not a record (not UTF-8, not JSON, not a history line)
/// is an error naming the file and the line.
pub fn read(path: &Utf8Path) -> Result<Vec<HistoryRecord>, ErrorKind> {
    let bytes = match crate::fsio::read_regular(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read history", path)(e)),
    };
    // A last line without its newline was torn by a crash mid-append: it was
    // never part of the history.
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return Ok(Vec::new());
    };
    let damaged = |line: usize, message: String| ErrorKind::Damaged {
        path: path.to_owned(),
        line,
        message,
    };
    let mut records = Vec::new();
    for (i, line) in bytes[..end].split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line).map_err(|e| {
            damaged(
                i + 1,
                format!("not UTF-8 (byte {} of the line)", e.valid_up_to()),
            )
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: HistoryRecord =
            serde_json::from_str(line).map_err(|e| damaged(i + 1, e.to_string()))?;
        record
            .contained()
            .map_err(|message| damaged(i + 1, message))?;
        records.push(record);
    }
    Ok(records)
}

/// An applied step whose source changed after it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EditedStep {
    /// The step's id.
    pub step: &'static str,
    /// The version it reads.
    pub from: u32,
    /// The version it writes.
    pub to: u32,
    /// Its checksum when it was last applied.
    pub applied: String,
    /// Its checksum now.
    pub now: &'static str,
}

impl std::fmt::Display for EditedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step `{}` (v{} → v{}) was edited after it was applied (applied as {}, now {})",
            self.step, self.from, self.to, self.applied, self.now
        )
    }
}

/// The steps up to `version` (those a store at that version has applied)
/// whose checksum now differs from the one recorded when each was last
/// applied. Checksums of another algorithm than this program's are not
/// compared: they cannot say whether the source changed.
pub fn edited_since_applied(
    history: &[HistoryRecord],
    steps: &[crate::chain::StepMeta],
    version: Option<u32>,
) -> Vec<EditedStep> {
    let Some(version) = version else {
        return Vec::new();
    };
    let algorithm = |sum: &str| sum.rsplit_once(':').map(|(algo, _)| algo.to_owned());
    steps
        .iter()
        .filter(|step| step.to <= version)
        .filter_map(|step| {
            let applied = history
                .iter()
                .rev()
                .find(|r| r.applied_a_step() && r.step.as_deref() == Some(step.id))?;
            let sum = applied.checksum.as_deref()?;
            (sum != step.checksum && algorithm(sum) == algorithm(step.checksum)).then(|| {
                EditedStep {
                    step: step.id,
                    from: step.from,
                    to: step.to,
                    applied: sum.to_owned(),
                    now: step.checksum,
                }
            })
        })
        .collect()
}

/// A run still in effect: not undone by a restore or by `down` steps.
pub(crate) struct LiveRun {
    pub run_id: String,
    /// The snapshot taken before it.
    pub snapshot: String,
    /// The version it started from.
    pub from: u32,
    /// The paths it brought into the store.
    pub created: Vec<String>,
    /// The folders it added to the store.
    pub created_folders: Vec<String>,
    /// The store's stamp before it.
    pub stamp_before: Option<u32>,
}

/// The runs still in effect, oldest first. A restore undoes the run whose
/// snapshot it restored and every later one; `down` steps back to version
/// `to` undo the runs that started at or above it. Runs of `down` steps
/// count as runs too (their snapshot undoes them); records without a
/// snapshot are left out.
pub(crate) fn live_runs(records: &[HistoryRecord]) -> Vec<LiveRun> {
    let mut live: Vec<LiveRun> = Vec::new();
    for record in records {
        let Some(snapshot) = &record.snapshot else {
            // A run without a snapshot (every step said `backup_required =
            // false`) is undone by restoring an earlier run's snapshot: the
            // paths it created go with that run's.
            if record.applied_a_step()
                && let Some(last) = live.last_mut()
            {
                last.created.extend(record.created_paths.iter().cloned());
                (last.created_folders).extend(record.created_folders.iter().cloned());
            }
            continue;
        };
        if let Some(last) = live.last_mut()
            && last.run_id == record.run_id
        {
            last.created.extend(record.created_paths.iter().cloned());
            (last.created_folders).extend(record.created_folders.iter().cloned());
            continue;
        }
        match (record.outcome, &record.step) {
            (Outcome::RolledBack, None) => {
                if let Some(at) = live.iter().position(|l| &l.snapshot == snapshot) {
                    live.truncate(at);
                }
                continue;
            }
            (Outcome::RolledBack, Some(_)) => live.retain(|l| l.from < record.to),
            _ => {}
        }
        live.push(LiveRun {
            run_id: record.run_id.clone(),
            snapshot: snapshot.clone(),
            from: record.from,
            created: record.created_paths.clone(),
            created_folders: record.created_folders.clone(),
            stamp_before: record.stamp_before,
        });
    }
    live
}

/// The snapshot taken before the last run still in effect.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) fn last_live_snapshot(records: &[HistoryRecord]) -> Result<String, ErrorKind> {
    live_runs(records)
        .pop()
        .map(|l| l.snapshot)
        .ok_or_else(|| ErrorKind::NoSnapshot("the history has no applied run to undo".to_owned()))
}

/// Records in the history at `path` that recovery gave up the commit of
/// run `run_id` (`lines` are the ones its journal would have recorded):
/// each step as abandoned, with `cause`, and without a snapshot to undo.
/// Done once, even if recovery is interrupted and repeated.
pub(crate) fn record_abandoned(
    path: &Utf8Path,
    run_id: &str,
    lines: &[String],
    cause: &str,
) -> Result<(), ErrorKind> {
    if read(path)?.iter().any(|r| r.run_id == run_id) {
        return Ok(());
    }
    let lines = abandoned_lines(lines, cause);
    crate::fsio::append_lines(path, &lines).map_err(io("append to", path))
}

fn abandoned_lines(lines: &[String], cause: &str) -> Vec<String> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<HistoryRecord>(line).ok())
        .map(|mut record| {
            record.outcome = Outcome::Abandoned;
            record.snapshot = None;
            record.description = format!(
                "GIVEN UP BY RECOVERY ({cause}); the store stayed as it was before this run; {}",
                record.description
            );
            serde_json::to_string(&record).unwrap_or_default()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// A history line of a commit that recovery finished: an applied step is
/// recorded as recovered.
pub(crate) fn recovered_line(line: &str) -> String {
    match serde_json::from_str::<HistoryRecord>(line) {
        Ok(mut record) if record.outcome == Outcome::Applied => {
            record.outcome = Outcome::Recovered;
            serde_json::to_string(&record).unwrap_or_else(|_| line.to_owned())
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history line: `(run, step or a restore, from, to, outcome, snapshot)`.
    fn line(run: &str, step: Option<&str>, from: u32, to: u32, outcome: Outcome) -> HistoryRecord {
        HistoryRecord {
            run_id: run.to_owned(),
            chain: "c".to_owned(),
            step: step.map(str::to_owned),
            from,
            to,
            description: String::new(),
            checksum: None,
            started: String::new(),
            finished: String::new(),
            duration_ms: 0,
            outcome,
            snapshot: Some(format!("snap-{run}")),
            counts: Counts::default(),
            created_paths: vec![format!("{run}.md")],
            created_folders: Vec::new(),
            stamp_before: Some(from),
            operator_override: false,
            host: String::new(),
            verchain: String::new(),
        }
    }

    fn runs(records: &[HistoryRecord]) -> Vec<String> {
        live_runs(records).into_iter().map(|l| l.run_id).collect()
    }

    #[test]
    fn a_restore_undoes_its_run_and_every_later_one() {
        let mut h = vec![
            line("a", Some("s1"), 1, 2, Outcome::Applied),
            line("b", Some("s2"), 2, 3, Outcome::Applied),
            line("b", Some("s3"), 3, 4, Outcome::Applied),
            line("c", Some("s4"), 4, 5, Outcome::Applied),
        ];
        assert_eq!(runs(&h), ["a", "b", "c"]);
        assert_eq!(live_runs(&h)[1].created, ["b.md", "b.md"]);
        let mut restore = line("r", None, 5, 2, Outcome::RolledBack);
        restore.snapshot = Some("snap-b".to_owned());
        h.push(restore);
        assert_eq!(runs(&h), ["a"]);
        assert_eq!(last_live_snapshot(&h).unwrap(), "snap-a");
    }

    #[test]
    fn down_steps_undo_the_runs_that_started_at_or_above_their_target() {
        let h = vec![
            line("a", Some("s1"), 1, 2, Outcome::Applied),
            line("b", Some("s2"), 2, 3, Outcome::Applied),
            line("d", Some("s2"), 3, 2, Outcome::RolledBack),
        ];
        // `d` went back to v2: `b` (from v2) is undone, `d` itself is a run.
        assert_eq!(runs(&h), ["a", "d"]);
        assert_eq!(last_live_snapshot(&h).unwrap(), "snap-d");
    }

    #[test]
    fn an_empty_history_has_nothing_to_undo_and_recovery_marks_applied_lines() {
        assert!(last_live_snapshot(&[]).is_err());
        let applied =
            serde_json::to_string(&line("a", Some("s1"), 1, 2, Outcome::Applied)).unwrap();
        let recovered: HistoryRecord = serde_json::from_str(&recovered_line(&applied)).unwrap();
        assert_eq!(recovered.outcome, Outcome::Recovered);
        assert_eq!(recovered_line("not json"), "not json");
    }
}
