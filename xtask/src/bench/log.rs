//! The log workload of `cargo xtask bench`: a generated audit log at
//! version 1 of the example `Audit` chain, migrated to version 3 by
//! verchain and, where installed, by the tools a user would pick instead
//! (`jq -c`, a plain Python loop), with `cp` as the floor and `tar czf` /
//! `tar --zstd` beside verchain's snapshots.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::report::{Sample, machine, median, opt};
use super::{external, in_child, tar_has_zstd, workload::remove_dir_if_present};

/// Bumped whenever the generator's output changes.
const GENERATOR: u32 = 1;

/// The v1 → v3 transform of the example chain, as `jq` says it.
const JQ_PROGRAM: &str =
    r#"with_entries(if .key == "actor" then .key = "user" else . end) | .severity //= "info""#;

/// The same transform as a plain Python loop.
const PYTHON_PROGRAM: &str = r#"
import json, sys
out = sys.stdout
out.write('{"_meta":{"schema_version":3,"log":"audit"}}\n')
for line in sys.stdin:
    record = json.loads(line)
    record = {("user" if k == "actor" else k): v for k, v in record.items()}
    record.setdefault("severity", "info")
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")
"#;

/// A generated log on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogWorkload {
    /// The generator version that wrote it.
    pub generator: u32,
    /// The seed.
    pub seed: u64,
    /// The size asked for, in MiB.
    pub mib: u64,
    /// Records in it.
    pub records: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The log of about `mib` MiB under `bench_dir`, generated unless its
/// marker matches.
pub fn ensure(bench_dir: &Path, mib: u64, seed: u64) -> Result<(PathBuf, LogWorkload)> {
    let path = bench_dir.join(format!("audit-{mib}m.jsonl"));
    let marker = bench_dir.join(format!("audit-{mib}m.json"));
    let found: Option<LogWorkload> = fs::read_to_string(&marker)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(found) = found
        && found.generator == GENERATOR
        && found.seed == seed
        && found.mib == mib
        && fs::metadata(&path).is_ok_and(|m| m.len() == found.bytes)
    {
        eprintln!(
            "bench: reusing {} ({} records, {:.1} MB)",
            path.display(),
            found.records,
            found.bytes as f64 / 1e6
        );
        return Ok((path, found));
    }
    eprintln!(
        "bench: generating {} ({mib} MiB, seed {seed})",
        path.display()
    );
    let _ = fs::remove_file(&marker);
    let temp = bench_dir.join(format!("audit-{mib}m.jsonl.tmp"));
    let (records, bytes) = generate(&temp, mib << 20, seed)?;
    fs::rename(&temp, &path).with_context(|| format!("rename {}", temp.display()))?;
    let workload = LogWorkload {
        generator: GENERATOR,
        seed,
        mib,
        records,
        bytes,
    };
    fs::write(&marker, serde_json::to_string_pretty(&workload)? + "\n")
        .with_context(|| format!("write {}", marker.display()))?;
    Ok((path, workload))
}

/// Writes records until the file holds at least `size` bytes; returns the
/// records and bytes written.
pub fn generate(path: &Path, size: u64, seed: u64) -> Result<(u64, u64)> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(seed);
    let mut bytes = 0u64;
    let mut records = 0u64;
    let mut line = String::with_capacity(4096);
    while bytes < size {
        line.clear();
        record(&mut rng, records, &mut line);
        out.write_all(line.as_bytes())
            .with_context(|| format!("write {}", path.display()))?;
        bytes += line.len() as u64;
        records += 1;
    }
    out.flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok((records, bytes))
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const ACTIONS: &[&str] = &[
    "login",
    "logout",
    "document.create",
    "document.update",
    "document.delete",
    "comment.add",
    "export",
    "settings.change",
    "share.grant",
    "share.revoke",
];

const NAMES: &[&str] = &[
    "ana", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo",
];

const UNICODE_NAMES: &[&str] = &["José Ñúñez", "日本語のユーザー", "Ελένη", "Zoë 🚀"];

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "curl/8.5.0",
    "audit-sync/2.3 (+https://example.com/bot)",
];

/// One version 1 record, with its newline.
fn record(rng: &mut Rng, i: u64, out: &mut String) {
    let secs = 1_714_550_400 + i / 4;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let day = 1 + (secs / 86_400) % 28;
    let _ = write!(
        out,
        "{{\"ts\":\"2024-05-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z\"",
        rng.below(1000)
    );
    match rng.below(100) {
        0..=1 => {}
        2..=4 => {
            let _ = write!(out, ",\"actor\":\"{}\"", rng.pick(UNICODE_NAMES));
        }
        _ => {
            let _ = write!(
                out,
                ",\"actor\":\"{}-{}\"",
                rng.pick(NAMES),
                rng.below(10_000)
            );
        }
    }
    let action = rng.pick(ACTIONS);
    let _ = write!(
        out,
        ",\"action\":\"{action}\",\"target\":{{\"type\":\"document\",\"id\":\"doc-{}\"}}",
        rng.below(1_000_000)
    );
    let _ = write!(
        out,
        ",\"ip\":\"203.0.{}.{}\",\"request_id\":\"{:016x}\"",
        rng.below(256),
        rng.below(256),
        rng.next()
    );
    if rng.below(100) < 60 {
        let _ = write!(out, ",\"user_agent\":\"{}\"", rng.pick(AGENTS));
    }
    if rng.below(100) < 5 {
        let _ = write!(
            out,
            ",\"severity\":\"{}\"",
            rng.pick(&["warn", "error", "info"])
        );
    }
    let _ = write!(
        out,
        ",\"details\":{{\"fields\":[\"title\",\"tags\"],\"bytes\":{},\"ok\":{},\"ratio\":{}.{:02}",
        rng.below(100_000),
        rng.below(10) > 0,
        rng.below(10),
        rng.below(100)
    );
    if rng.below(100) == 0 {
        let words = 200 + rng.below(400);
        out.push_str(",\"note\":\"");
        for w in 0..words {
            if w > 0 {
                out.push(' ');
            }
            out.push_str(rng.pick(&[
                "lorem",
                "ipsum",
                "dolor",
                "sit",
                "amet",
                "café",
                "\\\"q\\\"",
            ]));
        }
        out.push('"');
    }
    out.push_str("}}\n");
}

/// One scenario's medians.
#[derive(Debug, Serialize)]
struct Row {
    log: String,
    scenario: String,
    mb: f64,
    median_seconds: f64,
    mb_per_s: f64,
    peak_rss_mb: Option<f64>,
    ratio_to_verchain: Option<f64>,
    output_mb: Option<f64>,
    samples: Vec<Sample>,
}

/// Which tools are here.
struct Tools {
    jq: bool,
    python: bool,
    tar_zstd: bool,
}

fn installed(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the log workload for each size; returns the table and the JSON.
pub fn run(
    bench_dir: &Path,
    exe: &Path,
    sizes: &[u64],
    runs: usize,
    slow_runs: usize,
    seed: u64,
    git: &serde_json::Value,
) -> Result<(String, PathBuf)> {
    let tools = Tools {
        jq: installed("jq", "--version"),
        python: installed("python3", "--version"),
        tar_zstd: tar_has_zstd(),
    };
    let work = bench_dir.join("log-work");
    remove_dir_if_present(&work)?;
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let mut rows = Vec::new();
    let mut workloads = Vec::new();
    for &mib in sizes {
        let (log, workload) = ensure(bench_dir, mib, seed)?;
        rows.extend(run_size(
            &work, exe, &log, &workload, runs, slow_runs, &tools,
        )?);
        workloads.push(workload);
    }
    remove_dir_if_present(&work)?;
    let table = table(&rows, &tools);
    let timestamp = super::report::now();
    let json = json!({
        "bench": "log-store",
        "timestamp": timestamp,
        "units": "MB = 10^6 bytes of the input log; seconds are wall time; medians over the runs",
        "workloads": workloads,
        "transform": "audit v1 -> v3: a header line, `actor` renamed `user`, `severity` defaults to `info`",
        "jq_program": JQ_PROGRAM,
        "runs": runs,
        "slow_runs": slow_runs,
        "machine": machine(),
        "git": git,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "tools": { "jq": tools.jq, "python3": tools.python, "tar_zstd": tools.tar_zstd },
        "scenarios": rows,
    });
    let (_, latest) = super::report::save(bench_dir, "log-store", timestamp, &json)?;
    Ok((table, latest))
}

fn run_size(
    work: &Path,
    exe: &Path,
    log: &Path,
    workload: &LogWorkload,
    runs: usize,
    slow_runs: usize,
    tools: &Tools,
) -> Result<Vec<Row>> {
    let name = format!("{} MiB", workload.mib);
    let mut samples: Vec<(&'static str, Vec<Sample>)> = Vec::new();
    let mut push =
        |name: &'static str, sample: Sample| match samples.iter_mut().find(|(n, _)| *n == name) {
            Some((_, list)) => list.push(sample),
            None => samples.push((name, vec![sample])),
        };
    let dir = work.join("log");
    let copy = dir.join("audit.jsonl");
    let out = work.join("out.jsonl");
    for run in 1..=runs {
        let step = |what: &str| eprintln!("bench: {name}, run {run}/{runs}: {what}");
        remove_dir_if_present(&dir)?;
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        // `cp` is the floor, and its copy is the fresh log of this run.
        step("cp");
        push("cp", external(Command::new("cp").arg(log).arg(&copy))?);
        step("verchain dry run");
        push("verchain dry-run", in_child(exe, "log-dry-run", &copy)?);
        step("verchain migrate");
        push("verchain migrate", in_child(exe, "log-migrate", &copy)?);
        step("verchain rollback");
        push("verchain rollback", in_child(exe, "log-rollback", &copy)?);
        step("verchain migrate, zstd snapshot");
        push(
            "verchain migrate+zstd snap",
            in_child(exe, "log-migrate-zstd", &copy)?,
        );
        remove_dir_if_present(&dir)?;
        step("cp + fsync");
        let out_copy = work.join("copy.jsonl");
        push(
            "cp + fsync (durable)",
            external(
                Command::new("sh")
                    .arg("-c")
                    .arg("cp \"$1\" \"$2\" && sync \"$2\"")
                    .arg("sh")
                    .arg(log)
                    .arg(&out_copy),
            )?,
        );
        let _ = fs::remove_file(&out_copy);
        let slow = run <= slow_runs;
        if tools.jq && slow {
            step("jq -c");
            let script = format!(
                "(echo '{{\"_meta\":{{\"schema_version\":3,\"log\":\"audit\"}}}}'; jq -c '{JQ_PROGRAM}' \"$1\") > \"$2\""
            );
            push(
                "jq -c",
                external(
                    Command::new("sh")
                        .arg("-c")
                        .arg(script)
                        .arg("sh")
                        .arg(log)
                        .arg(&out),
                )?,
            );
        }
        if tools.python && slow {
            step("python3 loop");
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg("python3 -c \"$0\" < \"$1\" > \"$2\"")
                .arg(PYTHON_PROGRAM)
                .arg(log)
                .arg(&out);
            push("python3 loop", external(&mut command)?);
        }
        let _ = fs::remove_file(&out);
        let archive = work.join("log.tar");
        step("tar czf");
        let mut sample = external(
            Command::new("tar")
                .arg("czf")
                .arg(&archive)
                .arg("-C")
                .arg(log.parent().unwrap_or(Path::new(".")))
                .arg(log.file_name().unwrap_or_default()),
        )?;
        sample.output_bytes = fs::metadata(&archive).ok().map(|m| m.len());
        push("tar czf (snapshot)", sample);
        if tools.tar_zstd {
            step("tar --zstd");
            let mut sample = external(
                Command::new("tar")
                    .arg("--zstd")
                    .arg("-cf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(log.parent().unwrap_or(Path::new(".")))
                    .arg(log.file_name().unwrap_or_default()),
            )?;
            sample.output_bytes = fs::metadata(&archive).ok().map(|m| m.len());
            push("tar --zstd (snapshot)", sample);
        }
        let _ = fs::remove_file(&archive);
    }
    let mb = workload.bytes as f64 / 1e6;
    let verchain = samples
        .iter()
        .find(|(n, _)| *n == "verchain migrate")
        .map(|(_, s)| median(s.iter().map(|s| s.seconds)));
    Ok(samples
        .into_iter()
        .map(|(scenario, samples)| {
            let seconds = median(samples.iter().map(|s| s.seconds));
            let rss: Vec<f64> = samples
                .iter()
                .filter_map(|s| s.peak_rss_kb)
                .map(|kb| kb as f64 * 1024.0 / 1e6)
                .collect();
            Row {
                log: name.clone(),
                scenario: scenario.to_owned(),
                mb,
                median_seconds: seconds,
                mb_per_s: mb / seconds,
                peak_rss_mb: (!rss.is_empty()).then(|| median(rss.into_iter())),
                ratio_to_verchain: verchain.filter(|v| *v > 0.0).map(|v| seconds / v),
                output_mb: samples
                    .first()
                    .and_then(|s| s.output_bytes)
                    .map(|b| b as f64 / 1e6),
                samples,
            }
        })
        .collect())
}

fn table(rows: &[Row], tools: &Tools) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<9} {:<27} {:>8} {:>9} {:>8} {:>8} {:>12} {:>9}",
        "log", "scenario", "MB", "median s", "MB/s", "RSS MB", "× verchain", "output MB"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<9} {:<27} {:>8.1} {:>9.3} {:>8.1} {:>8} {:>12} {:>9}",
            row.log,
            row.scenario,
            row.mb,
            row.median_seconds,
            row.mb_per_s,
            opt(row.peak_rss_mb, 1),
            opt(row.ratio_to_verchain, 2),
            opt(row.output_mb, 1),
        );
    }
    let missing: Vec<&str> = [
        (!tools.jq).then_some("jq"),
        (!tools.python).then_some("python3"),
        (!tools.tar_zstd).then_some("tar --zstd"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "not installed, not measured: {}", missing.join(", "));
    }
    let _ = writeln!(
        out,
        "× verchain: median time over verchain migrate's (above 1: slower than verchain).\n\
         verchain migrate = read, transform, validate, write, fsync, rename, snapshot (the old \
         file, hard-linked);\n\
         `migrate+zstd snap` keeps a zstd copy of the old file instead, to compare with tar;\n\
         `cp + fsync` is the floor for a copy that is on disk when it returns, as verchain's is."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_logs_are_deterministic_version_1_records() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let b = dir.path().join("b.jsonl");
        let (records, bytes) = generate(&a, 200_000, 7).unwrap();
        generate(&b, 200_000, 7).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        assert!(
            bytes >= 200_000 && records > 100,
            "{records} records, {bytes} bytes"
        );
        let text = fs::read_to_string(&a).unwrap();
        for line in text.lines() {
            let record = verchain::log::LogRecord::parse(line).unwrap();
            assert!(record.contains("ts") && !record.contains("_meta"), "{line}");
        }
    }
}
