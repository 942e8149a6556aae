//! `cargo xtask bench postgres`: the `forms` chain (v1 → v5) on a generated
//! database of N submissions whose answers are `jsonb` documents, through
//! verchain (advisory lock, snapshot of the schema with `COPY … (FORMAT
//! binary)` into a `tar.zst`, the steps in batches in one transaction, the
//! index built concurrently, the answers migrated by the `Responses`
//! chain's `Document` steps, validation, history) next to `pg_dump -Fc` of
//! the schema then `psql` running the same SQL (two transactions around
//! the concurrent index build). Both on a throw-away cluster of their own
//! (`fsync=off`), each run on a fresh copy of the generated database
//! (`CREATE DATABASE … TEMPLATE`). Numbers are reported, never asserted.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use forms_example::V1_SQL;
use verchain::postgres::postgres::{Client, NoTls};

use super::report::{self, Sample, median};
use crate::demo_postgres::server;

const USAGE: &str = "\
usage: cargo xtask bench postgres [--rows N] [--runs N]

Starts a throw-away PostgreSQL cluster in target/bench/postgres/, builds
fixtures/forms/v1.sql plus N generated submissions, then, in fresh copies of
that database, times the `forms` chain (v1 → v5) through verchain (as
`migrate` runs it, and as `migrate --no-diff` does, comparing no rows for the
report) and `pg_dump -Fc` of the schema followed by `psql` running the same
SQL. Prints the medians, their ratios and the peak memory, checks that all
three leave the same submissions, and writes them to
target/bench/postgres-<unix-time>.json and -latest.json.

  --rows N   generated submissions (default 1000000)
  --runs N   runs of each; medians are reported (default 3)";

/// The chain's steps as plain SQL, as one would write them by hand: the
/// steps before the concurrent index build in one transaction, the build,
/// then the last step in a transaction of its own.
const STEPS_SQL: &str = r#"\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
UPDATE submissions SET responses = responses || jsonb_build_object('created_at',
  to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
  WHERE NOT responses ? 'created_at';
ALTER TABLE submissions ADD COLUMN contact_email text;
UPDATE submissions SET contact_email = responses->>'email', responses = responses - 'email'
  WHERE responses ? 'email';
COMMIT;
DROP INDEX CONCURRENTLY IF EXISTS submissions_by_contact_email;
CREATE INDEX CONCURRENTLY submissions_by_contact_email ON submissions (lower(contact_email));
BEGIN;
UPDATE submissions SET responses =
  CASE WHEN responses ? 'note'
       THEN (responses - 'note') || jsonb_build_object('comment', responses->'note')
       ELSE responses END
  || jsonb_build_object('channel', coalesce(responses->'channel', '"web"'::jsonb),
                        'schema_version', 2);
COMMIT;
"#;

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
    let bin = server::bin_dir().context("no PostgreSQL server programs (initdb, pg_ctl) found")?;
    let dir = super::workspace_root().join("target/bench/postgres");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let cluster = server::Cluster::start_in(Some(&dir)).map_err(anyhow::Error::msg)?;
    let mut admin = connect(&cluster.url("postgres"))?;
    eprintln!("bench: generating {rows} submissions");
    generate(&mut admin, &cluster.url("forms_v1"), rows)?;
    let size: i64 = admin
        .query_one("SELECT pg_database_size('forms_v1')", &[])?
        .get(0);
    let script = dir.join("steps.sql");
    fs::write(&script, STEPS_SQL)?;
    let exe = std::env::current_exe().context("find xtask's own executable")?;
    let work = dir.join("work");
    let (mut ours, mut theirs, mut dumps, mut scripts) = (vec![], vec![], vec![], vec![]);
    let mut without_diffs = vec![];
    for run in 1..=runs {
        super::workload::remove_dir_if_present(&work)?;
        fs::create_dir_all(&work)?;
        for db in ["bench_verchain", "bench_no_diff", "bench_psql"] {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))?;
            admin.batch_execute(&format!("CREATE DATABASE {db} TEMPLATE forms_v1"))?;
        }
        eprintln!("bench: run {run}/{runs}: verchain");
        let url = cluster.url("bench_verchain");
        let sample = child(&exe, "postgres-migrate", &url, &work.join("snapshots"))?;
        ours.push(sample);
        eprintln!("bench: run {run}/{runs}: verchain --no-diff");
        let url = cluster.url("bench_no_diff");
        let scenario = "postgres-migrate-no-diff";
        without_diffs.push(child(&exe, scenario, &url, &work.join("snapshots"))?);
        eprintln!("bench: run {run}/{runs}: pg_dump -Fc, then psql with the same SQL");
        let url = cluster.url("bench_psql");
        let dump = super::external(
            Command::new(bin.join("pg_dump"))
                .args(["-Fc", "-n", "public", "-f"])
                .arg(work.join("forms.dump"))
                .arg(&url),
        )?;
        let sql = super::external(
            Command::new(bin.join("psql"))
                .args(["-X", "-q", "-f"])
                .arg(&script)
                .arg(&url),
        )?;
        theirs.push(Sample {
            seconds: dump.seconds + sql.seconds,
            peak_rss_kb: dump.peak_rss_kb.max(sql.peak_rss_kb),
            documents: None,
            output_bytes: None,
        });
        dumps.push(dump.seconds);
        scripts.push(sql.seconds);
        let theirs = fingerprint(&cluster.url("bench_psql"))?;
        for db in ["bench_verchain", "bench_no_diff"] {
            let ours = fingerprint(&cluster.url(db))?;
            if ours != theirs {
                let row = first_difference(&cluster.url(db), &cluster.url("bench_psql"))?;
                bail!("verchain ({db}) and psql disagree: {ours:?} vs {theirs:?}; first: {row}");
            }
        }
    }
    super::workload::remove_dir_if_present(&work)?;
    let seconds = |s: &[Sample]| median(s.iter().map(|s| s.seconds));
    let rss = |s: &[Sample]| median(s.iter().filter_map(|s| s.peak_rss_kb).map(|kb| kb as f64));
    let (v, p) = (seconds(&ours), seconds(&theirs));
    println!(
        "forms v1 → v5, {rows} generated submissions, database {:.1} MB, {runs} run(s), medians:",
        size as f64 / 1e6
    );
    println!(
        "  verchain migrate (advisory lock, snapshot with COPY binary into tar.zst + BLAKE3, \
         4 steps in batches, index built concurrently, documents through the Responses chain, \
         validation, history): {v:.2} s, peak RSS {:.0} MB",
        rss(&ours) / 1024.0
    );
    println!(
        "  pg_dump -Fc of the schema ({:.2} s) + psql with the same SQL ({:.2} s): {p:.2} s, \
         peak RSS {:.0} MB",
        median(dumps.into_iter()),
        median(scripts.into_iter()),
        rss(&theirs) / 1024.0
    );
    let n = seconds(&without_diffs);
    println!(
        "  verchain migrate --no-diff (the same, without comparing every row for the \
         report's diffs): {n:.2} s, peak RSS {:.0} MB",
        rss(&without_diffs) / 1024.0
    );
    println!("  ratio verchain / (pg_dump + psql): {:.2}", v / p);
    println!(
        "  ratio verchain --no-diff / (pg_dump + psql): {:.2}",
        n / p
    );
    let latest = report::save_database(
        "postgres",
        "pg_dump + psql",
        serde_json::json!({ "chain": "forms v1 -> v5", "rows": rows, "database_bytes": size }),
        runs,
        vec![
            report::scenario("verchain migrate", &ours, Some(p)),
            report::scenario("verchain migrate --no-diff", &without_diffs, Some(p)),
            report::scenario("pg_dump -Fc + psql", &theirs, Some(p)),
        ],
    )?;
    println!("written: {}", latest.display());
    Ok(())
}

/// Runs verchain's migration in a process of its own (`bench-child`), so
/// that its peak memory is the run's alone.
fn child(exe: &Path, scenario: &str, url: &str, snapshots: &Path) -> Result<Sample> {
    let out = Command::new(exe)
        .args(["bench-child", scenario, url])
        .arg(snapshots)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("run bench-child {scenario}"))?;
    if !out.status.success() {
        bail!("bench-child {scenario} failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("read bench-child's line `{line}`"))
}

/// Builds the database `forms_v1` (at `url`): v1 and `rows` more
/// submissions, half with an `email` answer, a fifth with a `note`, a
/// seventh with their `created_at` already.
fn generate(admin: &mut Client, url: &str, rows: usize) -> Result<()> {
    admin.batch_execute("DROP DATABASE IF EXISTS forms_v1")?;
    admin.batch_execute("CREATE DATABASE forms_v1")?;
    let mut db = connect(url)?;
    db.batch_execute(V1_SQL)?;
    db.batch_execute(&format!(
        "INSERT INTO submissions (form_id, user_id, submitted_at, responses)
         SELECT 1 + i % 3, CASE WHEN i % 4 = 0 THEN NULL ELSE 1 + i % 3 END,
                timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second',
                jsonb_strip_nulls(jsonb_build_object(
                  'email', CASE WHEN i % 2 = 0 THEN 'user' || i || '@example.org' END,
                  'note', CASE WHEN i % 5 = 0 THEN 'note ' || i END,
                  'score', i % 10,
                  'created_at', CASE WHEN i % 7 = 0 THEN '2023-12-31T00:00:00Z' END))
         FROM generate_series(1, {rows}) AS i"
    ))?;
    db.batch_execute("VACUUM ANALYZE")?;
    Ok(())
}

/// What both runs must agree on: the submissions' answers and contacts,
/// hashed, and the index.
fn fingerprint(url: &str) -> Result<(i64, i64, i64, i64, bool)> {
    let mut db = connect(url)?;
    let row = db.query_one(
        "SELECT count(*), sum(hashtext(responses::text)::int8)::int8, count(contact_email),
                coalesce(sum(hashtext(contact_email)::int8), 0)::int8,
                EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'submissions_by_contact_email')
         FROM submissions",
        &[],
    )?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
}

/// The first submission the two databases hold differently, as both say it.
fn first_difference(ours: &str, theirs: &str) -> Result<String> {
    let read = |url: &str| -> Result<Vec<(i64, String)>> {
        Ok(connect(url)?
            .query(
                "SELECT id, responses::text || ' ' || coalesce(contact_email, '-') \
                 FROM submissions ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    };
    let (a, b) = (read(ours)?, read(theirs)?);
    Ok(a.iter().zip(&b).find(|(x, y)| x != y).map_or_else(
        || "none found row by row".to_owned(),
        |(x, y)| format!("submission {}: verchain {} / psql {}", x.0, x.1, y.1),
    ))
}

fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("connect to {url}"))
}
