//! A runner of the `notes` chain in a process of its own, for tests that
//! start several at once or kill one mid-run.
//!
//! ```text
//! runner startup STORE GO    wait for the file GO, then `run_startup`
//! runner migrate STORE GO    wait for GO, then `migrate` without waiting for the lock
//! runner hold STORE          `migrate`, and stop for good while staging (to be killed)
//! runner rollback STORE      restore the snapshot taken before the last run
//! runner down STORE          roll back to v2 with `down` steps
//! ```
//!
//! Prints one line: `migrated`, `up-to-date`, `nothing-to-do`, `locked`,
//! `rolled-back`, or `error: …` (exit code 1); with `VERCHAIN_RUNNER_COUNT`
//! set, a second line `points N`: the fault points the run passed (see
//! `VERCHAIN_FAULT` in the runtime's `fault.rs`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use notes_example::Notes;
use verchain::{DirStore, ErrorKind, Event, Observer, RollbackTo, RunOptions, Stage, Startup};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, store) = match args.as_slice() {
        [mode, store, ..] => (mode.as_str(), DirStore::new(store.as_str())),
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
        println!("{said}\npoints {points}");
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

fn startup(store: &DirStore) -> Result<&'static str, String> {
    match verchain::run_startup::<Notes>(store) {
        Ok(Startup::Migrated(_)) => Ok("migrated"),
        Ok(Startup::UpToDate { .. }) => Ok("up-to-date"),
        Err(e) => Err(said(&e)),
    }
}

fn migrate(store: &DirStore, options: RunOptions) -> Result<&'static str, String> {
    match verchain::migrate::<Notes>(store, &options) {
        Ok(report) if report.snapshot.is_some() => Ok("migrated"),
        Ok(_) => Ok("nothing-to-do"),
        Err(e) if matches!(*e.kind, ErrorKind::Locked { .. }) => Ok("locked"),
        Err(e) => Err(said(&e)),
    }
}

fn rollback(store: &DirStore, to: &RollbackTo) -> Result<&'static str, String> {
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
