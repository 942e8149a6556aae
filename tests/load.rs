//! Upgrade on read: `Chain::load` of one document (and `Chain::load_log` of
//! one log file) gives exactly what a run of the whole store writes for it,
//! for every fixture of every example chain at every version, and for
//! generated notes and log lines; the errors name the versions and the
//! step; `Loaded::save` writes the current version that the next run leaves
//! as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use audit_example::Audit;
use camino::Utf8Path;
use config_example::Config;
use notes_example::{NoteV4, Notes};
use proptest::prelude::*;
use verchain::folder::{FolderStore, Format};
use verchain::load::LoadError;
use verchain::log::LogStore;
use verchain::{Chain, ErrorKind, RunOptions, migrate};
use verchain_tests::tree::{read_tree, write_tree};

fn utf8(path: &Path) -> &Utf8Path {
    Utf8Path::from_path(path).expect("utf-8 temp path")
}

/// The version folders of `fixtures/<chain>/`, such as `v1`, `v4`.
fn versions(chain: &str) -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(chain);
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| name.starts_with('v'))
        .collect();
    found.sort();
    found
}

/// `tree` after a run of its whole store, migrated by `run` in a copy.
fn after_store_run(
    tree: &BTreeMap<String, Vec<u8>>,
    run: impl FnOnce(&Utf8Path),
) -> BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), tree);
    run(utf8(dir.path()));
    read_tree(dir.path())
}

fn migrate_folder<C: Chain<Record = verchain::Document>>(root: &Utf8Path) {
    migrate::<C>(&FolderStore::new(root), &RunOptions::default()).unwrap();
}

/// Every document of every version of a folder chain loads as the store's
/// run writes it.
fn documents_load_as_their_store_migrates<C: Chain<Record = verchain::Document>>(chain: &str) {
    let folders = versions(chain);
    assert!(!folders.is_empty(), "fixtures of {chain}");
    let mut checked = 0;
    for (version, folder) in folders {
        let before = read_tree(&folder);
        let after = after_store_run(&before, migrate_folder::<C>);
        for (path, bytes) in &before {
            let format = Format::from_path(Utf8Path::new(path)).expect("a document");
            let loaded =
                C::load(bytes, format).unwrap_or_else(|e| panic!("{chain}/{version}/{path}: {e}"));
            assert_eq!(
                String::from_utf8_lossy(loaded.bytes()),
                String::from_utf8_lossy(&after[path]),
                "{chain}/{version}/{path}"
            );
            if !loaded.upgraded() {
                assert_eq!(loaded.bytes(), bytes.as_slice(), "{chain}/{version}/{path}");
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn every_note_of_every_version_loads_as_the_store_migrates_it() {
    documents_load_as_their_store_migrates::<Notes>("notes");
}

#[test]
fn every_settings_file_of_every_version_loads_as_the_store_migrates_it() {
    documents_load_as_their_store_migrates::<Config>("config");
}

#[test]
fn every_log_file_of_every_version_loads_as_the_store_migrates_it() {
    let mut checked = 0;
    for (version, folder) in versions("audit") {
        let before = read_tree(&folder);
        let after = after_store_run(&before, |root| {
            let log = LogStore::new(root.join("audit.jsonl"));
            migrate::<Audit>(&log, &RunOptions::default()).unwrap();
        });
        for (path, bytes) in &before {
            let loaded =
                Audit::load_log(bytes).unwrap_or_else(|e| panic!("audit/{version}/{path}: {e}"));
            assert_eq!(
                String::from_utf8_lossy(loaded.bytes()),
                String::from_utf8_lossy(&after[path]),
                "audit/{version}/{path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "two files at each of three versions");
}

#[test]
fn a_loaded_note_reads_as_its_type_at_the_current_version() {
    let v1 = b"---\ntitle: Plan\ncreated: 2024-01-02\ntags: work, urgent\n---\nBody\n";
    let note: NoteV4 = Notes::load_as(v1, Format::Markdown).unwrap();
    assert_eq!(note.title, "Plan");
    assert_eq!(note.status, "draft");
    assert_eq!(note.created_at.as_deref(), Some("2024-01-02"));
    assert_eq!(note.tags, ["work", "urgent"]);
    let loaded = Notes::load(v1, Format::Markdown).unwrap();
    assert_eq!(loaded.read_at(), 1);
    assert!(loaded.upgraded());
    assert_eq!(loaded.document().get("schema_version"), Some(&4.into()));
}

#[test]
fn a_loaded_log_reads_as_its_records_at_the_current_version() {
    let v1 = b"{\"ts\":\"t1\",\"actor\":\"ana\",\"action\":\"login\"}\n\n{\"ts\":\"t2\",\"action\":\"boot\"}\n";
    let log = Audit::load_log(v1).unwrap();
    let entries: Vec<audit_example::EntryV3> = log.records_as().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].user.as_deref(), Some("ana"));
    assert_eq!(entries[1].user, None);
    assert_eq!(entries[1].severity, "info");
    // A current file without a step to run is read as it is.
    let current = Audit::load_log(log.bytes()).unwrap();
    assert!(!current.upgraded());
    assert_eq!(current.bytes(), log.bytes());
}

#[test]
fn a_document_newer_than_the_program_is_refused_naming_both_versions() {
    let v9 = b"---\ntitle: From the future\nschema_version: 9\n---\n";
    let err = Notes::load(v9, Format::Markdown).unwrap_err();
    assert!(
        matches!(&err, LoadError::Refused { kind, .. }
            if matches!(**kind, ErrorKind::RecordTooNew { version: 9, current: 4, .. })),
        "{err:?}"
    );
    let said = err.to_string();
    assert!(said.starts_with("chain `notes`: "), "{said}");
    assert!(
        said.contains("version 9") && said.contains("newest version 4"),
        "{said}"
    );
    let log = b"{\"_meta\":{\"schema_version\":7}}\n{\"a\":1}\n";
    let said = Audit::load_log(log).unwrap_err().to_string();
    assert!(said.contains("version 7") && said.contains("3"), "{said}");
}

#[test]
fn a_step_that_refuses_a_document_is_named_with_its_versions() {
    // `rename_created` refuses a note that already has `created_at`.
    let both = b"---\ntitle: T\ncreated: 1\ncreated_at: 2\nschema_version: 2\n---\n";
    let said = Notes::load(both, Format::Markdown).unwrap_err().to_string();
    assert!(
        said.contains("step `rename_created` (v2 → v3)") && said.contains("document.md"),
        "{said}"
    );
    // The schema of v4 wants a title.
    let untitled = b"---\ntags: x\n---\n";
    let err = Notes::load(untitled, Format::Markdown).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("missing field `title`"), "{err}");
    // A log record a step cannot rename names its line.
    let clash = b"{\"actor\":\"a\",\"user\":\"b\",\"ts\":\"t\",\"action\":\"x\"}\n";
    let said = Audit::load_log(clash).unwrap_err().to_string();
    assert!(
        said.contains("rename_actor") && said.contains("line 1"),
        "{said}"
    );
}

#[test]
fn a_saved_document_is_current_and_the_next_run_leaves_it_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = utf8(dir.path());
    let v1 = "---\ntitle: Plan\ncreated: 2024-01-02 # when\ntags: work\n---\nBody\n";
    std::fs::write(root.join("plan.md"), v1).unwrap();
    std::fs::write(root.join("other.md"), "---\ntitle: Other\n---\n").unwrap();
    let mut loaded = Notes::load_file(root.join("plan.md")).unwrap();
    loaded.document_mut().set("status", "active");
    loaded.save(root.join("plan.md")).unwrap();
    let saved = std::fs::read_to_string(root.join("plan.md")).unwrap();
    assert_eq!(
        saved,
        "---\ntitle: Plan\ncreated_at: 2024-01-02 # when\ntags:\n  - work\nstatus: active\n\
         schema_version: 4\n---\nBody\n"
    );
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let report = migrate::<Notes>(&FolderStore::new(root), &RunOptions::default()).unwrap();
    assert_eq!(
        report.versions.get(&4),
        Some(&1),
        "the saved note is current"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("plan.md")).unwrap(),
        saved
    );
    // A document changed so that it fails the schema is not saved.
    let mut broken = Notes::load_file(root.join("plan.md")).unwrap();
    broken.document_mut().remove("title");
    assert!(matches!(
        broken.save(root.join("plan.md")),
        Err(LoadError::Invalid { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(root.join("plan.md")).unwrap(),
        saved
    );
}

/// A tag list as a v1 note writes it: words joined by commas, with the
/// spacing people type.
fn tags() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            "[a-z]{1,8}",
            prop::sample::select(vec![",", ", ", " ,", ",  "]),
        ),
        0..5,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(w, sep)| format!("{w}{sep}"))
            .collect()
    })
}

/// A v1 note: front matter keys in any order, some optional, a body.
fn note() -> impl Strategy<Value = String> {
    (
        "Note [a-z]{1,10}",
        prop::option::of("20[0-9]{2}-0[1-9]-1[0-9]"),
        prop::option::of(tags()),
        prop::option::of(prop::sample::select(vec!["draft", "done", "active"])),
        prop::option::of("[a-z]{1,6}"),
        "[a-z \n]{0,40}",
        any::<bool>(),
    )
        .prop_map(|(title, created, tags, status, extra, body, crlf)| {
            let mut lines = vec!["---".to_owned(), format!("title: {}", title.trim_end())];
            if let Some(created) = created {
                lines.push(format!("created: {created}"));
            }
            if let Some(tags) = tags.filter(|t| !t.trim().is_empty()) {
                lines.push(format!("tags: \"{tags}\""));
            }
            if let Some(status) = status {
                lines.push(format!("status: {status}"));
            }
            if let Some(extra) = extra {
                lines.push(format!("mine: {extra}"));
            }
            lines.push("---".to_owned());
            let text = lines.join("\n") + "\n" + &body;
            if crlf {
                text.replace('\n', "\r\n")
            } else {
                text
            }
        })
}

/// A v1 audit record, some without `actor`, some with `severity`.
fn record() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z]{1,6}"),
        "[a-z.]{1,12}",
        prop::option::of(prop::sample::select(vec!["info", "warn"])),
        any::<u16>(),
    )
        .prop_map(|(actor, action, severity, n)| {
            let mut fields = vec![format!("\"ts\":\"2024-05-01T00:00:{:02}Z\"", n % 60)];
            if let Some(actor) = actor {
                fields.push(format!("\"actor\":\"{actor}\""));
            }
            fields.push(format!("\"action\":\"{action}\""));
            if let Some(severity) = severity {
                fields.push(format!("\"severity\":\"{severity}\""));
            }
            fields.push(format!("\"n\":{n}"));
            format!("{{{}}}", fields.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_generated_note_loads_as_its_store_migrates_it(text in note()) {
        let tree = BTreeMap::from([("note.md".to_owned(), text.clone().into_bytes())]);
        let after = after_store_run(&tree, migrate_folder::<Notes>);
        let loaded = Notes::load(text.as_bytes(), Format::Markdown).unwrap();
        prop_assert_eq!(
            String::from_utf8_lossy(loaded.bytes()),
            String::from_utf8_lossy(&after["note.md"])
        );
    }

    #[test]
    fn a_generated_log_loads_as_its_store_migrates_it(
        records in prop::collection::vec(record(), 0..12),
        header in any::<bool>(),
    ) {
        let mut text = String::new();
        if header {
            text.push_str("{\"_meta\":{\"schema_version\":2,\"log\":\"audit\"}}\n");
        }
        for r in &records {
            text.push_str(r);
            text.push('\n');
        }
        let tree = BTreeMap::from([("audit.jsonl".to_owned(), text.clone().into_bytes())]);
        let after = after_store_run(&tree, |root| {
            migrate::<Audit>(&LogStore::new(root.join("audit.jsonl")), &RunOptions::default())
                .unwrap();
        });
        let loaded = Audit::load_log(text.as_bytes()).unwrap();
        prop_assert_eq!(
            String::from_utf8_lossy(loaded.bytes()),
            String::from_utf8_lossy(&after["audit.jsonl"])
        );
        prop_assert_eq!(loaded.read_at(), if header { 2 } else { 1 });
    }
}

/// A chain whose steps move a document, then remove the drafts.
#[derive(Chain)]
#[chain(base = 1, current = 3, name = "moving")]
pub struct Moving;

/// Moves every document under `archive/`.
#[verchain::migration(chain = Moving, from = 1, to = 2)]
fn archive(doc: &mut verchain::Document) {
    let to = format!("archive/{}", doc.path());
    doc.move_to(to);
}

/// Removes drafts.
#[verchain::migration(chain = Moving, from = 2, to = 3)]
fn drop_drafts(doc: &mut verchain::Document) {
    if doc.get_str("draft").is_some() {
        doc.remove_document();
    }
}

#[test]
fn a_moved_document_loads_at_its_new_path_and_a_removed_one_needs_the_store() {
    let tree = BTreeMap::from([("a.json".to_owned(), b"{\"n\": 1}\n".to_vec())]);
    let after = after_store_run(&tree, migrate_folder::<Moving>);
    let loaded = Moving::load(b"{\"n\": 1}\n", Format::Json).unwrap();
    assert_eq!(loaded.document().path(), "archive/document.json");
    assert_eq!(loaded.bytes(), after["archive/a.json"].as_slice());
    let err = Moving::load(b"{\"draft\": \"yes\"}\n", Format::Json).unwrap_err();
    assert!(
        err.to_string()
            .contains("step `drop_drafts` (v2 → v3) removes the document"),
        "{err}"
    );
}
