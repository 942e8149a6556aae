//! A folder of documents (the `notes` chain's fixture): a migration, a
//! snapshot restore and a `down` rollback, killed and failed.

use std::path::{Path, PathBuf};

use camino::Utf8Path;
use notes_example::Notes;
use tempfile::TempDir;
use verchain::{DirStore, HistoryRecord, RollbackTo, RunOptions};
use verchain_tests::tree::{fixture_copy, read_tree};

use crate::harness::{Scenario, failed, killed, killed_after_the_journal, reference, serial};

fn store(dir: &Path) -> DirStore {
    DirStore::new(Utf8Path::from_path(dir).unwrap())
}

fn fresh(prepare: fn(&DirStore)) -> (TempDir, PathBuf) {
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

fn migrate(s: &DirStore) {
    verchain::migrate::<Notes>(s, &RunOptions::default()).unwrap();
}

const MIGRATE: Scenario = Scenario {
    mode: "migrate",
    setup: || fresh(|_| {}),
    state: read_tree,
    reopen,
    history,
    finish: |dir| migrate(&store(dir)),
};

const RESTORE: Scenario = Scenario {
    mode: "rollback",
    setup: || fresh(migrate),
    state: read_tree,
    reopen,
    history,
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
fn recovery_refuses_a_damaged_staged_file_before_it_moves_anything() {
    let _one = serial();
    let old = reference(MIGRATE).old;
    let (_dir, path) = killed_after_the_journal(MIGRATE, ".verchain/journal.json");
    assert!(read_tree(&path) == old, "files moved before the kill");
    let staged = files_under(&path.join(".verchain/staging"));
    let victim = staged.first().expect("a staged file");
    let mut bytes = std::fs::read(victim).unwrap();
    bytes.push(b'!');
    std::fs::write(victim, bytes).unwrap();

    let err = verchain::recover::<Notes>(&store(&path)).unwrap_err();
    let said = err.to_string();
    assert!(said.contains("is not what the commit staged"), "{said}");
    assert!(
        said.contains("to give it up"),
        "says how to get out: {said}"
    );
    assert!(read_tree(&path) == old, "recovery moved files");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}
