//! A runner of the `notes` chain in a process of its own, for tests that
//! start several at once or kill one mid-run.
//!
//! ```text
//! runner startup STORE GO    wait for the file GO, then `run_startup`
//! runner migrate STORE GO    wait for GO, then `migrate` without waiting for the lock
//! runner hold STORE          `migrate`, and stop for good while staging (to be killed)
//! runner rollback STORE      restore the snapshot taken before the last run
//! runner down STORE          roll back to v2 with `down` steps
//! runner log-MODE LOG        the same on the `audit` chain's log (MODE is
//!                            migrate, rollback, or down to v2; malformed
//!                            lines are quarantined)
//! runner db-MODE DATABASE    the same on the `agentdb` chain's SQLite
//!                            database (MODE is migrate or rollback)
//! runner pg-MODE URL-FILE [GO] the same on the `forms` chain's PostgreSQL
//!                            database, whose URL is in URL-FILE and whose
//!                            snapshots go in `snapshots/` beside it (MODE is
//!                            startup, migrate (to v3, without waiting),
//!                            rollback, or hold: migrate, and stop inside the
//!                            transaction after the first step, for good or
//!                            for `VERCHAIN_RUNNER_HOLD_MS`)
//! ```
//!
//! Prints one line: `migrated`, `up-to-date`, `nothing-to-do`, `locked`,
//! `rolled-back`, or `error: …` (exit code 1); with `VERCHAIN_RUNNER_COUNT`
//! set, a second line `points N`: the fault points the run passed (see
//! `VERCHAIN_FAULT` in the runtime's `fault.rs`), and a third `events N`:
//! the run events it emitted, and a fourth `shortened OP PATH`: the write a
//! `short:N` fault cut short (`-` for none). `VERCHAIN_RUNNER_KILL_EVENT=N` kills the
//! runner with SIGKILL at its Nth run event (inside SQLite's transaction,
//! where SQLite writes the file itself and no fault point is passed).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use agentdb_example::AgentDb;
use audit_example::Audit;
use forms_example::Forms;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::postgres::PostgresStore;
use verchain::sqlite::SqliteStore;
use verchain::{ErrorKind, Event, Observer, RollbackTo, RunOptions, Stage, Startup};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, store) = match args.as_slice() {
        [mode, store, ..] => (mode.as_str(), FolderStore::new(store.as_str())),
        _ => {
            eprintln!("usage: runner startup|migrate|hold STORE [GO]");
            return ExitCode::from(2);
        }
    };
    if let Some(go) = args.get(2) {
        while !Path::new(go).exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let said = match mode {
        "log-migrate" | "log-rollback" | "log-down" => log(mode, &args[1]),
        "db-migrate" | "db-rollback" => database(mode, &args[1]),
        "pg-startup" | "pg-migrate" | "pg-rollback" | "pg-hold" => postgres(mode, &args[1]),
        "startup" => startup(&store),
        "migrate" => migrate(&store, RunOptions::default()),
        "hold" => {
            let observer = Observer::new(|event| {
                // The last document taken up: every other one is staged.
                if let Event::Progress {
                    stage: Stage::Stage,
                    done,
                    total,
                } = event
                    && done == total
                {
                    println!("holding");
                    let _ = std::io::stdout().flush();
                    std::thread::sleep(Duration::from_secs(3600));
                }
            });
            migrate(
                &store,
                RunOptions {
                    observer: Some(observer),
                    ..RunOptions::default()
                },
            )
        }
        "rollback" => rollback(&store, &RollbackTo::LastRun),
        "down" => rollback(&store, &RollbackTo::Version(2)),
        other => Err(format!("unknown mode `{other}`")),
    };
    if std::env::var_os("VERCHAIN_RUNNER_COUNT").is_some() {
        let (points, _) = verchain::__private::fault_points_passed();
        let said = said
            .as_ref()
            .map_or_else(|e| format!("error: {e}"), ToString::to_string);
        let events = EVENTS.load(Ordering::Relaxed);
        let shortened = verchain::__private::fault_write_shortened();
        let shortened = shortened.as_deref().unwrap_or("-");
        println!("{said}\npoints {points}\nevents {events}\nshortened {shortened}");
        return ExitCode::SUCCESS;
    }
    match said {
        Ok(word) => {
            println!("{word}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run events seen so far.
static EVENTS: AtomicU64 = AtomicU64::new(0);

/// Options whose observer counts the run's events, and kills the process
/// at the one `VERCHAIN_RUNNER_KILL_EVENT` names.
fn counted(options: RunOptions) -> RunOptions {
    let kill_at: Option<u64> = std::env::var("VERCHAIN_RUNNER_KILL_EVENT")
        .ok()
        .and_then(|n| n.parse().ok());
    RunOptions {
        observer: Some(Observer::new(move |_| {
            let n = EVENTS.fetch_add(1, Ordering::Relaxed) + 1;
            if kill_at == Some(n) {
                verchain::__private::crash();
            }
        })),
        ..options
    }
}

fn log(mode: &str, path: &str) -> Result<&'static str, String> {
    let store = LogStore::new(path).skip_malformed(true);
    let result = match mode {
        "log-migrate" => verchain::migrate::<Audit>(&store, &counted(RunOptions::default()))
            .map(|r| r.snapshot.is_some()),
        "log-rollback" => verchain::rollback::<Audit>(
            &store,
            &RollbackTo::LastRun,
            &counted(RunOptions::default()),
        )
        .map(|_| true),
        _ => verchain::rollback::<Audit>(
            &store,
            &RollbackTo::Version(2),
            &counted(RunOptions::default()),
        )
        .map(|_| true),
    };
    word(mode, result)
}

fn database(mode: &str, path: &str) -> Result<&'static str, String> {
    let store = SqliteStore::new(path);
    let result = match mode {
        "db-migrate" => verchain::migrate::<AgentDb>(&store, &counted(RunOptions::default()))
            .map(|r| r.snapshot.is_some()),
        _ => verchain::rollback::<AgentDb>(
            &store,
            &RollbackTo::LastRun,
            &counted(RunOptions::default()),
        )
        .map(|_| true),
    };
    word(mode, result)
}

/// How long `pg-hold` holds: `VERCHAIN_RUNNER_HOLD_MS` milliseconds, or an
/// hour (until it is killed).
fn hold_for() -> Duration {
    std::env::var("VERCHAIN_RUNNER_HOLD_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(3600), Duration::from_millis)
}

/// The `forms` chain's store whose URL is in the file `url_file`.
fn postgres_store(url_file: &str) -> Result<PostgresStore, String> {
    let url = std::fs::read_to_string(url_file).map_err(|e| format!("read {url_file}: {e}"))?;
    let snapshots = Path::new(url_file).with_file_name("snapshots");
    Ok(PostgresStore::new(url.trim())
        .map_err(|e| e.to_string())?
        .snapshots_in(snapshots.to_string_lossy().into_owned()))
}

fn postgres(mode: &str, url_file: &str) -> Result<&'static str, String> {
    let store = postgres_store(url_file)?;
    let result = match mode {
        "pg-startup" => {
            return match verchain::run_startup::<Forms>(&store) {
                Ok(Startup::Migrated(_)) => Ok("migrated"),
                Ok(Startup::UpToDate { .. }) => Ok("up-to-date"),
                Err(e) => Err(said(&e)),
            };
        }
        "pg-migrate" => verchain::migrate::<Forms>(
            &store,
            &counted(RunOptions {
                target: Some(3),
                ..RunOptions::default()
            }),
        )
        .map(|r| r.snapshot.is_some()),
        "pg-hold" => {
            let observer = Observer::new(|event| {
                if let Event::StepFinished { .. } = event {
                    println!("holding");
                    let _ = std::io::stdout().flush();
                    std::thread::sleep(hold_for());
                }
            });
            verchain::migrate::<Forms>(
                &store,
                &RunOptions {
                    observer: Some(observer),
                    ..RunOptions::default()
                },
            )
            .map(|r| r.snapshot.is_some())
        }
        _ => verchain::rollback::<Forms>(
            &store,
            &RollbackTo::LastRun,
            &counted(RunOptions::default()),
        )
        .map(|_| true),
    };
    word(mode, result)
}

/// The runner's word for a run of `mode` that did something (or not).
fn word(mode: &str, result: Result<bool, verchain::RunError>) -> Result<&'static str, String> {
    match result {
        Ok(true) if mode.ends_with("migrate") => Ok("migrated"),
        Ok(true) => Ok("rolled-back"),
        Ok(false) => Ok("nothing-to-do"),
        Err(e) if matches!(*e.kind, ErrorKind::Locked { .. }) => Ok("locked"),
        Err(e) => Err(said(&e)),
    }
}

fn startup(store: &FolderStore) -> Result<&'static str, String> {
    match verchain::run_startup::<Notes>(store) {
        Ok(Startup::Migrated(_)) => Ok("migrated"),
        Ok(Startup::UpToDate { .. }) => Ok("up-to-date"),
        Err(e) => Err(said(&e)),
    }
}

fn migrate(store: &FolderStore, options: RunOptions) -> Result<&'static str, String> {
    match verchain::migrate::<Notes>(store, &options) {
        Ok(report) if report.snapshot.is_some() => Ok("migrated"),
        Ok(_) => Ok("nothing-to-do"),
        Err(e) if matches!(*e.kind, ErrorKind::Locked { .. }) => Ok("locked"),
        Err(e) => Err(said(&e)),
    }
}

fn rollback(store: &FolderStore, to: &RollbackTo) -> Result<&'static str, String> {
    match verchain::rollback::<Notes>(store, to, &RunOptions::default()) {
        Ok(_) => Ok("rolled-back"),
        Err(e) if matches!(*e.kind, ErrorKind::Locked { .. }) => Ok("locked"),
        Err(e) => Err(said(&e)),
    }
}

/// The error, and whether it left the store as it was.
fn said(e: &verchain::RunError) -> String {
    if e.store_unchanged() {
        format!("{e} [store unchanged]")
    } else {
        format!("{e} [store partly committed]")
    }
}
