//! The bench's results: medians per scenario, as a table and as JSON with
//! the machine, the commit and the build profile beside them.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::workload::Workload;

/// One run of one scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Peak resident set size, in kB; `None` where it cannot be read.
    pub peak_rss_kb: Option<u64>,
    /// Documents the run changed, as its report says.
    #[serde(default)]
    pub documents: Option<usize>,
    /// The size of what the run wrote: the snapshot, the archive.
    #[serde(default)]
    pub output_bytes: Option<u64>,
}

/// One scenario's medians.
#[derive(Debug, Serialize)]
struct Row {
    scenario: &'static str,
    documents: usize,
    mb: f64,
    median_seconds: f64,
    mb_per_s: Option<f64>,
    docs_per_s: Option<f64>,
    peak_rss_mb: Option<f64>,
    ratio_to_cp: Option<f64>,
    documents_changed: Option<usize>,
    output_mb: Option<f64>,
    samples: Vec<Sample>,
}

/// Everything one bench run found.
pub struct Report {
    timestamp: u64,
    json: serde_json::Value,
    rows: Vec<Row>,
}

/// Scenarios that read no document, for which throughput means nothing.
const READS_NOTHING: &[&str] = &["startup-noop"];

impl Report {
    /// The report of `samples`, per scenario in the order they ran.
    pub fn new(
        git: serde_json::Value,
        vault: &Path,
        workload: &Workload,
        runs: usize,
        samples: Vec<(&'static str, Vec<Sample>)>,
    ) -> Report {
        let mb = workload.bytes as f64 / 1e6;
        let cp = samples
            .iter()
            .find(|(name, _)| *name == "cp -r")
            .map(|(_, s)| median(s.iter().map(|s| s.seconds)));
        let rows: Vec<Row> = samples
            .into_iter()
            .map(|(scenario, samples)| {
                let seconds = median(samples.iter().map(|s| s.seconds));
                let rss: Vec<f64> = samples
                    .iter()
                    .filter_map(|s| s.peak_rss_kb)
                    .map(|kb| kb as f64 * 1024.0 / 1e6)
                    .collect();
                let reads = !READS_NOTHING.contains(&scenario) && seconds > 0.0;
                Row {
                    scenario,
                    documents: workload.notes,
                    mb,
                    median_seconds: seconds,
                    mb_per_s: reads.then(|| mb / seconds),
                    docs_per_s: reads.then(|| workload.notes as f64 / seconds),
                    peak_rss_mb: (!rss.is_empty()).then(|| median(rss.into_iter())),
                    ratio_to_cp: cp.filter(|cp| *cp > 0.0).map(|cp| seconds / cp),
                    documents_changed: samples.first().and_then(|s| s.documents),
                    output_mb: samples
                        .first()
                        .and_then(|s| s.output_bytes)
                        .map(|b| b as f64 / 1e6),
                    samples,
                }
            })
            .collect();
        let timestamp = now();
        let python = python_over_migrate(&rows);
        let json = json!({
            "bench": "folder-store",
            "timestamp": timestamp,
            "units": "MB = 10^6 bytes; seconds are wall time; medians over the runs",
            "workload": {
                "folder": vault.display().to_string(),
                "notes": workload.notes,
                "bytes": workload.bytes,
                "seed": workload.seed,
                "generator": workload.generator,
            },
            "runs": runs,
            "machine": machine(),
            "git": git,
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "scenarios": rows,
            "python_migrator_over_migrate": python,
        });
        Report {
            timestamp,
            json,
            rows,
        }
    }

    /// The table a person reads.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{:<16} {:>9} {:>8} {:>10} {:>9} {:>10} {:>9} {:>8}",
            "scenario", "documents", "MB", "median s", "MB/s", "docs/s", "RSS MB", "× cp -r"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<16} {:>9} {:>8.1} {:>10.3} {:>9} {:>10} {:>9} {:>8}",
                row.scenario,
                row.documents,
                row.mb,
                row.median_seconds,
                opt(row.mb_per_s, 1),
                opt(row.docs_per_s, 0),
                opt(row.peak_rss_mb, 1),
                opt(row.ratio_to_cp, 2),
            );
        }
        if let Some(ratio) = python_over_migrate(&self.rows) {
            let _ = writeln!(
                out,
                "verchain migrate is {ratio:.1}× as fast as the python migrator"
            );
        }
        for row in &self.rows {
            if let Some(output) = row.output_mb {
                let what = if row.scenario == "migrate" {
                    "snapshot"
                } else {
                    "archive"
                };
                let _ = writeln!(out, "{} {what}: {output:.1} MB", row.scenario);
            }
        }
        out
    }

    /// Writes `folder-store-<unix-time>.json` and `folder-store-latest.json`.
    pub fn write(&self, bench_dir: &Path) -> Result<(PathBuf, PathBuf)> {
        save(bench_dir, "folder-store", self.timestamp, &self.json)
    }
}

/// Seconds since the Unix epoch: what names a bench run's JSON file.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes a bench run's `json` as `<bench>-<timestamp>.json`, one file a
/// run to compare runs over time, and as `<bench>-latest.json`; returns
/// both paths.
pub fn save(
    bench_dir: &Path,
    bench: &str,
    timestamp: u64,
    json: &serde_json::Value,
) -> Result<(PathBuf, PathBuf)> {
    let text = serde_json::to_string_pretty(json)? + "\n";
    let stamped = bench_dir.join(format!("{bench}-{timestamp}.json"));
    let latest = bench_dir.join(format!("{bench}-latest.json"));
    for path in [&stamped, &latest] {
        fs::write(path, &text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok((stamped, latest))
}

/// Writes the JSON of a database bench (`bench`: `sqlite`, `postgres`)
/// into target/bench/, with the machine, the commit and the profile beside
/// its workload and scenarios; returns the `-latest.json` path.
pub fn save_database(
    bench: &str,
    peer: &str,
    workload: serde_json::Value,
    runs: usize,
    scenarios: Vec<serde_json::Value>,
) -> Result<PathBuf> {
    let root = super::workspace_root();
    let timestamp = now();
    let json = json!({
        "bench": bench,
        "timestamp": timestamp,
        "units": format!("seconds are wall time; medians over the runs; ratios to {peer}"),
        "workload": workload,
        "runs": runs,
        "machine": machine(),
        "git": git(&root),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "scenarios": scenarios,
    });
    let (_, latest) = save(&root.join("target/bench"), bench, timestamp, &json)?;
    Ok(latest)
}

/// One scenario's medians, for the JSON of a bench of whole runs (the
/// database benches): its median time, its ratio to the peer's and its
/// peak memory, beside every sample.
pub fn scenario(name: &str, samples: &[Sample], peer_seconds: Option<f64>) -> serde_json::Value {
    let seconds = median(samples.iter().map(|s| s.seconds));
    let rss: Vec<f64> = (samples.iter())
        .filter_map(|s| s.peak_rss_kb)
        .map(|kb| kb as f64 / 1e3)
        .collect();
    json!({
        "scenario": name,
        "median_seconds": seconds,
        "ratio_to_peer": peer_seconds.filter(|p| *p > 0.0).map(|p| seconds / p),
        "peak_rss_mb": (!rss.is_empty()).then(|| median(rss.into_iter())),
        "samples": samples,
    })
}

/// The python migrator's median time over verchain migrate's, when both
/// ran.
fn python_over_migrate(rows: &[Row]) -> Option<f64> {
    let median = |name: &str| {
        rows.iter()
            .find(|r| r.scenario == name)
            .map(|r| r.median_seconds)
    };
    let migrate = median("migrate").filter(|m| *m > 0.0)?;
    Some(median("python migrator")? / migrate)
}

/// `value` with `decimals` decimals, or `-`.
pub fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// The median; the mean of the middle two for an even count.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Cores, memory and CPU model, from the standard library and `/proc`.
pub fn machine() -> serde_json::Value {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total_kb: Option<u64> = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned());
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, usize::from),
        "mem_total_kb": mem_total_kb,
        "cpu": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// The commit the bench runs on, and whether the tree has changes.
pub fn git(root: &Path) -> serde_json::Value {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    json!({
        "commit": run(&["rev-parse", "HEAD"]),
        "dirty": run(&["status", "--porcelain"]).map(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
    }
}
