//! Property tests of the log store: for arbitrary logs (unicode, very long
//! lines, empty, header only, no final newline, CRLF), migrating then
//! rolling back restores the original bytes, and a step that leaves records
//! alone leaves their bytes alone.

use std::fs;

use audit_example::Audit;
use camino::Utf8Path;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use verchain::log::LogStore;
use verchain::{RollbackTo, RunOptions};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "\\PC{0,12}",
        1 => "[a-zé日本🙂\"\\\\/\t]{0,8}",
        1 => ("[a-z]{1,3}", 2_000usize..40_000).prop_map(|(s, n)| s.repeat(n / s.len())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A record a version 3 reader accepts once migrated: `ts` and `action`
/// strings, `actor` and `severity` strings or absent, anything else.
fn record() -> impl Strategy<Value = String> {
    (
        text(),
        text(),
        prop::option::of(text()),
        prop::option::of("info|warn|error"),
        prop::collection::btree_map("[a-zé_]{1,6}", value(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(ts, action, actor, severity, extra, spaced)| {
            let mut m = Map::new();
            m.insert("ts".into(), ts.into());
            if let Some(actor) = actor {
                m.insert("actor".into(), actor.into());
            }
            m.insert("action".into(), action.into());
            for (k, v) in extra {
                if !["ts", "actor", "action", "severity", "user"].contains(&k.as_str()) {
                    m.insert(k, v);
                }
            }
            if let Some(severity) = severity {
                m.insert("severity".into(), severity.into());
            }
            let line = Value::Object(m).to_string();
            if spaced {
                // The layout Python's json.dumps writes.
                spaced_json(&line)
            } else {
                line
            }
        })
}

/// Re-spaces compact JSON as `{"a": 1, "b": 2}`, outside strings.
fn spaced_json(compact: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in compact.chars() {
        out.push(c);
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' || c == ':' {
            out.push(' ');
        }
    }
    out
}

/// A whole log: maybe a header, records, line endings, maybe a final
/// newline.
fn log() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(None), Just(Some(1u32)), Just(Some(2u32))],
        prop::collection::vec((record(), any::<bool>(), 0u8..20), 0..12),
        any::<bool>(),
    )
        .prop_map(|(header, records, final_newline)| {
            let mut lines = Vec::new();
            if let Some(v) = header {
                let meta = if v == 2 {
                    json!({"_meta": {"schema_version": 2, "log": "audit"}})
                } else {
                    json!({"_meta": {"schema_version": 1}})
                };
                lines.push((meta.to_string(), false));
            }
            for (line, crlf, blank) in records {
                if blank == 0 {
                    lines.push((String::new(), crlf));
                }
                lines.push((line, crlf));
            }
            let mut text = String::new();
            let n = lines.len();
            for (i, (line, crlf)) in lines.into_iter().enumerate() {
                text.push_str(&line);
                if i + 1 < n || final_newline {
                    text.push_str(if crlf { "\r\n" } else { "\n" });
                }
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn migrate_then_rollback_gives_back_the_original_bytes(main in log(), rotated in log()) {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("audit.jsonl");
        fs::write(&path, &main).unwrap();
        fs::write(root.join("audit.jsonl.1"), &rotated).unwrap();
        let store = LogStore::new(&path);
        let report = verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap();
        prop_assert_eq!(report.failures.len(), 0);
        let migrated = fs::read_to_string(&path).unwrap();
        prop_assert!(migrated.starts_with("{\"_meta\":{\"schema_version\":3"), "{}", migrated);
        verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
        prop_assert_eq!(fs::read_to_string(&path).unwrap(), main);
        prop_assert_eq!(fs::read_to_string(root.join("audit.jsonl.1")).unwrap(), rotated);
    }

    #[test]
    fn a_header_step_keeps_every_record_line_as_it_was(records in prop::collection::vec(record(), 0..10)) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path()).unwrap().join("audit.jsonl");
        let text: String = records.iter().map(|r| format!("{r}\n")).collect();
        fs::write(&path, &text).unwrap();
        let store = LogStore::new(&path);
        let options = RunOptions { target: Some(2), ..RunOptions::default() };
        verchain::migrate::<Audit>(&store, &options).unwrap();
        let after = fs::read_to_string(&path).unwrap();
        let (header, rest) = after.split_once('\n').unwrap();
        prop_assert_eq!(header, r#"{"_meta":{"schema_version":2,"log":"audit"}}"#);
        prop_assert_eq!(rest, text);
    }

    #[test]
    fn a_renaming_step_changes_only_the_renamed_name_and_the_new_field(line in record()) {
        let mut record = verchain::log::LogRecord::parse(line.clone()).unwrap();
        audit_example::rename_actor(&mut record).unwrap();
        let out = record.to_line();
        let had_severity = line.contains("\"severity\"");
        let mut expected = line.replacen("\"actor\"", "\"user\"", 1);
        if !had_severity {
            let sep = if line.contains(", \"") { ", " } else { "," };
            let colon = if line.contains("\": ") { ": " } else { ":" };
            expected.insert_str(expected.len() - 1, &format!("{sep}\"severity\"{colon}\"info\""));
        }
        prop_assert_eq!(out, expected);
    }
}
