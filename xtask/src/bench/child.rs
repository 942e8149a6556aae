//! `cargo xtask bench-child <scenario> <dir>` (hidden): runs one scenario on
//! one store in a process of its own, so that its peak memory is the run's
//! alone, and prints one JSON line: wall time, peak RSS, what it did.

use std::time::Instant;

use anyhow::{Result, bail, ensure};
use notes_example::Notes;
use serde_json::{Value, json};
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::{RollbackTo, RunOptions, Startup, migrate, rollback, run_startup};

/// The scenarios a child runs. `setup-current` brings a store to the
/// chain's current version for `startup-noop`; it is not reported.
pub const SCENARIOS: &[&str] = &[
    "dry-run",
    "migrate",
    "rollback",
    "startup-noop",
    "setup-current",
    "log-dry-run",
    "log-migrate",
    "log-migrate-zstd",
    "log-rollback",
    "postgres-migrate",
    "postgres-migrate-no-diff",
];

/// Runs `bench-child <scenario> <dir>` and prints its JSON line.
pub fn run(args: &[String]) -> Result<()> {
    if let [scenario, url, snapshots] = args
        && scenario.starts_with("postgres-migrate")
    {
        return postgres_migrate(scenario, url, snapshots);
    }
    let [scenario, dir] = args else {
        bail!(
            "usage: cargo xtask bench-child <scenario> <dir> (run by `cargo xtask bench`); \
             scenarios: {}",
            SCENARIOS.join(", ")
        );
    };
    let start = Instant::now();
    let outcome = if scenario.starts_with("log-") {
        log_run(scenario, &LogStore::new(dir.clone()))?
    } else {
        scenario_run(scenario, &FolderStore::new(dir.clone()))?
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut line = json!({
        "scenario": scenario,
        "seconds": seconds,
        "peak_rss_kb": peak_rss_kb("self"),
    });
    if let (Value::Object(line), Value::Object(outcome)) = (&mut line, outcome) {
        line.extend(outcome);
    }
    println!("{line}");
    Ok(())
}

/// Runs the scenario, then checks that it did what it should (a run that
/// did something else would measure the wrong thing); the checks are on
/// counts, never on time.
fn scenario_run(scenario: &str, store: &FolderStore) -> Result<Value> {
    match scenario {
        "dry-run" => {
            let options = RunOptions {
                target: Some(3),
                dry_run: true,
                diff_limit: 20,
                ..RunOptions::default()
            };
            let report = migrate::<Notes>(store, &options)?;
            ensure!(
                report.failures.is_empty(),
                "dry run: {} validation failures, first: {:?}",
                report.failures.len(),
                report.failures.first()
            );
            Ok(json!({ "documents": report.counts.changed }))
        }
        "migrate" | "setup-current" => {
            let target = if scenario == "migrate" { 3 } else { 4 };
            let options = RunOptions {
                target: Some(target),
                diff_limit: 0,
                ..RunOptions::default()
            };
            let report = migrate::<Notes>(store, &options)?;
            // The archive's size alone: listing the snapshots would read
            // every manifest, which is not the run's memory.
            let snapshot_bytes = (report.snapshot.as_ref())
                .map(|id| verchain::snapshot::path_of(&store.snapshot_dir(), id))
                .and_then(|path| std::fs::metadata(path).ok())
                .map(|meta| meta.len());
            Ok(json!({ "documents": report.counts.changed, "output_bytes": snapshot_bytes }))
        }
        "rollback" => {
            let report = rollback::<Notes>(store, &RollbackTo::LastRun, &RunOptions::default())?;
            Ok(json!({ "documents": report.counts.changed }))
        }
        "startup-noop" => match run_startup::<Notes>(store)? {
            Startup::UpToDate { .. } => Ok(json!({ "documents": 0 })),
            Startup::Migrated(report) => bail!(
                "startup-noop: the store was not current; {} documents were migrated",
                report.counts.changed
            ),
        },
        other => bail!(
            "unknown scenario `{other}`; scenarios: {}",
            SCENARIOS.join(", ")
        ),
    }
}

/// Runs a scenario of the log workload on the log at the store's path,
/// checking (on counts) that it did what it should.
fn log_run(scenario: &str, store: &LogStore) -> Result<Value> {
    use audit_example::Audit;
    match scenario {
        "log-dry-run" => {
            let options = RunOptions {
                dry_run: true,
                diff_limit: 20,
                ..RunOptions::default()
            };
            let report = verchain::migrate::<Audit>(store, &options)?;
            ensure!(
                report.failures.is_empty() && report.counts.changed > 0,
                "dry run: {} failures, {} records changed",
                report.failures.len(),
                report.counts.changed
            );
            Ok(json!({ "documents": report.counts.changed }))
        }
        "log-migrate" | "log-migrate-zstd" => {
            let compressed = scenario == "log-migrate-zstd";
            let store = store.clone().compress_snapshots(compressed);
            let options = RunOptions {
                diff_limit: 0,
                ..RunOptions::default()
            };
            let report = verchain::migrate::<Audit>(&store, &options)?;
            ensure!(
                report.counts.changed > 0,
                "migrate: no record changed; was the log already migrated?"
            );
            let snapshot_bytes = verchain::snapshots(&store)?
                .iter()
                .find(|s| Some(&s.id) == report.snapshot.as_ref())
                .map(|s| s.size)
                .filter(|_| compressed);
            Ok(json!({ "documents": report.counts.changed, "output_bytes": snapshot_bytes }))
        }
        "log-rollback" => {
            let report =
                verchain::rollback::<Audit>(store, &RollbackTo::LastRun, &RunOptions::default())?;
            Ok(json!({ "documents": report.counts.changed }))
        }
        other => bail!(
            "unknown scenario `{other}`; scenarios: {}",
            SCENARIOS.join(", ")
        ),
    }
}

/// `VmHWM` (peak resident set size, in kB) of a process (`self` or a pid)
/// from `/proc`; `None` where there is no `/proc`, or once the process has
/// exited.
pub fn peak_rss_kb(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `postgres-migrate <url> <snapshots>`: the `forms` chain to its current
/// version on the database at `url`, its snapshot in `snapshots`.
fn postgres_migrate(scenario: &str, url: &str, snapshots: &str) -> Result<()> {
    let start = Instant::now();
    let store =
        verchain::postgres::PostgresStore::new(url)?.snapshots_in(camino::Utf8Path::new(snapshots));
    // `--no-diff`: the report compares no rows, as a deployment that
    // reviewed the dry run's diffs runs it.
    let mut options = RunOptions::default();
    if scenario.ends_with("no-diff") {
        options.diff_limit = 0;
    }
    let report = migrate::<forms_example::Forms>(&store, &options)?;
    let seconds = start.elapsed().as_secs_f64();
    ensure!(
        report.target == 5 && report.snapshot.is_some(),
        "the run ended at v{} with snapshot {:?}",
        report.target,
        report.snapshot
    );
    let line = json!({
        "scenario": scenario,
        "seconds": seconds,
        "peak_rss_kb": peak_rss_kb("self"),
        "documents": report.counts.changed,
    });
    println!("{line}");
    Ok(())
}
