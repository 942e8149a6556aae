//! The command line end to end: the real `xtask` binary (which runs
//! `verchain::cli`) on temporary copies of `fixtures/`.

use std::fs::File;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use verchain_tests::tree::{fixture, fixture_copy, mtimes, read_tree, write_tree};

/// `cargo xtask <args> --chain notes --store <dir>`.
fn xtask(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    on_chain("notes", dir, args)
}

/// `cargo xtask <args> --chain <chain> --store <dir>`.
fn on_chain(chain: &str, dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .expect("the xtask binary")
        .args(args)
        .args(["--chain", chain, "--store"])
        .arg(dir)
        .assert()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn json(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_str(stdout(assert).trim()).expect("one JSON document")
}

/// Every line of stdout, each a JSON event.
fn events(assert: &assert_cmd::assert::Assert) -> Vec<Value> {
    stdout(assert)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().expect("an `event` field"))
        .collect()
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
    let quiet = stdout(&xtask(dir.path(), &["migrate", "--dry-run", "--no-diff"]).success());
    assert!(!quiet.contains("more diffs"), "{quiet}");

    // A dry run that finds a document the real run would refuse fails as
    // the real run would: it can gate a deployment.
    std::fs::write(
        dir.path().join("projects/untitled.md"),
        "---\ncreated: 2024-01-01\n---\nNo title.\n",
    )
    .unwrap();
    let before = read_tree(dir.path());
    let failed = xtask(dir.path(), &["migrate", "--dry-run", "--no-diff"]).code(1);
    let text = stdout(&failed);
    assert!(text.contains("invalid: projects/untitled.md"), "{text}");
    assert!(text.contains("dry run: nothing was written"), "{text}");
    let err = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(err.contains("stage `validate`"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn migrate_status_rollback_status_round_trip_with_json() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    let status = json(&xtask(dir.path(), &["status", "--json"]).success());
    assert_eq!(status["stamp"], Value::Null);
    assert_eq!(status["pending"].as_array().map(Vec::len), Some(3));

    let stream = events(&xtask(dir.path(), &["migrate", "--json", "--no-diff"]).success());
    let mut seen = names(&stream);
    seen.dedup();
    assert_eq!(
        seen,
        [
            "stage_started",
            "progress",
            "run_started",
            "step_started",
            "stage_started",
            "progress",
            "step_finished",
            "stage_started",
            "snapshot_written",
            "stage_started",
            "progress",
            "committed",
            "report"
        ]
    );
    assert_eq!(stream[0]["stage"], "detect");
    let started = stream.iter().find(|e| e["event"] == "run_started").unwrap();
    assert_eq!(started["records"], 30);
    assert_eq!(started["plan"].as_array().map(Vec::len), Some(3));
    let progress: Vec<&Value> = stream.iter().filter(|e| e["event"] == "progress").collect();
    assert!(
        progress
            .iter()
            .all(|p| p["done"].as_u64() <= p["total"].as_u64())
    );
    assert_eq!(progress.last().map(|p| &p["done"]), Some(&Value::from(30)));
    let report = stream.last().unwrap();
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

    let stream = events(&xtask(dir.path(), &["--rollback", "--json"]).success());
    let mut seen = names(&stream);
    seen.dedup();
    assert_eq!(
        seen,
        [
            "run_started",
            "stage_started",
            "snapshot_written",
            "stage_started",
            "progress",
            "rolled_back",
            "report"
        ]
    );
    assert_eq!(stream[0]["direction"], "restore");
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
    // Nothing to roll back, or no such snapshot: a plain failure, not the
    // "needs attention" of a half-finished commit.
    let before = read_tree(dir.path());
    for args in [&["rollback"][..], &["rollback", "--snapshot", "nope"]] {
        let refused = xtask(dir.path(), args).code(1);
        let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
        assert!(err.contains("nothing was changed"), "{err}");
    }
    let refused = xtask(dir.path(), &["rollback", "--to", "3"]).code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        err.contains("target version 3 is above the store's version 1") && err.contains("migrate"),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);
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

    // Runs are refused until the step is restored, or --allow-changed says so.
    let status = stdout(&xtask(dir.path(), &["status"]).success());
    assert!(status.contains("EDITED: step `add_status`"), "{status}");
    let refused = xtask(dir.path(), &["migrate"]).code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("was edited after it was applied"), "{err}");
    assert!(err.contains("`list` flags every edited step"), "{err}");
    xtask(dir.path(), &["migrate", "--allow-changed"]).success();
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
    // A step of a log's chain takes a log record, and goes before the
    // file's tests.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/audit/src/lib.rs");
    let copy = work.path().join("examples/audit/src/lib.rs");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&source, &copy).unwrap();
    Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(work.path())
        .args(["new", "add_host", "--chain", "audit"])
        .assert()
        .success();
    let log_text = std::fs::read_to_string(&copy).unwrap();
    let step = log_text
        .find("pub fn add_host(record: &mut ::verchain::log::LogRecord)")
        .expect(&log_text);
    assert!(step < log_text.find("#[cfg(test)]").unwrap(), "{log_text}");
    let log_program = work.path().join("scaffolded_log.rs");
    std::fs::write(
        &log_program,
        format!(
            "{log_text}\nfn main() {{\n    use verchain::Chain;\n    assert_eq!(Audit::CURRENT, 4);\n}}\n"
        ),
    )
    .unwrap();
    let cases = trybuild::TestCases::new();
    cases.pass(&program);
    cases.pass(&log_program);
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

#[test]
fn id_runs_one_step_alone_only_when_confirmed_and_history_says_so() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    // Not at a terminal and no --yes: refused before anything is touched.
    let refused = xtask(dir.path(), &["migrate", "--id", "add_status"]).code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());

    let unknown = xtask(dir.path(), &["migrate", "--id", "add_stat", "--yes"]).code(2);
    let err = String::from_utf8_lossy(&unknown.get_output().stderr).into_owned();
    assert!(
        err.contains("no step `add_stat`; its steps: add_status, rename_created, split_tags"),
        "{err}"
    );

    // A step whose `from` no document is at has nothing to run: said so,
    // and nothing is recorded.
    let nothing = xtask(dir.path(), &["migrate", "--id", "split_tags", "--yes"]).code(1);
    let err = String::from_utf8_lossy(&nothing.get_output().stderr).into_owned();
    assert!(
        err.contains("step `split_tags` reads v3, and no record is at v3: nothing to run"),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain/history.jsonl").exists());

    xtask(dir.path(), &["migrate", "--id", "add_status", "--yes"]).success();
    assert_eq!(read_tree(dir.path()), fixture("notes/v2"));
    let history = std::fs::read_to_string(dir.path().join(".verchain/history.jsonl")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["operator_override"], true);
    assert!(
        last["description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("OPERATOR OVERRIDE"),
        "{last}"
    );
    let status = stdout(&xtask(dir.path(), &["status"]).success());
    assert!(status.contains("[OPERATOR OVERRIDE"), "{status}");
    // The normal run takes over from there.
    xtask(dir.path(), &["migrate"]).success();
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
}

#[test]
fn json_errors_are_events_with_the_exit_code() {
    let dir = fixture_copy("notes/v1");
    std::fs::create_dir_all(dir.path().join(".verchain")).unwrap();
    let lock = File::create(dir.path().join(".verchain/lock")).unwrap();
    lock.lock().unwrap();
    let locked = xtask(dir.path(), &["migrate", "--json"]).code(3);
    let error = json(&locked);
    assert_eq!(error["event"], "error");
    assert_eq!(error["stage"], "lock");
    assert_eq!(error["exit_code"], 3);
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is locked by")
    );
    // Usage errors too, whether clap or the command finds them.
    for args in [
        &["migrate", "--json", "--dryrun"][..],
        &["migrate", "--json", "--chain", "nope"],
        &["migrate", "--json", "--id", "add_status"],
    ] {
        let refused = Command::cargo_bin("xtask")
            .unwrap()
            .args(args)
            .args(["--store"])
            .arg(dir.path())
            .assert()
            .code(2);
        let error = json(&refused);
        assert_eq!(error["event"], "error", "{args:?}");
        assert_eq!(error["exit_code"], 2, "{args:?}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn quiet_prints_nothing_and_verbose_prints_each_step() {
    let dir = fixture_copy("notes/v1");
    let quiet = xtask(dir.path(), &["migrate", "--to", "2", "-q"]).success();
    assert_eq!(stdout(&quiet), "");
    assert!(quiet.get_output().stderr.is_empty());
    let verbose = xtask(dir.path(), &["migrate", "-v"]).success();
    let err = String::from_utf8_lossy(&verbose.get_output().stderr).into_owned();
    assert!(
        err.contains("step rename_created (v2 → v3): 30 changed"),
        "{err}"
    );
    assert!(err.contains("stage: 30/30"), "{err}");
    assert!(err.contains("committed at v4"), "{err}");
}

#[test]
fn prune_asks_first_and_keeps_the_newest() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate", "--to", "2"]).success();
    xtask(dir.path(), &["migrate"]).success();
    xtask(dir.path(), &["snapshots", "--prune", "--keep", "1"]).code(2);
    assert_eq!(
        json(&xtask(dir.path(), &["snapshots", "--json"]).success())["snapshots"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let pruned = json(
        &xtask(
            dir.path(),
            &["snapshots", "--prune", "--keep", "1", "--yes", "--json"],
        )
        .success(),
    );
    assert_eq!(pruned["snapshots"].as_array().map(Vec::len), Some(1));
    let left = json(&xtask(dir.path(), &["snapshots", "--json"]).success());
    assert_eq!(left["snapshots"].as_array().map(Vec::len), Some(1));
    assert_eq!(left["snapshots"][0]["to"], 4);
    // Keeping none removes the snapshot `rollback` needs: said so.
    let asked = xtask(dir.path(), &["snapshots", "--prune", "--keep", "0"]).code(2);
    let err = String::from_utf8_lossy(&asked.get_output().stderr).into_owned();
    assert!(err.contains("the one a plain `rollback` restores"), "{err}");
    let pruned = xtask(
        dir.path(),
        &["snapshots", "--prune", "--keep", "0", "--yes"],
    )
    .success();
    let err = String::from_utf8_lossy(&pruned.get_output().stderr).into_owned();
    assert!(err.starts_with("warning: This removes snapshot"), "{err}");
}

/// A workspace of its own whose Cargo.toml names the store of `notes`.
fn workspace_with_store(stores: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\n\n[workspace.metadata.verchain.stores]\n{stores}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(work.path().join("src/deep")).unwrap();
    work
}

#[test]
fn the_workspace_cargo_toml_says_where_stores_are_from_any_folder() {
    let work = workspace_with_store("notes = \"data/notes\"");
    let store = work.path().join("data/notes");
    write_tree(&store, &fixture("notes/v1"));
    let out = Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(work.path().join("src/deep"))
        .args(["migrate", "--chain", "notes", "--no-diff"])
        .assert()
        .success();
    let said = stdout(&out);
    assert!(said.contains(&format!("in {}", store.display())), "{said}");
    assert_eq!(read_tree(&store), fixture("notes/v4"));
}

/// What a person reads, with the temporary folder and the clock taken out.
fn readable(dir: &Path, bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(&dir.display().to_string(), "[STORE]")
}

macro_rules! assert_readable {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![(r"\d{4}-\d{2}-\d{2}T\d{2}[-:]\d{2}[-:]\d{2}(\.\d+Z|-\d+-\d+)?", "[TIME]")],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

#[test]
fn human_output_reads_as_reviewed() {
    let dir = fixture_copy("notes/v1");
    let status = xtask(dir.path(), &["status"]).success();
    assert_readable!(
        "status_fresh",
        readable(dir.path(), &status.get_output().stdout)
    );
    let plan = xtask(dir.path(), &["migrate", "--dry-run", "--diff-limit", "1"]).success();
    assert_readable!("dry_run", readable(dir.path(), &plan.get_output().stdout));
    let list = xtask(dir.path(), &["list"]).success();
    assert_readable!("list", readable(dir.path(), &list.get_output().stdout));

    xtask(dir.path(), &["migrate"]).success();
    let status = xtask(dir.path(), &["status"]).success();
    assert_readable!(
        "status_migrated",
        readable(dir.path(), &status.get_output().stdout)
    );

    // A note without a title fails v4's schema: exit 1, nothing changed.
    let dir = fixture_copy("notes/v1");
    std::fs::write(
        dir.path().join("untitled.md"),
        "---\ntags: x\n---\nno title\n",
    )
    .unwrap();
    let failed = xtask(dir.path(), &["migrate"]).code(1);
    assert_readable!(
        "failed_migration",
        readable(dir.path(), &failed.get_output().stderr)
    );
}

#[test]
fn an_sqlite_chain_answers_the_same_commands() {
    let (dir, db) = verchain_tests::sqlite_db::create(agentdb_example::V1_SQL, "agent.db");
    let before = verchain_tests::sqlite_db::dump(&db);
    let run = |args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .args(args)
            .args(["--chain", "agentdb", "--store"])
            .arg(&db)
            .assert()
    };
    let refused = run(&["rollback", "--to", "3"]).code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("is above the store's version 1"), "{err}");
    assert_eq!(verchain_tests::sqlite_db::dump(&db), before);
    let plan = stdout(&run(&["migrate", "--dry-run"]).success());
    assert!(plan.contains("v4 → v5  rebuild_routers"), "{plan}");
    assert!(plan.contains("# table `routers`"), "{plan}");
    assert_eq!(verchain_tests::sqlite_db::dump(&db), before);

    let stream = events(&run(&["migrate", "--json"]).success());
    let seen: Vec<&str> = names(&stream);
    assert_eq!(seen.iter().filter(|e| **e == "step_finished").count(), 4);
    assert!(
        seen.contains(&"snapshot_written") && seen.contains(&"committed"),
        "{seen:?}"
    );
    assert_eq!(stream.last().unwrap()["target"], 5);
    let status = json(&run(&["status", "--json"]).success());
    assert_eq!(status["stamp"], 5);
    assert_eq!(
        status["last_run"]["steps"].as_array().map(Vec::len),
        Some(4)
    );
    let listed = stdout(&run(&["list"]).success());
    assert!(listed.contains("promote_router_region"), "{listed}");
    run(&["verify"]).success();
    // One step alone runs only on a database at its `from` version.
    run(&["migrate", "--id", "rebuild_routers", "--yes"]).code(1);

    run(&["rollback"]).success();
    assert_eq!(verchain_tests::sqlite_db::dump(&db), before);
    let status = json(&run(&["status", "--json"]).success());
    assert_eq!(status["last_run"]["outcome"], "rolled_back");
    drop(dir);
}

#[test]
fn a_log_chain_answers_the_same_commands() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let log = dir.path().join("audit.jsonl");
    let run = |args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .args(args)
            .args(["--chain", "audit", "--store"])
            .arg(&log)
            .assert()
    };
    let refused = run(&["rollback", "--to", "3"]).code(1);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("is above the store's version 1"), "{err}");
    let plan = stdout(&run(&["migrate", "--dry-run"]).success());
    assert!(plan.contains("v2 → v3  rename_actor"), "{plan}");
    assert_eq!(read_tree(dir.path()), before);

    let stream = events(&run(&["migrate", "--json"]).success());
    assert!(names(&stream).contains(&"committed"), "{stream:?}");
    assert_eq!(stream.last().unwrap()["target"], 3);
    assert_eq!(read_tree(dir.path()), fixture("audit/v3"));
    let status = json(&run(&["status", "--json"]).success());
    assert_eq!(
        status["last_run"]["steps"].as_array().map(Vec::len),
        Some(2)
    );
    run(&["verify"]).success();

    run(&["rollback"]).success();
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn skip_malformed_quarantines_bad_lines_of_a_log_and_nothing_else() {
    let dir = fixture_copy("audit/v1");
    let log = dir.path().join("audit.jsonl");
    let bad = "{\"ts\": \"2024-05-01T10:00:00Z\", \"actor\": \n";
    let mut text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().count() + 1;
    text.push_str(bad);
    std::fs::write(&log, &text).unwrap();
    let before = read_tree(dir.path());
    let run = |chain: &str, store: &Path, args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .args(args)
            .args(["--chain", chain, "--store"])
            .arg(store)
            .assert()
    };

    // Without the flag the run stops at the line, and writes nothing.
    let out = run("audit", &log, &["migrate"]).failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("audit.jsonl") && err.contains(&format!("line {line}")),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);

    // A dry run says what it would move, and moves nothing.
    let said = stdout(&run("audit", &log, &["migrate", "--skip-malformed", "--dry-run"]).success());
    assert!(
        said.contains("1 malformed line(s) would be moved"),
        "{said}"
    );
    assert_eq!(read_tree(dir.path()), before);

    // With it the line moves, unchanged, to the quarantine, and is counted.
    let said = stdout(&run("audit", &log, &["migrate", "--skip-malformed"]).success());
    assert!(said.contains("1 malformed line(s) moved"), "{said}");
    let quarantine = dir.path().join(".verchain/audit.jsonl/quarantine");
    let runs: Vec<_> = std::fs::read_dir(&quarantine).unwrap().flatten().collect();
    assert_eq!(runs.len(), 1);
    // The report names the run's own quarantine folder.
    assert!(
        said.contains(&format!("{}/", runs[0].path().display())),
        "{said}"
    );
    let kept = std::fs::read_to_string(runs[0].path().join("audit.jsonl.malformed")).unwrap();
    assert_eq!(kept, bad);
    assert!(!std::fs::read_to_string(&log).unwrap().contains(bad));
    let history =
        std::fs::read_to_string(dir.path().join(".verchain/audit.jsonl/history.jsonl")).unwrap();
    let first: Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    assert_eq!(first["counts"]["quarantined"], 1, "{history}");

    // It needs `--chain`, and a folder of documents refuses it.
    let notes = fixture_copy("notes/v1");
    let notes_before = read_tree(notes.path());
    let out = Command::cargo_bin("xtask")
        .unwrap()
        .args(["migrate", "--skip-malformed"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--chain"), "{err}");
    let out = run("notes", notes.path(), &["migrate", "--skip-malformed"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("is not supported"), "{err}");
    assert_eq!(read_tree(notes.path()), notes_before);
}

#[test]
fn commands_started_at_once_create_the_demo_stores_once() {
    let demo = tempfile::tempdir().unwrap();
    let root = demo.path().join("verchain-demo");
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("xtask"))
                .arg("status")
                .env("VERCHAIN_DEMO_DIR", &root)
                .env("NO_COLOR", "1")
                .env("VERCHAIN_DEMO_POSTGRES", "off")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut created = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        created += stderr.matches("created ").count();
    }
    // Each of the four stores was announced by exactly one process.
    assert_eq!(created, 4);
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["agentdb", "audit", "config", "notes"]);
    assert_eq!(read_tree(&root.join("notes")), fixture("notes/v1"));
    assert_eq!(read_tree(&root.join("audit")), fixture("audit/v1"));
    let agentdb: Vec<_> = std::fs::read_dir(root.join("agentdb")).unwrap().collect();
    assert_eq!(agentdb.len(), 1, "only agent.db, no building folder left");
}

#[test]
fn a_reader_that_goes_away_is_no_crash_and_the_run_completes() {
    let dir = fixture_copy("notes/v1");
    let xtask = assert_cmd::cargo::cargo_bin("xtask");
    // Standard output closed: every line printed fails to write.
    for command in ["status", "migrate --json"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' {command} --chain notes --store '{}' >&-",
                xtask.display(),
                dir.path().display()
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command}: {stderr}");
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    }
    assert_eq!(read_tree(dir.path()), fixture("notes/v4"));
}

#[test]
fn a_mistyped_store_path_is_an_error_and_nothing_is_created_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a-folder")).unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    for (chain, store, command) in [
        ("audit", at("missing.jsonl"), "migrate"),
        ("audit", at("missing.jsonl"), "status"),
        ("audit", at("a-folder"), "migrate"),
        ("agentdb", at("a-folder"), "migrate"),
        ("agentdb", at("missing.db"), "migrate"),
        ("notes", at("missing"), "snapshots"),
        ("notes", at("missing"), "migrate"),
    ] {
        let out = Command::cargo_bin("xtask")
            .unwrap()
            .args([command, "--chain", chain, "--store", &store])
            .assert()
            .code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(&store), "{chain} {command} {store}: {err}");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a-folder"], "{chain} {command} {store}");
    }
}

/// `cargo xtask <args>` as a user types it, on the demo stores in `demo`
/// (created there on first use), with no `--store`.
fn demo(demo: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .expect("the xtask binary")
        .args(args)
        .env("VERCHAIN_DEMO_DIR", demo)
        .env("NO_COLOR", "1")
        // Each command would start the demo's PostgreSQL server: only the
        // test of that chain does.
        .env("VERCHAIN_DEMO_POSTGRES", "off")
        .assert()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// Each chain's `report` event, by chain.
fn reports(stream: &[Value]) -> Vec<(&str, &Value)> {
    stream
        .iter()
        .filter(|e| e["event"] == "report")
        .map(|e| (e["chain"].as_str().unwrap_or_default(), e))
        .collect()
}

#[test]
fn the_older_spellings_after_migrate_run_their_commands() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().join("verchain-demo");
    let notes = root.join("notes");
    let chains = ["notes", "config", "agentdb", "audit"];

    let status = demo(&root, &["migrate", "--status"]).success();
    let text = stdout(&status);
    for chain in chains {
        assert!(text.contains(&format!("chain `{chain}` in ")), "{text}");
    }
    assert!(text.contains("pending: v1 → v2  add_status"), "{text}");
    assert!(!text.contains("committed"), "{text}");
    let before = read_tree(&notes);
    assert_eq!(before, fixture("notes/v1"));
    let rows = events(&demo(&root, &["migrate", "--status", "--json"]).success());
    let named: Vec<&str> = rows.iter().map(|r| r["chain"].as_str().unwrap()).collect();
    assert_eq!(named, chains);
    assert_eq!(rows[0]["stamp"], Value::Null);
    assert_eq!(rows[0]["pending"].as_array().map(Vec::len), Some(3));
    // The target flags, wherever they stand.
    let one = json(
        &demo(
            &root,
            &["migrate", "--json", "--status", "--chain", "audit"],
        )
        .success(),
    );
    assert_eq!(one["chain"], "audit");
    assert_eq!(one["pending"].as_array().map(Vec::len), Some(2));

    let list = stdout(&demo(&root, &["migrate", "--list"]).success());
    assert!(list.contains("chain `notes`: 3 steps"), "{list}");
    assert!(list.contains("rebuild_routers"), "{list}");
    let rows = events(&demo(&root, &["migrate", "--list", "--json"]).success());
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["steps"][0]["id"], "add_status");
    assert_eq!(rows[0]["steps"][0]["applied"], false);

    let plan = stdout(&demo(&root, &["migrate", "--dry-run", "--no-diff"]).success());
    assert_eq!(
        plan.matches("dry run: nothing was written").count(),
        4,
        "{plan}"
    );
    assert!(plan.contains("v3 → v4  split_tags"), "{plan}");
    let stream = events(&demo(&root, &["migrate", "--dry-run", "--json"]).success());
    let dry = reports(&stream);
    assert_eq!(dry.len(), 4);
    assert!(dry.iter().all(|(_, r)| r["dry_run"] == true), "{dry:?}");
    assert_eq!(read_tree(&notes), before);

    let said = stdout(&demo(&root, &["migrate", "--to", "v2", "--no-diff"]).success());
    assert_eq!(said.matches("committed at v2").count(), 4, "{said}");
    assert_eq!(read_tree(&notes), fixture("notes/v2"));

    let kept = stdout(&demo(&root, &["migrate", "--list-snapshots"]).success());
    assert!(kept.contains("chain `notes` in "), "{kept}");
    assert!(kept.contains("_pre_v1_to_v2  v1 → v2  30 files"), "{kept}");
    let rows = events(&demo(&root, &["migrate", "--list-snapshots", "--json"]).success());
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r["snapshots"].as_array().map(Vec::len) == Some(1)),
        "{rows:?}"
    );

    // `migrate --rollback` restores, without asking.
    let undone = demo(&root, &["migrate", "--rollback"]).success();
    assert_eq!(
        stdout(&undone).matches("restoring a snapshot").count(),
        4,
        "{}",
        stdout(&undone)
    );
    assert_eq!(read_tree(&notes), before);

    let stream = events(&demo(&root, &["migrate", "--to", "v2", "--json", "--no-diff"]).success());
    let done = reports(&stream);
    assert_eq!(done.len(), 4);
    assert!(done.iter().all(|(_, r)| r["target"] == 2), "{done:?}");
    assert_eq!(read_tree(&notes), fixture("notes/v2"));
    let stream = events(&demo(&root, &["migrate", "--rollback", "--json"]).success());
    let undone = reports(&stream);
    assert_eq!(undone.len(), 4);
    assert!(
        undone.iter().all(|(_, r)| r["direction"] == "restore"),
        "{undone:?}"
    );
    assert_eq!(read_tree(&notes), before);

    // `--id` asks first; `--yes` answers for a script.
    let refused = demo(
        &root,
        &["migrate", "--id", "add_status", "--chain", "notes"],
    )
    .code(2);
    assert!(
        stderr(&refused).contains("pass --yes"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(read_tree(&notes), before);
    let alone = demo(
        &root,
        &["migrate", "--id", "add_status", "--yes", "--chain", "notes"],
    )
    .success();
    assert!(
        stdout(&alone).contains("committed at v2"),
        "{}",
        stdout(&alone)
    );
    assert_eq!(read_tree(&notes), fixture("notes/v2"));
    let stream = events(
        &demo(
            &root,
            &[
                "migrate",
                "--chain",
                "notes",
                "--id",
                "rename_created",
                "--yes",
                "--json",
            ],
        )
        .success(),
    );
    assert_eq!(stream.last().unwrap()["target"], 3);
    assert_eq!(read_tree(&notes), fixture("notes/v3"));
    let status = json(
        &demo(
            &root,
            &["migrate", "--status", "--chain", "notes", "--json"],
        )
        .success(),
    );
    assert_eq!(status["last_run"]["operator_override"], true, "{status}");

    // `rollback --yes`: a script may pass it; a rollback never asks.
    demo(&root, &["migrate", "--yes"]).success();
    let undone = demo(&root, &["rollback", "--yes"]).success();
    assert_eq!(stdout(&undone).matches("restoring a snapshot").count(), 4);
    assert_eq!(read_tree(&notes), fixture("notes/v3"));
    demo(&root, &["migrate", "--yes"]).success();
    let stream =
        events(&demo(&root, &["rollback", "--yes", "--json", "--chain", "notes"]).success());
    assert_eq!(stream.last().unwrap()["direction"], "restore");
    assert_eq!(read_tree(&notes), fixture("notes/v3"));

    // Two commands at once are a usage error, and so is a flag that names
    // a command after another command.
    let both = demo(&root, &["migrate", "--status", "--list"]).code(2);
    assert!(stderr(&both).contains("`--status` and `--list` each name a command"));
    let error = json(&demo(&root, &["migrate", "--status", "--list", "--json"]).code(2));
    assert_eq!(error["event"], "error");
    assert_eq!(error["exit_code"], 2);
    demo(&root, &["status", "--list"]).code(2);
    assert_eq!(read_tree(&notes), fixture("notes/v3"));
}

/// Two notes at v1 that an exclude glob is meant to leave out.
const DRAFT: &str = "---\ntitle: Half a thought\ncreated: 2024-01-01\ntags: draft\n---\nTo do.\n";

fn add_drafts(store: &Path) {
    std::fs::create_dir_all(store.join("drafts/deep")).unwrap();
    std::fs::write(store.join("drafts/deep/idea.md"), DRAFT).unwrap();
    std::fs::create_dir_all(store.join("scratch")).unwrap();
    std::fs::write(store.join("scratch/pad.md"), DRAFT).unwrap();
}

/// The tree without what `add_drafts` added, which must be as it was.
fn without_drafts(
    mut tree: std::collections::BTreeMap<String, Vec<u8>>,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    assert_eq!(
        tree.remove("drafts/deep/idea.md").as_deref(),
        Some(DRAFT.as_bytes())
    );
    assert_eq!(
        tree.remove("scratch/pad.md").as_deref(),
        Some(DRAFT.as_bytes())
    );
    tree
}

/// The run read 30 notes, not the two drafts, and migrated every note.
fn assert_left_out(stream: &[Value], store: &Path) {
    let started = stream.iter().find(|e| e["event"] == "run_started").unwrap();
    assert_eq!(started["records"], 30);
    assert_eq!(without_drafts(read_tree(store)), fixture("notes/v4"));
}

#[test]
fn an_excluded_document_is_neither_migrated_nor_counted() {
    let dir = fixture_copy("notes/v1");
    add_drafts(dir.path());
    let status = json(&xtask(dir.path(), &["status", "--json"]).success());
    assert_eq!(status["versions"]["1"], 32);
    let status = json(
        &xtask(
            dir.path(),
            &[
                "status",
                "--json",
                "--exclude",
                "drafts/**",
                "--exclude",
                "scratch/*.md",
            ],
        )
        .success(),
    );
    assert_eq!(status["versions"]["1"], 30);

    let plan = stdout(
        &xtask(
            dir.path(),
            &[
                "migrate",
                "--dry-run",
                "--exclude",
                "drafts/**",
                "--exclude",
                "scratch/*.md",
            ],
        )
        .success(),
    );
    assert!(plan.contains("30 changed"), "{plan}");
    assert!(
        !plan.contains("drafts/") && !plan.contains("scratch/"),
        "{plan}"
    );

    let stream = events(
        &xtask(
            dir.path(),
            &[
                "migrate",
                "--json",
                "--no-diff",
                "--exclude",
                "drafts/**",
                "--exclude",
                "scratch/*.md",
            ],
        )
        .success(),
    );
    assert_left_out(&stream, dir.path());
    let report = stream.last().unwrap();
    assert_eq!(report["counts"]["changed"], 30);
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !c["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with("drafts/")),
        "{report}"
    );
    let snapshots = json(&xtask(dir.path(), &["snapshots", "--json"]).success());
    assert_eq!(snapshots["snapshots"][0]["files"], 30);
}

#[test]
fn a_bad_exclude_glob_is_a_usage_error_that_names_it() {
    let dir = fixture_copy("notes/v1");
    let before = read_tree(dir.path());
    for (glob, reason) in [
        ("drafts/[a", "unclosed character class"),
        ("/drafts/**", "relative to the store's root"),
        ("../other/**", "without `.` or `..`"),
    ] {
        let refused = xtask(
            dir.path(),
            &["migrate", "--exclude", "x/**", "--exclude", glob],
        )
        .code(2);
        let err = stderr(&refused);
        assert!(
            err.contains(&format!("--exclude `{glob}` is not a valid glob"))
                && err.contains(reason),
            "{glob}: {err}"
        );
        let error = json(&xtask(dir.path(), &["status", "--json", "--exclude", glob]).code(2));
        assert_eq!(error["event"], "error");
        assert_eq!(error["exit_code"], 2);
        assert!(
            error["message"].as_str().unwrap_or_default().contains(glob),
            "{error}"
        );
    }
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());
}

#[test]
fn exclude_on_a_log_or_a_database_is_a_usage_error() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let log = dir.path().join("audit.jsonl");
    let refused = Command::cargo_bin("xtask")
        .unwrap()
        .args([
            "migrate",
            "--exclude",
            "drafts/**",
            "--chain",
            "audit",
            "--store",
        ])
        .arg(&log)
        .assert()
        .code(2);
    let err = stderr(&refused);
    assert!(
        err.contains(
            "--exclude applies to folders of documents, and the store of chain `audit` is a \
             JSONL log"
        ),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());

    // Every chain of the demo: the database is the first that is no folder.
    let root = tempfile::tempdir().unwrap();
    let root = root.path().join("verchain-demo");
    let refused = demo(&root, &["migrate", "--exclude", "drafts/**"]).code(2);
    let err = stderr(&refused);
    assert!(
        err.contains(
            "the store of chain `agentdb` is an SQLite database; say which chain with --chain"
        ),
        "{err}"
    );
    assert_eq!(read_tree(&root.join("notes")), fixture("notes/v1"));
    assert!(!root.join("notes/.verchain").exists());
    let error = json(
        &demo(
            &root,
            &["status", "--chain", "agentdb", "--exclude", "x", "--json"],
        )
        .code(2),
    );
    assert_eq!(error["exit_code"], 2);
}

#[test]
fn the_workspace_sets_a_stores_excludes_and_exclude_adds_to_them() {
    let work = workspace_with_store(
        "notes = { path = \"data/notes\", exclude = [\"drafts/**\"] }\n\
         config = \"data/config\"",
    );
    let store = work.path().join("data/notes");
    write_tree(&store, &fixture("notes/v1"));
    add_drafts(&store);
    let run = |args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .current_dir(work.path().join("src/deep"))
            .args(args)
            .assert()
    };
    let status = json(&run(&["status", "--chain", "notes", "--json"]).success());
    assert_eq!(status["versions"]["1"], 31);
    let stream = events(
        &run(&[
            "migrate",
            "--chain",
            "notes",
            "--json",
            "--no-diff",
            "--exclude",
            "scratch/**",
        ])
        .success(),
    );
    assert_left_out(&stream, &store);

    // `--store` replaces the workspace's settings, `exclude` included: the
    // drafts the workspace's store leaves out are in this one.
    let other =
        workspace_with_store("notes = { path = \"data/notes\", exclude = [\"drafts/**\"] }");
    let status = Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(other.path())
        .args(["status", "--chain", "notes", "--json", "--store"])
        .arg(&store)
        .assert()
        .success();
    // Every note and both drafts (which, having no version key, read as at
    // the store's version).
    assert_eq!(json(&status)["versions"]["4"], 32);

    // What the workspace sets wrong is a usage error that says what and
    // where, whichever chain the command runs: a chain the program does not
    // have is not ignored.
    for (stores, expected) in [
        ("notse = \"data/notes\"", " names chain `notse`"),
        (
            "notes = { path = \"data/notes\", excludes = [\"drafts/**\"] }",
            ": unknown key `excludes` in the store of chain `notes`; expected `path`, `exclude`, \
             `without_front_matter`",
        ),
        (
            "notes = { path = \"data/notes\", exclude = [\"drafts/[\"] }",
            ": `exclude` of chain `notes`: `drafts/[` is not a valid glob",
        ),
        (
            "audit = { path = \"logs/audit.jsonl\", exclude = [\"old/**\"] }",
            ": `exclude` applies to folders of documents, and the store of chain `audit` is a \
             JSONL log",
        ),
    ] {
        let wrong = workspace_with_store(stores);
        let failed = Command::cargo_bin("xtask")
            .unwrap()
            .current_dir(wrong.path())
            .args(["status", "--chain", "notes"])
            .assert()
            .code(2);
        let err = stderr(&failed);
        assert!(
            err.contains(&format!("[workspace.metadata.verchain.stores]{expected}")),
            "{stores}: {err}"
        );
    }
}

#[test]
fn a_chains_own_excludes_come_with_it_wherever_its_store_is() {
    let dir = fixture_copy("notes/v1");
    add_drafts(dir.path());
    let store = dir.path().to_str().unwrap();
    let entry = verchain::cli::chain_with::<notes_example::Notes>(
        "elsewhere",
        verchain::cli::FolderSettings {
            exclude: vec!["drafts/**".into()],
            ..Default::default()
        },
    );
    let args = [
        "xtask",
        "migrate",
        "-q",
        "--store",
        store,
        "--exclude",
        "scratch/**",
    ];
    let code = verchain::cli::run(&[entry], args.map(String::from));
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
    assert_eq!(without_drafts(read_tree(dir.path())), fixture("notes/v4"));
    // A bad glob of the chain's own is a usage error, and nothing runs.
    let entry = verchain::cli::chain_with::<notes_example::Notes>(
        "elsewhere",
        verchain::cli::FolderSettings {
            exclude: vec!["drafts/[".into()],
            ..Default::default()
        },
    );
    let code = verchain::cli::run(
        &[entry],
        ["xtask", "status", "--store", store].map(String::from),
    );
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::from(2))
    );
}

/// `cargo xtask <args> --chain forms --store <url>`, in folder `cwd`
/// (where the snapshots of a database `--store` names go).
fn forms(cwd: &Path, url: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("xtask")
        .expect("the xtask binary")
        .current_dir(cwd)
        .args(args)
        .args(["--chain", "forms", "--store", url])
        .env("NO_COLOR", "1")
        .assert()
}

#[test]
fn a_postgres_chain_answers_the_same_commands_with_the_documented_exit_codes() {
    use verchain_tests::postgres_db::{connect, create, dump};
    let Some(url) = create("cli_forms", forms_example::V1_SQL) else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let before = dump(&url, "public");
    let plan = stdout(&forms(cwd.path(), &url, &["migrate", "--dry-run", "--no-diff"]).success());
    assert!(plan.contains("v3 → v4  index_contact_email"), "{plan}");
    assert!(plan.contains("runs alone, outside a transaction"), "{plan}");
    assert!(plan.contains("a dry run does not run it"), "{plan}");
    // Under the step that adds a column, the lock it took on its table.
    let (_, promote) = plan.split_once("promote_contact_email").expect(&plan);
    let (promote, _) = promote.split_once("v3 → v4").expect(&plan);
    assert!(
        promote.contains("holds ACCESS EXCLUSIVE on `submissions` for "),
        "{plan}"
    );
    assert!(promote.contains("s: blocks reads and writes"), "{plan}");
    let json = stdout(
        &forms(
            cwd.path(),
            &url,
            &["migrate", "--dry-run", "--no-diff", "--json"],
        )
        .success(),
    );
    let report: serde_json::Value =
        serde_json::from_str(json.lines().last().expect(&json)).unwrap();
    let lock = report["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mode"] == "ACCESS EXCLUSIVE")
        .expect(&json);
    assert_eq!(
        (&lock["step"], &lock["table"], &lock["blocks"]),
        (
            &"promote_contact_email".into(),
            &"submissions".into(),
            &"reads and writes".into()
        )
    );
    assert!(lock["held_ms"].is_u64(), "{json}");
    assert_eq!(dump(&url, "public"), before);

    // Another runner holds the lock: exit 3, naming it.
    let store = verchain::postgres::PostgresStore::new(&url).unwrap();
    let (namespace, key) = store.lock_key("forms");
    let mut holder = connect(&url);
    holder
        .batch_execute("SET application_name = 'web-1 deploy'")
        .unwrap();
    holder
        .execute("SELECT pg_advisory_lock($1, $2)", &[&namespace, &key])
        .unwrap();
    let locked = forms(cwd.path(), &url, &["migrate", "--wait", "1"]).code(3);
    let err = stderr(&locked);
    assert!(err.contains("`web-1 deploy`"), "{err}");
    assert!(err.contains("pass --wait SECONDS"), "{err}");
    drop(holder);
    assert_eq!(dump(&url, "public"), before);

    // A server that is not there: exit 1, nothing changed.
    let nowhere = tempfile::tempdir().unwrap();
    let gone = format!(
        "postgres://postgres:s3cret@{}/forms",
        verchain_tests::postgres_server::percent_encode(nowhere.path().to_str().unwrap())
    );
    let refused = forms(cwd.path(), &gone, &["status"]).code(1);
    let err = stderr(&refused);
    assert!(
        err.contains("cannot connect to postgres://postgres@"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    // A step that walks a table in batches says how far it got: JSON
    // lines with --json, from 0 to every row.
    let json = stdout(&forms(cwd.path(), &url, &["migrate", "--to", "2", "--json"]).success());
    let walked: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "batch_progress")
        .collect();
    assert_eq!(
        walked
            .iter()
            .map(|e| (e["step"].as_str().unwrap(), e["table"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("add_created_at_to_responses", "submissions"); 2],
        "{json}"
    );
    assert_eq!(
        (&walked[0]["done"], &walked[0]["total"]),
        (&0.into(), &4.into())
    );
    assert_eq!(
        (&walked[1]["done"], &walked[1]["total"]),
        (&4.into(), &4.into())
    );

    // And a line on a terminal's stderr as it starts.
    let done = forms(cwd.path(), &url, &["migrate", "--no-diff"]).success();
    let walking = stderr(&done);
    assert!(
        walking.contains("step responses_to_v2: `submissions`, 5 rows in batches"),
        "{walking}"
    );
    let done = stdout(&done);
    let (_, snapshot) = done.split_once("committed at v5; snapshot ").expect(&done);
    let status = stdout(&forms(cwd.path(), &url, &["status"]).success());
    assert!(
        status.contains("store version v5, chain current v5"),
        "{status}"
    );
    assert!(status.contains("up to date"), "{status}");
    let list = stdout(&forms(cwd.path(), &url, &["snapshots"]).success());
    assert!(list.contains(snapshot.trim()), "{list}");
}

#[test]
fn the_demo_includes_the_postgres_chain_on_a_server_of_its_own() {
    if verchain_tests::postgres_server::bin_dir().is_none() && std::env::var_os("CI").is_none() {
        eprintln!("not run: no PostgreSQL installed (CI installs it)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path().join("verchain-demo");
    let run = |args: &[&str]| {
        Command::cargo_bin("xtask")
            .unwrap()
            .args(args)
            .env("VERCHAIN_DEMO_DIR", &root)
            .env("NO_COLOR", "1")
            .env_remove("VERCHAIN_DEMO_POSTGRES")
            .env_remove("VERCHAIN_DEMO_POSTGRES_URL")
            .assert()
    };
    let plan = run(&["migrate", "--dry-run", "--no-diff"]).success();
    let text = stdout(&plan);
    assert!(
        text.contains("chain `forms` in postgres://postgres@"),
        "{text}"
    );
    assert!(text.contains("5 changed, 6 unchanged"), "{text}");
    let err = stderr(&plan);
    assert!(
        err.contains("created the PostgreSQL database `forms`"),
        "{err}"
    );
    run(&["migrate", "--chain", "forms", "--no-diff"]).success();
    let status = stdout(&run(&["status", "--chain", "forms"]).success());
    assert!(status.contains("store version v5"), "{status}");
    // The server is stopped between commands, and its data kept.
    let data = root.join("forms/cluster/data");
    assert!(data.join("PG_VERSION").exists());
    assert!(
        !data.join("postmaster.pid").exists(),
        "the demo's server still runs"
    );
    run(&["demo", "reset"]).success();
    assert!(!root.join("forms").exists());
}

#[test]
fn documents_without_front_matter_are_refused_skipped_or_given_one_as_told() {
    let dir = fixture_copy("notes/v1");
    std::fs::write(dir.path().join("README.md"), "# The vault\n").unwrap();
    std::fs::write(dir.path().join("LICENSE.md"), "Do what you like.\n").unwrap();
    let before = read_tree(dir.path());
    // Refused by default, each named at once, and nothing written.
    let refused = xtask(dir.path(), &["migrate", "--no-diff"]).code(1);
    let err = stderr(&refused);
    assert!(err.contains("2 records cannot be read"), "{err}");
    assert!(
        err.contains("README.md") && err.contains("LICENSE.md"),
        "{err}"
    );
    assert!(err.contains("--without-front-matter skip"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
    // Skipped: left as they are and listed, in text and in JSON.
    let skipped = xtask(
        dir.path(),
        &[
            "migrate",
            "--dry-run",
            "--no-diff",
            "--without-front-matter",
            "skip",
        ],
    )
    .success();
    let text = stdout(&skipped);
    assert!(
        text.contains("skipped: LICENSE.md: no front matter"),
        "{text}"
    );
    assert!(
        text.contains("skipped: README.md: no front matter"),
        "{text}"
    );
    let stream = events(
        &xtask(
            dir.path(),
            &[
                "migrate",
                "--json",
                "--no-diff",
                "--without-front-matter",
                "skip",
            ],
        )
        .success(),
    );
    let report = stream.last().unwrap();
    let paths: Vec<&str> = (report["skipped"].as_array().unwrap().iter())
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["LICENSE.md", "README.md"]);
    let after = read_tree(dir.path());
    assert_eq!(after["README.md"], before["README.md"]);
    assert_eq!(after["LICENSE.md"], before["LICENSE.md"]);
    // A policy that is not one, or one given to a log, is a usage error.
    let bad = xtask(dir.path(), &["status", "--without-front-matter", "ignore"]).code(2);
    assert!(stderr(&bad).contains("`ignore` is not `refuse`, `skip` or `add`"));
    let log = fixture_copy("audit/v1");
    let not_a_folder = Command::cargo_bin("xtask")
        .unwrap()
        .args([
            "status",
            "--chain",
            "audit",
            "--without-front-matter",
            "skip",
            "--store",
        ])
        .arg(log.path().join("audit.jsonl"))
        .assert()
        .code(2);
    assert!(
        stderr(&not_a_folder).contains("--without-front-matter applies to folders of documents"),
        "{}",
        stderr(&not_a_folder)
    );
}

/// `cargo xtask <args> --chain config --store <dir>`.
fn config(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    on_chain("config", dir, args)
}

#[test]
fn release_names_are_versions_on_the_command_line() {
    let dir = fixture_copy("notes/v1");
    let said = stdout(&xtask(dir.path(), &["migrate", "--to", "0.2.0", "--no-diff"]).success());
    assert!(said.contains("committed at v3 (0.2.0)"), "{said}");
    let status = stdout(&xtask(dir.path(), &["status"]).success());
    assert!(
        status.contains("store version v3 (0.2.0), chain current v4 (0.3.0)"),
        "{status}"
    );
    let rows = json(&xtask(dir.path(), &["status", "--json"]).success());
    assert_eq!(
        rows["releases"][1],
        serde_json::json!({"name": "0.2.0", "version": 3})
    );
    let list = json(&xtask(dir.path(), &["list", "--json"]).success());
    assert_eq!(list["steps"][2]["release"], "0.3.0");
    assert_eq!(list["steps"][0]["release"], Value::Null);
    // Back to a release with `down` steps.
    xtask(dir.path(), &["rollback", "--to", "v2"]).success();
    // An unknown name is a usage error that lists the releases; nothing runs.
    let before = read_tree(dir.path());
    let refused = xtask(dir.path(), &["migrate", "--to", "0.9.0"]).code(2);
    let err = stderr(&refused);
    assert!(
        err.contains("`0.9.0` is not a version of chain `notes`")
            && err.contains("0.1.0 (v1), 0.2.0 (v3), 0.3.0 (v4)"),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), before);
    let json_refused = events(&xtask(dir.path(), &["migrate", "--to", "0.9.0", "--json"]).code(2));
    assert_eq!(json_refused[0]["event"], "error");
    assert_eq!(json_refused[0]["exit_code"], 2);
}

#[test]
fn a_breaking_step_asks_and_yes_answers() {
    let dir = fixture_copy("config/v1");
    let before = read_tree(dir.path());
    // The plan shows what the steps say of themselves.
    let plan = stdout(&config(dir.path(), &["migrate", "--dry-run", "--no-diff"]).success());
    assert!(
        plan.contains("join_listen_address") && plan.contains("[BREAKING; restart api]"),
        "{plan}"
    );
    assert!(plan.contains("would need to restart: api"), "{plan}");
    // Not at a terminal, and without --yes: refused, nothing written.
    let refused = config(dir.path(), &["migrate"]).code(2);
    let err = stderr(&refused);
    assert!(
        err.contains("breaking steps (join_listen_address)"),
        "{err}"
    );
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());
    // A plan without the breaking step does not ask.
    config(dir.path(), &["migrate", "--to", "2"]).success();
    let done = stdout(&config(dir.path(), &["migrate", "--yes", "--no-diff"]).success());
    assert!(done.contains("committed at v4"), "{done}");
    assert!(done.contains("must restart: api"), "{done}");
    let report = events(&config(dir.path(), &["rollback", "--json"]).success());
    assert_eq!(
        report.last().unwrap()["requires_restart"],
        serde_json::json!(["api"])
    );
}

#[test]
fn verbose_shows_the_audit_events_and_json_streams_them_too() {
    let dir = fixture_copy("notes/v1");
    let run = xtask(dir.path(), &["migrate", "-v", "--to", "2", "--no-diff"]).success();
    let err = stderr(&run);
    assert!(
        err.contains("audit: migration.applied chain `notes` v1 → v2 step `add_status`"),
        "{err}"
    );
    let quiet = xtask(dir.path(), &["migrate", "--to", "3", "--no-diff"]).success();
    assert!(!stderr(&quiet).contains("audit:"), "{}", stderr(&quiet));
    let stream = events(&xtask(dir.path(), &["migrate", "-v", "--json", "--no-diff"]).success());
    let audit: Vec<&Value> = stream.iter().filter(|e| e["event"] == "audit").collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["name"], "migration.applied");
    assert_eq!(audit[0]["step"], "split_tags");
    assert_eq!(audit[0]["outcome"], "applied");
    assert_eq!(names(&stream).last(), Some(&"report"));
    let plain = events(&xtask(dir.path(), &["rollback", "--json"]).success());
    assert!(plain.iter().all(|e| e["event"] != "audit"));
}

#[test]
fn a_damaged_journal_exits_4_and_never_says_nothing_was_changed() {
    let dir = fixture_copy("notes/v1");
    xtask(dir.path(), &["migrate", "--no-diff"]).success();
    std::fs::write(dir.path().join(".verchain/journal.json"), "{\"run_id\":").unwrap();
    let failed = xtask(dir.path(), &["migrate", "--no-diff"]).code(4);
    let err = stderr(&failed);
    assert!(!err.contains("nothing was changed"), "{err}");
    assert!(err.contains("journal.json"), "{err}");
}

/// A command over every chain that stops at one (here, breaking steps
/// without `--yes`) says which chains it ran before it and which it did
/// not run, since the ones before it are committed.
#[test]
fn a_command_over_every_chain_says_which_ran_before_the_one_that_stopped_it() {
    let demo = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("xtask"))
        .args(["migrate", "-q"])
        .env("VERCHAIN_DEMO_DIR", demo.path().join("verchain-demo"))
        .env("NO_COLOR", "1")
        .env("VERCHAIN_DEMO_POSTGRES", "off")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("stopped at chain `"))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    assert!(line.contains("done before it: `notes`"), "{line}");
    assert!(line.contains("not run: "), "{line}");
}

/// A database its user may only read is refused before anything is done,
/// naming the cause, not blamed on the first step that writes. Run as
/// another user (`nobody`, through `runuser`), since root writes any file.
#[cfg(unix)]
#[test]
fn a_database_the_user_may_only_read_is_refused_before_a_step_runs() {
    let as_nobody = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !as_nobody {
        // Not root, or no `runuser`: this user may not act as another.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let db = dir.path().join("agent.db");
    let conn = verchain::sqlite::rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(agentdb_example::V1_SQL).unwrap();
    drop(conn);
    std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(assert_cmd::cargo::cargo_bin("xtask"))
        .args(["migrate", "--yes", "--chain", "agentdb", "--store"])
        .arg(&db)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("can only be read here"), "{stderr}");
    assert!(!stderr.contains("step"), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// A database a crash left with a hot journal (its transaction not rolled
/// back yet) cannot be read: `status` says its version is unknown until
/// the next run, never that it was never migrated.
#[test]
fn status_of_a_database_with_a_hot_journal_says_its_version_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agent.db");
    let conn = verchain::sqlite::rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(agentdb_example::V1_SQL).unwrap();
    drop(conn);
    on_chain("agentdb", &db, &["migrate", "--yes", "-q"]).success();
    // A transaction in the middle of writing, copied with its journal as
    // a crash would leave them.
    let writer = verchain::sqlite::rusqlite::Connection::open(&db).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN IMMEDIATE; \
             UPDATE routers SET config = config || ' '; UPDATE workers SET id = id;",
        )
        .unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let copy = crashed.path().join("agent.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::copy(
        dir.path().join("agent.db-journal"),
        crashed.path().join("agent.db-journal"),
    )
    .unwrap();
    drop(writer);
    let out = on_chain("agentdb", &copy, &["status"]).success();
    let text = stdout(&out);
    assert!(text.contains("was interrupted"), "{text}");
    assert!(text.contains("store version unknown"), "{text}");
    assert!(!text.contains("never migrated"), "{text}");
}
