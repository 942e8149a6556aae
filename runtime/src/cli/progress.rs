//! What a run shows while it works: progress bars on a terminal, plain
//! lines otherwise, or one JSON event a line with `--json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::Audit;
use crate::{AuditEvent, Event, Observer, Stage};

/// How much a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verbosity {
    /// Errors only.
    Quiet,
    /// The report, and progress as stages begin and end.
    Normal,
    /// Also each step's counts and progress every tenth.
    Verbose,
}

/// The observer for a migration or rollback.
pub(super) fn observer(json: bool, verbosity: Verbosity) -> Option<Observer> {
    if json {
        let last = Mutex::new(None::<Instant>);
        return Some(Observer::new(move |event| json_event(event, &last)));
    }
    match verbosity {
        Verbosity::Quiet => None,
        _ if std::io::stderr().is_terminal() => {
            let bars = Bars {
                bar: Mutex::new(None),
                verbose: verbosity == Verbosity::Verbose,
            };
            Some(Observer::new(move |event| bars.show(event)))
        }
        _ => {
            let verbose = verbosity == Verbosity::Verbose;
            let tenth = Mutex::new(0);
            Some(Observer::new(move |event| plain(event, verbose, &tenth)))
        }
    }
}

/// What shows the run's audit events (with `-v`): a line each on stderr,
/// or with `--json` an `audit` event on stdout.
pub(super) fn audit(json: bool, verbosity: Verbosity) -> Option<Audit> {
    if verbosity != Verbosity::Verbose {
        return None;
    }
    if json {
        return Some(Audit::new(|event: &AuditEvent| {
            #[derive(serde::Serialize)]
            struct Line<'a> {
                event: &'static str,
                #[serde(flatten)]
                audit: &'a AuditEvent,
            }
            super::output::print_json(&Line {
                event: "audit",
                audit: event,
            });
        }));
    }
    Some(Audit::new(|event: &AuditEvent| errln!("audit: {event}")))
}

/// One JSON object a line on stdout; progress at most ten times a second
/// (and always its last event).
fn json_event(event: &Event, last: &Mutex<Option<Instant>>) {
    if let Event::Progress { done, total, .. } | Event::BatchProgress { done, total, .. } = event
        && done < total
        && *done > 0
    {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        *last = Some(Instant::now());
    }
    super::output::print_json(event);
}

/// What every mode says of an event, when it says anything.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            chain,
            from,
            to,
            records,
            dry_run,
            ..
        } => format!(
            "{}chain `{chain}`: {records} record{}, {} → v{to}",
            if *dry_run { "dry run: " } else { "" },
            if *records == 1 { "" } else { "s" },
            from.map_or_else(|| "unversioned".to_owned(), |v| format!("v{v}")),
        ),
        Event::StepFinished {
            step,
            from,
            to,
            counts,
        } => format!(
            "step {step} (v{from} → v{to}): {} changed, {} unchanged, {} created, {} removed",
            counts.changed, counts.unchanged, counts.created, counts.removed
        ),
        Event::SnapshotWritten { id, files } => {
            format!("snapshot {id} written ({})", super::output::files(*files))
        }
        Event::Committed { version, counts } => format!(
            "committed at v{version}: {} changed, {} created, {} removed",
            counts.changed, counts.created, counts.removed
        ),
        Event::RolledBack { snapshot, .. } => format!("restored snapshot {snapshot}"),
        _ => return None,
    })
}

/// Plain lines on stderr, for logs and pipes.
fn plain(event: &Event, verbose: bool, tenth: &Mutex<usize>) {
    match event {
        Event::StageStarted { stage, total } => {
            *tenth.lock().unwrap_or_else(|e| e.into_inner()) = 0;
            errln!("{stage}: {total} to go");
        }
        Event::Progress { stage, done, total } if verbose && *total > 0 => {
            let now = done * 10 / total;
            let mut seen = tenth.lock().unwrap_or_else(|e| e.into_inner());
            if now > *seen {
                *seen = now;
                errln!("{stage}: {done}/{total}");
            }
        }
        Event::BatchProgress {
            step,
            table,
            done,
            total,
        } => {
            let mut seen = tenth.lock().unwrap_or_else(|e| e.into_inner());
            if *done == 0 {
                *seen = 0;
                errln!("step {step}: `{table}`, {total} rows in batches");
            } else if verbose && *total > 0 && done * 10 / total > *seen {
                *seen = done * 10 / total;
                errln!("step {step}: `{table}` {done}/{total} rows");
            }
        }
        Event::StepFinished { .. } if !verbose => {}
        _ => {
            if let Some(line) = describe(event) {
                errln!("{line}");
            }
        }
    }
}

/// A bar per stage on stderr, for people at a terminal.
struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    verbose: bool,
}

impl Bars {
    fn show(&self, event: &Event) {
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::StageStarted { stage, total } => {
                if let Some(old) = bar.take() {
                    old.finish_and_clear();
                }
                *bar = Some(new_bar(*stage, *total));
            }
            Event::Progress { done, .. } => {
                if let Some(bar) = bar.as_ref() {
                    bar.set_position(*done as u64);
                }
            }
            Event::BatchProgress {
                table, done, total, ..
            } => {
                // A walk through a table has a bar of its own, in rows.
                let walking = bar
                    .as_ref()
                    .is_some_and(|b| b.prefix() == *table && b.length() == Some(*total as u64));
                if *done == 0 || !walking {
                    if let Some(old) = bar.take() {
                        old.finish_and_clear();
                    }
                    let rows = new_bar(Stage::Stage, *total);
                    rows.set_prefix(table.clone());
                    *bar = Some(rows);
                }
                if let Some(bar) = bar.as_ref() {
                    bar.set_position(*done as u64);
                }
            }
            Event::StepFinished { .. } if !self.verbose => {}
            Event::Committed { .. } | Event::RolledBack { .. } | Event::SnapshotWritten { .. } => {
                if let Some(old) = bar.take() {
                    old.finish_and_clear();
                }
                if let Some(line) = describe(event) {
                    errln!("{line}");
                }
            }
            _ => {
                if let Some(line) = describe(event) {
                    match bar.as_ref() {
                        Some(bar) => bar.println(line),
                        None => errln!("{line}"),
                    }
                }
            }
        }
    }
}

fn new_bar(stage: Stage, total: usize) -> ProgressBar {
    // Archiving reports no progress of its own: a spinner shows it is alive.
    if stage == Stage::Snapshot {
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>8} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_prefix(stage.to_string());
        spinner.set_message(format!("archiving {total} files"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        return spinner;
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:32}] {human_pos}/{human_len} ({percent}%) eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(stage.to_string());
    bar
}
