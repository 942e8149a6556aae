//! How commands print: lines for people, one JSON document a line with
//! `--json`.

use camino::Utf8Path;
use serde_json::json;

use crate::chain::{Releases, StepMeta};
use crate::run::{
    ChangeKind, Direction, EditedStep, HistoryRecord, Outcome, PlannedStep, Skipped,
    ValidationFailure,
};
use crate::snapshot::SnapshotInfo;
use crate::{Report, Status};

pub(super) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(text) => outln!("{text}"),
        Err(e) => errln!("error: cannot write JSON: {e}"),
    }
}

/// A migration's or a rollback's report, as the last event of its JSON
/// stream.
pub(super) fn report_json(report: &Report) {
    #[derive(serde::Serialize)]
    struct Last<'a> {
        event: &'static str,
        #[serde(flatten)]
        report: &'a Report,
    }
    print_json(&Last {
        event: "report",
        report,
    });
}

/// A usage error as a JSON event: no chain or stage, since the command
/// never started.
pub(super) fn usage_error_json(message: &str) {
    print_json(&json!({
        "event": "error",
        "chain": null,
        "stage": null,
        "message": message,
        "hint": "`--help` lists the commands and their flags",
        "exit_code": super::EXIT_USAGE,
    }));
}

/// A migration's or a rollback's report.
pub(super) fn report(store: &Utf8Path, report: &Report, releases: &Releases) {
    let versions: Vec<String> = report
        .versions
        .iter()
        .map(|(v, n)| format!("{n} at v{v}"))
        .collect();
    outln!(
        "chain `{}` in {}: {}",
        report.chain,
        shown(store),
        match (report.direction, versions.is_empty()) {
            (Direction::Restore, _) => "restoring a snapshot".to_owned(),
            (_, true) => "no records".to_owned(),
            (_, false) => versions.join(", "),
        }
    );
    if report.plan.is_empty() && report.snapshot.is_none() && report.changes.is_empty() {
        outln!(
            "  nothing to do: already at {}",
            releases.label(report.target)
        );
        return;
    }
    for step in &report.plan {
        let summary = summary(step.description);
        outln!(
            "  v{} → v{}  {:<24} {summary}{}",
            step.from,
            step.to,
            step.id,
            step_flags(step)
        );
        // What the step locked, while the dry run's transaction was open.
        for lock in report.locks.iter().filter(|l| l.step == step.id) {
            outln!("           {lock}");
        }
        if !step.transaction {
            outln!(
                "           runs alone, outside a transaction: the steps before it commit \
                 first, the steps after it in a transaction of their own{}",
                if report.dry_run {
                    "; a dry run does not run it"
                } else {
                    ""
                }
            );
        }
    }
    if report.skips_snapshot {
        outln!("  no snapshot: every step of the plan says backup_required = false");
    }
    let c = &report.counts;
    outln!(
        "  {} changed, {} unchanged, {} created, {} removed, {} failed validation",
        c.changed,
        c.unchanged,
        c.created,
        c.removed,
        report.failures.len()
    );
    if c.quarantined > 0 && report.dry_run {
        outln!(
            "  {} malformed line(s) would be moved, unchanged, to the log's quarantine folder",
            c.quarantined
        );
    } else if c.quarantined > 0 {
        let folder = store.parent().unwrap_or(Utf8Path::new("")).join(format!(
            ".verchain/{}/quarantine/{}/",
            store.file_name().unwrap_or_default(),
            report.run_id
        ));
        outln!(
            "  {} malformed line(s) moved, unchanged, to {folder}",
            c.quarantined
        );
    }
    skipped(&report.skipped);
    for failure in &report.failures {
        outln!("  invalid: {failure}");
    }
    let mut shown = 0;
    for change in &report.changes {
        match (&change.diff, change.kind) {
            (Some(diff), _) => {
                shown += 1;
                out!("{}", paint(diff));
            }
            (None, ChangeKind::Removed) => outln!("  removed {}", change.path),
            (None, _) => {}
        }
    }
    let diffable = report
        .changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Removed)
        .count();
    // None shown is what `--no-diff` asked for.
    if shown > 0 && diffable > shown {
        outln!(
            "  … and {} more diffs (--diff-limit N shows more)",
            diffable - shown
        );
    }
    let at = releases.label(report.target);
    match (&report.snapshot, report.dry_run) {
        (_, true) => outln!("  dry run: nothing was written"),
        (Some(snapshot), false) => outln!("  committed at {at}; snapshot {snapshot}"),
        (None, false) => outln!("  committed at {at}"),
    }
    if !report.requires_restart.is_empty() {
        outln!(
            "  {} restart: {}",
            if report.dry_run {
                "would need to"
            } else {
                "must"
            },
            report.requires_restart.join(", ")
        );
    }
}

/// What a step's attribute says of it beyond its versions, as a plan or a
/// list shows it: `  [breaking; restart api, worker; no backup; ~5m]`.
fn step_flags(step: &PlannedStep) -> String {
    let mut said = Vec::new();
    if step.breaking {
        said.push("BREAKING".to_owned());
    }
    if !step.requires_restart.is_empty() {
        said.push(format!("restart {}", step.requires_restart.join(", ")));
    }
    if !step.backup_required {
        said.push("no backup needed".to_owned());
    }
    if let Some(estimate) = step.estimate {
        said.push(format!("~{}", verchain_core::format_estimate(estimate)));
    }
    match said.is_empty() {
        true => String::new(),
        false => format!("  [{}]", said.join("; ")),
    }
}

/// A store as output names it: a database's URL without its password.
pub(super) fn shown(store: &Utf8Path) -> String {
    #[cfg(feature = "postgres")]
    return crate::postgres::redact(store.as_str());
    #[cfg(not(feature = "postgres"))]
    store.to_string()
}

/// The records the store's settings leave out, the first ones named.
fn skipped(skipped: &[Skipped]) {
    const LISTED: usize = 10;
    for s in skipped.iter().take(LISTED) {
        outln!("  skipped: {}: {}", s.path, s.reason);
    }
    if skipped.len() > LISTED {
        outln!(
            "  … and {} more skipped (`--json` lists them all)",
            skipped.len() - LISTED
        );
    }
}

/// A step's description up to its first blank line, on one line.
fn summary(description: &str) -> String {
    description
        .lines()
        .map(str::trim)
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A unified diff in color when stdout is a terminal that wants color
/// (`NO_COLOR` and `CLICOLOR_FORCE` are honoured).
fn paint(diff: &str) -> String {
    if !console::colors_enabled() {
        return diff.to_owned();
    }
    diff.split_inclusive('\n')
        .map(|line| {
            let (text, end) = match line.strip_suffix('\n') {
                Some(text) => (text, "\n"),
                None => (line, ""),
            };
            let styled = if text.starts_with("+++") || text.starts_with("---") {
                console::style(text).bold()
            } else if text.starts_with('+') {
                console::style(text).green()
            } else if text.starts_with('-') {
                console::style(text).red()
            } else if text.starts_with("@@") {
                console::style(text).cyan()
            } else {
                console::style(text)
            };
            format!("{styled}{end}")
        })
        .collect()
}

/// A store's status.
pub(super) fn status(status: &Status, releases: &Releases, json: bool) {
    if json {
        return print_json(status);
    }
    outln!("chain `{}` in {}", status.chain, shown(&status.store));
    if status.interrupted {
        outln!("  a run was interrupted: the next `migrate` finishes or undoes it first");
    }
    let stamp = match (status.stamp, &status.last_run) {
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
pub(super) fn verify(
    chain: &str,
    store: &Utf8Path,
    checked: usize,
    failures: &[ValidationFailure],
    json: bool,
) {
    if json {
        return print_json(&json!({ "chain": chain, "checked": checked, "failures": failures }));
    }
    outln!(
        "chain `{chain}` in {}: {checked} documents checked, {} invalid",
        shown(store),
        failures.len()
    );
    for failure in failures {
        outln!("  invalid: {failure}");
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

/// `1 file`, `2 files`.
pub(super) fn files(n: usize) -> String {
    match n {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    }
}

/// A size in bytes, kB or MB, whichever reads best.
fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}
