//! `cargo xtask migrate` and `cargo xtask rollback` on the example chains,
//! over a working copy of `fixtures/` under `target/verchain-demo/`, so that
//! trying them never touches tracked files.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use camino::Utf8PathBuf;
use config_example::Config;
use notes_example::Notes;
use verchain::{
    Chain, ChangeKind, DirStore, Document, Report, RollbackTo, RunOptions, migrate, rollback,
};

/// Parsed flags of `migrate` and `rollback`.
#[derive(Debug, Default)]
struct Flags {
    dry_run: bool,
    target: Option<u32>,
    chain: Option<String>,
    diff_limit: Option<usize>,
    reset: bool,
}

fn parse(args: &[String], usage: &str) -> Result<Flags> {
    let mut flags = Flags::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{usage}"))
        };
        match arg.as_str() {
            "--dry-run" => flags.dry_run = true,
            "--reset" => flags.reset = true,
            "--to" => {
                let v = value("--to")?;
                let v = v.strip_prefix('v').unwrap_or(v);
                flags.target = Some(
                    v.parse()
                        .with_context(|| format!("--to {v}: not a version"))?,
                );
            }
            "--chain" => flags.chain = Some(value("--chain")?.clone()),
            "--diff-limit" => {
                let v = value("--diff-limit")?;
                flags.diff_limit = Some(v.parse().with_context(|| format!("--diff-limit {v}"))?);
            }
            other => bail!("unknown flag `{other}`\n{usage}"),
        }
    }
    Ok(flags)
}

const MIGRATE_USAGE: &str = "usage: cargo xtask migrate [--dry-run] [--to N] [--chain notes|config] [--diff-limit N] [--reset]";
const ROLLBACK_USAGE: &str =
    "usage: cargo xtask rollback [--to N] [--chain notes|config] [--reset]";

/// `cargo xtask migrate`.
pub fn migrate_cmd(args: &[String]) -> Result<()> {
    let flags = parse(args, MIGRATE_USAGE)?;
    for_each_chain(
        &flags,
        |store, flags| {
            run::<Notes>(store, flags, "notes")?;
            Ok(())
        },
        |store, flags| run::<Config>(store, flags, "config"),
    )
}

/// `cargo xtask rollback`.
pub fn rollback_cmd(args: &[String]) -> Result<()> {
    let flags = parse(args, ROLLBACK_USAGE)?;
    for_each_chain(&flags, undo::<Notes>, undo::<Config>)
}

fn for_each_chain(
    flags: &Flags,
    notes: impl Fn(&DirStore, &Flags) -> Result<()>,
    config: impl Fn(&DirStore, &Flags) -> Result<()>,
) -> Result<()> {
    let wanted = |name: &str| {
        flags
            .chain
            .as_deref()
            .is_none_or(|c| c.eq_ignore_ascii_case(name))
    };
    if !wanted(Notes::NAME) && !wanted(Config::NAME) {
        bail!(
            "no example chain named `{}`; chains: notes, config",
            flags.chain.as_deref().unwrap_or_default()
        );
    }
    if wanted(Notes::NAME) {
        notes(&demo_store("notes", flags.reset)?, flags)?;
    }
    if wanted(Config::NAME) {
        config(&demo_store("config", flags.reset)?, flags)?;
    }
    Ok(())
}

/// The working copy of `fixtures/<name>/v1`, created on first use (or anew
/// with `--reset`).
fn demo_store(name: &str, reset: bool) -> Result<DirStore> {
    let root = workspace_root();
    let copy = root.join("target/verchain-demo").join(name);
    if reset && copy.exists() {
        fs::remove_dir_all(&copy).with_context(|| format!("removing {}", copy.display()))?;
    }
    if !copy.exists() {
        copy_dir(&root.join("fixtures").join(name).join("v1"), &copy)?;
        println!("created {} from fixtures/{name}/v1", copy.display());
    }
    let copy = Utf8PathBuf::from_path_buf(copy)
        .map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))?;
    Ok(DirStore::new(copy))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn run<C: Chain<Record = Document>>(store: &DirStore, flags: &Flags, name: &str) -> Result<()> {
    let options = RunOptions {
        target: flags.target,
        dry_run: flags.dry_run,
        diff_limit: flags.diff_limit.unwrap_or(3),
        ..RunOptions::default()
    };
    let report = migrate::<C>(store, &options)
        .with_context(|| format!("migrating {name} in {}", store.root()))?;
    print_report(store, &report);
    Ok(())
}

fn undo<C: Chain<Record = Document>>(store: &DirStore, flags: &Flags) -> Result<()> {
    let to = flags
        .target
        .map_or(RollbackTo::LastRun, RollbackTo::Version);
    let report = rollback::<C>(store, &to, &RunOptions::default())
        .with_context(|| format!("rolling back {} in {}", C::NAME, store.root()))?;
    print_report(store, &report);
    Ok(())
}

fn print_report(store: &DirStore, report: &Report) {
    let versions: Vec<String> = report
        .versions
        .iter()
        .map(|(v, n)| format!("{n} at v{v}"))
        .collect();
    println!(
        "\nchain `{}` in {}: {}",
        report.chain,
        store.root(),
        if versions.is_empty() {
            "restoring a snapshot".to_owned()
        } else {
            versions.join(", ")
        }
    );
    if report.plan.is_empty() && report.snapshot.is_none() {
        println!("  nothing to do: already at v{}", report.target);
        return;
    }
    for step in &report.plan {
        let summary = step.description.lines().next().unwrap_or("");
        println!("  v{} → v{}  {:<24} {summary}", step.from, step.to, step.id);
    }
    let c = &report.counts;
    println!(
        "  {} changed, {} unchanged, {} created, {} removed, {} failed validation",
        c.changed,
        c.unchanged,
        c.created,
        c.removed,
        report.failures.len()
    );
    for failure in &report.failures {
        println!("  invalid: {failure}");
    }
    let mut shown = 0;
    for change in &report.changes {
        match (&change.diff, change.kind) {
            (Some(diff), _) => {
                shown += 1;
                print!("{diff}");
            }
            (None, ChangeKind::Removed) => println!("  removed {}", change.path),
            (None, _) => {}
        }
    }
    let hidden = report
        .changes
        .iter()
        .filter(|c| c.kind != ChangeKind::Removed)
        .count()
        - shown;
    if hidden > 0 && report.dry_run {
        println!("  … and {hidden} more diffs (--diff-limit N shows more)");
    }
    match (&report.snapshot, report.dry_run) {
        (_, true) => println!("  dry run: nothing was written"),
        (Some(snapshot), false) => {
            println!("  committed at v{}; snapshot {snapshot}", report.target)
        }
        (None, false) => println!("  committed at v{}", report.target),
    }
}
