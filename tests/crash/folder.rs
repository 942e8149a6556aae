//! A folder of documents (the `notes` chain's fixture): a migration, a
//! snapshot restore and a `down` rollback, killed and failed.

use std::path::{Path, PathBuf};

use camino::Utf8Path;
use notes_example::Notes;
use tempfile::TempDir;
use verchain::folder::FolderStore;
use verchain::run::HistoryRecord;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::tree::{fixture_copy, read_tree};

use crate::harness::{
    Scenario, Tree, failed, killed, killed_after_the_journal, reference, serial, shorted, undone,
};

fn store(dir: &Path) -> FolderStore {
    FolderStore::new(Utf8Path::from_path(dir).unwrap())
}

fn fresh(prepare: fn(&FolderStore)) -> (TempDir, PathBuf) {
    let dir = fixture_copy("notes/v1");
    prepare(&store(dir.path()));
    let path = dir.path().to_owned();
    (dir, path)
}

fn history(dir: &Path) -> Vec<HistoryRecord> {
    verchain::history(&store(dir)).expect("the history")
}

fn reopen(dir: &Path) {
    let s = store(dir);
    verchain::recover::<Notes>(&s).expect("recovery after the fault");
    let status = verchain::status::<Notes>(&s).expect("status after the fault");
    assert!(!status.interrupted);
}

fn migrate(s: &FolderStore) {
    verchain::migrate::<Notes>(s, &RunOptions::default()).unwrap();
}

/// The store's status as the fault left it (which must read, whatever
/// the fault left).
fn status(dir: &Path) -> verchain::Status {
    verchain::status::<Notes>(&store(dir)).expect("status after the fault")
}

/// The store's snapshots.
fn snapshots(dir: &Path) -> Vec<verchain::snapshot::SnapshotInfo> {
    verchain::snapshots(&store(dir)).expect("the snapshots")
}

const MIGRATE: Scenario = Scenario {
    mode: "migrate",
    setup: || fresh(|_| {}),
    state: read_tree,
    reopen,
    history,
    status,
    snapshots,
    finish: |dir| migrate(&store(dir)),
};

const RESTORE: Scenario = Scenario {
    mode: "rollback",
    setup: || fresh(migrate),
    state: read_tree,
    reopen,
    history,
    status,
    snapshots,
    finish: |dir| {
        verchain::rollback::<Notes>(&store(dir), &RollbackTo::LastRun, &RunOptions::default())
            .unwrap();
    },
};

const DOWN: Scenario = Scenario {
    mode: "down",
    setup: || {
        fresh(|s| {
            let to3 = RunOptions {
                target: Some(3),
                ..RunOptions::default()
            };
            verchain::migrate::<Notes>(s, &to3).unwrap();
        })
    },
    state: read_tree,
    reopen,
    history,
    status,
    snapshots,
    finish: |dir| {
        verchain::rollback::<Notes>(&store(dir), &RollbackTo::Version(2), &RunOptions::default())
            .unwrap();
    },
};

#[test]
fn a_migration_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(MIGRATE, 1, 2);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_restore_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(RESTORE, 2, 3);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_down_rollback_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(DOWN, 3, 3);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn io_errors_end_in_a_clear_error_and_a_whole_state() {
    failed(&[MIGRATE, RESTORE, DOWN], 9);
}

#[test]
fn short_writes_end_in_a_clear_error_or_a_whole_new_state() {
    shorted(&[MIGRATE, RESTORE, DOWN], 3);
}

/// A run killed just after its commit journal was written, with one staged
/// file then damaged; `moved` of the journal's writes done by hand first,
/// as a crash later in the commit would have left them.
fn damaged_commit(moved: usize) -> (tempfile::TempDir, PathBuf, Tree) {
    let (dir, path) = killed_after_the_journal(MIGRATE, ".verchain/journal.json");
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join(".verchain/journal.json")).unwrap())
            .unwrap();
    let staging = path.join(journal["staging"].as_str().unwrap());
    let writes: Vec<&str> = journal["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["op"] == "write")
        .map(|op| op["path"].as_str().unwrap())
        .collect();
    assert!(writes.len() > moved, "too few writes: {writes:?}");
    for rel in &writes[..moved] {
        std::fs::rename(staging.join(rel), path.join(rel)).unwrap();
    }
    let victim = staging.join(writes[moved]);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.push(b'!');
    std::fs::write(&victim, bytes).unwrap();
    let tree = read_tree(&path);
    (dir, path, tree)
}

#[test]
fn a_commit_that_cannot_finish_and_moved_nothing_is_given_up() {
    let _one = serial();
    let reference = reference(MIGRATE);
    let (_dir, path, before) = damaged_commit(0);
    assert!(before == reference.old, "files moved before the kill");

    assert!(verchain::recover::<Notes>(&store(&path)).unwrap());
    assert!(read_tree(&path) == reference.old);
    assert!(!path.join(".verchain/journal.json").exists());
    assert!(!path.join(".verchain/staging").exists());
    let given_up = history(&path);
    assert!(!given_up.is_empty());
    for record in &given_up {
        assert_eq!(
            record.outcome,
            verchain::run::Outcome::Abandoned,
            "{record:?}"
        );
        assert_eq!(record.snapshot, None);
        assert!(record.description.starts_with("GIVEN UP BY RECOVERY"));
    }
    assert!(
        verchain::snapshots(&store(&path)).unwrap().is_empty(),
        "the given-up run's snapshot is left"
    );
    // The next run does the migration again, whole.
    migrate(&store(&path));
    assert!(read_tree(&path) == reference.new);
}

#[test]
fn recovery_refuses_a_damaged_staged_file_once_the_commit_has_moved_files() {
    let _one = serial();
    let (_dir, path, before) = damaged_commit(1);
    let err = verchain::recover::<Notes>(&store(&path)).unwrap_err();
    let said = err.to_string();
    assert!(said.contains("is not what the commit staged"), "{said}");
    assert!(
        said.contains("to give it up"),
        "says how to get out: {said}"
    );
    assert!(read_tree(&path) == before, "recovery moved files");
}

/// A commit that fails part way (a document that cannot be replaced) puts
/// back what it had done in the same run: the store is as it was, and the
/// run says so.
#[test]
fn a_commit_that_fails_part_way_puts_back_what_it_did() {
    assert!(
        undone(MIGRATE, ".verchain/journal.json", 5) > 0,
        "migrate: no commit failed part way"
    );
    assert!(
        undone(DOWN, ".verchain/journal.json", 5) > 0,
        "down: no commit failed part way"
    );
}
