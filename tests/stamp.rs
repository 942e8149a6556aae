//! `stamp`: a store built before verchain (by an earlier release, with no
//! version of verchain's in it) is recorded at a version, on every kind of
//! store, and the next run starts there; `status` says such a store is
//! unstamped and suggests it; a store that already says its version, or a
//! version outside the chain, is refused and left as it was.

use std::fs;
use std::path::Path;

use agentdb_example::AgentDb;
use audit_example::Audit;
use camino::Utf8Path;
use forms_example::{Forms, V1_SQL};
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::postgres::PostgresStore;
use verchain::run::Outcome;
use verchain::sqlite::SqliteStore;
use verchain::sqlite::rusqlite::Connection;
use verchain::{ErrorKind, RunOptions, Stage, migrate, stamp, status};
use verchain_tests::options::to;
use verchain_tests::postgres_db::{connect, create, dump};
use verchain_tests::tree::{read_tree, write_tree};
use verchain_tests::{sqlite_db, tree};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
}

fn utf8(path: &Path) -> &Utf8Path {
    Utf8Path::from_path(path).expect("a UTF-8 path")
}

/// A copy of `fixtures/<rel>` in a new folder, each file's text passed
/// through `edit`.
fn copy_edited(rel: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files = read_tree(&fixtures().join(rel));
    for bytes in files.values_mut() {
        *bytes = edit(&String::from_utf8(bytes.clone()).unwrap()).into_bytes();
    }
    write_tree(dir.path(), &files);
    dir
}

/// Every line but those holding `text`.
fn without(text: &str, holding: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !line.contains(holding))
        .collect()
}

#[test]
fn a_folder_without_version_keys_is_stamped_and_migrates_from_its_stamp() {
    // Notes an earlier release wrote at v2, before it wrote a version key.
    let dir = copy_edited("notes/v2", |text| without(text, "schema_version"));
    let store = FolderStore::new(utf8(dir.path()));
    let before = status::<Notes>(&store).unwrap();
    assert!(before.unstamped, "{before:?}");
    assert_eq!(before.stamp, None);
    assert_eq!(before.pending.len(), 3, "read as at v1, as every run would");

    let record = stamp::<Notes>(&store, 2, &RunOptions::default()).unwrap();
    assert_eq!(record.outcome, Outcome::Stamped);
    assert_eq!(
        (record.from, record.to, record.step.as_deref()),
        (2, 2, None)
    );
    assert!(
        record.description.contains("stamp --version 2"),
        "{record:?}"
    );
    assert_eq!(read_tree(dir.path()), {
        let mut files = read_tree(&fixtures().join("notes/v2"));
        for bytes in files.values_mut() {
            *bytes = without(std::str::from_utf8(bytes).unwrap(), "schema_version").into_bytes();
        }
        files
    });
    let after = status::<Notes>(&store).unwrap();
    assert_eq!((after.stamp, after.unstamped), (Some(2), false));
    let pending: Vec<u32> = after.pending.iter().map(|s| s.from).collect();
    assert_eq!(pending, [2, 3]);
    assert_eq!(after.last_run.unwrap().outcome, Outcome::Stamped);

    // The next run starts at v2 and writes what a run from v2 writes.
    migrate::<Notes>(&store, &RunOptions::default()).unwrap();
    let keyed = tempfile::tempdir().unwrap();
    write_tree(keyed.path(), &read_tree(&fixtures().join("notes/v2")));
    migrate::<Notes>(
        &FolderStore::new(utf8(keyed.path())),
        &RunOptions::default(),
    )
    .unwrap();
    let unkeyed = |files: std::collections::BTreeMap<String, Vec<u8>>| {
        files
            .into_iter()
            .map(|(path, bytes)| {
                let text = without(&String::from_utf8(bytes).unwrap(), "schema_version");
                (path, text)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unkeyed(read_tree(dir.path())),
        unkeyed(read_tree(keyed.path()))
    );
}

#[test]
fn a_store_that_says_its_version_and_a_version_outside_the_chain_are_refused() {
    let dir = copy_edited("notes/v2", |text| without(text, "schema_version"));
    let store = FolderStore::new(utf8(dir.path()));
    let past = stamp::<Notes>(&store, 9, &RunOptions::default()).unwrap_err();
    assert_eq!(past.stage, Stage::Plan);
    assert!(
        matches!(*past.kind, ErrorKind::TargetPastCurrent { target: 9, .. }),
        "{past}"
    );
    assert!(!dir.path().join(".verchain").exists(), "nothing written");

    stamp::<Notes>(&store, 2, &RunOptions::default()).unwrap();
    let files = tree::read_tree(dir.path());
    let stamp_file = fs::read(dir.path().join(".verchain/stamp.json")).unwrap();
    let again = stamp::<Notes>(&store, 3, &RunOptions::default()).unwrap_err();
    assert!(again.store_unchanged());
    let message = again.to_string();
    assert!(
        matches!(*again.kind, ErrorKind::AlreadyStamped { .. }),
        "{message}"
    );
    assert!(
        message.contains("already says its version (its history"),
        "{message}"
    );
    assert_eq!(tree::read_tree(dir.path()), files);
    assert_eq!(
        fs::read(dir.path().join(".verchain/stamp.json")).unwrap(),
        stamp_file
    );

    // Documents that each carry their version need no stamp.
    let keyed = copy_edited("notes/v2", str::to_owned);
    let keyed_store = FolderStore::new(utf8(keyed.path()));
    assert!(!status::<Notes>(&keyed_store).unwrap().unstamped);
    let refused = stamp::<Notes>(&keyed_store, 2, &RunOptions::default()).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("already says its version (each document's `schema_version`)"),
        "{refused}"
    );
    // An empty folder is not unstamped: nothing in it is read at any version.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        !status::<Notes>(&FolderStore::new(utf8(empty.path())))
            .unwrap()
            .unstamped
    );
}

#[test]
fn a_log_without_headers_gets_one_at_the_stamp_and_keeps_every_record() {
    // The v2 log as an earlier release wrote it: no header line.
    let dir = copy_edited("audit/v2", |text| {
        text.split_inclusive('\n').skip(1).collect()
    });
    let log = utf8(dir.path()).join("audit.jsonl");
    let store = LogStore::new(&log);
    let before = read_tree(dir.path());
    assert!(status::<Audit>(&store).unwrap().unstamped);

    let record = stamp::<Audit>(&store, 2, &RunOptions::default()).unwrap();
    assert!(record.snapshot.is_some(), "the files it rewrote are kept");
    let after = read_tree(dir.path());
    for (name, old) in &before {
        let new = String::from_utf8(after[name].clone()).unwrap();
        let (header, records) = new.split_once('\n').unwrap();
        // In the file's own line ending.
        let header = header.strip_suffix('\r').unwrap_or(header);
        assert_eq!(header, r#"{"_meta":{"schema_version":2}}"#, "{name}");
        assert_eq!(records.as_bytes(), old.as_slice(), "{name}");
    }
    let now = status::<Audit>(&store).unwrap();
    assert!(!now.unstamped);
    assert_eq!(now.versions.keys().copied().collect::<Vec<_>>(), [2]);

    // The next run takes every record from v2 to v3, as from the v2 fixture.
    migrate::<Audit>(&store, &RunOptions::default()).unwrap();
    let migrated = read_tree(dir.path());
    let expected = read_tree(&fixtures().join("audit/v3"));
    for (name, bytes) in &expected {
        let records = |bytes: &[u8]| {
            let text = String::from_utf8(bytes.to_vec()).unwrap();
            text.split_once('\n').unwrap().1.to_owned()
        };
        assert_eq!(records(&migrated[name]), records(bytes), "{name}");
    }
}

#[test]
fn an_sqlite_database_gets_its_user_version_and_migrates_to_the_golden_dump() {
    let (_dir, path) = sqlite_db::create(agentdb_example::V1_SQL, "agent.db");
    let store = SqliteStore::new(utf8(&path));
    // Built to v3 by an earlier release: no history, `user_version` 0.
    migrate::<AgentDb>(&store, &to(3)).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE _verchain_history; PRAGMA user_version = 0")
        .unwrap();
    fs::remove_dir_all(path.with_file_name(".verchain")).unwrap();
    let unstamped = status::<AgentDb>(&store).unwrap();
    assert!(unstamped.unstamped);
    assert_eq!(unstamped.pending.len(), 4);

    stamp::<AgentDb>(&store, 3, &RunOptions::default()).unwrap();
    let stamped = status::<AgentDb>(&store).unwrap();
    assert_eq!((stamped.stamp, stamped.unstamped), (Some(3), false));
    let history = verchain::history(&store).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].outcome, history[0].to), (Outcome::Stamped, 3));

    migrate::<AgentDb>(&store, &RunOptions::default()).unwrap();
    let now = sqlite_db::dump(&path);
    assert_eq!(now, sqlite_db::golden("agentdb/v5.golden", &now));
}

#[test]
fn a_postgres_schema_gets_a_history_row_and_migrates_to_the_golden_dump() {
    let Some(url) = create("stamp", V1_SQL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = PostgresStore::new(&url)
        .unwrap()
        .snapshots_in(utf8(dir.path()));
    // Built to v3 by an earlier release: no history.
    migrate::<Forms>(&store, &to(3)).unwrap();
    connect(&url)
        .batch_execute("DROP TABLE _verchain_history")
        .unwrap();
    let unstamped = status::<Forms>(&store).unwrap();
    assert!(unstamped.unstamped);
    assert_eq!(unstamped.stamp, None);

    stamp::<Forms>(&store, 3, &RunOptions::default()).unwrap();
    let stamped = status::<Forms>(&store).unwrap();
    assert_eq!((stamped.stamp, stamped.unstamped), (Some(3), false));
    let pending: Vec<&str> = stamped.pending.iter().map(|s| s.id).collect();
    assert_eq!(pending, ["index_contact_email", "responses_to_v2"]);
    let refused = stamp::<Forms>(&store, 3, &RunOptions::default()).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("its history, `public._verchain_history`"),
        "{refused}"
    );

    migrate::<Forms>(&store, &RunOptions::default()).unwrap();
    let now = dump(&url, "public");
    assert_eq!(now, sqlite_db::golden("forms/v5.golden", &now));
}

#[test]
fn the_command_line_asks_names_one_chain_and_says_what_it_stamped() {
    let dir = copy_edited("notes/v2", |text| without(text, "schema_version"));
    let store = dir.path().to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let entry = verchain::cli::chain::<Notes>("elsewhere");
        let args = ["xtask"].iter().chain(args).map(|a| (*a).to_owned());
        format!("{:?}", verchain::cli::run(&[entry], args))
    };
    let code = |n: u8| format!("{:?}", std::process::ExitCode::from(n));
    // Not at a terminal, it needs --yes, and changes nothing without it.
    assert_eq!(
        run(&["stamp", "--version", "2", "--store", &store]),
        code(2)
    );
    assert!(!dir.path().join(".verchain/stamp.json").exists());
    // A version the chain does not have is a usage error.
    assert_eq!(
        run(&["stamp", "--version", "0.9.0", "--store", &store, "--yes"]),
        code(2)
    );
    assert_eq!(
        run(&[
            "baseline",
            "--version",
            "v2",
            "--store",
            &store,
            "--yes",
            "-q"
        ]),
        code(0)
    );
    let stamp_file = fs::read_to_string(dir.path().join(".verchain/stamp.json")).unwrap();
    assert!(stamp_file.contains("\"version\":2"), "{stamp_file}");
    // Once stamped, a second stamp is refused as a failed run.
    assert_eq!(
        run(&["stamp", "--version", "3", "--store", &store, "--yes", "-q"]),
        code(1)
    );
}
