//! `cargo xtask bench sqlite`: the `agentdb` chain's four steps on a
//! generated database with a large `routers` table, through verchain (lock,
//! snapshot with the backup API, one transaction, validation, history, the
//! report's row diff) next to the `sqlite3` tool, where installed, running
//! `.backup` and then the same SQL in one transaction. Numbers are
//! reported, never asserted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agentdb_example::{AgentDb, ROUTERS_V5, V1_SQL};
use anyhow::{Context, Result, bail};
use verchain::RunOptions;
use verchain::sqlite::SqliteStore;
use verchain::sqlite::rusqlite::Connection;

use super::report::{self, Sample};

const USAGE: &str = "\
usage: cargo xtask bench sqlite [--rows N] [--runs N]

Builds fixtures/agentdb/v1.sql plus N generated routers in target/bench/sqlite/
(reused while it exists), then, in fresh copies, times the `agentdb` chain
(v1 → v5) through verchain and, where `sqlite3` is installed, `sqlite3` doing
`.backup` then the same four steps' SQL in one transaction. Prints the
medians and their ratio, checks that both give the same routers, and writes
them to target/bench/sqlite-<unix-time>.json and -latest.json.

  --rows N   generated routers (default 1000000)
  --runs N   runs of each; medians are reported (default 3)";

/// The four steps as plain SQL, in one transaction, as one would write them
/// by hand: what the helpers run, without verchain's checks.
fn steps_sql() -> String {
    format!(
        "PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
UPDATE routers SET config = json_set(config, '$.\"timeout_ms\"', json('30000'))
  WHERE json_type(config, '$.\"timeout_ms\"') IS NULL;
ALTER TABLE workers ADD COLUMN status TEXT NOT NULL DEFAULT 'idle'
  CHECK (status IN ('idle', 'busy', 'draining'));
ALTER TABLE routers ADD COLUMN region TEXT NOT NULL DEFAULT 'global';
UPDATE routers SET region = json_extract(config, '$.\"region\"'),
  config = json_remove(config, '$.\"region\"')
  WHERE json_type(config, '$.\"region\"') IS NOT NULL;
PRAGMA legacy_alter_table = ON;
ALTER TABLE routers RENAME TO _old_routers;
PRAGMA legacy_alter_table = OFF;
{ROUTERS_V5};
INSERT INTO routers (id, name, config, region, weight)
  SELECT id, name, json_remove(config, '$.weight'), region,
         coalesce(json_extract(config, '$.weight'), 1) FROM _old_routers;
DROP TABLE _old_routers;
CREATE TRIGGER routers_name_not_blank BEFORE UPDATE OF name ON routers
WHEN trim(NEW.name) = ''
BEGIN
    SELECT RAISE(ABORT, 'a router needs a name');
END;
PRAGMA user_version = 5;
COMMIT;
"
    )
}

/// Runs the benchmark.
pub fn run(args: &[String], all_args: &[String]) -> Result<()> {
    let mut rows: usize = 1_000_000;
    let mut runs: usize = 3;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next();
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--rows" => rows = super::number(flag, value)?,
            "--runs" => runs = super::number(flag, value)?,
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if rows == 0 || runs == 0 {
        bail!("`--rows` and `--runs` must be at least 1\n\n{USAGE}");
    }
    if cfg!(debug_assertions) {
        return super::rerun_in_release(all_args);
    }
    let dir = super::workspace_root().join("target/bench/sqlite");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let base = dir.join(format!("agentdb-{rows}.db"));
    if !base.exists() {
        eprintln!("bench: generating {rows} routers in {}", base.display());
        generate(&base, rows)?;
    }
    let size = fs::metadata(&base)?.len();
    let script = dir.join("steps.sql");
    fs::write(&script, steps_sql())?;
    let cli = Command::new("sqlite3")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let work = dir.join("work");
    let mut verchain_runs = Vec::new();
    let mut cli_runs = Vec::new();
    for run in 1..=runs {
        super::workload::remove_dir_if_present(&work)?;
        fs::create_dir_all(&work)?;
        let db = work.join("agent.db");
        fs::copy(&base, &db)?;
        eprintln!("bench: run {run}/{runs}: verchain");
        let start = Instant::now();
        let store = SqliteStore::new(
            camino::Utf8PathBuf::from_path_buf(db.clone())
                .map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))?,
        );
        let report = verchain::migrate::<AgentDb>(&store, &RunOptions::default())?;
        // In this process: its peak memory would be the bench's own.
        verchain_runs.push(Sample {
            seconds: start.elapsed().as_secs_f64(),
            ..Sample::default()
        });
        let ours = fingerprint(&db)?;
        if report.counts.changed < rows {
            bail!(
                "verchain changed {} rows, expected at least {rows}",
                report.counts.changed
            );
        }
        if cli.is_some() {
            let db = work.join("cli.db");
            fs::copy(&base, &db)?;
            eprintln!("bench: run {run}/{runs}: sqlite3 .backup + the same SQL");
            let sample: Sample = super::external(
                Command::new("sqlite3")
                    .arg("-bail")
                    .arg(&db)
                    .arg(format!(
                        ".backup '{}'",
                        work.join("cli-backup.db").display()
                    ))
                    .arg(format!(".read '{}'", script.display())),
            )?;
            cli_runs.push(sample);
            let theirs = fingerprint(&db)?;
            if theirs != ours {
                bail!("sqlite3 and verchain disagree: {theirs:?} vs {ours:?}");
            }
        }
    }
    super::workload::remove_dir_if_present(&work)?;
    println!(
        "agentdb v1 → v5, {rows} generated routers, database {:.1} MB, {runs} run(s), medians:",
        size as f64 / 1e6
    );
    let ours = report::median(verchain_runs.iter().map(|s| s.seconds));
    println!(
        "  verchain migrate (lock, backup snapshot + integrity_check + BLAKE3, 4 steps, \
         integrity_check, foreign_key_check, row diff, history): {ours:.2} s"
    );
    let theirs = (!cli_runs.is_empty()).then(|| report::median(cli_runs.iter().map(|s| s.seconds)));
    let mut scenarios = vec![report::scenario("verchain migrate", &verchain_runs, theirs)];
    match (&cli, theirs) {
        (Some(version), Some(theirs)) => {
            let peer = report::scenario(
                &format!("sqlite3 {version}: .backup + the same SQL"),
                &cli_runs,
                Some(theirs),
            );
            println!(
                "  sqlite3 {version}: .backup, then the same SQL in one transaction: {theirs:.2} s, \
                 peak RSS {} MB",
                report::opt(peer["peak_rss_mb"].as_f64(), 0)
            );
            println!("  ratio verchain / sqlite3: {:.2}", ours / theirs);
            scenarios.push(peer);
        }
        _ => println!("  sqlite3: not installed, not measured"),
    }
    let latest = report::save_database(
        "sqlite",
        "the sqlite3 tool",
        serde_json::json!({ "chain": "agentdb v1 -> v5", "rows": rows, "database_bytes": size }),
        runs,
        scenarios,
    )?;
    println!("written: {}", latest.display());
    Ok(())
}

/// Builds the v1 database with `rows` more routers, a few planners and
/// workers: a third have a region, a fifth a timeout, a seventh a weight.
fn generate(path: &Path, rows: usize) -> Result<()> {
    let temp: PathBuf = path.with_extension("tmp");
    let _ = fs::remove_file(&temp);
    let mut conn = Connection::open(&temp)?;
    conn.execute_batch(V1_SQL)?;
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare("INSERT INTO routers (id, name, config) VALUES (?1, ?2, ?3)")?;
        let regions = ["eu-west", "us-east", "ap-northeast"];
        for i in 0..rows {
            let id = i64::try_from(i)? + 1000;
            let mut config = serde_json::Map::new();
            config.insert("retries".into(), (i % 5).into());
            if i % 3 == 0 {
                config.insert("region".into(), regions[i % regions.len()].into());
            }
            if i % 5 == 0 {
                config.insert("timeout_ms".into(), (1000 + i % 9000).into());
            }
            if i % 7 == 0 {
                config.insert("weight".into(), (1 + i % 4).into());
            }
            let config = serde_json::Value::Object(config).to_string();
            insert.execute((id, format!("router-{id}"), config))?;
        }
    }
    tx.commit()?;
    drop(conn);
    fs::rename(&temp, path)?;
    Ok(())
}

/// What both runs must agree on: the version, and per router column a sum.
fn fingerprint(path: &Path) -> Result<(i64, i64, i64, i64, i64)> {
    let conn = Connection::open(path)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let (count, config, region, weight) = conn.query_row(
        "SELECT count(*), sum(length(config)), sum(length(region)), sum(weight) FROM routers",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    Ok((version, count, config, region, weight))
}
