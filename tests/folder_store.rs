//! The run protocol on a folder of documents: golden outputs, dry runs,
//! failures that leave the store byte for byte as it was, rollbacks, locks.

use std::path::Path;
use std::sync::Mutex;

use camino::Utf8Path;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::run::{ChangeKind, Outcome};
use verchain::{
    BoxError, Chain, Document, ErrorKind, RollbackTo, RunOptions, Stage, Startup, migrate,
    migration, rollback, run_startup,
};
use verchain_tests::options::{dry, to};
use verchain_tests::tree::{assert_golden, fixture, fixture_copy, mtimes, read_tree, write_tree};

fn store(dir: &Path) -> FolderStore {
    FolderStore::new(Utf8Path::from_path(dir).expect("utf-8 temp path"))
}

fn tree_of(files: &[(&str, &str)]) -> std::collections::BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
        .collect()
}

#[test]
fn migrating_v1_gives_the_golden_output_of_every_version() {
    for target in 2..=Notes::CURRENT {
        let dir = fixture_copy("notes/v1");
        let report = migrate::<Notes>(&store(dir.path()), &to(target)).unwrap();
        assert_eq!(report.plan.len(), (target - 1) as usize);
        assert_golden(&format!("notes/v{target}"), &read_tree(dir.path()));
    }
}

#[test]
fn each_golden_version_migrates_to_the_next() {
    for from in 2..Notes::CURRENT {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &fixture(&format!("notes/v{from}")));
        migrate::<Notes>(&store(dir.path()), &to(from + 1)).unwrap();
        assert_eq!(
            read_tree(dir.path()),
            fixture(&format!("notes/v{}", from + 1)),
            "v{from}"
        );
    }
}

#[test]
fn a_dry_run_reports_and_changes_nothing_not_even_timestamps() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let times = mtimes(dir.path());
    let report = migrate::<Notes>(&store(dir.path()), &dry()).unwrap();
    assert!(report.dry_run);
    assert_eq!(
        report.plan.iter().map(|s| s.id).collect::<Vec<_>>(),
        ["add_status", "rename_created", "split_tags"]
    );
    assert_eq!(report.counts.changed, 30);
    assert_eq!(report.changes.len(), 30);
    let diff = report.changes[0].diff.as_deref().expect("a diff");
    assert!(diff.contains("+schema_version: 4"), "{diff}");
    assert!(report.failures.is_empty());
    assert_eq!(read_tree(dir.path()), before);
    assert_eq!(mtimes(dir.path()), times);
    assert!(!dir.path().join(".verchain").exists());
}

/// The snapshot the last rollback of `s` took of the store before it, as
/// its history line names it.
fn snapshot_the_rollback_took(s: &FolderStore) -> String {
    let history = verchain::history(s).unwrap();
    let description = &history.last().unwrap().description;
    let (_, before) = description
        .split_once("is in snapshot ")
        .expect(description);
    before.to_owned()
}

/// Rolls back to the snapshot the last rollback took (`before`), undoing
/// it, and checks that the documents and the store's version are back as
/// they were (`migrated`, `status`).
fn undo_the_rollback(
    s: &FolderStore,
    dir: &Path,
    before: &str,
    migrated: &std::collections::BTreeMap<String, Vec<u8>>,
    status: &verchain::run::Status,
) {
    rollback::<Notes>(
        s,
        &RollbackTo::Snapshot(before.to_owned()),
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(&read_tree(dir), migrated);
    // The store's version comes back with its documents.
    let undone = verchain::status::<Notes>(s).unwrap();
    assert_eq!(
        (undone.stamp, &undone.versions),
        (status.stamp, &status.versions)
    );
}

#[test]
fn a_rollback_snapshots_only_what_it_changes_and_can_itself_be_undone() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let rewritten = read_tree(dir.path());
    // A note written after the run: the rollback leaves it as it is.
    std::fs::write(
        dir.path().join("later.md"),
        "---\ntitle: Later\n---\nWritten after the run.\n",
    )
    .unwrap();
    let migrated = read_tree(dir.path());
    let migrated_status = verchain::status::<Notes>(&s).unwrap();
    assert_eq!(migrated_status.stamp, Some(4));
    rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_ne!(read_tree(dir.path()), migrated);
    let before = snapshot_the_rollback_took(&s);
    let before = before.as_str();
    let snapshots = verchain::snapshots(&s).unwrap();
    let archived: Vec<&str> = (snapshots.iter())
        .find(|info| info.id == before)
        .expect(before)
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        archived,
        rewritten.keys().map(String::as_str).collect::<Vec<_>>()
    );
    undo_the_rollback(&s, dir.path(), before, &migrated, &migrated_status);
}

#[test]
fn migrate_then_roll_back_restores_every_byte() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path());
    let report = migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let snapshot = report.snapshot.clone().expect("a snapshot");
    assert_ne!(read_tree(dir.path()), before);
    let back = rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(back.snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!(read_tree(dir.path()), before);
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.len(), 4, "three steps and one rollback");
    assert!(history[..3].iter().all(|r| {
        r.outcome == Outcome::Applied
            && r.checksum
                .as_deref()
                .is_some_and(|c| c.starts_with("v1:blake3:"))
    }));
    assert_eq!(history[3].outcome, Outcome::RolledBack);
    assert_eq!((history[3].from, history[3].to), (4, 1));
    // Nothing left to undo.
    let err = rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::NoSnapshot(_)), "{err}");
}

#[test]
fn a_second_run_is_a_no_op_and_startup_then_reads_nothing() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    match run_startup::<Notes>(&s).unwrap() {
        Startup::Migrated(report) => assert_eq!(report.counts.changed, 30),
        other => panic!("expected a migration, got {other:?}"),
    }
    let migrated = read_tree(dir.path());
    let again = migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(again.snapshot, None);
    assert_eq!(read_tree(dir.path()), migrated);
    assert_eq!(verchain::history(&s).unwrap().len(), 3);
    // Startup trusts the stamp: a broken document is not even read.
    std::fs::write(dir.path().join("groceries.md"), b"---\n: : :\n").unwrap();
    assert_eq!(
        run_startup::<Notes>(&s).unwrap(),
        Startup::UpToDate { version: 4 }
    );
}

#[test]
fn a_note_that_fails_the_schema_stops_the_run_and_names_the_note() {
    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("projects/untitled.md"),
        "---\ncreated: 2024-01-01\n---\nNo title.\n",
    )
    .unwrap();
    let before = read_tree(dir.path());
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Validate);
    let message = err.to_string();
    assert!(message.contains("projects/untitled.md"), "{message}");
    assert!(message.contains("missing field `title`"), "{message}");
    assert_eq!(read_tree(dir.path()), before);
    assert!(
        !dir.path()
            .join(".verchain/staging")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    // The dry run lists the same failure instead of stopping.
    let report = migrate::<Notes>(&store(dir.path()), &dry()).unwrap();
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].path, "projects/untitled.md");
}

#[test]
fn malformed_documents_are_named_with_their_line() {
    let cases: [(&str, &[u8], &str); 3] = [
        ("bad.md", b"---\ntitle: [unclosed\n---\nbody\n", "bad.md"),
        (
            "bad.json",
            b"{\n  \"title\": \"x\",\n  oops\n}\n",
            "bad.json",
        ),
        ("bad-utf8.md", b"---\ntitle: \xff\xfe\n---\n", "bad-utf8.md"),
    ];
    for (name, bytes, expect) in cases {
        let dir = fixture_copy("notes/v1");
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let before = read_tree(dir.path());
        let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
        assert_eq!(err.stage, Stage::Detect, "{name}: {err}");
        assert!(err.to_string().contains(expect), "{name}: {err}");
        assert_eq!(read_tree(dir.path()), before, "{name}");
    }
}

#[test]
fn versions_the_chain_cannot_handle_are_refused_with_both_versions() {
    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("future.md"),
        "---\ntitle: From the future\nschema_version: 9\n---\n",
    )
    .unwrap();
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::RecordTooNew {
                version: 9,
                current: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("future.md"));

    let dir = fixture_copy("notes/v1");
    let err = migrate::<Notes>(&store(dir.path()), &to(5)).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::TargetPastCurrent {
                target: 5,
                current: 4
            }
        ),
        "{err}"
    );

    let s = store(dir.path());
    migrate::<Notes>(&s, &to(3)).unwrap();
    let err = migrate::<Notes>(&s, &to(2)).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::TargetBelowStore {
                target: 2,
                store: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn mixed_versions_each_migrate_from_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = fixture("notes/v1");
    tree.extend(
        fixture("notes/v3")
            .into_iter()
            .map(|(p, b)| (format!("v3/{p}"), b)),
    );
    write_tree(dir.path(), &tree);
    let report = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap();
    assert!(report.mixed_versions());
    assert_eq!(report.versions.get(&1), Some(&30));
    assert_eq!(report.versions.get(&3), Some(&30));
    let got = read_tree(dir.path());
    for (path, bytes) in fixture("notes/v4") {
        assert_eq!(got[&path], bytes, "{path}");
        assert_eq!(got[&format!("v3/{path}")], bytes, "v3/{path}");
    }
}

#[test]
fn a_tampered_snapshot_is_refused_before_anything_is_touched() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    let report = migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let archive = verchain::snapshot::path_of(
        Utf8Path::from_path(&dir.path().join(".verchain/snapshots")).unwrap(),
        &report.snapshot.unwrap(),
    );
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&archive, bytes).unwrap();
    let migrated = read_tree(dir.path());
    let err = rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Restore);
    assert!(
        matches!(*err.kind, ErrorKind::Snapshot(_)),
        "refused as a bad snapshot, before anything was written: {err}"
    );
    assert_eq!(read_tree(dir.path()), migrated);
    assert!(!dir.path().join(".verchain/journal.json").exists());
}

#[test]
fn a_restore_that_fails_midway_puts_back_what_it_did_and_the_next_run_restores() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path());
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    // A folder now stands where a note must be restored.
    let squatter = dir.path().join("projects/verchain.md");
    std::fs::remove_file(&squatter).unwrap();
    std::fs::create_dir_all(squatter.join("inner")).unwrap();
    let blocked = read_tree(dir.path());
    let err = rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Restore);
    assert!(err.store_unchanged(), "{err}");
    let message = err.to_string();
    assert!(message.contains("projects/verchain.md"), "{message}");
    assert!(message.contains("was put back"), "{message}");
    assert_eq!(
        read_tree(dir.path()),
        blocked,
        "the restore was not put back"
    );
    assert!(!dir.path().join(".verchain/journal.json").exists());
    assert!(!verchain::recover::<Notes>(&s).unwrap());
    // Once the obstacle is gone, the rollback restores the whole snapshot.
    std::fs::remove_dir_all(&squatter).unwrap();
    rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.last().map(|r| r.outcome), Some(Outcome::RolledBack));
}

#[test]
fn the_config_chain_keeps_the_users_comments() {
    let dir = fixture_copy("config/v1");
    migrate::<config_example::Config>(&store(dir.path()), &RunOptions::default()).unwrap();
    let got = read_tree(dir.path());
    assert_golden("config/v4", &got);
    let text = String::from_utf8_lossy(&got["app.toml"]);
    for kept in [
        "# Edited by hand: keep these comments.",
        "# the user's favourite",
        "# persistent data",
    ] {
        assert!(text.contains(kept), "{kept} lost:\n{text}");
    }
}

// A chain whose steps fail on purpose, and one that moves, splits and
// removes documents.

/// Fails on documents that ask for it.
#[derive(Chain)]
#[chain(current = 2)]
pub struct Fragile;

static GATE: Mutex<()> = Mutex::new(());

/// Errors on `explode: error`, panics on `explode: panic`, waits at `GATE`
/// on `explode: wait`.
#[migration(chain = Fragile, from = 1, to = 2)]
fn fragile(doc: &mut Document) -> Result<(), BoxError> {
    match doc.get_str("explode") {
        Some("error") => Err(format!("refusing {}", doc.path()).into()),
        Some("panic") => panic!("step blew up"),
        Some("wait") => {
            drop(GATE.lock());
            Ok(())
        }
        _ => {
            doc.set("ok", true);
            Ok(())
        }
    }
}

fn fragile_store(
    explode: &str,
) -> (
    tempfile::TempDir,
    std::collections::BTreeMap<String, Vec<u8>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let middle = format!("{{\"explode\": \"{explode}\"}}\n");
    let tree = tree_of(&[
        ("a.json", "{\"n\": 1}\n"),
        ("b.toml", "# keep\nn = 2\n"),
        ("c.json", &middle),
        ("d.yaml", "n: 4\n"),
    ]);
    write_tree(dir.path(), &tree);
    (dir, tree)
}

#[test]
fn a_step_error_or_panic_leaves_the_store_as_it_was() {
    for (explode, expect) in [
        ("error", "refusing c.json"),
        ("panic", "panicked on c.json: step blew up"),
    ] {
        let (dir, before) = fragile_store(explode);
        let err = migrate::<Fragile>(&store(dir.path()), &RunOptions::default()).unwrap_err();
        assert_eq!(err.stage, Stage::Stage);
        let message = err.to_string();
        assert!(message.contains("step `fragile` (v1 → v2)"), "{message}");
        assert!(message.contains(expect), "{message}");
        assert_eq!(read_tree(dir.path()), before);
        assert!(verchain::history(&store(dir.path())).unwrap().is_empty());
    }
}

#[test]
fn a_second_runner_is_told_who_holds_the_lock() {
    let (dir, _) = fragile_store("wait");
    let root = dir.path().to_path_buf();
    let gate = GATE.lock().unwrap();
    let first =
        std::thread::spawn(move || migrate::<Fragile>(&store(&root), &RunOptions::default()));
    // Wait until the first runner holds the lock.
    let lock = dir.path().join(".verchain/lock");
    for _ in 0..200 {
        if std::fs::read_to_string(&lock).is_ok_and(|s| s.contains("pid")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = migrate::<Fragile>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Lock);
    assert!(
        err.to_string()
            .contains(&format!("locked by pid {}", std::process::id())),
        "{err}"
    );
    drop(gate);
    first.join().unwrap().unwrap();
    migrate::<Fragile>(&store(dir.path()), &RunOptions::default()).unwrap();
}

/// Splits, moves and removes documents.
#[derive(Chain)]
#[chain(current = 3)]
pub struct Reshape;

/// Moves `settings.json` to `config/settings.toml`; removes `obsolete.yaml`.
#[migration(chain = Reshape, from = 1, to = 2)]
fn move_and_remove(doc: &mut Document) {
    match doc.path().as_str() {
        "settings.json" => doc.move_to("config/settings.toml"),
        "obsolete.yaml" => doc.remove_document(),
        _ => {}
    }
}

/// Splits `todo` out of each note into a note of its own.
#[migration(chain = Reshape, from = 2, to = 3)]
fn split_todo(doc: &mut Document) {
    if let Some(todo) = doc.remove("todo") {
        let path = doc.path().as_str().replace(".md", ".todo.md");
        let mut fields = serde_json::Map::new();
        fields.insert("todo".into(), todo);
        doc.create_document(Document::new(path, fields).with_body("Split from a note.\n"));
    }
}

#[test]
fn steps_move_split_and_remove_documents_and_a_rollback_undoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let before = tree_of(&[
        ("settings.json", "{\"theme\": \"dark\"}\n"),
        ("obsolete.yaml", "old: true\n"),
        ("note.md", "---\ntitle: Note\ntodo: call bo\n---\nBody.\n"),
    ]);
    write_tree(dir.path(), &before);
    let s = store(dir.path());
    let report = migrate::<Reshape>(&s, &RunOptions::default()).unwrap();
    let kinds: Vec<_> = report
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.kind))
        .collect();
    assert!(
        kinds.contains(&("obsolete.yaml", ChangeKind::Removed)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("config/settings.toml", ChangeKind::Created)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("note.todo.md", ChangeKind::Created)),
        "{kinds:?}"
    );
    let after = read_tree(dir.path());
    assert_eq!(
        after.keys().map(String::as_str).collect::<Vec<_>>(),
        ["config/settings.toml", "note.md", "note.todo.md"]
    );
    let settings = String::from_utf8_lossy(&after["config/settings.toml"]);
    assert!(settings.contains("theme = \"dark\""), "{settings}");
    assert!(settings.contains("schema_version = 3"), "{settings}");
    let note = String::from_utf8_lossy(&after["note.md"]);
    assert!(!note.contains("todo"), "{note}");
    assert!(String::from_utf8_lossy(&after["note.todo.md"]).contains("todo: call bo"));
    rollback::<Reshape>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn a_step_may_not_write_outside_the_store() {
    /// Escapes.
    #[derive(Chain)]
    #[chain(current = 2)]
    pub struct Escape;

    /// Moves every document out of the store.
    #[migration(chain = Escape, from = 1, to = 2)]
    fn escape(doc: &mut Document) {
        doc.move_to("../outside.json");
    }

    let dir = tempfile::tempdir().unwrap();
    let before = tree_of(&[("a.json", "{}\n")]);
    write_tree(dir.path(), &before);
    let err = migrate::<Escape>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(err.to_string().contains("../outside.json"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().parent().unwrap().join("outside.json").exists());
}

/// Two reversible steps.
#[derive(Chain)]
#[chain(current = 3)]
pub struct Reversible;

/// Renames `a` to `b`.
#[migration(chain = Reversible, from = 1, to = 2, down = b_to_a)]
fn a_to_b(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("a", "b")?;
    Ok(())
}

fn b_to_a(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("b", "a")?;
    Ok(())
}

/// Adds `c`.
#[migration(chain = Reversible, from = 2, to = 3, down = drop_c)]
fn add_c(doc: &mut Document) {
    doc.set("c", 3);
}

fn drop_c(doc: &mut Document) {
    doc.remove("c");
}

#[test]
fn down_steps_roll_back_to_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let before = tree_of(&[
        ("x.json", "{\n  \"schema_version\": 1,\n  \"a\": 1\n}\n"),
        ("y.toml", "# comment\nschema_version = 1\na = \"text\"\n"),
    ]);
    write_tree(dir.path(), &before);
    let s = store(dir.path());
    migrate::<Reversible>(&s, &RunOptions::default()).unwrap();
    assert_ne!(read_tree(dir.path()), before);
    let report =
        rollback::<Reversible>(&s, &RollbackTo::Version(1), &RunOptions::default()).unwrap();
    assert_eq!(
        report
            .plan
            .iter()
            .map(|p| (p.id, p.from, p.to))
            .collect::<Vec<_>>(),
        [("add_c", 3, 2), ("a_to_b", 2, 1)]
    );
    assert_eq!(read_tree(dir.path()), before);

    let err = rollback::<Notes>(
        &store(fixture_copy("notes/v1").path()),
        &RollbackTo::Version(1),
        &RunOptions::default(),
    );
    assert!(err.is_ok(), "nothing to do at v1 is not an error: {err:?}");
}

#[test]
fn irreversible_chains_point_to_snapshots() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let err = rollback::<Notes>(&s, &RollbackTo::Version(1), &RunOptions::default()).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::Irreversible {
                step: "split_tags",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("roll back to a snapshot instead"));
}

// Regressions from the review of the run protocol.

/// Swaps two documents, then removes the one that takes another's place.
#[derive(Chain)]
#[chain(current = 2)]
pub struct Swap;

/// `a.json` ↔ `b.json`; `c.json` moves to `d.json`, whose own document is
/// removed; `split.json` becomes two documents and goes away.
#[migration(chain = Swap, from = 1, to = 2)]
fn swap(doc: &mut Document) {
    match doc.path().as_str() {
        "a.json" => doc.move_to("b.json"),
        "b.json" => doc.move_to("a.json"),
        "c.json" => doc.move_to("d.json"),
        "d.json" => doc.remove_document(),
        "split.json" => {
            for part in ["one", "two"] {
                let mut fields = serde_json::Map::new();
                fields.insert("part".into(), part.into());
                doc.create_document(Document::new(format!("{part}.json"), fields));
            }
            doc.remove_document();
        }
        _ => {}
    }
}

#[test]
fn a_path_both_written_and_removed_keeps_the_written_document() {
    let dir = tempfile::tempdir().unwrap();
    let before = tree_of(&[
        ("a.json", "{\"n\": \"a\"}\n"),
        ("b.json", "{\"n\": \"b\"}\n"),
        ("c.json", "{\"n\": \"c\"}\n"),
        ("d.json", "{\"n\": \"d\"}\n"),
        ("split.json", "{\"n\": \"split\"}\n"),
    ]);
    write_tree(dir.path(), &before);
    let s = store(dir.path());
    migrate::<Swap>(&s, &RunOptions::default()).unwrap();
    let after = read_tree(dir.path());
    assert_eq!(
        after.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a.json", "b.json", "d.json", "one.json", "two.json"]
    );
    let text = |p: &str| String::from_utf8_lossy(&after[p]).into_owned();
    assert!(text("a.json").contains("\"b\""), "{}", text("a.json"));
    assert!(text("b.json").contains("\"a\""), "{}", text("b.json"));
    assert!(text("d.json").contains("\"c\""), "{}", text("d.json"));
    assert!(text("two.json").contains("\"two\""));
    rollback::<Swap>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
}

/// Moves out of the store and back in.
#[derive(Chain)]
#[chain(current = 3)]
pub struct Detour;

/// Moves `b.json` outside the store (never written there).
#[migration(chain = Detour, from = 1, to = 2)]
fn out(doc: &mut Document) {
    doc.move_to("../outside.json");
}

/// Moves it back in.
#[migration(chain = Detour, from = 2, to = 3)]
fn back(doc: &mut Document) {
    doc.move_to("b.json");
}

#[test]
fn a_rollback_removes_only_final_paths_inside_the_store() {
    let parent = tempfile::tempdir().unwrap();
    let outside = parent.path().join("outside.json");
    std::fs::write(&outside, "precious\n").unwrap();
    let root = parent.path().join("store");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.json"), "{}\n").unwrap();
    let s = store(&root);
    migrate::<Detour>(&s, &RunOptions::default()).unwrap();
    rollback::<Detour>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
    assert_eq!(read_tree(&root), tree_of(&[("a.json", "{}\n")]));
}

#[test]
fn a_crafted_journal_cannot_touch_files_outside_the_store() {
    let parent = tempfile::tempdir().unwrap();
    let victim = parent.path().join("victim.txt");
    std::fs::write(&victim, "keep\n").unwrap();
    let root = parent.path().join("store");
    std::fs::create_dir_all(root.join(".verchain")).unwrap();
    std::fs::write(root.join("a.json"), "{}\n").unwrap();
    let journal = format!(
        "{{\"run_id\": \"x\", \"version\": 2, \"staging\": \".verchain/staging/x\", \
         \"ops\": [{{\"op\": \"remove\", \"path\": \"{}\"}}], \"history\": []}}",
        victim.display()
    );
    std::fs::write(root.join(".verchain/journal.json"), journal).unwrap();
    let err = run_startup::<Fragile>(&store(&root)).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    assert!(err.to_string().contains("outside the store"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
}

#[test]
fn a_restore_puts_back_the_stamp_from_before_the_run() {
    // `k.json` has no version key: it is at the store's stamp, or the base.
    let dir = tempfile::tempdir().unwrap();
    let before = tree_of(&[("k.json", "{}\n"), ("m.json", "{\"schema_version\": 2}\n")]);
    write_tree(dir.path(), &before);
    let s = store(dir.path());
    migrate::<Reversible>(&s, &RunOptions::default()).unwrap();
    rollback::<Reversible>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain/stamp.json").exists());
    // So the next run migrates `k.json` from v1 again.
    let report = migrate::<Reversible>(&s, &dry()).unwrap();
    assert_eq!(report.versions.get(&1), Some(&1));
}

#[test]
fn a_store_stamped_newer_than_the_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".verchain")).unwrap();
    std::fs::write(
        dir.path().join(".verchain/stamp.json"),
        "{\"chain\": \"Fragile\", \"version\": 9}",
    )
    .unwrap();
    let err = migrate::<Fragile>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::RecordTooNew {
                version: 9,
                current: 2,
                ..
            }
        ),
        "{err}"
    );
    let stamp = std::fs::read_to_string(dir.path().join(".verchain/stamp.json")).unwrap();
    assert!(stamp.contains('9'), "the stamp is left alone: {stamp}");
}

#[test]
fn dry_runs_write_nothing_on_a_store_verchain_has_used() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    migrate::<Notes>(&s, &to(3)).unwrap();
    let times = mtimes(dir.path());
    let tree = read_tree(dir.path());
    let report = migrate::<Notes>(&s, &dry()).unwrap();
    assert_eq!(report.plan.len(), 1);
    let restore = rollback::<Notes>(&s, &RollbackTo::LastRun, &dry()).unwrap();
    assert_eq!(restore.counts.changed, 30);
    assert_eq!(mtimes(dir.path()), times);
    assert_eq!(read_tree(dir.path()), tree);
}

#[test]
fn a_document_that_cannot_be_written_back_names_its_line_and_versions_and_nothing_is_written() {
    let dir = fixture_copy("notes/v1");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    // Two notes the editor cannot change: the run names both at once.
    for name in &names[..2] {
        let note = dir.path().join(name);
        let text = std::fs::read_to_string(&note).unwrap();
        let text = text.replacen("title:", "? top\n: 1\ntitle:", 1);
        std::fs::write(&note, &text).unwrap();
    }
    let tree = read_tree(dir.path());
    let s = store(dir.path());
    for options in [dry(), RunOptions::default()] {
        let err = migrate::<Notes>(&s, &options).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("2 documents cannot be written back"),
            "{message}"
        );
        for name in &names[..2] {
            assert!(
                message.contains(&format!(
                    "{name} line 2, column 1: the YAML front matter cannot be edited"
                )),
                "{message}"
            );
        }
        assert!(
            message.contains("(writing it back at v4, after the steps from v1)"),
            "{message}"
        );
        assert_eq!(read_tree(dir.path()), tree);
    }
}

/// What a run killed right after writing its journal leaves behind: the
/// journal and the staged files, the documents still old.
fn interrupted_store(staged: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &tree_of(&[("a.json", "{\"n\": 1}\n"), ("b.json", "{\"n\": 2}\n")]),
    );
    let new_a = "{\"n\": 1, \"schema_version\": 2}\n";
    if let Some(content) = staged {
        write_tree(
            &dir.path().join(".verchain/staging/r1"),
            &tree_of(&[("a.json", content)]),
        );
    } else {
        std::fs::create_dir_all(dir.path().join(".verchain")).unwrap();
    }
    let record = verchain::run::HistoryRecord {
        run_id: "r1".into(),
        chain: "Fragile".into(),
        step: Some("fragile".into()),
        from: 1,
        to: 2,
        description: String::new(),
        checksum: None,
        started: "2026-11-23T00:00:00.000000Z".into(),
        finished: "2026-11-23T00:00:01.000000Z".into(),
        duration_ms: 1000,
        outcome: Outcome::Applied,
        snapshot: Some("s1".into()),
        counts: verchain::run::Counts::default(),
        created_paths: Vec::new(),
        created_folders: Vec::new(),
        stamp_before: None,
        operator_override: false,
        host: "test".into(),
        verchain: "0".into(),
    };
    let journal = serde_json::json!({
        "run_id": "r1",
        "version": 2,
        "snapshot": "2026-11-23T00-00-00_pre_v1_to_v2",
        "staging": ".verchain/staging/r1",
        "ops": [{"op": "write", "path": "a.json", "blake3": blake3_hex(new_a)}],
        "history": [serde_json::to_string(&record).unwrap()],
    });
    std::fs::write(
        dir.path().join(".verchain/journal.json"),
        journal.to_string(),
    )
    .unwrap();
    dir
}

fn blake3_hex(text: &str) -> String {
    verchain::snapshot::blake3_hex(text.as_bytes())
}

/// What the journal keeps of the file at `path`: its size, modification
/// time, inode and links, as the run saw it when it read the document.
fn seen(path: &Path) -> serde_json::Value {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    serde_json::json!({
        "size": meta.len(),
        "modified": [meta.mtime(), meta.mtime_nsec()],
        "inode": meta.ino(),
        "links": meta.nlink(),
    })
}

#[test]
fn a_recovery_never_overwrites_a_document_saved_after_the_crashed_run_read_it() {
    let old_a = "{\"n\": 1}\n";
    let new_a = "{\"n\": 1, \"schema_version\": 2}\n";
    let new_b = "{\"n\": 2, \"schema_version\": 2}\n";
    let edited = "{\"n\": 0, \"saved\": \"by hand\"}\n";
    // `a_done`: the commit had replaced a.json (its old file now where the
    // staged one was) when it was killed; `edit`: the document saved anew
    // after the run read it (b.json after the crash, or a.json before the
    // commit replaced it).
    let case = |a_done: bool, edit: Option<&str>| {
        let dir = interrupted_store(Some(new_a));
        let root = dir.path().to_owned();
        write_tree(
            &root.join(".verchain/staging/r1"),
            &tree_of(&[("b.json", new_b)]),
        );
        let journal_path = root.join(".verchain/journal.json");
        let mut journal: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&journal_path).unwrap()).unwrap();
        journal["checked"] = true.into();
        journal["ops"] = serde_json::json!([
            {"op": "write", "path": "a.json", "blake3": blake3_hex(new_a), "was": seen(&root.join("a.json"))},
            {"op": "write", "path": "b.json", "blake3": blake3_hex(new_b), "was": seen(&root.join("b.json"))},
        ]);
        std::fs::write(&journal_path, journal.to_string()).unwrap();
        let save = |name: &str| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::write(root.join(name), edited).unwrap();
        };
        if edit == Some("a.json") {
            save("a.json");
        }
        if a_done {
            std::fs::rename(root.join("a.json"), root.join("a.old")).unwrap();
            std::fs::rename(
                root.join(".verchain/staging/r1/a.json"),
                root.join("a.json"),
            )
            .unwrap();
            std::fs::rename(root.join("a.old"), root.join(".verchain/staging/r1/a.json")).unwrap();
        }
        if edit == Some("b.json") {
            save("b.json");
        }
        let recovered = verchain::recover::<Fragile>(&store(&root));
        (dir, recovered)
    };
    // Nothing saved since: the recovery finishes the commit (what the
    // journal kept of each file reads back exactly).
    let (dir, recovered) = case(true, None);
    assert!(recovered.unwrap());
    assert_eq!(
        read_tree(dir.path()),
        tree_of(&[("a.json", new_a), ("b.json", new_b)])
    );
    let history = verchain::history(&store(dir.path())).unwrap();
    assert_eq!(history.last().unwrap().outcome, Outcome::Recovered);
    // Saved before anything moved: the run is given up, the edit kept.
    let (dir, recovered) = case(false, Some("b.json"));
    assert!(recovered.unwrap());
    assert_eq!(
        read_tree(dir.path()),
        tree_of(&[("a.json", old_a), ("b.json", edited)])
    );
    assert!(!dir.path().join(".verchain/journal.json").exists());
    let last = verchain::history(&store(dir.path()))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.outcome, Outcome::Abandoned);
    assert!(
        last.description.contains("b.json") && last.description.contains("size went from"),
        "{}",
        last.description
    );
    // Saved after a.json was replaced, or saved to a.json before it was:
    // the recovery stops naming the document, and neither finishes the
    // commit over the edit nor cleans the edit away with the staging.
    // Its advice to go back to the snapshot first says where the edit is,
    // to copy it away.
    for (edit, kept) in [
        ("b.json", "b.json"),
        ("a.json", ".verchain/staging/r1/a.json"),
    ] {
        let (dir, recovered) = case(true, Some(edit));
        let err = recovered.unwrap_err().to_string();
        assert!(
            err.contains(&format!("{edit} changed after the run read it")),
            "{err}"
        );
        let saved = dir.path().join(kept).display().to_string();
        assert!(
            err.contains(&format!(
                "copy {saved} elsewhere (it holds what was saved to {edit} after the run read it"
            )),
            "{err}"
        );
        assert_eq!(
            err.contains("the interrupted commit had moved that file to"),
            edit == "a.json",
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(kept)).unwrap(),
            edited
        );
        assert!(dir.path().join(".verchain/journal.json").exists());
    }
}

#[test]
fn a_run_killed_after_its_journal_is_finished_by_the_next_and_recorded_as_recovered() {
    let dir = interrupted_store(Some("{\"n\": 1, \"schema_version\": 2}\n"));
    let s = store(dir.path());
    // A dry run will not guess: it asks for the recovery.
    let err = migrate::<Fragile>(&s, &dry()).unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::RecoveryNeeded { .. }),
        "{err}"
    );
    assert!(verchain::recover::<Fragile>(&s).unwrap());
    assert_eq!(
        read_tree(dir.path()),
        tree_of(&[
            ("a.json", "{\"n\": 1, \"schema_version\": 2}\n"),
            ("b.json", "{\"n\": 2}\n")
        ])
    );
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, Outcome::Recovered);
    assert!(!dir.path().join(".verchain/journal.json").exists());
    assert!(!dir.path().join(".verchain/staging/r1").exists());
}

#[test]
fn a_finished_or_given_up_commit_is_an_audit_event_of_the_run_that_recovers_it() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let options = RunOptions::default().with_audit(move |e: &verchain::AuditEvent| {
        sink.lock()
            .unwrap()
            .push((e.name, e.run_id.clone(), e.outcome));
    });
    let dir = interrupted_store(Some("{\"n\": 1, \"schema_version\": 2}\n"));
    migrate::<Fragile>(&store(dir.path()), &options).unwrap();
    let events = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        events[0],
        ("migration.recovered", "r1".to_owned(), Outcome::Recovered)
    );
    // A staged file that is not what the journal says, nothing moved yet:
    // the commit is given up, and the store stays as it was.
    let dir = interrupted_store(Some("{\"n\": 99}\n"));
    migrate::<Fragile>(&store(dir.path()), &options).unwrap();
    let events = seen.lock().unwrap();
    assert_eq!(
        events[0],
        ("migration.abandoned", "r1".to_owned(), Outcome::Abandoned)
    );
}

#[test]
fn a_lost_staged_file_is_an_error_not_a_finished_commit() {
    let dir = interrupted_store(None);
    let s = store(dir.path());
    let err = verchain::recover::<Fragile>(&s).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    let message = err.to_string();
    assert!(message.contains("a.json"), "{message}");
    assert!(
        message.contains(".verchain/snapshots/2026-11-23T00-00-00_pre_v1_to_v2.tar.zst"),
        "{message}"
    );
    assert!(message.contains("tar --zstd -xf"), "{message}");
    assert!(dir.path().join(".verchain/journal.json").exists());
    assert!(!dir.path().join(".verchain/stamp.json").exists());
}

#[test]
fn versions_that_are_not_versions_are_named() {
    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("odd.md"),
        "---\ntitle: Odd\nschema_version: two\n---\n",
    )
    .unwrap();
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Detect);
    assert_eq!(
        err.to_string(),
        "chain `notes`, stage `detect`: odd.md: `schema_version` is \"two\", not a version number"
    );

    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("old.md"),
        "---\ntitle: Old\nschema_version: 0\n---\n",
    )
    .unwrap();
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        matches!(
            *err.kind,
            ErrorKind::RecordTooOld {
                version: 0,
                base: 1,
                ..
            }
        ),
        "{err}"
    );

    let dir = fixture_copy("notes/v1");
    let err = rollback::<Notes>(
        &store(dir.path()),
        &RollbackTo::Version(0),
        &RunOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::TargetBelowBase { target: 0, base: 1 }),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn links_in_the_store_are_refused_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("elsewhere.md"),
        "---\ntitle: Elsewhere\n---\n",
    )
    .unwrap();

    let dir = fixture_copy("notes/v1");
    std::os::unix::fs::symlink(
        outside.path().join("elsewhere.md"),
        dir.path().join("link.md"),
    )
    .unwrap();
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("link.md: is a symbolic link"),
        "{err}"
    );

    let dir = fixture_copy("notes/v1");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked-folder")).unwrap();
    let before = read_tree(outside.path());
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("linked-folder: is a symbolic link to a folder"),
        "{err}"
    );
    // Excluding it is the way to keep it.
    let s = store(dir.path()).exclude(["linked-folder"]).unwrap();
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(outside.path()), before);
}

#[test]
fn a_damaged_history_line_is_named_and_a_torn_last_line_is_dropped() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    migrate::<Notes>(&s, &to(2)).unwrap();
    let history = dir.path().join(".verchain/history.jsonl");
    let good = std::fs::read_to_string(&history).unwrap();
    // A crash mid-append leaves a last line without its newline: not history.
    std::fs::write(&history, format!("{good}{{\"run_id\": \"to")).unwrap();
    assert_eq!(verchain::history(&s).unwrap().len(), 1);
    // The next run cuts it off before appending.
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    assert_eq!(verchain::history(&s).unwrap().len(), 3);
    // A damaged line in the middle is an error naming its line.
    let text = std::fs::read_to_string(&history).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{oops";
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    let err = verchain::history(&s).unwrap_err();
    assert!(err.to_string().contains("history.jsonl line 2"), "{err}");
}

/// Replaces the checksum the history recorded for `step`, as if the step's
/// code had been edited after it was applied.
fn edit_applied_checksum(dir: &Path, step: &str) {
    let path = dir.join(".verchain/history.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            if record["step"] == step {
                record["checksum"] = format!("v1:blake3:{}", "0".repeat(64)).into();
            }
            record.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_step_edited_after_it_was_applied_stops_every_run_until_allowed() {
    let dir = fixture_copy("notes/v1");
    let store = store(dir.path());
    migrate::<Notes>(&store, &to(2)).unwrap();
    edit_applied_checksum(dir.path(), "add_status");
    let before = read_tree(dir.path());

    let err = migrate::<Notes>(&store, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Plan);
    let ErrorKind::EditedSinceApplied { steps } = &*err.kind else {
        panic!("{err}");
    };
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].step, "add_status");
    assert_eq!((steps[0].from, steps[0].to), (1, 2));
    let message = err.to_string();
    assert!(
        message.contains("step `add_status` (v1 → v2) was edited after it was applied"),
        "{message}"
    );
    assert!(message.contains("--allow-changed"), "{message}");
    assert!(run_startup::<Notes>(&store).is_err());
    assert_eq!(read_tree(dir.path()), before);
    let status = verchain::status::<Notes>(&store).unwrap();
    assert_eq!(status.edited_since_applied.len(), 1);

    // Steps above the store's version (rolled back, or not applied yet) do
    // not count.
    let none = verchain::run::edited_since_applied(
        &verchain::history(&store).unwrap(),
        &Notes::steps().iter().map(|s| *s.meta()).collect::<Vec<_>>(),
        Some(1),
    );
    assert!(none.is_empty(), "{none:?}");

    // Allowed: the run goes on, and its history says what was allowed.
    let allowed = RunOptions {
        allow_changed: true,
        ..RunOptions::default()
    };
    migrate::<Notes>(&store, &allowed).unwrap();
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
    let history = verchain::history(&store).unwrap();
    let last = history.last().unwrap();
    assert!(
        last.description
            .starts_with("RUN WITH --allow-changed: step `add_status` (v1 → v2) was edited"),
        "{}",
        last.description
    );
    let status = verchain::status::<Notes>(&store).unwrap();
    assert!(status.last_run.is_some_and(|run| run.allowed_changed));
}

#[test]
fn a_rename_onto_a_field_the_note_already_has_stops_the_run_instead_of_dropping_it() {
    let dir = fixture_copy("notes/v1");
    let path = dir.path().join("accents.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("\ncreated:", "\ncreated_at: 1999-12-31\ncreated:", 1);
    std::fs::write(&path, &text).unwrap();
    let before = read_tree(dir.path());
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Stage);
    let message = err.to_string();
    assert!(
        message.contains("step `rename_created` (v2 → v3)"),
        "{message}"
    );
    assert!(message.contains("accents.md"), "{message}");
    assert!(
        message
            .contains("cannot rename `created` to `created_at`: there is a `created_at` already"),
        "{message}"
    );
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn verify_and_status_list_a_document_they_cannot_read_and_go_on() {
    let dir = fixture_copy("notes/v1");
    std::fs::write(dir.path().join("bad.md"), "---\ntitle: [broken\n---\nx\n").unwrap();
    std::fs::write(
        dir.path().join("new.md"),
        "---\ntitle: t\nschema_version: 9\n---\nx\n",
    )
    .unwrap();
    let before = read_tree(dir.path());
    let verchain::run::Verified {
        checked,
        invalid,
        failures,
    } = verchain::verify::<Notes>(&store(dir.path())).unwrap();
    assert_eq!((checked, invalid), (32, 2));
    let named: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert_eq!(failures.len(), 2, "{named:?}");
    assert!(named[0].starts_with("bad.md line 3"), "{named:?}");
    assert!(named[1].starts_with("new.md is at version 9"), "{named:?}");
    // `status` counts the others and names these two.
    let status = verchain::status::<Notes>(&store(dir.path())).unwrap();
    assert_eq!(status.versions.get(&1), Some(&30));
    assert_eq!(status.unreadable.len(), 2, "{:?}", status.unreadable);
    assert!(status.unreadable[0].starts_with("bad.md line 3"));
    assert_eq!(read_tree(dir.path()), before);
}

/// Markdown documents without front matter beside the notes: a README and
/// release notes, and one whose `---` comes after a blank line (which some
/// site generators read as front matter and others do not).
fn with_documents_without_front_matter() -> tempfile::TempDir {
    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("README.md"),
        "# The vault\n\nNotes live here.\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("RELEASES.md"), "## 1.0\n\n- first\n").unwrap();
    std::fs::write(
        dir.path().join("odd.md"),
        "\n---\ntitle: Odd\n---\nA blank line before the fence.\n",
    )
    .unwrap();
    dir
}

#[test]
fn documents_without_front_matter_are_refused_all_at_once_by_default() {
    let dir = with_documents_without_front_matter();
    let before = read_tree(dir.path());
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Detect);
    let ErrorKind::Unreadable { records, total } = &*err.kind else {
        panic!("{err}");
    };
    assert_eq!(*total, 3, "{err}");
    assert_eq!(records.len(), 3);
    let message = err.to_string();
    for name in ["README.md", "RELEASES.md", "odd.md line 2"] {
        assert!(message.contains(name), "{name}: {message}");
    }
    assert!(message.contains("without front matter"), "{message}");
    assert!(message.contains("front matter not recognised"), "{message}");
    assert_eq!(read_tree(dir.path()), before, "nothing was written");
    // `status` names them too, and counts the rest.
    let status = verchain::status::<Notes>(&store(dir.path())).unwrap();
    assert_eq!(status.unreadable.len(), 3, "{:?}", status.unreadable);
}

#[test]
fn documents_without_front_matter_are_left_as_they_are_and_listed_when_skipped() {
    use verchain::folder::FrontMatterPolicy;
    let dir = with_documents_without_front_matter();
    let before = read_tree(dir.path());
    let skipping = store(dir.path()).without_front_matter(FrontMatterPolicy::Skip);
    let report = migrate::<Notes>(&skipping, &RunOptions::default()).unwrap();
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["README.md", "RELEASES.md", "odd.md"]);
    assert_eq!(report.skipped[0].reason, "no front matter");
    assert!(
        report.skipped[2].reason.contains("not recognised"),
        "{}",
        report.skipped[2].reason
    );
    let after = read_tree(dir.path());
    for name in ["README.md", "RELEASES.md", "odd.md"] {
        assert_eq!(after[name], before[name], "{name} is untouched");
    }
    let status = verchain::status::<Notes>(&skipping).unwrap();
    assert_eq!(status.skipped.len(), 3);
    assert!(status.pending.is_empty() && status.unreadable.is_empty());
}

#[test]
fn a_front_matter_is_added_only_when_the_store_is_told_to() {
    use verchain::folder::FrontMatterPolicy;
    let dir = fixture_copy("notes/v1");
    std::fs::write(dir.path().join("README.md"), "# The vault\n").unwrap();
    let adding = store(dir.path()).without_front_matter(FrontMatterPolicy::Add);
    // Version 4 wants a title, which a README has not: go to version 3.
    migrate::<Notes>(&adding, &to(3)).unwrap();
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(readme.starts_with("---\n"), "{readme}");
    assert!(readme.ends_with("---\n# The vault\n"), "{readme}");
    assert_eq!(
        readme.matches("---").count(),
        2,
        "one front matter: {readme}"
    );
}

#[test]
fn a_failed_command_leaves_no_state_folder_behind_on_a_store_it_created_it_in() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path());
    let state = dir.path().join(".verchain");
    // Each of these fails before changing anything.
    let failures: Vec<(&str, Failing<FolderStore>)> = vec![
        ("rollback with nothing to roll back", |s| {
            rollback::<Notes>(s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err()
        }),
        ("rollback to a snapshot that is not there", |s| {
            let to = RollbackTo::Snapshot("nope".into());
            rollback::<Notes>(s, &to, &RunOptions::default()).unwrap_err()
        }),
        ("rollback above the store's version", |s| {
            rollback::<Notes>(s, &RollbackTo::Version(3), &RunOptions::default()).unwrap_err()
        }),
        ("one step alone at a version no document is at", |s| {
            verchain::migrate_step::<Notes>(s, "split_tags", &RunOptions::default()).unwrap_err()
        }),
    ];
    for (what, fails) in failures {
        let err = fails(&s);
        assert!(err.store_unchanged(), "{what}: {err}");
        let left: Vec<_> = std::fs::read_dir(&state)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            !state.exists(),
            "{what} left {state:?} holding {left:?}: {err}"
        );
    }
    // A migration refused by validation, likewise.
    std::fs::write(
        dir.path().join("untitled.md"),
        "---\ncreated: 2024-01-01\n---\nNo title.\n",
    )
    .unwrap();
    let err = migrate::<Notes>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Validate);
    assert!(!state.exists(), "a refused migration left {state:?}");
    std::fs::remove_file(dir.path().join("untitled.md")).unwrap();
    assert_eq!(read_tree(dir.path()), before);
    // A store verchain already keeps files for keeps its folder and lock.
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    rollback::<Notes>(&s, &RollbackTo::Version(5), &RunOptions::default()).unwrap_err();
    assert!(state.join("lock").exists() && state.join("history.jsonl").exists());
}

/// A command that fails on a store, and its error.
type Failing<S> = fn(&S) -> verchain::RunError;

#[test]
fn a_damaged_journal_never_says_the_store_is_unchanged() {
    for damage in [
        &b""[..],
        b"{\"run_id\":\"r1\",\"ver",
        b"\x00\xff\x13 not json",
    ] {
        let dir = fixture_copy("notes/v1");
        let state = dir.path().join(".verchain");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("journal.json"), damage).unwrap();
        let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
        assert_eq!(err.stage, Stage::Recover, "{err}");
        assert!(
            !err.store_unchanged(),
            "a journal that cannot be read says nothing of its commit: {err}"
        );
        assert!(err.to_string().contains("journal.json"), "{err}");
    }
}

#[test]
fn a_rollback_leaves_alone_the_documents_the_run_did_not_change() {
    use std::os::unix::fs::MetadataExt;
    let dir = fixture_copy("notes/v1");
    // A note already at the chain's newest version: the run leaves it be.
    let current = fixture("notes/v4").remove("groceries.md").unwrap();
    std::fs::write(dir.path().join("current.md"), current).unwrap();
    let before = read_tree(dir.path());
    let s = store(dir.path());
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let inode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().ino();
    let (kept, changed) = (inode("current.md"), inode("groceries.md"));
    rollback::<Notes>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
    assert_eq!(inode("current.md"), kept, "an unchanged note was rewritten");
    assert_ne!(
        inode("groceries.md"),
        changed,
        "a changed note was not restored"
    );
}

/// A document saved, replaced, removed or created by someone else after the
/// run read the store (here, when its commit begins) is never overwritten
/// or lost: the commit is undone, naming it, and the store keeps the edit.
#[test]
fn a_document_changed_after_the_run_read_it_is_never_overwritten() {
    type Edit = fn(&Path);
    let edits: [(&str, Edit, &str); 4] = [
        (
            "groceries.md",
            |root| {
                let path = root.join("groceries.md");
                let mut text = std::fs::read_to_string(&path).unwrap();
                text.push_str("An edit saved during the run.\n");
                std::fs::write(&path, text).unwrap();
            },
            "its size went from",
        ),
        (
            "groceries.md",
            |root| {
                // Saved as editors do: a new file renamed over the old one.
                let path = root.join("groceries.md");
                let text = std::fs::read(&path).unwrap();
                std::fs::write(root.join("groceries.md.new"), text).unwrap();
                std::fs::rename(root.join("groceries.md.new"), &path).unwrap();
            },
            "replaced by another file",
        ),
        (
            "groceries.md",
            |root| std::fs::remove_file(root.join("groceries.md")).unwrap(),
            "it was removed",
        ),
        (
            "accents.md",
            |root| {
                // The same size and a new time: only the time tells.
                let path = root.join("accents.md");
                let text = std::fs::read(&path).unwrap();
                let file = std::fs::File::options().write(true).open(&path).unwrap();
                file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
                    .unwrap();
                drop(file);
                assert_eq!(std::fs::read(&path).unwrap(), text);
            },
            "modification time changed",
        ),
    ];
    for (document, edit, what) in edits {
        let dir = fixture_copy("notes/v1");
        let root = dir.path().to_owned();
        let edited = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = edited.clone();
        let options = RunOptions {
            observer: Some(verchain::Observer::new(move |e| {
                if let verchain::Event::StageStarted {
                    stage: Stage::Commit,
                    ..
                } = e
                {
                    edit(&root);
                    *seen.lock().unwrap() = Some(read_tree(&root));
                }
            })),
            ..RunOptions::default()
        };
        let err = migrate::<Notes>(&store(dir.path()), &options).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(document), "{document}: {message}");
        assert!(message.contains(what), "{document}: {message}");
        assert!(message.contains("put back"), "{document}: {message}");
        let after_edit = edited.lock().unwrap().take().expect("the commit began");
        assert_eq!(read_tree(dir.path()), after_edit, "{what}");
    }
}

/// A document with another name (a hard link, in the store or outside it)
/// is refused before anything is written, naming it: the run would put a
/// new file in its place and leave the other name with the old content. A
/// linked document the run leaves as it is is no obstacle.
#[cfg(unix)]
#[test]
fn a_hard_linked_document_the_run_changes_is_refused() {
    let dir = fixture_copy("notes/v1");
    let outside = tempfile::tempdir().unwrap();
    std::fs::hard_link(
        dir.path().join("groceries.md"),
        outside.path().join("backup.md"),
    )
    .unwrap();
    let before = read_tree(dir.path());
    for options in [dry(), RunOptions::default()] {
        let err = migrate::<Notes>(&store(dir.path()), &options).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("groceries.md"), "{message}");
        assert!(message.contains("2 hard links"), "{message}");
        assert_eq!(read_tree(dir.path()), before);
    }
    // Once it has a file of its own, the run goes through; the other name
    // keeps what it had.
    std::fs::remove_file(outside.path().join("backup.md")).unwrap();
    migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap();
}

/// More failures than a report lists: the first hundred are listed, and
/// the dry run, the run and `verify` all count every one.
#[test]
fn every_failure_is_counted_beyond_the_hundred_listed() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..150 {
        std::fs::write(
            dir.path().join(format!("n{i}.md")),
            format!("---\nstatus: done\n---\nbody {i}\n"),
        )
        .unwrap();
    }
    let report = migrate::<Notes>(&store(dir.path()), &dry()).unwrap();
    assert_eq!((report.failures.len(), report.failure_total), (100, 150));
    let err = migrate::<Notes>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("chain `notes`, stage `validate`: 150 records"),
        "{err}"
    );
    // At v4 without a title, every note is invalid there too.
    for i in 0..150 {
        std::fs::write(
            dir.path().join(format!("n{i}.md")),
            format!("---\nschema_version: 4\nstatus: done\n---\nbody {i}\n"),
        )
        .unwrap();
    }
    let verified = verchain::verify::<Notes>(&store(dir.path())).unwrap();
    assert_eq!(
        (verified.checked, verified.invalid, verified.failures.len()),
        (150, 150, 100)
    );
}

/// A rollback over two runs, undone: the store comes back at the version
/// it was at before the rollback, not at the version the first run left.
#[test]
fn undoing_a_rollback_over_two_runs_puts_back_the_last_version() {
    let dir = fixture_copy("notes/v1");
    let s = store(dir.path());
    let first = migrate::<Notes>(&s, &to(2)).unwrap();
    migrate::<Notes>(&s, &RunOptions::default()).unwrap();
    let migrated = read_tree(dir.path());
    let migrated_status = verchain::status::<Notes>(&s).unwrap();
    assert_eq!(migrated_status.stamp, Some(4));
    rollback::<Notes>(
        &s,
        &RollbackTo::Snapshot(first.snapshot.unwrap()),
        &RunOptions::default(),
    )
    .unwrap();
    let before = snapshot_the_rollback_took(&s);
    undo_the_rollback(&s, dir.path(), &before, &migrated, &migrated_status);
}
