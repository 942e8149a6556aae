//! The command line end to end: the real `xtask` binary (which runs
//! `verchain::cli`) on temporary copies of `fixtures/`.

use std::fs::File;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use verchain_tests::tree::{fixture, fixture_copy, mtimes, read_tree};

/// `cargo xtask <args> --chain notes --store <dir>`.
fn xtask(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .expect("the xtask binary")
        .args(args)
        .args(["--chain", "notes", "--store"])
        .arg(dir)
        .assert()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn json(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_str(stdout(assert).trim()).expect("one JSON document")
}

#[test]
fn a_dry_run_prints_the_plan_and_diffs_and_changes_no_byte() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let times = mtimes(dir.path());
    let out = xtask(dir.path(), &["migrate", "--dry-run", "--diff-limit", "2"]).success();
    let text = stdout(&out);
    assert!(text.contains("v1 → v2  add_status"), "{text}");
    assert!(text.contains("30 changed"), "{text}");
    assert!(text.contains("+schema_version: 4"), "{text}");
    assert!(text.contains("… and 28 more diffs"), "{text}");
    assert!(text.contains("dry run: nothing was written"), "{text}");
    assert_eq!(read_tree(dir.path()), before);
    assert_eq!(mtimes(dir.path()), times);
}

#[test]
fn migrate_status_rollback_status_round_trip_with_json() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let status = json(&xtask(dir.path(), &["status", "--json"]).success());
    assert_eq!(status["stamp"], Value::Null);
    assert_eq!(status["pending"].as_array().map(Vec::len), Some(3));

    let report = json(&xtask(dir.path(), &["migrate", "--json", "--no-diff"]).success());
    assert_eq!(report["counts"]["changed"], 30);
    assert_eq!(report["target"], 4);
    assert!(report["snapshot"].is_string());
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));

    let status = json(&xtask(dir.path(), &["--status", "--json"]).success());
    assert_eq!(status["stamp"], 4);
    assert_eq!(status["pending"].as_array().map(Vec::len), Some(0));
    assert_eq!(status["snapshots"], 1);

    let snapshots = json(&xtask(dir.path(), &["--list-snapshots", "--json"]).success());
    assert_eq!(snapshots["snapshots"][0]["files"], 30);

    xtask(dir.path(), &["--rollback"]).success();
    assert_eq!(read_tree(dir.path()), before);
    let status = json(&xtask(dir.path(), &["status", "--json"]).success());
    assert_eq!(status["stamp"], Value::Null);
    assert_eq!(status["last_run"]["outcome"], "rolled_back");
}

#[test]
fn to_accepts_v_prefixed_versions() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate", "--to", "v3"]).success();
    assert_eq!(read_tree(dir.path()), fixture("notes/v3"));
}

#[test]
fn exit_codes_tell_usage_failure_and_lock_apart() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate", "--bogus"]).code(2);
    let failed = xtask(dir.path(), &["migrate", "--to", "9"]).code(1);
    let err = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(
        err.contains("target version 9 is past the chain's current version 4"),
        "{err}"
    );
    assert!(err.contains("hint (notes): nothing was changed"), "{err}");
    Command::cargo_bin("xtask")
        .unwrap()
        .args(["status", "--chain", "nope"])
        .assert()
        .code(2);

    std::fs::create_dir_all(dir.path().join(".verchain")).unwrap();
    let lock = File::create(dir.path().join(".verchain/lock")).unwrap();
    lock.lock().unwrap();
    let locked = xtask(dir.path(), &["migrate"]).code(3);
    let err = String::from_utf8_lossy(&locked.get_output().stderr).into_owned();
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains("--wait"), "{err}");
    drop(lock);
    xtask(dir.path(), &["migrate"]).success();
}

#[test]
fn list_flags_an_applied_step_edited_since() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate"]).success();
    let history = dir.path().join(".verchain/history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let first = text.lines().next().unwrap();
    let mut record: Value = serde_json::from_str(first).unwrap();
    record["checksum"] = "v1:blake3:0000".into();
    let edited = text.replacen(first, &record.to_string(), 1);
    std::fs::write(&history, edited).unwrap();

    let out = stdout(&xtask(dir.path(), &["--list"]).success());
    let flagged: Vec<_> = out.lines().filter(|l| l.contains("[EDITED")).collect();
    assert_eq!(flagged.len(), 1, "{out}");
    assert!(flagged[0].contains("add_status"), "{out}");
    let rows = json(&xtask(dir.path(), &["list", "--json"]).success());
    let edited: Vec<_> = rows["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["edited_since_applied"] == true)
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(edited, ["add_status"]);
}

#[test]
fn verify_checks_documents_against_their_versions_schema_and_changes_nothing() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate"]).success();
    let out = stdout(&xtask(dir.path(), &["verify"]).success());
    assert!(out.contains("30 documents checked, 0 invalid"), "{out}");
    // A note that lost its title no longer fits `NoteV4`.
    let note = dir.path().join("groceries.md");
    let text = std::fs::read_to_string(&note).unwrap();
    std::fs::write(&note, text.replace("title: Weekly groceries\n", "")).unwrap();
    let before = read_tree(dir.path());
    let failed = xtask(dir.path(), &["verify", "--json"]).code(1);
    let report = json(&failed);
    assert_eq!(report["checked"], 30);
    assert_eq!(report["failures"][0]["path"], "groceries.md");
    assert_eq!(report["failures"][0]["version"], 4);
    let message = report["failures"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("missing field `title`"), "{message}");
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn new_adds_the_next_step_and_the_result_compiles() {
    // A workspace-shaped folder with a copy of the file that declares `Notes`.
    let work = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/notes/src/lib.rs");
    let copy = work.path().join("examples/notes/src/lib.rs");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&source, &copy).unwrap();
    let out = Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(work.path())
        .args(["new", "add_priority", "--chain", "notes"])
        .assert()
        .success();
    let said = stdout(&out);
    assert!(
        said.contains("added step `add_priority` (v4 → v5)"),
        "{said}"
    );
    let text = std::fs::read_to_string(&copy).unwrap();
    assert!(text.contains("current = 5"), "{text}");
    assert!(
        text.contains("#[::verchain::migration(chain = Notes, from = 4, to = 5)]"),
        "{text}"
    );
    // A second step of the same name is refused, and the file is left alone.
    Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(work.path())
        .args(["new", "add_priority", "--chain", "notes"])
        .assert()
        .code(1);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), text);
    // The scaffolded chain compiles and lists five versions.
    let program = work.path().join("scaffolded.rs");
    std::fs::write(
        &program,
        format!(
            "{text}\nfn main() {{\n    use verchain::Chain;\n    assert_eq!(Notes::CURRENT, 5);\n    \
             assert_eq!(Notes::steps().last().map(|s| s.id()), Some(\"add_priority\"));\n}}\n"
        ),
    )
    .unwrap();
    trybuild::TestCases::new().pass(&program);
}

#[test]
fn list_reports_a_damaged_history_instead_of_hiding_it() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate"]).success();
    let history = dir.path().join(".verchain/history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    std::fs::write(&history, format!("{{not json\n{text}")).unwrap();
    let failed = xtask(dir.path(), &["list"]).code(1);
    let err = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(err.contains("history.jsonl line 1"), "{err}");
}
