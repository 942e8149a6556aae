//! A log (the `audit` chain's fixture) with a rotated file holding a
//! malformed line, which is quarantined, and a rotated file compressed with
//! zstd: a migration, a snapshot restore and a `down` rollback, killed and
//! failed.

use std::fs;
use std::path::{Path, PathBuf};

use audit_example::Audit;
use camino::Utf8Path;
use tempfile::TempDir;
use verchain::log::LogStore;
use verchain::run::HistoryRecord;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::tree::{fixture_copy, read_tree};

use crate::harness::{
    Scenario, Tree, failed, killed, killed_after_the_journal, reference, serial, shorted, undone,
};

fn store(log: &Path) -> LogStore {
    LogStore::new(Utf8Path::from_path(log).unwrap()).skip_malformed(true)
}

/// The fixture, a malformed line in `audit.jsonl.1` and an older rotated
/// file compressed, brought to where the run starts by `prepare`.
fn fresh(prepare: fn(&LogStore)) -> (TempDir, PathBuf) {
    let dir = fixture_copy("audit/v1");
    let rotated = dir.path().join("audit.jsonl.1");
    let mut text = fs::read(&rotated).unwrap();
    text.extend_from_slice(b"{\"ts\": \"2024-04-30T23:59:59Z\", \"actor\": \n");
    fs::write(&rotated, text).unwrap();
    let older = b"{\"ts\":\"2024-04-29T08:00:00Z\",\"actor\":\"dee\",\"action\":\"login\"}\n\
        {\"ts\":\"2024-04-29T08:10:00Z\",\"actor\":\"dee\",\"action\":\"logout\"}\n";
    let compressed = zstd::encode_all(&older[..], 3).unwrap();
    fs::write(dir.path().join("audit.jsonl.2.zst"), compressed).unwrap();
    let log = dir.path().join("audit.jsonl");
    prepare(&store(&log));
    (dir, log)
}

/// Every file in the log's folder, and every quarantine file, numbered in
/// run order (a committed run's quarantine file is part of what it commits;
/// one of a run that never committed must not be left behind).
fn state(log: &Path) -> Tree {
    let dir = log.parent().unwrap();
    let mut tree = read_tree(dir);
    for (i, path) in verchain::log::quarantined(&store(log))
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = path.file_name().unwrap_or_default().to_owned();
        tree.insert(format!("quarantine/{i}/{name}"), fs::read(path).unwrap());
    }
    tree
}

fn history(log: &Path) -> Vec<HistoryRecord> {
    verchain::history(&store(log)).expect("the history")
}

fn reopen(log: &Path) {
    let s = store(log);
    verchain::recover::<Audit>(&s).expect("recovery after the fault");
    let status = verchain::status::<Audit>(&s).expect("status after the fault");
    assert!(!status.interrupted);
}

fn migrate(s: &LogStore) {
    verchain::migrate::<Audit>(s, &RunOptions::default()).unwrap();
}

/// The store's status as the fault left it (which must read, whatever
/// the fault left).
fn status(log: &Path) -> verchain::Status {
    verchain::status::<Audit>(&store(log)).expect("status after the fault")
}

/// The store's snapshots.
fn snapshots(log: &Path) -> Vec<verchain::snapshot::SnapshotInfo> {
    verchain::snapshots(&store(log)).expect("the snapshots")
}

const MIGRATE: Scenario = Scenario {
    mode: "log-migrate",
    setup: || fresh(|_| {}),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |log| migrate(&store(log)),
};

const RESTORE: Scenario = Scenario {
    mode: "log-rollback",
    setup: || fresh(migrate),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |log| {
        verchain::rollback::<Audit>(&store(log), &RollbackTo::LastRun, &RunOptions::default())
            .unwrap();
    },
};

const DOWN: Scenario = Scenario {
    mode: "log-down",
    setup: || fresh(migrate),
    state,
    reopen,
    history,
    status,
    snapshots,
    finish: |log| {
        verchain::rollback::<Audit>(&store(log), &RollbackTo::Version(2), &RunOptions::default())
            .unwrap();
    },
};

#[test]
fn a_log_migration_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(MIGRATE, 1, 1);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_log_restore_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(RESTORE, 1, 1);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn a_log_down_rollback_killed_at_any_point_leaves_the_old_state_or_the_new() {
    let (olds, news) = killed(DOWN, 1, 1);
    assert!(olds > 0 && news > 0, "old {olds}, new {news}");
}

#[test]
fn io_errors_on_a_log_end_in_a_clear_error_and_a_whole_state() {
    failed(&[MIGRATE, RESTORE, DOWN], 2);
}

#[test]
fn short_writes_on_a_log_end_in_a_clear_error_or_a_whole_new_state() {
    shorted(&[MIGRATE, RESTORE, DOWN], 1);
}

/// The log's files, without the hidden new ones a run writes beside them.
fn logs(folder: &Path) -> Tree {
    let mut tree = read_tree(folder);
    tree.retain(|name, _| !name.starts_with('.'));
    tree
}

/// A run killed just after its commit journal was written, with one new
/// file then cut short; `moved` of the journal's renames done by hand
/// first, as a crash later in the commit would have left them.
fn cut_commit(moved: usize) -> (TempDir, PathBuf, Tree) {
    let (dir, log) = killed_after_the_journal(MIGRATE, ".verchain/audit.jsonl/journal.json");
    let journal: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.path().join(".verchain/audit.jsonl/journal.json")).unwrap(),
    )
    .unwrap();
    let renames = journal["renames"].as_array().unwrap();
    assert!(renames.len() > moved, "too few renames: {renames:?}");
    let at = |r: &serde_json::Value, key: &str| dir.path().join(r[key].as_str().unwrap());
    for r in &renames[..moved] {
        fs::rename(at(r, "from"), at(r, "to")).unwrap();
    }
    let victim = at(&renames[moved], "from");
    let len = fs::metadata(&victim).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let tree = logs(dir.path());
    (dir, log, tree)
}

#[test]
fn a_log_commit_that_cannot_finish_and_renamed_nothing_is_given_up() {
    let _one = serial();
    let reference = reference(MIGRATE);
    let (dir, log, before) = cut_commit(0);
    assert!(
        before == logs((MIGRATE.setup)().0.path()),
        "renamed before the kill"
    );

    assert!(verchain::recover::<Audit>(&store(&log)).unwrap());
    assert!(
        !dir.path()
            .join(".verchain/audit.jsonl/journal.json")
            .exists()
    );
    assert!(logs(dir.path()) == before);
    assert!(read_tree(dir.path()) == before, "new files left behind");
    let given_up = history(&log);
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
        verchain::snapshots(&store(&log)).unwrap().is_empty(),
        "the given-up run's snapshot is left"
    );
    migrate(&store(&log));
    assert!(state(&log) == reference.new);
}

#[test]
fn recovery_refuses_a_cut_new_log_file_once_the_commit_has_renamed_files() {
    let _one = serial();
    let (dir, log, before) = cut_commit(1);
    let err = verchain::recover::<Audit>(&store(&log)).unwrap_err();
    let said = err.to_string();
    assert!(said.contains("is not what the commit staged"), "{said}");
    assert!(
        said.contains("MANIFEST.json lists back into"),
        "says how to put the log's snapshot back: {said}"
    );
    assert!(logs(dir.path()) == before, "recovery renamed files");
}

/// A commit that fails part way (a document that cannot be replaced) puts
/// back what it had done in the same run: the store is as it was, and the
/// run says so.
#[test]
fn a_log_commit_that_fails_part_way_puts_back_what_it_did() {
    assert!(
        undone(MIGRATE, ".verchain/audit.jsonl/journal.json", 2) > 0,
        "migrate: no commit failed part way"
    );
    assert!(
        undone(DOWN, ".verchain/audit.jsonl/journal.json", 2) > 0,
        "down: no commit failed part way"
    );
}
