//! Several runners on one store at once, each in a process of its own:
//! exactly one migrates, the others wait for it (or are told the store is
//! locked), nothing is corrupt, and a killed runner's lock is no obstacle.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use verchain_tests::tree::{fixture, fixture_copy, read_tree};

const RUNNERS: usize = 8;

fn runner(mode: &str, store: &Path, go: Option<&Path>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command.arg(mode).arg(store);
    if let Some(go) = go {
        command.arg(go);
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a runner")
}

/// Starts `RUNNERS` runners, lets them all go at once, and returns what
/// each said, sorted.
fn race(mode: &str, store: &Path) -> Vec<String> {
    let gate = tempfile::tempdir().unwrap();
    let go = gate.path().join("go");
    let children: Vec<Child> = (0..RUNNERS)
        .map(|_| runner(mode, store, Some(&go)))
        .collect();
    std::fs::write(&go, "").unwrap();
    let mut said: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect();
    said.sort();
    said
}

fn runs_in_history(store: &Path) -> usize {
    let text = std::fs::read_to_string(store.join(".verchain/history.jsonl")).unwrap();
    let mut runs: Vec<String> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["run_id"].as_str().unwrap().to_owned()
        })
        .collect();
    runs.dedup();
    runs.len()
}

#[test]
fn of_eight_startups_at_once_one_migrates_and_the_rest_find_the_store_current() {
    let dir = fixture_copy("notes/v1");
    let said = race("startup", dir.path());
    let mut want = vec!["up-to-date".to_owned(); RUNNERS - 1];
    want.insert(0, "migrated".to_owned());
    assert_eq!(said, want);
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
    assert_eq!(runs_in_history(dir.path()), 1);
}

#[test]
fn runners_told_not_to_wait_are_refused_or_find_nothing_to_do() {
    let dir = fixture_copy("notes/v1");
    let said = race("migrate", dir.path());
    assert_eq!(
        said.iter().filter(|s| *s == "migrated").count(),
        1,
        "{said:?}"
    );
    assert!(
        said.iter()
            .all(|s| ["migrated", "locked", "nothing-to-do"].contains(&s.as_str())),
        "{said:?}"
    );
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
    assert_eq!(runs_in_history(dir.path()), 1);
}

#[test]
fn a_runner_killed_while_holding_the_lock_leaves_the_store_as_it_was_and_unlocked() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let mut holder = runner("hold", dir.path(), None);
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding");
    // While it holds the lock, another runner is refused at once.
    let refused = runner("migrate", dir.path(), None)
        .wait_with_output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&refused.stdout).trim(), "locked");

    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(read_tree(dir.path()), before);
    let staging = dir.path().join(".verchain/staging");
    assert!(staging.exists(), "the killed run had staged its documents");
    let next = runner("startup", dir.path(), None)
        .wait_with_output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&next.stdout).trim(), "migrated");
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
    let left = std::fs::read_dir(&staging).map_or(0, Iterator::count);
    assert_eq!(left, 0, "the next run removes what the killed one staged");
}

/// The `forms` chain's database for runners, or `None` where this binary
/// has no PostgreSQL server (it said why).
fn forms(name: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    verchain_tests::postgres_db::forms_for_runner(name)
}

fn runs_in(url_file: &Path) -> usize {
    let store = verchain_tests::postgres_db::store_in(url_file);
    let mut runs: Vec<String> = verchain::history(&store)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    runs.dedup();
    runs.len()
}

fn forms_dump(url_file: &Path) -> String {
    let url = verchain_tests::postgres_db::url_in(url_file);
    verchain_tests::postgres_db::dump(&url, "public")
}

fn golden_forms(version: u32) -> String {
    std::fs::read_to_string(format!(
        "{}/../fixtures/forms/v{version}.golden",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn of_eight_application_instances_starting_at_once_on_one_database_one_migrates() {
    let Some((_dir, url_file)) = forms("eight_startups") else {
        return;
    };
    let said = race("pg-startup", &url_file);
    let mut want = vec!["up-to-date".to_owned(); RUNNERS - 1];
    want.insert(0, "migrated".to_owned());
    assert_eq!(said, want);
    assert_eq!(forms_dump(&url_file), golden_forms(5));
    assert_eq!(runs_in(&url_file), 1);
}

#[test]
fn a_runner_killed_while_holding_the_database_lock_frees_it_and_changes_nothing() {
    let Some((_dir, url_file)) = forms("killed_holder") else {
        return;
    };
    let before = forms_dump(&url_file);
    let mut holder = runner("pg-hold", &url_file, None);
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "holding");
    // While it holds the lock, a runner that does not wait is refused.
    let refused = runner("pg-migrate", &url_file, None)
        .wait_with_output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&refused.stdout).trim(), "locked");

    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(
        forms_dump(&url_file),
        before,
        "the server rolled the run back"
    );
    let next = runner("pg-startup", &url_file, None)
        .wait_with_output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&next.stdout).trim(), "migrated");
    assert_eq!(forms_dump(&url_file), golden_forms(5));
    assert_eq!(runs_in(&url_file), 1, "the killed run left no history");
}
