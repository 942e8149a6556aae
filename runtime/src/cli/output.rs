//! How commands print: lines for people, one JSON document a line with
//! `--json`.

use camino::Utf8Path;
use serde_json::json;

use crate::Report;
use crate::chain::Releases;
use crate::run::{ChangeKind, Direction, PlannedStep, Skipped};

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
        report.failure_total
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
    if report.failure_total > report.failures.len() {
        outln!(
            "  … and {} more",
            report.failure_total - report.failures.len()
        );
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
pub(super) fn step_flags(step: &PlannedStep) -> String {
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
    match store.as_str().contains("://") || store.as_str().contains('=') {
        true => crate::redact::redact(store.as_str()),
        false => store.to_string(),
    }
}

/// The records the store's settings leave out, the first ones named.
pub(super) fn skipped(skipped: &[Skipped]) {
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
pub(super) fn summary(description: &str) -> String {
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

/// `1 file`, `2 files`.
pub(super) fn files(n: usize) -> String {
    match n {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    }
}

/// A size in bytes, kB or MB, whichever reads best.
pub(super) fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}
