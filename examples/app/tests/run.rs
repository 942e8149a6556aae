//! The example application run as its deploy script runs it: on a copy of
//! the notes at version 1, with a note from an old device.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Copies the folder `from` into `to`.
fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures"))
}

#[test]
fn the_app_migrates_at_startup_reads_an_old_note_and_says_what_to_restart() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    copy(&fixtures().join("notes/v1"), &notes);
    let old = dir.path().join("synced.md");
    fs::write(
        &old,
        "---\ntitle: From the old phone\ncreated: 2023-02-01\ntags: travel, todo\n---\nPack.\n",
    )
    .unwrap();
    let old_bytes = fs::read(&old).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_app-example"))
        .arg(&notes)
        .arg(&old)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("notes: migrated to v4, 30 changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("read as v4: \"From the old phone\" (draft), tags travel, todo"),
        "{stdout}"
    );
    assert!(stdout.ends_with("restart: search-index\n"), "{stdout}");
    // Each step the startup applied reached the application's audit log.
    let applied: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("audit log: migration.applied chain `notes`"))
        .collect();
    assert_eq!(applied.len(), 3, "{stderr}");
    for (line, step) in applied
        .iter()
        .zip(["add_status", "rename_created", "split_tags"])
    {
        assert!(line.contains(&format!("step `{step}`")), "{line}");
    }
    // Reading the old note wrote nothing; the notes are at v4.
    assert_eq!(fs::read(&old).unwrap(), old_bytes);
    let migrated = fs::read_to_string(notes.join("groceries.md")).unwrap();
    assert!(migrated.contains("schema_version: 4"), "{migrated}");

    // The next start finds them current and restarts nothing.
    let again = Command::new(env!("CARGO_BIN_EXE_app-example"))
        .arg(&notes)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(stdout, "notes: already at v4\nrestart: nothing\n");
    assert!(again.stderr.is_empty());
}

#[test]
fn a_note_newer_than_the_app_is_an_error_naming_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    fs::create_dir(&notes).unwrap();
    let new = dir.path().join("new.md");
    fs::write(
        &new,
        "---\ntitle: From the future\nschema_version: 7\n---\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_app-example"))
        .arg(&notes)
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("version 7") && stderr.contains("newest version 4"),
        "{stderr}"
    );
}
