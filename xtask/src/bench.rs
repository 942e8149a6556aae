//! `cargo xtask bench`: wall time and peak memory of the folder store
//! (`FolderStore`) on a generated vault of Markdown notes, next to `cp -r`,
//! `tar --zstd` and a Python migrator, and of the log store (`LogStore`) on
//! generated audit logs, next to `jq -c`, a Python loop, `cp` and `tar`.
//! Numbers are reported, never asserted.

mod child;
mod log;
mod postgres;
mod python;
mod report;
mod sqlite;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

use anyhow::{Context, Result, bail};

pub use child::run as run_child;
use report::Sample;

const USAGE: &str = "\
usage: cargo xtask bench [--only folder|log] [--notes N] [--log-mib A,B] [--runs N]
                         [--slow-runs N] [--seed S]

Two workloads, each generated in target/bench/ (reused while it matches) and
timed scenario by scenario in a fresh copy, verchain in a child process of its
own so that its peak memory is the run's alone:

  folder  a vault of N Markdown notes at version 1 of the `Notes` chain;
          medians in target/bench/folder-store-<unix-time>.json and -latest.json
  log     audit logs at version 1 of the `Audit` chain, migrated to version 3
          by verchain and, where installed, `jq -c` and a Python loop, with
          `cp`, `tar czf` and `tar --zstd` beside; medians in
          target/bench/log-store-<unix-time>.json and -latest.json

  --only W      run one workload, `folder` or `log` (default: both)
  --notes N     notes in the vault (default 100000, about 100 MB)
  --log-mib L   sizes of the audit logs in MiB, comma-separated (default 100,1024)
  --runs N      runs of each scenario; medians are reported (default 3)
  --slow-runs N runs of `jq -c` and the Python loop, which take minutes on the
                1 GiB log (default 1; at most --runs)
  --seed S      the generators' seed (default 1)

`cargo xtask bench sqlite --help`: the SQLite store on a generated database.
`cargo xtask bench postgres --help`: the PostgreSQL store on a generated database.

A debug build of xtask re-runs itself with
`cargo run --release --package xtask -- bench ...`.";

/// Set in the environment of the release re-run, so that a build that still
/// has debug assertions does not re-run itself forever.
const RERUN_ENV: &str = "VERCHAIN_BENCH_RERUN";

/// The command's flags, declared in one place.
struct Flags {
    only: Option<String>,
    notes: usize,
    log_mib: Vec<u64>,
    runs: usize,
    slow_runs: usize,
    seed: u64,
}

impl Flags {
    /// The flags, or `None` when the user asked for help.
    fn parse(args: &[String]) -> Result<Option<Flags>> {
        let mut flags = Flags {
            only: None,
            notes: 100_000,
            log_mib: vec![100, 1024],
            runs: 3,
            slow_runs: 1,
            seed: 1,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next();
            match flag.as_str() {
                "-h" | "--help" => {
                    println!("{USAGE}");
                    return Ok(None);
                }
                "--notes" => flags.notes = number(flag, value)?,
                "--only" => match value.map(String::as_str) {
                    Some(w @ ("folder" | "log")) => flags.only = Some(w.to_owned()),
                    Some(other) => bail!("`--only` takes `folder` or `log`, not `{other}`"),
                    None => bail!("`--only` needs a value\n\n{USAGE}"),
                },
                "--log-mib" => {
                    let list = value.map(String::as_str).unwrap_or_default();
                    flags.log_mib = list
                        .split(',')
                        .map(|v| v.trim().parse::<u64>())
                        .collect::<Result<_, _>>()
                        .ok()
                        .filter(|v: &Vec<u64>| !v.is_empty() && !v.contains(&0))
                        .with_context(|| {
                            format!(
                                "`--log-mib` takes sizes in MiB such as `100,1024`, not `{list}`"
                            )
                        })?;
                }
                "--runs" => flags.runs = number(flag, value)?,
                "--slow-runs" => flags.slow_runs = number(flag, value)?,
                "--seed" => flags.seed = number(flag, value)?,
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        if flags.notes == 0 || flags.runs == 0 {
            bail!("`--notes` and `--runs` must be at least 1\n\n{USAGE}");
        }
        Ok(Some(flags))
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T> {
    match value.map(|v| v.replace('_', "").parse()) {
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => bail!(
            "`{flag}` takes a whole number, not `{}`",
            value.unwrap_or(&String::new())
        ),
        None => bail!("`{flag}` needs a value\n\n{USAGE}"),
    }
}

/// Runs the benchmarks and prints the table.
pub fn run(args: &[String]) -> Result<()> {
    if args.first().is_some_and(|a| a == "sqlite") {
        return sqlite::run(&args[1..], args);
    }
    if args.first().is_some_and(|a| a == "postgres") {
        return postgres::run(&args[1..], args);
    }
    let Some(flags) = Flags::parse(args)? else {
        return Ok(());
    };
    if cfg!(debug_assertions) {
        return rerun_in_release(args);
    }
    let root = workspace_root();
    // Read before the runs: the tree may change while they take minutes.
    let git = report::git(&root);
    let bench_dir = root.join("target").join("bench");
    fs::create_dir_all(&bench_dir).with_context(|| format!("create {}", bench_dir.display()))?;
    let exe = env::current_exe().context("find xtask's own executable")?;
    if flags.only.as_deref() != Some("log") {
        run_folder(&flags, &bench_dir, &exe, git.clone())?;
    }
    if flags.only.as_deref() != Some("folder") {
        let (table, latest) = log::run(
            &bench_dir,
            &exe,
            &flags.log_mib,
            flags.runs,
            flags.slow_runs.min(flags.runs),
            flags.seed,
            &git,
        )?;
        print!("{table}");
        println!("\nwritten: {}", latest.display());
    }
    Ok(())
}

/// The folder workload.
fn run_folder(flags: &Flags, bench_dir: &Path, exe: &Path, git: serde_json::Value) -> Result<()> {
    let (vault, workload) = workload::ensure(bench_dir, flags.notes, flags.seed)?;
    let work = bench_dir.join("work");
    workload::remove_dir_if_present(&work)?;
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let tar_zstd = tar_has_zstd();
    let python = python::available();

    let mut samples: Vec<(&str, Vec<Sample>)> = Vec::new();
    let mut push =
        |name: &'static str, sample: Sample| match samples.iter_mut().find(|(n, _)| *n == name) {
            Some((_, list)) => list.push(sample),
            None => samples.push((name, vec![sample])),
        };
    for run in 1..=flags.runs {
        // `cp -r` is the floor, and its copy is the fresh store of this run.
        let copy = work.join("copy");
        eprintln!("bench: run {run}/{}: cp -r", flags.runs);
        settle();
        push(
            "cp -r",
            external(Command::new("cp").arg("-r").arg(&vault).arg(&copy))?,
        );
        if tar_zstd {
            eprintln!("bench: run {run}/{}: tar --zstd", flags.runs);
            let archive = work.join("vault.tar.zst");
            settle();
            let mut sample = external(
                Command::new("tar")
                    .arg("--zstd")
                    .arg("-cf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(&copy)
                    .arg("."),
            )?;
            sample.output_bytes = fs::metadata(&archive).ok().map(|m| m.len());
            fs::remove_file(&archive).with_context(|| format!("remove {}", archive.display()))?;
            push("tar --zstd", sample);
        }
        // The dry run writes nothing, so `migrate` still starts from the
        // fresh copy; `rollback` undoes that `migrate`.
        for scenario in ["dry-run", "migrate", "rollback"] {
            eprintln!("bench: run {run}/{}: {scenario}", flags.runs);
            settle();
            push(scenario, in_child(exe, scenario, &copy)?);
        }
        // The rollback gave the copy back its version 1 notes, byte for
        // byte: the Python migrator starts where verchain did.
        if python {
            eprintln!("bench: run {run}/{}: python migrator", flags.runs);
            let archive = work.join("python-snapshot.tar.gz");
            settle();
            let mut sample = external(&mut python::command(&copy, &archive))?;
            sample.output_bytes = fs::metadata(&archive).ok().map(|m| m.len());
            fs::remove_file(&archive).with_context(|| format!("remove {}", archive.display()))?;
            push("python migrator", sample);
        }
        workload::remove_dir_if_present(&copy)?;
    }
    // `run_startup` on a current store reads no document and writes
    // nothing, so one migrated copy serves every run.
    let current = work.join("current");
    eprintln!("bench: preparing a copy at the current version for startup-noop");
    external(Command::new("cp").arg("-r").arg(&vault).arg(&current))?;
    in_child(exe, "setup-current", &current)?;
    for run in 1..=flags.runs {
        eprintln!("bench: run {run}/{}: startup-noop", flags.runs);
        settle();
        push("startup-noop", in_child(exe, "startup-noop", &current)?);
    }
    workload::remove_dir_if_present(&work)?;

    if !python {
        eprintln!("bench: python3 with PyYAML is not installed: no python migrator");
    }
    let report = report::Report::new(git, &vault, &workload, flags.runs, samples);
    print!("{}", report.table());
    let (stamped, latest) = report.write(bench_dir)?;
    println!(
        "\nwritten: {}\n         {}",
        stamped.display(),
        latest.display()
    );
    Ok(())
}

/// The workspace root: xtask lives in `<root>/xtask`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Timings from a debug build mean little: run the same command from a
/// release build instead.
fn rerun_in_release(args: &[String]) -> Result<()> {
    let command = format!(
        "cargo run --release --package xtask -- bench {}",
        args.join(" ")
    );
    let command = command.trim_end();
    if env::var_os(RERUN_ENV).is_some() {
        bail!("this xtask was built without optimizations; run `{command}`");
    }
    eprintln!("bench: xtask was built without optimizations; re-running as `{command}`");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "bench",
        ])
        .args(args)
        .current_dir(workspace_root())
        .env(RERUN_ENV, "1")
        .status()
        .with_context(|| format!("run `{command}`"))?;
    if !status.success() {
        bail!("`{command}` failed ({status})");
    }
    Ok(())
}

/// Flushes what earlier steps wrote (`sync`), so that the scenario timed
/// next does not pay for their writeback.
fn settle() {
    let _ = Command::new("sync").status();
}

/// Whether this `tar` can write zstd archives.
fn tar_has_zstd() -> bool {
    Command::new("tar")
        .arg("--help")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--zstd"))
}

/// Runs one scenario in a child process (`bench-child`) and reads its JSON
/// line.
fn in_child(exe: &Path, scenario: &str, dir: &Path) -> Result<Sample> {
    let out = Command::new(exe)
        .arg("bench-child")
        .arg(scenario)
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("run {} bench-child {scenario}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "bench-child {scenario} on {} failed ({})",
            dir.display(),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("read bench-child {scenario}'s line `{line}`"))
}

/// Runs an external command, timing it from spawn to exit and sampling the
/// peak RSS (`VmHWM`) of it and its children every few milliseconds (the
/// sum of each process's last sample: close to, never above, the truth).
fn external(command: &mut Command) -> Result<Sample> {
    let shown = format!("{command:?}");
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("run {shown}"))?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        let pid = child.id();
        thread::spawn(move || sample_tree(pid, &done))
    };
    let status = child.wait().with_context(|| format!("wait for {shown}"))?;
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak_rss_kb = sampler.join().unwrap_or_default();
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(Sample {
        seconds,
        peak_rss_kb,
        documents: None,
        output_bytes: None,
    })
}

/// Samples `VmHWM` of `pid` and its direct children until `done`; returns
/// the sum of each process's highest sample, or `None` without `/proc`.
fn sample_tree(pid: u32, done: &AtomicBool) -> Option<u64> {
    let mut peaks: Vec<(String, u64)> = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let children =
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let pids =
            std::iter::once(pid.to_string()).chain(children.split_whitespace().map(str::to_owned));
        for p in pids {
            if let Some(kb) = child::peak_rss_kb(&p) {
                match peaks.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, peak)) => *peak = (*peak).max(kb),
                    None => peaks.push((p, kb)),
                }
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    (!peaks.is_empty()).then(|| peaks.iter().map(|(_, kb)| kb).sum())
}
