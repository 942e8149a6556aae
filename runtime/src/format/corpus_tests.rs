//! The front matter corpus (`fixtures/front_matter/`): each document after
//! a small test chain's `up` steps matches its golden file, only the lines
//! of the keys the steps change change, and the `down` steps give back the
//! original bytes.

use std::fs;
use std::path::{Path, PathBuf};

use camino::Utf8PathBuf;
use serde_json::Value;

use super::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/front_matter")
}

/// The test chain, up: rename `title` to `name`, add `schema_version`,
/// rewrite `date` as a date-time, join `tags` into one string.
fn up(doc: &mut Document) {
    doc.rename("title", "name").unwrap();
    doc.set("schema_version", 2);
    if let Some(date) = doc.get_str("date").map(str::to_owned) {
        doc.set("date", format!("{date}T00:00:00Z"));
    }
    if let Some(Value::Array(tags)) = doc.get("tags") {
        let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
        let joined = tags.join(", ");
        doc.set("tags", joined);
    }
}

/// The test chain, down: each step undone.
fn down(doc: &mut Document) {
    if let Some(tags) = doc.get_str("tags").map(str::to_owned) {
        let split: Vec<&str> = tags.split(", ").collect();
        doc.set("tags", Value::from(split));
    }
    if let Some(date) = doc.get_str("date").map(str::to_owned) {
        doc.set("date", date.trim_end_matches("T00:00:00Z").to_owned());
    }
    doc.remove("schema_version");
    doc.rename("name", "title").unwrap();
}

/// Whether `line` belongs to a key the chain changes.
fn changed_key_line(line: &str) -> bool {
    let line = line.trim_start_matches(['"', '\'', ' ', '{']);
    ["title", "name", "schema_version", "date", "tags"]
        .iter()
        .any(|key| line.starts_with(key))
        || line.starts_with("- ")
        || line.trim().is_empty()
}

fn golden(path: &Path, actual: &str) {
    if std::env::var_os("VERCHAIN_BLESS").is_some() {
        fs::write(path, actual).unwrap();
    }
    let expected = fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} is missing: bless it", path.display()));
    assert_eq!(actual, expected, "{}", path.display());
}

#[test]
fn every_shape_gives_its_golden_output_and_back() {
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for file in entries {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".up.") || name == "README.md" || !name.ends_with(".md") {
            continue;
        }
        seen += 1;
        let stem = name.trim_end_matches(".md");
        let bytes = fs::read(&file).unwrap();
        let path = Utf8PathBuf::from(format!("front_matter/{name}"));
        let error_file = corpus().join(format!("{stem}.error.txt"));
        let (mut doc, parsed) = match parse(&path, &bytes) {
            Ok(read) => read,
            Err(error) => {
                golden(&error_file, &format!("{error}\n"));
                continue;
            }
        };
        let original = doc.clone();
        up(&mut doc);
        let upped = match render(&parsed, &doc) {
            Ok(bytes) => bytes,
            Err(error) => {
                golden(&error_file, &format!("{error}\n"));
                continue;
            }
        };
        assert!(!error_file.exists(), "{name} is no longer refused");
        let up_text = String::from_utf8(upped.clone()).unwrap();
        golden(&corpus().join(format!("{stem}.up.md")), &up_text);
        // Untouched lines keep their bytes: every line the steps removed
        // or added belongs to a key they change.
        let before = String::from_utf8_lossy(&bytes).into_owned();
        let diff = similar::TextDiff::from_lines(&before, &up_text);
        let changes: Vec<_> = diff
            .iter_all_changes()
            .filter(|change| change.tag() != similar::ChangeTag::Equal)
            .map(|change| (change.tag(), change.value().trim_end().to_owned()))
            .collect();
        // A JSON member that a new one follows gains a comma, and only that.
        let comma_only = |line: &str| {
            changes.iter().any(|(_, other)| {
                other.strip_suffix(',') == Some(line) || line.strip_suffix(',') == Some(other)
            })
        };
        for change in diff.iter_all_changes() {
            if change.tag() != similar::ChangeTag::Equal && !comma_only(change.value().trim_end()) {
                assert!(
                    changed_key_line(change.value().trim_start_matches('\u{feff}')),
                    "{name}: {}{:?} is not a changed key's line",
                    change.tag(),
                    change.value()
                );
            }
        }
        let (mut again, parsed_again) = parse(&path, &upped).unwrap();
        assert_eq!(again.fields(), doc.fields(), "{name}");
        down(&mut again);
        assert_eq!(again.fields(), original.fields(), "{name}");
        let back = render(&parsed_again, &again).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&back),
            before,
            "{name}: up then down does not give back the original"
        );
    }
    assert!(seen >= 10, "only {seen} documents in the corpus");
}
