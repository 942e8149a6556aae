//! Tests of reading and writing back documents in every format.

use camino::Utf8Path;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn read(path: &str, text: &str) -> (Document, Parsed) {
    match parse(Utf8Path::new(path), text.as_bytes()) {
        Ok(read) => read,
        Err(error) => panic!("{path} did not parse: {error}\n{text}"),
    }
}

/// The text of `path` after `step` ran on it.
fn edit(path: &str, text: &str, step: impl FnOnce(&mut Document)) -> String {
    let (mut doc, parsed) = read(path, text);
    step(&mut doc);
    let bytes = render(&parsed, &doc).unwrap_or_else(|error| panic!("render failed: {error}"));
    let out = String::from_utf8(bytes).expect("render writes UTF-8");
    // Whatever was written reads back as the step's document.
    let (again, _) = read(path, &out);
    assert_eq!(again.fields(), doc.fields(), "{out}");
    assert_eq!(again.body(), doc.body(), "{out}");
    out
}

fn error(path: &str, bytes: &[u8]) -> String {
    match parse(Utf8Path::new(path), bytes) {
        Ok((doc, _)) => panic!("{path} parsed as {:?}", doc.fields()),
        Err(error) => error.to_string(),
    }
}

/// The lines that differ, for texts of the same number of lines.
fn changed_lines<'a>(a: &'a str, b: &'a str) -> Vec<(&'a str, &'a str)> {
    let (a_lines, b_lines): (Vec<_>, Vec<_>) = (
        a.split_inclusive('\n').collect(),
        b.split_inclusive('\n').collect(),
    );
    assert_eq!(
        a_lines.len(),
        b_lines.len(),
        "line counts differ:\n{a}\n---\n{b}"
    );
    a_lines
        .into_iter()
        .zip(b_lines)
        .filter(|(a, b)| a != b)
        .collect()
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn keys(doc: &Document) -> Vec<&str> {
    doc.fields().keys().map(String::as_str).collect()
}

#[test]
fn format_from_path() {
    let of = |p: &str| Format::from_path(Utf8Path::new(p));
    assert_eq!(of("a/b.JSON"), Some(Format::Json));
    assert_eq!(of("b.toml"), Some(Format::Toml));
    assert_eq!(of("b.yml"), Some(Format::Yaml));
    assert_eq!(of("b.Yaml"), Some(Format::Yaml));
    assert_eq!(of("b.md"), Some(Format::Markdown));
    assert_eq!(of("b.markdown"), Some(Format::Markdown));
    assert_eq!(of("b.txt"), None);
    assert_eq!(of("json"), None);
    assert_eq!(Format::Markdown.name(), "markdown");
    assert_eq!(
        error("notes/a.txt", b"{}"),
        "notes/a.txt: not a document: the extension is not .json, .toml, .yaml, .yml, .md or .markdown"
    );
}

// ---------------------------------------------------------------- JSON

const JSON: &str = r#"{
  "title": "Groceries ✓",
  "tags": "food, weekly",
  "meta": {
    "created": "2024-01-01",
    "n": [1, 2.5, null]
  },
  "custom": {"x": true},
  "last": 0
}
"#;

#[test]
fn json_unchanged_is_identical() {
    let (doc, parsed) = read("a.json", JSON);
    assert_eq!(keys(&doc), ["title", "tags", "meta", "custom", "last"]);
    assert_eq!(parsed.format(), Format::Json);
    assert_eq!(render(&parsed, &doc).unwrap(), JSON.as_bytes());
}

#[test]
fn json_set_scalar_changes_one_line() {
    let out = edit("a.json", JSON, |d| {
        d.set("tags", "food");
    });
    assert_eq!(
        changed_lines(JSON, &out),
        [("  \"tags\": \"food, weekly\",\n", "  \"tags\": \"food\",\n")]
    );
}

#[test]
fn json_rename_keeps_place_and_value_text() {
    let out = edit("a.json", JSON, |d| {
        assert_eq!(d.rename("meta", "info"), Ok(true));
    });
    assert_eq!(
        changed_lines(JSON, &out),
        [("  \"meta\": {\n", "  \"info\": {\n")]
    );
}

#[test]
fn json_remove_and_add() {
    let out = edit("a.json", JSON, |d| {
        d.remove("tags");
        d.set("status", "draft");
    });
    assert_eq!(
        out,
        JSON.replace("  \"tags\": \"food, weekly\",\n", "")
            .replace("\"last\": 0\n", "\"last\": 0,\n  \"status\": \"draft\"\n")
    );
    // A new key put where a removed one was takes its place.
    let out = edit("a.json", JSON, |d| {
        let fields = std::mem::take(d.fields_mut());
        *d.fields_mut() = fields
            .into_iter()
            .map(|(k, v)| {
                if k == "tags" {
                    ("labels".to_owned(), json!([]))
                } else {
                    (k, v)
                }
            })
            .collect();
    });
    assert_eq!(
        out,
        JSON.replace("\"tags\": \"food, weekly\"", "\"labels\": []")
    );
    let out = edit("a.json", JSON, |d| {
        d.remove("custom");
    });
    assert_eq!(out, JSON.replace("  \"custom\": {\"x\": true},\n", ""));
    let out = edit("a.json", JSON, |d| {
        d.remove("last");
    });
    assert_eq!(out, JSON.replace(",\n  \"last\": 0", ""));
    let out = edit("a.json", JSON, |d| {
        d.set("status", json!({"a": [1]}));
    });
    assert_eq!(
        out,
        JSON.replace(
            "\"last\": 0\n",
            "\"last\": 0,\n  \"status\": {\n    \"a\": [\n      1\n    ]\n  }\n"
        )
    );
}

#[test]
fn json_nested_change_edits_only_what_changed() {
    let out = edit("a.json", JSON, |d| {
        d.fields_mut()["meta"]["created"] = json!("2025");
        d.fields_mut()["custom"]["y"] = json!(1);
    });
    let expected = JSON
        .replace("\"2024-01-01\"", "\"2025\"")
        .replace("{\"x\": true}", "{\"x\": true, \"y\": 1}");
    assert_eq!(out, expected);
}

/// A change deep inside an object or a list is made there: the members
/// and elements beside it keep their text (escapes, number spellings,
/// one-line lists, spacing), at every depth.
#[test]
fn json_a_deep_change_keeps_the_text_around_it() {
    let text = concat!(
        "{\r\n",
        "    \"name\": \"caf\\u00e9\",\r\n",
        "    \"build\": {\r\n",
        "        \"targets\": [\r\n",
        "            {\"os\": \"linux\", \"arch\": [\"x86_64\",\"arm64\"], \"opt\": 1.50},\r\n",
        "            {\"os\": \"mac\", \"arch\": [\"arm64\"], \"opt\": 2E3}\r\n",
        "        ],\r\n",
        "        \"env\": {\"A\":\"1\"}\r\n",
        "    },\r\n",
        "    \"tags\": [ \"a\" , \"b\" ]\r\n",
        "}"
    );
    let out = edit("a.json", text, |d| {
        let fields = d.fields_mut();
        fields["build"]["targets"][1]["os"] = json!("macos");
        fields["build"]["env"]["B"] = json!("2");
        fields["tags"][1] = json!("c");
    });
    let expected = text
        .replace("\"mac\"", "\"macos\"")
        .replace("{\"A\":\"1\"}", "{\"A\":\"1\", \"B\":\"2\"}")
        .replace("\"b\" ]", "\"c\" ]");
    assert_eq!(out, expected);
    // A new member of a nested object over several lines goes on a line of
    // its own, indented like the others.
    let out = edit("a.json", JSON, |d| {
        d.fields_mut()["meta"]["by"] = json!({"name": "ann"});
    });
    let expected = JSON.replace(
        "\"n\": [1, 2.5, null]\n",
        "\"n\": [1, 2.5, null],\n    \"by\": {\n      \"name\": \"ann\"\n    }\n",
    );
    assert_eq!(out, expected);
    // A list whose length changes keeps the elements that stay.
    let out = edit("a.json", JSON, |d| {
        d.fields_mut()["meta"]["n"] = json!([1, null]);
    });
    assert_eq!(out, JSON.replace("[1, 2.5, null]", "[1, null]"));
}

/// Elements added to a list or removed from it go with their separator;
/// the others keep their text, and a new element is laid out like them.
#[test]
fn json_a_list_keeps_its_elements_when_some_are_added_or_removed() {
    let text = concat!(
        "{\n",
        "  \"plugins\": [\n",
        "    {\"name\": \"a\", \"args\": [1,2]},\n",
        "    {\"name\": \"b\", \"args\": []}\n",
        "  ],\n",
        "  \"tags\": [\"x\",\"y\",\"z\"]\n",
        "}\n"
    );
    let out = edit("a.json", text, |d| {
        let fields = d.fields_mut();
        fields["plugins"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "c"}));
        fields["tags"].as_array_mut().unwrap().remove(1);
    });
    let expected = text
        .replace(
            "\"args\": []}\n",
            "\"args\": []},\n    {\n      \"name\": \"c\"\n    }\n",
        )
        .replace("[\"x\",\"y\",\"z\"]", "[\"x\",\"z\"]");
    assert_eq!(out, expected);
    // An element inserted before the others.
    let out = edit("a.json", text, |d| {
        d.fields_mut()["tags"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!("w"));
    });
    assert_eq!(
        out,
        text.replace("[\"x\",\"y\",\"z\"]", "[\"w\",\"x\",\"y\",\"z\"]")
    );
    // An element rewritten over several lines, in a list whose first
    // element is on the line of its `[`, is indented as that line.
    let nested = "{\n  \"a\": [{\n    \"x\": [1]\n  }, {\n    \"x\": [2]\n  }]\n}\n";
    let out = edit("a.json", nested, |d| {
        d.fields_mut()["a"][1] = json!(["y", "z"]);
    });
    assert_eq!(
        out,
        "{\n  \"a\": [{\n    \"x\": [1]\n  }, [\n    \"y\",\n    \"z\"\n  ]]\n}\n"
    );
    // Removing the first element of a list over several lines.
    let out = edit("a.json", text, |d| {
        d.fields_mut()["plugins"].as_array_mut().unwrap().remove(0);
    });
    assert_eq!(
        out,
        text.replace("    {\"name\": \"a\", \"args\": [1,2]},\n", "")
    );
}

#[test]
fn json_keeps_indentation_crlf_bom_and_missing_final_newline() {
    let text = "\u{feff}{\r\n    \"a\": 1,\r\n    \"b\": {\r\n        \"c\": 2\r\n    }\r\n}";
    let out = edit("a.json", text, |d| {
        d.set("a", 2);
        d.set("z", json!({"k": "v"}));
    });
    assert_eq!(
        out,
        "\u{feff}{\r\n    \"a\": 2,\r\n    \"b\": {\r\n        \"c\": 2\r\n    },\r\n    \"z\": {\r\n        \"k\": \"v\"\r\n    }\r\n}"
    );
}

#[test]
fn json_compact_file_stays_compact() {
    let out = edit("a.json", "{\"a\":1}", |d| {
        d.set("b", json!([true]));
    });
    // Written without spaces, as the document is.
    assert_eq!(out, "{\"a\":1,\"b\":[true]}");
    let out = edit("a.json", "{}\n", |d| {
        d.set("b", 1);
    });
    assert_eq!(out, "{\n  \"b\": 1\n}\n");
    let out = edit("a.json", "{\"a\": 1}\n", |d| {
        d.remove("a");
    });
    assert_eq!(out, "{}\n");
}

#[test]
fn json_reordering_writes_canonically() {
    let out = edit("a.json", "{\"a\": 1, \"b\": 2}", |d| {
        let fields = std::mem::take(d.fields_mut());
        *d.fields_mut() = fields.into_iter().rev().collect();
    });
    assert_eq!(out, "{\n  \"b\": 2,\n  \"a\": 1\n}");
}

#[test]
fn json_errors_name_path_and_line() {
    let message = error("notes/a.json", b"{\n  \"a\": 1,\n  \"b\": ]\n}");
    assert!(
        message.starts_with("notes/a.json line 3, column 8: invalid JSON: "),
        "{message}"
    );
    let message = error("a.json", b"{\"a\": 1, \"a\": 2}");
    assert!(message.starts_with("a.json line 1"), "{message}");
    assert!(message.contains("duplicate key `a` in JSON"), "{message}");
    let message = error("a.json", b"{\"x\": {\"b\": 1, \"b\": 1}}");
    assert!(message.contains("duplicate key `b`"), "{message}");
    let message = error("a.json", b"[1]");
    assert_eq!(
        message,
        "a.json: the top level of the JSON must be a mapping, not an array"
    );
    let message = error("a.json", b"{\"a\": \"\xff\"}");
    assert_eq!(message, "a.json line 1, column 8: not valid UTF-8");
    let deep = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let message = error("a.json", deep.as_bytes());
    assert!(message.contains("recursion limit exceeded"), "{message}");
}

#[test]
fn body_only_in_markdown() {
    let (doc, parsed) = read("a.json", "{}");
    let doc = doc.with_body("text");
    let message = render(&parsed, &doc).unwrap_err().to_string();
    assert_eq!(
        message,
        "a.json: a json document has no body, but the step set one"
    );
}

// ---------------------------------------------------------------- TOML

const TOML: &str = r#"# A note.
title = "Groceries"   # shown in lists
tags = "food, weekly"
schema_version = 1

# Where it came from.
[meta]
created = 1979-05-27T07:32:00Z # the first
source = { app = "notes", build = 7 }
list = [
  1, # one
  2,
]

[[items]]
name = "milk" # cold
qty = 1

[[items]]
name = "bread"
qty = 2
"#;

#[test]
fn toml_unchanged_is_identical() {
    let (doc, parsed) = read("a.toml", TOML);
    assert_eq!(
        keys(&doc),
        ["title", "tags", "schema_version", "meta", "items"]
    );
    assert_eq!(
        doc.get("meta").unwrap()["created"],
        json!("1979-05-27T07:32:00Z")
    );
    assert_eq!(render(&parsed, &doc).unwrap(), TOML.as_bytes());
}

#[test]
fn toml_set_scalar_changes_one_line_and_keeps_comment() {
    let out = edit("a.toml", TOML, |d| {
        d.set("title", "Shopping");
    });
    assert_eq!(
        changed_lines(TOML, &out),
        [(
            "title = \"Groceries\"   # shown in lists\n",
            "title = \"Shopping\"   # shown in lists\n"
        )]
    );
}

#[test]
fn toml_nested_changes_keep_siblings_and_comments() {
    let out = edit("a.toml", TOML, |d| {
        d.fields_mut()["meta"]["source"]["build"] = json!(8);
        d.fields_mut()["meta"]["created"] = json!("2000-01-01T00:00:00Z");
        d.fields_mut()["items"][0]["qty"] = json!(3);
    });
    assert_eq!(
        changed_lines(TOML, &out),
        [
            (
                "created = 1979-05-27T07:32:00Z # the first\n",
                "created = 2000-01-01T00:00:00Z # the first\n"
            ),
            (
                "source = { app = \"notes\", build = 7 }\n",
                "source = { app = \"notes\", build = 8 }\n"
            ),
            ("qty = 1\n", "qty = 3\n"),
        ]
    );
}

#[test]
fn toml_rename_remove_add() {
    let out = edit("a.toml", TOML, |d| {
        assert_eq!(d.rename("tags", "labels"), Ok(true));
    });
    assert_eq!(
        changed_lines(TOML, &out),
        [("tags = \"food, weekly\"\n", "labels = \"food, weekly\"\n")]
    );
    let out = edit("a.toml", TOML, |d| {
        d.remove("tags");
    });
    assert_eq!(out, TOML.replace("tags = \"food, weekly\"\n", ""));
    let out = edit("a.toml", TOML, |d| {
        d.set("status", "draft");
        d.fields_mut()["meta"]["extra"] = json!(true);
    });
    // A new plain key goes before the first table, as TOML requires.
    assert_eq!(
        out,
        TOML.replace(
            "schema_version = 1\n",
            "schema_version = 1\nstatus = \"draft\"\n"
        )
        .replace("  2,\n]\n", "  2,\n]\nextra = true\n")
    );
    let out = edit("a.toml", TOML, |d| {
        d.set("owner", json!({"name": "a"}));
    });
    assert!(out.starts_with(TOML), "{out}");
    assert!(out.ends_with("\n[owner]\nname = \"a\"\n"), "{out}");
    // A new table that holds only a table gets no empty header of its own.
    let text = "[package]\nname = \"x\"\n";
    let out = edit("Cargo.toml", text, |d| {
        d.fields_mut()["package"]["metadata"] = json!({"docs": {"all": true}});
    });
    assert_eq!(
        out,
        "[package]\nname = \"x\"\n\n[package.metadata.docs]\nall = true\n"
    );
    // An empty one keeps its header: nothing else would say it is there.
    let out = edit("Cargo.toml", text, |d| {
        d.fields_mut()["package"]["metadata"] = json!({});
    });
    assert_eq!(out, "[package]\nname = \"x\"\n\n[package.metadata]\n");
}

#[test]
fn toml_dotted_keys_and_inline_tables_change_in_place() {
    let text = "a.b = 1 # one\nz = { x = 1, y = [1, 2] } # inline\n";
    let out = edit("a.toml", text, |d| {
        d.fields_mut()["a"]["b"] = json!(2);
        d.fields_mut()["z"]["y"] = json!([3]);
        d.fields_mut()["z"]["w"] = json!("new");
    });
    assert_eq!(
        out,
        "a.b = 2 # one\nz = { x = 1, y = [3], w = \"new\" } # inline\n"
    );
}

#[test]
fn toml_keeps_crlf_bom_and_missing_final_newline() {
    let text = "\u{feff}# c\r\na = 1 # one\r\n\r\n[t]\r\nb = 2";
    let out = edit("a.toml", text, |d| {
        d.set("a", 5);
    });
    assert_eq!(out, "\u{feff}# c\r\na = 5 # one\r\n\r\n[t]\r\nb = 2");
}

#[test]
fn toml_refuses_null_naming_the_key() {
    let (mut doc, parsed) = read("cfg/a.toml", TOML);
    doc.fields_mut()["meta"]["source"]["app"] = Value::Null;
    let message = render(&parsed, &doc).unwrap_err().to_string();
    assert_eq!(
        message,
        "cfg/a.toml: `meta.source.app` cannot be written as TOML: TOML has no null"
    );
    let doc = Document::new("n.toml", obj(json!({"a": [1, null]})));
    let message = render_new(Format::Toml, &doc).unwrap_err().to_string();
    assert!(message.contains("`a.1`"), "{message}");
}

#[test]
fn toml_errors_name_path_and_line() {
    let message = error("c/a.toml", b"a = 1\nb = \n");
    assert!(message.starts_with("c/a.toml line 2, column "), "{message}");
    assert!(message.contains("invalid TOML"), "{message}");
    let message = error("a.toml", b"a = 1\n[t]\nx = 1\nx = 2\n");
    assert!(
        message.starts_with("a.toml line 4, column 1: duplicate key `x`"),
        "{message}"
    );
    let message = error("a.toml", b"a = \"\xc3\x28\"\n");
    assert_eq!(message, "a.toml line 1, column 6: not valid UTF-8");
    let message = error("a.toml", b"a = nan\n");
    assert!(
        message.contains("`a` cannot be read from TOML"),
        "{message}"
    );
    let deep = format!("{} = 1", vec!["a"; 100_000].join("."));
    let message = error("a.toml", deep.as_bytes());
    assert!(message.contains("invalid TOML"), "{message}");
    let deep = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let message = error("a.toml", deep.as_bytes());
    assert!(message.contains("invalid TOML"), "{message}");
}

// ---------------------------------------------------------------- YAML

const YAML: &str = "# A note.
title: Groceries # shown in lists
tags: food, weekly

# Where it came from.
meta:
  created: 2024-01-01 # the first
  source: {app: notes, build: 7}
list:
- 1
# between
- 2
body: |
  line one
  # not a comment

  line three
last: 0
";

#[test]
fn yaml_unchanged_is_identical() {
    let (doc, parsed) = read("a.yaml", YAML);
    assert_eq!(
        keys(&doc),
        ["title", "tags", "meta", "list", "body", "last"]
    );
    assert_eq!(
        doc.get_str("body"),
        Some("line one\n# not a comment\n\nline three\n")
    );
    assert_eq!(render(&parsed, &doc).unwrap(), YAML.as_bytes());
}

#[test]
fn yaml_set_scalar_changes_one_line() {
    let out = edit("a.yaml", YAML, |d| {
        d.set("tags", "food");
    });
    assert_eq!(
        changed_lines(YAML, &out),
        [("tags: food, weekly\n", "tags: food\n")]
    );
    let out = edit("a.yaml", YAML, |d| {
        d.set("last", 1);
    });
    assert_eq!(changed_lines(YAML, &out), [("last: 0\n", "last: 1\n")]);
}

#[test]
fn yaml_rename_keeps_block_and_comments() {
    let out = edit("a.yaml", YAML, |d| {
        assert_eq!(d.rename("meta", "origin"), Ok(true));
        assert_eq!(d.rename("title", "yes"), Ok(true));
    });
    assert_eq!(
        changed_lines(YAML, &out),
        [
            (
                "title: Groceries # shown in lists\n",
                "\"yes\": Groceries # shown in lists\n"
            ),
            ("meta:\n", "origin:\n"),
        ]
    );
}

#[test]
fn yaml_remove_add_and_nested_change() {
    // A removed key takes the comment right above it along.
    let out = edit("a.yaml", YAML, |d| {
        d.remove("meta");
    });
    assert_eq!(
        out,
        YAML.replace(
            "# Where it came from.\nmeta:\n  created: 2024-01-01 # the first\n  source: {app: notes, build: 7}\n",
            ""
        )
    );
    // But not the first key, whose comment may be about the whole file.
    let out = edit("a.yaml", YAML, |d| {
        d.remove("title");
    });
    assert_eq!(out, YAML.replace("title: Groceries # shown in lists\n", ""));
    let out = edit("a.yaml", YAML, |d| {
        d.set("status", "draft");
        d.set("tags", json!(["food", "weekly"]));
    });
    assert_eq!(
        out,
        YAML.replace("tags: food, weekly\n", "tags:\n- food\n- weekly\n")
            .replace("last: 0\n", "last: 0\nstatus: draft\n")
    );
    let out = edit("a.yaml", YAML, |d| {
        d.fields_mut()["meta"]["source"]["build"] = json!(8);
    });
    // Only the changed value changes, in its own (flow) style.
    assert_eq!(
        changed_lines(YAML, &out),
        [(
            "  source: {app: notes, build: 7}\n",
            "  source: {app: notes, build: 8}\n"
        )]
    );
}

#[test]
fn yaml_keeps_crlf_bom_and_missing_final_newline() {
    let text = "\u{feff}# c\r\na: 1 # one\r\n\r\nb:\r\n  c: 2";
    let out = edit("a.yml", text, |d| {
        d.set("a", 5);
        d.set("z", json!([1]));
    });
    // The comment after the changed value stays; a new list with no other
    // list to learn from is a block list indented by two spaces.
    assert_eq!(
        out,
        "\u{feff}# c\r\na: 5 # one\r\n\r\nb:\r\n  c: 2\r\nz:\r\n  - 1"
    );
}

#[test]
fn yaml_empty_and_comment_only_files() {
    let out = edit("a.yaml", "", |d| {
        d.set("a", 1);
    });
    assert_eq!(out, "a: 1\n");
    let out = edit("a.yaml", "# only\n", |d| {
        d.set("a", 1);
    });
    assert_eq!(out, "# only\na: 1\n");
}

#[test]
fn yaml_errors_name_path_and_line() {
    let message = error("c/a.yaml", b"a: 1\nb: [1,\n");
    assert!(
        message.starts_with("c/a.yaml line 3, column 1: invalid YAML: "),
        "{message}"
    );
    let message = error("a.yaml", b"a: 1\nb:\n  c: 1\n  c: 2\n");
    assert!(message.starts_with("a.yaml line 3, column 3"), "{message}");
    assert!(message.contains("duplicate key `c` in YAML"), "{message}");
    let message = error("a.yaml", b"- 1\n");
    assert_eq!(
        message,
        "a.yaml: the top level of the YAML must be a mapping, not an array"
    );
    let message = error("a.yaml", b"a: \xff\n");
    assert_eq!(message, "a.yaml line 1, column 4: not valid UTF-8");
    let message = error("a.yaml", b"a: !thing 1\n");
    assert!(message.contains("tagged values"), "{message}");
    let message = error("a.yaml", b"a: .nan\n");
    assert!(
        message.contains("cannot be held by a document"),
        "{message}"
    );
    let deep = format!("a: {}{}", "[".repeat(200), "]".repeat(200));
    let message = error("a.yaml", deep.as_bytes());
    assert!(message.contains("recursion limit exceeded"), "{message}");
    let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let message = error("a.yaml", deep.as_bytes());
    assert_eq!(
        message,
        "a.yaml line 1, column 1028: invalid YAML: more than 1024 unclosed `[` or `{`"
    );
    let deep = format!("a:\n{}", "- ".repeat(100_000));
    let message = error("a.yaml", deep.as_bytes());
    assert!(message.contains("recursion limit exceeded"), "{message}");
    let message = error("a.yaml", b"a: 1\n---\nb: 2\n");
    assert!(message.contains("more than one document"), "{message}");
}

// ---------------------------------------------------------------- Markdown

const MD: &str = "---
title: Groceries # shown in lists
tags: food, weekly
---
# Groceries

- milk
---
Not front matter: a thematic break.
";

#[test]
fn markdown_unchanged_is_identical() {
    let (doc, parsed) = read("notes/a.md", MD);
    assert_eq!(keys(&doc), ["title", "tags"]);
    assert_eq!(
        doc.body(),
        Some("# Groceries\n\n- milk\n---\nNot front matter: a thematic break.\n")
    );
    assert_eq!(render(&parsed, &doc).unwrap(), MD.as_bytes());
}

#[test]
fn markdown_set_scalar_changes_one_line_and_keeps_body() {
    let out = edit("notes/a.md", MD, |d| {
        d.set("tags", json!("food"));
    });
    assert_eq!(
        changed_lines(MD, &out),
        [("tags: food, weekly\n", "tags: food\n")]
    );
    let out = edit("notes/a.md", MD, |d| {
        d.set("status", "draft");
        d.remove("title");
    });
    assert_eq!(
        out,
        MD.replace(
            "title: Groceries # shown in lists\ntags: food, weekly\n",
            "tags: food, weekly\nstatus: draft\n"
        )
    );
}

#[test]
fn markdown_body_change() {
    let out = edit("a.md", MD, |d| d.set_body("new\n"));
    assert_eq!(
        out,
        "---\ntitle: Groceries # shown in lists\ntags: food, weekly\n---\nnew\n"
    );
}

#[test]
fn markdown_without_or_with_empty_front_matter() {
    let text = "# Title\r\n\r\n---\r\nText";
    let (doc, _) = read("a.md", text);
    assert!(doc.fields().is_empty());
    assert_eq!(doc.body(), Some(text));
    // A step that gives it fields is refused, unless adding one is allowed.
    let (mut doc, parsed) = read("a.md", text);
    doc.set("status", "draft");
    let refused = render(&parsed, &doc).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "a.md: has no front matter, but the step gave it fields (status); a front matter is \
         written only where the store is told to add one"
    );
    let out = render_adding_front_matter(&parsed, &doc).unwrap();
    assert_eq!(
        out,
        format!("---\r\nstatus: draft\r\n---\r\n{text}").as_bytes()
    );
    // A body alone changes the file without a front matter.
    let out = edit("a.md", text, |d| d.set_body("new\n"));
    assert_eq!(out, "new\n");
    let out = edit("a.md", "---\n---\nbody", |d| {
        d.set("a", 1);
    });
    assert_eq!(out, "---\na: 1\n---\nbody");
    let out = edit("a.md", "---\na: 1\n---\nbody", |d| {
        d.remove("a");
    });
    assert_eq!(out, "---\n---\nbody");
}

#[test]
fn markdown_keeps_crlf_bom_dots_closer_and_missing_newline() {
    let text = "\u{feff}---\r\na: 1\r\nb: 2\r\n...\r\nbody\r\n---\r\nmore";
    let out = edit("a.markdown", text, |d| {
        d.set("b", 3);
    });
    assert_eq!(out, text.replace("b: 2", "b: 3"));
    let out = edit("a.md", "---\na: 1\n---", |d| {
        d.set("a", 2);
    });
    assert_eq!(out, "---\na: 2\n---");
}

#[test]
fn markdown_errors_name_path_and_file_line() {
    let message = error("notes/a.md", b"---\ntitle: a\nstatus: [draft\n---\nbody\n");
    assert!(
        message.starts_with("notes/a.md line 4, column 1: invalid YAML front matter: "),
        "{message}"
    );
    let message = error("notes/a.md", b"---\na: 1\na: 2\n---\n");
    assert!(
        message.starts_with("notes/a.md line 2, column 1"),
        "{message}"
    );
    assert!(
        message.contains("duplicate key `a` in YAML front matter"),
        "{message}"
    );
    let message = error("notes/a.md", b"---\na: 1\nbody\n");
    assert!(message.starts_with("notes/a.md line 1, column 1: invalid YAML front matter: front matter opened here is never closed"), "{message}");
    let message = error("notes/a.md", b"---\n- a\n---\n");
    assert!(
        message.contains("must be a mapping, not an array"),
        "{message}"
    );
    let message = error("notes/a.md", b"---\na: 1\n---\n\xe2\x82\n");
    assert_eq!(message, "notes/a.md line 4, column 1: not valid UTF-8");
}

#[test]
fn toml_strings_with_line_breaks_keep_them_in_a_crlf_file() {
    // Written as multi-line strings, their line breaks would become the
    // file's CRLF and change the value.
    let out = edit("a.toml", "a = 1\r\n", |d| {
        d.set("text", "two\nlines");
        d.set("list", json!(["x\ny", "z"]));
    });
    assert_eq!(
        out,
        "a = 1\r\ntext = \"two\\nlines\"\r\nlist = [\"x\\ny\", \"z\"]\r\n"
    );
}

#[test]
fn markdown_with_toml_front_matter_is_edited_as_toml() {
    let text = "+++\r\ntitle = \"Hugo post\" # shown in lists\r\ndraft = true\r\n\r\n\
                [params]\r\nauthor = \"ana\"\r\n+++\r\nBody with ---\r\n+++ too\r\n";
    let (doc, parsed) = read("content/post.md", text);
    assert_eq!(keys(&doc), ["title", "draft", "params"]);
    assert_eq!(doc.body(), Some("Body with ---\r\n+++ too\r\n"));
    assert_eq!(render(&parsed, &doc).unwrap(), text.as_bytes());
    let out = edit("content/post.md", text, |d| {
        d.set("draft", false);
        d.rename("title", "name").unwrap();
    });
    assert_eq!(
        out,
        text.replace("draft = true", "draft = false")
            .replace("title = ", "name = ")
    );
    let out = edit("content/post.md", text, |d| d.set_body("new\n"));
    assert!(out.starts_with("+++\r\ntitle = "), "{out}");
    assert!(out.ends_with("+++\r\nnew\n"), "{out}");
    // Errors count the lines of the file, from the opening `+++`.
    let message = error("content/post.md", b"+++\ntitle = \"a\"\ndraft = \n+++\n");
    assert!(message.starts_with("content/post.md line 3"), "{message}");
    let message = error("content/post.md", b"+++\ntitle = \"a\"\n---\n");
    assert!(
        message.contains("never closed by a `+++` line"),
        "{message}"
    );
}

// ---------------------------------------------------------------- properties

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        "\\PC{0,6}",
        Just("---".to_owned()),
        Just("yes".to_owned()),
        Just("1".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        "[a-z #:'\"\\n-]{0,16}",
        Just("---".to_owned()),
        Just("true".to_owned()),
        Just(" lead\n\ttab ".to_owned()),
    ]
}

fn value(null: bool) -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        text().prop_map(Value::from),
        Just(if null { Value::Null } else { Value::from(0) }),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Json),
        Just(Format::Toml),
        Just(Format::Yaml),
        Just(Format::Markdown),
    ]
}

fn case() -> impl Strategy<Value = (Format, Map<String, Value>, String)> {
    format().prop_flat_map(|format| {
        let null = format != Format::Toml;
        (
            Just(format),
            prop::collection::vec((key(), value(null)), 0..6)
                .prop_map(|entries| entries.into_iter().collect::<Map<_, _>>()),
            prop_oneof!["\\PC{0,30}", "(---\n|\\PC{0,5}\n|\r\n){0,6}"],
        )
    })
}

fn path(format: Format) -> &'static str {
    match format {
        Format::Json => "p/doc.json",
        Format::Toml => "p/doc.toml",
        Format::Yaml => "p/doc.yaml",
        _ => "p/doc.md",
    }
}

/// Fields equal, in order except for TOML (which puts tables last).
fn fields_match(format: Format, a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if format == Format::Toml {
        a == b
    } else {
        same_map(a, b)
    }
}

proptest! {
    #[test]
    fn new_documents_read_back_and_write_back_unchanged(
        (format, fields, body) in case(),
    ) {
        let mut doc = Document::new(path(format), fields);
        if format == Format::Markdown {
            doc = doc.with_body(body);
        }
        let bytes = render_new(format, &doc).unwrap();
        let (read, parsed) = parse(doc.path(), &bytes).unwrap();
        prop_assert!(fields_match(format, read.fields(), doc.fields()), "{:?}", String::from_utf8_lossy(&bytes));
        prop_assert_eq!(read.body(), doc.body());
        prop_assert_eq!(render(&parsed, &read).unwrap(), bytes);
    }

    #[test]
    fn setting_one_field_reads_back(
        (format, fields, body) in case(),
        pick in any::<prop::sample::Index>(),
        new_key in key(),
        new_value in value(false),
    ) {
        let mut doc = Document::new(path(format), fields);
        if format == Format::Markdown {
            doc = doc.with_body(body);
        }
        let bytes = render_new(format, &doc).unwrap();
        let (mut read, parsed) = parse(doc.path(), &bytes).unwrap();
        let key = if read.fields().is_empty() || pick.index(2) == 0 {
            new_key
        } else {
            read.fields().keys().nth(pick.index(read.fields().len())).cloned().unwrap_or(new_key)
        };
        read.set(key, new_value);
        let out = render(&parsed, &read).unwrap();
        let (again, _) = parse(doc.path(), &out).unwrap();
        prop_assert!(
            fields_match(format, again.fields(), read.fields()),
            "{:?}", String::from_utf8_lossy(&out)
        );
        prop_assert_eq!(again.body(), read.body());
    }
}

/// Bytes a hostile or damaged file could hold: random bytes, or a document
/// of the format with a few bytes overwritten, inserted or cut.
fn damaged(format: Format) -> impl Strategy<Value = Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..400).boxed();
    let edited = (
        case(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    )
        .prop_map(move |((_, fields, body), edits)| {
            let mut doc = Document::new(path(format), fields);
            if format == Format::Markdown {
                doc = doc.with_body(body);
            }
            let mut bytes = render_new(format, &doc).unwrap_or_default();
            for (at, byte, how) in edits {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        })
        .boxed();
    prop_oneof![random, edited]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever the bytes, parsing returns a document or an error naming
    /// the file; it never panics, and what it accepts writes back as it read.
    #[test]
    fn damaged_documents_parse_or_fail_cleanly(
        (format, bytes) in prop_oneof![
            Just(Format::Json), Just(Format::Toml), Just(Format::Yaml), Just(Format::Markdown)
        ].prop_flat_map(|f| (Just(f), damaged(f))),
    ) {
        let path = Utf8Path::new(path(format));
        match parse(path, &bytes) {
            Ok((doc, parsed)) => {
                prop_assert_eq!(render(&parsed, &doc).unwrap(), bytes);
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.starts_with(path.as_str()), "{}", message);
            }
        }
    }
}

/// A removed key's place, and the comment above it, go to no other key: a
/// new key is added as new keys are. A renamed key keeps them, even when
/// the step changes its value too.
#[test]
fn a_removed_key_s_place_and_comment_go_only_to_that_key_renamed() {
    for (path, text) in [
        (
            "a.toml",
            "title = \"T\"\n# Old links, keep until 2030!\naliases = [\"a\"]\n",
        ),
        (
            "a.yaml",
            "title: T\n# Old links, keep until 2030!\naliases: [a]\n",
        ),
        (
            "a.md",
            "---\ntitle: T\n# Old links, keep until 2030!\naliases: [a]\n---\nBody\n",
        ),
    ] {
        let out = edit(path, text, |d| {
            d.remove("aliases");
            d.set("status", "draft");
        });
        assert!(!out.contains("2030"), "{path}: {out}");
        assert!(out.contains("status"), "{path}: {out}");
        let out = edit(path, text, |d| {
            assert_eq!(d.rename("aliases", "links"), Ok(true));
            d.set("links", json!(["b"]));
        });
        assert!(
            out.contains("# Old links, keep until 2030!\nlinks"),
            "{path}: {out}"
        );
    }
    let text = "{\n  \"aliases\": [\"a\"],\n  \"title\": \"T\"\n}\n";
    let out = edit("a.json", text, |d| {
        d.remove("aliases");
        d.set("status", "draft");
    });
    assert_eq!(out, "{\n  \"title\": \"T\",\n  \"status\": \"draft\"\n}\n");
    let out = edit("a.json", text, |d| {
        assert_eq!(d.rename("aliases", "links"), Ok(true));
        d.set("links", json!(["b"]));
    });
    assert_eq!(
        out,
        text.replace("\"aliases\": [\"a\"]", "\"links\": [\"b\"]")
    );
    // The comments above the first key, or before a blank line, stay.
    let text = "# File header\n\n# about title\ntitle = \"T\"\nx = 1\n\n# more\n\n# about y\ny = 2\nz = 3\n";
    let out = edit("a.toml", text, |d| {
        d.remove("title");
        d.remove("y");
    });
    assert_eq!(
        out,
        "# File header\n\n# about title\nx = 1\n\n# more\n\nz = 3\n"
    );
    let out = edit(
        "a.toml",
        "# Config\nversion = 1\n\n[server]\nport = 1\n",
        |d| {
            d.remove("version");
        },
    );
    assert_eq!(out, "# Config\n\n[server]\nport = 1\n");
    // A key that comes first only once the first is renamed is no first
    // key: its comment goes with it.
    let out = edit(
        "a.toml",
        "title = \"T\"\n# Old links\naliases = [\"a\"]\nweight = 1\n",
        |d| {
            assert_eq!(d.rename("title", "name"), Ok(true));
            d.remove("aliases");
        },
    );
    assert_eq!(out, "name = \"T\"\nweight = 1\n");
    // Under a table's header or a nested key, the first key's comment is
    // about that key, and goes with it.
    for (path, text, expected) in [
        (
            "a.toml",
            "x = 1\n\n[server]\n# Where to listen.\nhost = \"h\"\nport = 1\n",
            "x = 1\n\n[server]\nport = 1\n",
        ),
        (
            "a.yaml",
            "x: 1\nserver:\n  # Where to listen.\n  host: h\n  port: 1\n",
            "x: 1\nserver:\n  port: 1\n",
        ),
    ] {
        let out = edit(path, text, |d| {
            d.fields_mut()["server"]
                .as_object_mut()
                .unwrap()
                .shift_remove("host");
        });
        assert_eq!(out, expected, "{path}");
    }
    // In a TOML table: the new table is a table of its own, not the
    // removed key's line.
    let text = "[package]\nname = \"x\"\n# never publish: internal only\npublish = false\n";
    let out = edit("Cargo.toml", text, |d| {
        let package = d.fields_mut()["package"].as_object_mut().unwrap();
        package.shift_remove("publish");
        package.insert("metadata".into(), json!({"trial": {"y": 1}}));
    });
    assert_eq!(
        out,
        "[package]\nname = \"x\"\n\n[package.metadata.trial]\ny = 1\n"
    );
}

/// A rename keeps the order of the keys a dotted key holds, even where one
/// of them is named like a top-level key.
#[test]
fn toml_a_rename_keeps_the_order_inside_dotted_keys() {
    let text = "title = \"T\"\nextra.zeta = 1\nextra.date = 2\ndate = 2020-01-01\n";
    let out = edit("a.toml", text, |d| {
        assert_eq!(d.rename("title", "name"), Ok(true));
    });
    assert_eq!(out, text.replace("title", "name"));
}

/// Keys added to a TOML file whose top level held only tables go below the
/// comment lines at its top that a blank line parts from the first table;
/// a comment right above that table stays with it.
#[test]
fn toml_keys_added_to_a_file_of_tables_go_below_its_header_comment() {
    for (text, expected) in [
        (
            "# My app config\n\n[server]\nport = 1\n",
            "# My app config\n\nschema_version = 2\n\n[server]\nport = 1\n",
        ),
        (
            "# My app\n# config\n\n# about server\n[server]\nport = 1\n",
            "# My app\n# config\n\nschema_version = 2\n\n# about server\n[server]\nport = 1\n",
        ),
        (
            "# about server\n[server]\nport = 1\n",
            "schema_version = 2\n# about server\n[server]\nport = 1\n",
        ),
    ] {
        let out = edit("a.toml", text, |d| {
            d.set("schema_version", 2);
        });
        assert_eq!(out, expected);
    }
}
