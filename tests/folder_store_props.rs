//! Properties of runs over arbitrary document folders: migrate then roll
//! back restores every byte and the file set; a second run changes nothing;
//! reversible steps satisfy `down(up(x)) == x`.

use std::collections::BTreeMap;
use std::path::Path;

use camino::Utf8Path;
use proptest::prelude::*;
use serde_json::{Map, Value};
use verchain::folder::FolderStore;
use verchain::{Chain, Document, RollbackTo, RunOptions, migrate, migration, rollback};
use verchain_tests::tree::{read_tree, write_tree};

/// Adds, renames and rewrites fields.
#[derive(Chain)]
#[chain(current = 3)]
pub struct Props;

/// Adds `added` where missing.
#[migration(chain = Props, from = 1, to = 2, down = unadd)]
fn add(doc: &mut Document) {
    doc.set_default("added", "yes");
}

fn unadd(doc: &mut Document) {
    doc.remove("added");
}

/// Renames `k0` to `renamed`.
#[migration(chain = Props, from = 2, to = 3, down = unrename)]
fn rename(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("k0", "renamed")?;
    Ok(())
}

fn unrename(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("renamed", "k0")?;
    Ok(())
}

#[derive(Debug, Clone)]
enum Scalar {
    Text(String),
    Int(i32),
    Bool(bool),
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Text(s) => Value::from(s.clone()),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Bool(b) => Value::from(*b),
        }
    }
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        "[a-zA-Z0-9 éü日本🎉,.:-]{0,12}".prop_map(Scalar::Text),
        any::<i32>().prop_map(Scalar::Int),
        any::<bool>().prop_map(Scalar::Bool),
    ]
}

#[derive(Debug, Clone)]
struct Doc {
    ext: &'static str,
    fields: Vec<(String, Scalar)>,
    crlf: bool,
    final_newline: bool,
    body: String,
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        prop_oneof![Just("json"), Just("toml"), Just("yaml"), Just("md")],
        prop::collection::btree_map("k[0-4]|[a-z]{1,6}", scalar(), 0..5),
        any::<bool>(),
        any::<bool>(),
        "[a-z 日本\n-]{0,40}",
    )
        .prop_map(|(ext, fields, crlf, final_newline, body)| Doc {
            ext,
            fields: fields
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "added" | "renamed" | "schema_version"))
                .collect(),
            crlf,
            final_newline,
            body,
        })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The document's text, written by hand the way a person would.
fn render(doc: &Doc) -> String {
    let lines: Vec<String> = match doc.ext {
        "json" => {
            let map: Map<String, Value> = doc
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.json()))
                .collect();
            let text = serde_json::to_string_pretty(&Value::Object(map)).expect("json");
            text.lines().map(str::to_owned).collect()
        }
        "toml" => doc
            .fields
            .iter()
            .map(|(k, v)| format!("{k} = {}", v.json()))
            .collect(),
        _ => doc
            .fields
            .iter()
            .map(|(k, v)| match v {
                Scalar::Text(s) => format!("{k}: {}", quoted(s)),
                other => format!("{k}: {}", other.json()),
            })
            .collect(),
    };
    let mut text = if doc.ext == "md" {
        let mut t = String::from("---\n");
        for line in &lines {
            t.push_str(line);
            t.push('\n');
        }
        t.push_str("---\n");
        t.push_str(&doc.body);
        t
    } else if lines.is_empty() && doc.ext == "yaml" {
        "{}\n".to_owned()
    } else {
        lines.join("\n") + "\n"
    };
    if !doc.final_newline {
        while text.ends_with('\n') {
            text.pop();
        }
    }
    if doc.crlf {
        text = text.replace('\n', "\r\n");
    }
    text
}

fn folder() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    prop::collection::vec(doc(), 1..6).prop_map(|docs| {
        docs.iter()
            .enumerate()
            .map(|(i, d)| {
                let dir = if i % 2 == 0 { "" } else { "sub/" };
                (format!("{dir}doc{i}.{}", d.ext), render(d).into_bytes())
            })
            .collect()
    })
}

fn store(dir: &Path) -> FolderStore {
    FolderStore::new(Utf8Path::from_path(dir).expect("utf-8 temp path"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn migrate_then_restore_gives_back_every_byte(tree in folder()) {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &tree);
        let s = store(dir.path());
        migrate::<Props>(&s, &RunOptions::default()).unwrap();
        let migrated = read_tree(dir.path());
        // A second run is a no-op.
        let again = migrate::<Props>(&s, &RunOptions::default()).unwrap();
        prop_assert!(again.changes.is_empty());
        prop_assert_eq!(read_tree(dir.path()), migrated);
        rollback::<Props>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
        prop_assert_eq!(read_tree(dir.path()), tree);
    }

    #[test]
    fn down_steps_undo_up_steps(fields in prop::collection::btree_map("k[0-4]|[a-z]{1,6}", scalar(), 0..6)) {
        let fields: Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "added" | "renamed"))
            .map(|(k, v)| (k, v.json()))
            .collect();
        let original = Document::new("doc.json", fields);
        let mut doc = original.clone();
        let steps = Props::steps();
        for step in &steps {
            (step.up())(&mut doc).unwrap();
        }
        for step in steps.iter().rev() {
            (step.down().expect("reversible"))(&mut doc).unwrap();
        }
        prop_assert_eq!(doc, original);
    }
}
