//! The history: one JSON line per applied step or rollback, appended to
//! `.verchain/history.jsonl` and never rewritten.

use std::fs;
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

/// Reads every record of the history at `path` (none if it does not exist).
pub fn read(path: &Utf8Path) -> Result<Vec<HistoryRecord>, ErrorKind> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read history", path)(e)),
    };
    // A last line without its newline was torn by a crash mid-append: it was
    // never part of the history.
    let whole = text.rfind('\n').map_or("", |i| &text[..=i]);
    whole
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| ErrorKind::Damaged {
                path: path.to_owned(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
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
    steps: &[crate::StepMeta],
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
            let applied = history.iter().rev().find(|r| {
                r.step.as_deref() == Some(step.id)
                    && matches!(r.outcome, Outcome::Applied | Outcome::Recovered)
            })?;
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
