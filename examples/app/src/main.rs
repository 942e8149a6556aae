//! A notes application as verchain's users write one: before it serves, it
//! brings its notes to the current version with `run_startup`, sending
//! every audit event to its own audit log (here, standard error); it reads
//! a note synced from an old device lazily, without a run; and it prints
//! what must restart, for the deploy script that started it.
//!
//! ```text
//! app-example NOTES_DIR [OLD_NOTE]
//! ```
//!
//! Exit codes: 0 served; 1 the notes could not be migrated or the old note
//! read (the message says why); 2 usage.

use std::process::ExitCode;

use camino::Utf8PathBuf;
use notes_example::{NoteV4, Notes};
use verchain::folder::FolderStore;
use verchain::{AuditEvent, Chain, RunOptions, Startup, run_startup_with};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(notes) = args.next().map(Utf8PathBuf::from) else {
        eprintln!("usage: app-example NOTES_DIR [OLD_NOTE]");
        return ExitCode::from(2);
    };
    let old_note = args.next().map(Utf8PathBuf::from);

    // The application's audit log receives verchain's audit events.
    let options = RunOptions::startup().with_audit(|event: &AuditEvent| {
        eprintln!("audit log: {event}");
    });
    let startup = match run_startup_with::<Notes>(&FolderStore::new(&notes), &options) {
        Ok(startup) => startup,
        Err(e) => {
            eprintln!("error: cannot migrate the notes in {notes}: {e}");
            return ExitCode::from(1);
        }
    };
    match &startup {
        Startup::UpToDate { version } => println!("notes: already at v{version}"),
        Startup::Migrated(report) => println!(
            "notes: migrated to v{}, {} changed",
            report.target, report.counts.changed
        ),
    }

    // A note synced from an old device: read at the current version,
    // nothing written.
    if let Some(path) = old_note {
        let loaded = match Notes::load_file(&path) {
            Ok(loaded) => loaded,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let note: NoteV4 = match loaded.to_typed() {
            Ok(note) => note,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        println!(
            "old note {path}: v{} read as v{}: {:?} ({}), tags {}",
            loaded.read_at(),
            Notes::CURRENT,
            note.title,
            note.status,
            note.tags.join(", ")
        );
    }

    // What the deploy script restarts.
    match startup.requires_restart() {
        [] => println!("restart: nothing"),
        services => println!("restart: {}", services.join(", ")),
    }
    ExitCode::SUCCESS
}
