//! Property tests over front matter written in every YAML and TOML style:
//! untouched keys keep their bytes, a changed value keeps its style where it
//! fits, and up then down gives back the original bytes.

use camino::Utf8Path;
use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// One entry of YAML front matter: its text (lines, each ending in a line
/// break) and, for a scalar, how a changed value of it is written.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    text: String,
    /// `Some(format)` where the value is a string, with `{}` standing for
    /// the new text: what a changed value must look like.
    changed: Option<&'static str>,
    /// Whether a change and its undoing give back the bytes: not for a
    /// folded scalar over several lines, whose line breaks are not known
    /// from its value.
    exact: bool,
}

fn yaml_entry(i: usize) -> impl Strategy<Value = Entry> {
    let key = format!("k{i}");
    let comment = prop_oneof![Just(""), Just(" # note")];
    (0..12usize, comment).prop_map(move |(style, comment)| {
        let k = &key;
        let (text, changed) = match style {
            0 => (
                format!("{k}: plain words{comment}\n"),
                Some("{k}: {}{comment}"),
            ),
            1 => (
                format!("{k}: 'single ''quoted'''{comment}\n"),
                Some("{k}: '{}'{comment}"),
            ),
            2 => (
                format!("{k}: \"double \\\"quoted\\\"\"{comment}\n"),
                Some("{k}: \"{}\"{comment}"),
            ),
            3 => (format!("{k}: |\n  literal one\n  literal two\n"), None),
            4 => (format!("{k}: >-\n  folded one\n  folded two\n"), None),
            5 => (format!("{k}: [a, 'b', \"c\"]{comment}\n"), None),
            6 => (format!("{k}: [\n  one,\n  two\n]\n"), None),
            7 => (format!("{k}:\n  - one\n  - 'two'\n"), None),
            8 => (format!("{k}:\n- one\n- two\n"), None),
            9 => (
                format!("{k}:\n    nested: 1\n    deeper: {{a: [1, 2]}}\n"),
                None,
            ),
            10 => (format!("{k}: &anchor{i} {{x: 1, y: two}}{comment}\n"), None),
            _ => (format!("{k}: 42{comment}\n\n# between\n"), None),
        };
        let changed = changed.map(|c| {
            &*Box::leak(
                c.replace("{k}", k)
                    .replace("{comment}", comment)
                    .into_boxed_str(),
            )
        });
        Entry {
            key: k.clone(),
            text,
            changed,
            exact: style != 4,
        }
    })
}

fn yaml_front() -> impl Strategy<Value = Vec<Entry>> {
    (1..7usize).prop_flat_map(|n| (0..n).map(yaml_entry).collect::<Vec<_>>())
}

fn text_of(entries: &[Entry]) -> String {
    let inner: String = entries.iter().map(|e| e.text.as_str()).collect();
    format!("---\n{inner}---\nBody\n")
}

/// A new value of the same kind as `value`: a string for a string, one item
/// more for a list, one key more for a mapping.
fn changed_value(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items = items.clone();
            items.push(Value::from("new text"));
            Value::Array(items)
        }
        Value::Object(map) => {
            let mut map = map.clone();
            map.insert("added".to_owned(), Value::from(1));
            Value::Object(map)
        }
        Value::Number(_) => Value::from(7),
        // A date stays a date (in TOML, a date-time value).
        Value::String(s) if s.len() == 10 && s.as_bytes().get(4) == Some(&b'-') => {
            Value::from("2000-01-01")
        }
        _ => Value::from("new text"),
    }
}

fn read(text: &str) -> (Document, Parsed) {
    parse(Utf8Path::new("a.md"), text.as_bytes()).unwrap()
}

fn write(parsed: &Parsed, doc: &Document) -> String {
    String::from_utf8(render(parsed, doc).unwrap()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn yaml_untouched_entries_keep_their_bytes_and_changes_come_back(
        entries in yaml_front(),
        pick in any::<prop::sample::Index>(),
    ) {
        let text = text_of(&entries);
        let (doc, parsed) = read(&text);
        let entry = &entries[pick.index(entries.len())];
        // Change one value.
        let mut changed = doc.clone();
        let new = changed_value(doc.get(&entry.key).unwrap());
        changed.set(entry.key.clone(), new);
        let out = write(&parsed, &changed);
        for other in entries.iter().filter(|e| e.key != entry.key) {
            let own = other.text.split("\n\n").next().unwrap_or_default();
            prop_assert!(out.contains(own), "{} lost its bytes:\n{out}", other.key);
        }
        if let Some(style) = entry.changed {
            let expected = style.replace("{}", "new text");
            prop_assert!(out.contains(&expected), "{expected:?} not in\n{out}");
        }
        let (_, parsed_out) = read(&out);
        let back = write(&parsed_out, &doc);
        if entry.exact {
            prop_assert_eq!(&back, &text);
        }
        // Rename it, add a key, and back.
        let mut renamed = doc.clone();
        renamed.rename(&entry.key, "renamed").unwrap();
        renamed.set("added", Value::from(vec!["x", "y"]));
        let out = write(&parsed, &renamed);
        for other in entries.iter().filter(|e| e.key != entry.key) {
            let own = other.text.split("\n\n").next().unwrap_or_default();
            prop_assert!(out.contains(own), "{} lost its bytes:\n{out}", other.key);
        }
        let (_, parsed_out) = read(&out);
        let back = write(&parsed_out, &doc);
        prop_assert_eq!(&back, &text);
    }
}

fn toml_entry(i: usize) -> impl Strategy<Value = (String, String, Option<&'static str>)> {
    let comment = prop_oneof![Just(""), Just(" # note")];
    (0..7usize, comment).prop_map(move |(style, comment)| {
        let k = format!("k{i}");
        let (text, changed) = match style {
            0 => (
                format!("{k} = \"basic\"{comment}\n"),
                Some("{k} = \"{}\"{comment}"),
            ),
            1 => (
                format!("{k} = 'literal'{comment}\n"),
                Some("{k} = '{}'{comment}"),
            ),
            2 => (format!("{k} = [\"a\", \"b\"]{comment}\n"), None),
            3 => (format!("{k} = [\n  'a',\n  'b',\n]\n"), None),
            4 => (format!("{k} = {{ x = 1, y = 'two' }}{comment}\n"), None),
            5 => (format!("{k} = 1979-05-27{comment}\n"), None),
            _ => (format!("{k} = 3\n\n# between\n"), None),
        };
        let changed = changed.map(|c| {
            &*Box::leak(
                c.replace("{k}", &k)
                    .replace("{comment}", comment)
                    .into_boxed_str(),
            )
        });
        (k, text, changed)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn toml_untouched_entries_keep_their_bytes_and_changes_come_back(
        entries in (1..7usize).prop_flat_map(|n| (0..n).map(toml_entry).collect::<Vec<_>>()),
        pick in any::<prop::sample::Index>(),
    ) {
        let inner: String = entries.iter().map(|e| e.1.as_str()).collect();
        let text = format!("+++\n{inner}+++\nBody\n");
        let (doc, parsed) = read(&text);
        let (key, _, style) = &entries[pick.index(entries.len())];
        let mut changed = doc.clone();
        let new = changed_value(doc.get(key).unwrap());
        changed.set(key.clone(), new);
        let out = write(&parsed, &changed);
        for other in entries.iter().filter(|e| &e.0 != key) {
            prop_assert!(out.contains(&other.1), "{} lost its bytes:\n{out}", other.0);
        }
        if let Some(style) = style {
            let expected = style.replace("{}", "new text");
            prop_assert!(out.contains(&expected), "{expected:?} not in\n{out}");
        }
        let (_, parsed_out) = read(&out);
        prop_assert_eq!(&write(&parsed_out, &doc), &text);
        let mut renamed = doc.clone();
        renamed.rename(key, "renamed").unwrap();
        renamed.set("added", 1);
        let out = write(&parsed, &renamed);
        let (_, parsed_out) = read(&out);
        prop_assert_eq!(&write(&parsed_out, &doc), &text);
    }
}
