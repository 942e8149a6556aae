//! How the commands that read a store print: `status`, `verify`, `stamp`,
//! `list` and `snapshots`, as lines for people or one JSON document with
//! `--json`.

use camino::Utf8Path;
use serde_json::json;

use super::output::{files, print_json, shown, size, skipped, step_flags, summary};
use crate::Status;
use crate::chain::{Releases, StepMeta};
use crate::run::{EditedStep, HistoryRecord, Outcome, PlannedStep, Verified};
use crate::snapshot::SnapshotInfo;

/// A store's status.
pub(super) fn status(status: &Status, releases: &Releases, json: bool) {
    if json {
        return print_json(status);
    }
    outln!("chain `{}` in {}", status.chain, shown(&status.store));
    if status.interrupted {
        outln!(
            "  a commit or a transaction was interrupted: the next `migrate` finishes or undoes \
             it first; until then what the store holds is not known"
        );
    }
    let stamp = match (status.stamp, &status.last_run) {
        _ if status.interrupted => "unknown until then".to_owned(),
        (Some(v), _) => releases.label(v),
        (None, None) => "none (never migrated)".to_owned(),
        (None, Some(_)) => "none (no run in effect)".to_owned(),
    };
    outln!(
        "  store version {stamp}, chain current {}",
        releases.label(status.current)
    );
    if status.unstamped {
        outln!(
            "  UNSTAMPED: the store holds records and says nothing of its version (verchain has \
             not run on it), so a run would take what says no version to be at the chain's \
             first version; if an earlier release left it at another, record which first: \
             `stamp --version N`"
        );
    }
    let versions: Vec<String> = status
        .versions
        .iter()
        .map(|(v, n)| format!("{n} at v{v}"))
        .collect();
    if !versions.is_empty() {
        outln!("  documents: {}", versions.join(", "));
    }
    const LISTED: usize = 10;
    for problem in status.unreadable.iter().take(LISTED) {
        outln!("  UNREADABLE: {problem}; a run stops here");
    }
    if status.unreadable.len() > LISTED {
        outln!(
            "  … and {} more unreadable (`verify` lists them all)",
            status.unreadable.len() - LISTED
        );
    }
    skipped(&status.skipped);
    for left in &status.leftovers {
        outln!(
            "  left over by a run that never committed: {} ({}); the next run removes it",
            left.path,
            size(left.size)
        );
    }
    if status.pending.is_empty() && status.unreadable.is_empty() && !status.interrupted {
        outln!("  up to date");
    }
    for step in &status.pending {
        outln!(
            "  pending: v{} → {}  {}{}",
            step.from,
            releases.label(step.to),
            step.id,
            step_flags(step)
        );
    }
    if let Some(last) = &status.last_run {
        let outcome = match last.outcome {
            Outcome::Applied => "applied",
            Outcome::RolledBack => "rolled back",
            Outcome::Recovered => "finished after a crash",
            Outcome::Abandoned => "given up by recovery (the store stayed as before it)",
            Outcome::Override => "applied by an operator's override",
            Outcome::Failed => "failed",
            Outcome::Started => "STOPPED during a step that runs outside a transaction",
            Outcome::Stamped => "stamped (the store was built before verchain)",
        };
        let steps = if last.steps.is_empty() {
            String::new()
        } else {
            format!(" ({})", last.steps.join(", "))
        };
        outln!(
            "  last run: {outcome} v{} → {}{steps} at {}{}",
            last.from,
            releases.label(last.to),
            last.finished,
            match (last.operator_override, last.allowed_changed) {
                (true, _) => "  [OPERATOR OVERRIDE: one step run alone with --id]",
                (false, true) => "  [RUN WITH --allow-changed: applied steps had been edited]",
                (false, false) => "",
            }
        );
    }
    if let Some(last) = status
        .last_run
        .as_ref()
        .filter(|l| l.outcome == Outcome::Started)
    {
        outln!(
            "  the run stopped in step `{}`, which runs outside a transaction and may have left \
             part of its work (an index built CONCURRENTLY that failed stays INVALID); check \
             it, then `migrate` runs the step again and goes on",
            last.steps.last().map_or("?", String::as_str)
        );
    }
    for edited in &status.edited_since_applied {
        outln!("  EDITED: {edited}; runs are refused until it is restored (or --allow-changed)");
    }
    outln!("  snapshots: {}", status.snapshots);
}

/// The outcome of `verify`.
pub(super) fn verify(chain: &str, store: &Utf8Path, verified: &Verified, json: bool) {
    let Verified {
        checked,
        invalid,
        failures,
    } = verified;
    if json {
        return print_json(&json!({
            "chain": chain,
            "checked": checked,
            "invalid": invalid,
            "failures": failures,
        }));
    }
    outln!(
        "chain `{chain}` in {}: {checked} documents checked, {invalid} invalid",
        shown(store),
    );
    for failure in failures {
        outln!("  invalid: {failure}");
    }
    if *invalid > failures.len() {
        outln!("  … and {} more", invalid - failures.len());
    }
}

/// A stamp just recorded.
pub(super) fn stamped(
    chain: &str,
    store: &Utf8Path,
    record: &HistoryRecord,
    releases: &Releases,
    json: bool,
) {
    if json {
        return print_json(&json!({
            "chain": chain,
            "store": shown(store),
            "stamp": record.to,
            "run_id": record.run_id,
            "snapshot": record.snapshot,
        }));
    }
    outln!(
        "chain `{chain}`: {} stamped at {}; the next run starts there (history: run {})",
        shown(store),
        releases.label(record.to),
        record.run_id
    );
}

/// A chain's steps; `applied` names the steps the history has applied,
/// `edited` those edited since.
pub(super) fn list(
    chain: &str,
    steps: &[StepMeta],
    releases: &Releases,
    applied: &[&str],
    edited: &[EditedStep],
    json: bool,
) {
    let edited = |step: &StepMeta| edited.iter().any(|e| e.step == step.id);
    let is_applied = |step: &StepMeta| applied.contains(&step.id);
    if json {
        let rows: Vec<_> = steps
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "from": s.from, "to": s.to, "description": s.description,
                    "reversible": s.down.is_some(), "checksum": s.checksum,
                    "applied": is_applied(s), "edited_since_applied": edited(s),
                    "release": releases.name_of(s.to), "breaking": s.breaking,
                    "requires_restart": s.requires_restart,
                    "backup_required": s.backup_required, "estimate": s.estimate_text(),
                })
            })
            .collect();
        let named: Vec<_> = (releases.0.iter())
            .map(|(name, version)| json!({ "name": name, "version": version }))
            .collect();
        return print_json(&json!({ "chain": chain, "steps": rows, "releases": named }));
    }
    outln!("chain `{chain}`: {} steps", steps.len());
    let width = steps.iter().map(|s| s.id.len()).max().unwrap_or(4).max(4);
    outln!(
        "  {:<width$}  {:<7}  {:<10}  {:<22}  description",
        "step",
        "version",
        "reversible",
        "checksum"
    );
    for step in steps {
        let short = step.checksum.get(..22).unwrap_or(step.checksum);
        let summary = summary(step.description);
        let flag = if edited(step) {
            "  [EDITED since it was applied]"
        } else {
            ""
        };
        let release = releases
            .name_of(step.to)
            .map(|name| format!("  [release {name}]"))
            .unwrap_or_default();
        let flags = step_flags(&PlannedStep::of(step, step.from, step.to));
        outln!(
            "  {:<width$}  {:<7}  {:<10}  {short:<22}  {summary}{release}{flags}{flag}",
            step.id,
            format!("{} → {}", step.from, step.to),
            if step.down.is_some() { "yes" } else { "no" },
        );
    }
}

/// A store's snapshots, or the ones pruned.
pub(super) fn snapshots(
    chain: &str,
    store: &Utf8Path,
    list: &[SnapshotInfo],
    pruned: bool,
    json: bool,
) {
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "path": s.path, "size": s.size, "created": s.manifest.created,
                    "from": s.manifest.from_version, "to": s.manifest.to_version,
                    "files": s.manifest.files.len(),
                })
            })
            .collect();
        return print_json(&json!({ "chain": chain, "pruned": pruned, "snapshots": rows }));
    }
    let verb = if pruned { "removed" } else { "kept" };
    outln!(
        "chain `{chain}` in {}: {} snapshot(s) {verb}",
        shown(store),
        list.len()
    );
    for s in list {
        outln!(
            "  {}  v{} → v{}  {}  {}",
            s.id,
            s.manifest.from_version,
            s.manifest.to_version,
            files(s.manifest.files.len()),
            size(s.size)
        );
    }
}
