//! Tests of what was found on real documentation sites: front matter that
//! must be recognised or refused, values whose style must survive an edit
//! and its undoing, and error positions.

use camino::Utf8Path;
use serde_json::{Value, json};

use super::*;

fn read(path: &str, text: &str) -> (Document, Parsed) {
    parse(Utf8Path::new(path), text.as_bytes())
        .unwrap_or_else(|error| panic!("{path} did not parse: {error}\n{text}"))
}

/// `text` after `step`, checked to read back as the step's document.
fn edit(path: &str, text: &str, step: impl FnOnce(&mut Document)) -> String {
    let (mut doc, parsed) = read(path, text);
    step(&mut doc);
    let bytes = render(&parsed, &doc).unwrap_or_else(|error| panic!("render failed: {error}"));
    let out = String::from_utf8(bytes).unwrap();
    let (again, _) = read(path, &out);
    assert_eq!(again.fields(), doc.fields(), "{out}");
    assert_eq!(again.body(), doc.body(), "{out}");
    out
}

fn refusal(path: &str, text: &str) -> FormatError {
    match parse(Utf8Path::new(path), text.as_bytes()) {
        Ok((doc, parsed)) => panic!(
            "{path} read as {:?} with {:?}",
            parsed.front_matter(),
            doc.fields()
        ),
        Err(error) => error,
    }
}

// ------------------------------------------------ recognise or refuse

#[test]
fn toml_front_matter_after_blank_lines_is_read_and_edited_as_toml() {
    let text = "\n\n+++\ntitle = \"Install\"\nweight = 3\n+++\n\nBody.\n";
    let (doc, parsed) = read("docs/install.md", text);
    assert_eq!(parsed.front_matter(), Some(FrontMatter::Toml));
    assert_eq!(doc.get_str("title"), Some("Install"));
    assert_eq!(doc.body(), Some("\nBody.\n"));
    let out = edit("docs/install.md", text, |d| {
        d.set("draft", false);
    });
    assert_eq!(
        out,
        text.replace("weight = 3\n", "weight = 3\ndraft = false\n")
    );
}

#[test]
fn json_front_matter_is_read_and_edited_as_json() {
    let text = "{\n  \"title\": \"Intro\",\n  \"tags\": [\"a\", \"b\"]\n}\n\n# Intro\n";
    let (doc, parsed) = read("content/intro.md", text);
    assert_eq!(parsed.front_matter(), Some(FrontMatter::Json));
    assert_eq!(doc.get("tags"), Some(&json!(["a", "b"])));
    assert_eq!(doc.body(), Some("\n# Intro\n"));
    assert_eq!(render(&parsed, &doc).unwrap(), text.as_bytes());
    let out = edit("content/intro.md", text, |d| {
        d.rename("title", "name").unwrap();
        d.set("draft", true);
    });
    assert_eq!(
        out,
        "{\n  \"name\": \"Intro\",\n  \"tags\": [\"a\", \"b\"],\n  \"draft\": true\n}\n\n# Intro\n"
    );
    // Blank lines may stand before it (Hugo skips them); a line break after
    // the object belongs to it, text on the same line is the body.
    let (doc, parsed) = read("a.md", "\r\n{\"a\": 1} tail\r\n");
    assert_eq!(parsed.front_matter(), Some(FrontMatter::Json));
    assert_eq!(doc.body(), Some(" tail\r\n"));
    let message = refusal("a.md", "{\"a\": 1, \"a\": 2}\n").to_string();
    assert!(
        message.starts_with("a.md line 1, column 12: duplicate key `a` in JSON front matter"),
        "{message}"
    );
}

#[test]
fn a_document_without_front_matter_never_gets_one_silently() {
    // A LICENSE, a README: the whole file is the body.
    let text = "MIT License\n\nCopyright (c) the authors\n";
    let (mut doc, parsed) = read("LICENSE.md", text);
    assert_eq!(parsed.front_matter(), Some(FrontMatter::None));
    assert!(doc.fields().is_empty());
    doc.set("title", "License");
    doc.set("schema_version", 2);
    let error = render(&parsed, &doc).unwrap_err();
    assert!(
        matches!(&error, FormatError::NoFrontMatter { path, keys }
            if path == "LICENSE.md" && keys == &["title", "schema_version"]),
        "{error}"
    );
    // Untouched, it is written back as it was.
    let (doc, parsed) = read("LICENSE.md", text);
    assert_eq!(render(&parsed, &doc).unwrap(), text.as_bytes());
    // Allowed to, the caller gets a YAML block at the top.
    let (mut doc, parsed) = read("LICENSE.md", text);
    doc.set("title", "License");
    let out = render_adding_front_matter(&parsed, &doc).unwrap();
    assert_eq!(out, format!("---\ntitle: License\n---\n{text}").as_bytes());
}

#[test]
fn front_matter_the_tools_read_differently_is_refused() {
    for (text, line, reason) in [
        (
            "\n---\ntitle: a\n---\n",
            2,
            "blank lines stand before the opening `---`",
        ),
        (
            "---json\n{\"a\": 1}\n---\n",
            1,
            "starts with `---` but is not a front matter fence",
        ),
        (
            "----\ntext\n",
            1,
            "starts with `---` but is not a front matter fence",
        ),
        (
            "  +++\na = 1\n+++\n",
            1,
            "starts with `+++` but is not a front matter fence",
        ),
        (
            "+++ toml\na = 1\n+++\n",
            1,
            "starts with `+++` but is not a front matter fence",
        ),
        (
            "{{< note >}}\ntext\n",
            1,
            "which Hugo reads as JSON front matter, but no JSON object",
        ),
        (
            "\n\n{% include x %}\n",
            3,
            "which Hugo reads as JSON front matter, but no JSON object",
        ),
        ("[1, 2]\n", 0, ""),
    ] {
        if line == 0 {
            // Not front matter in any tool: a body.
            let (_, parsed) = read("a.md", text);
            assert_eq!(parsed.front_matter(), Some(FrontMatter::None), "{text:?}");
            continue;
        }
        let error = refusal("a.md", text);
        let FormatError::FrontMatterNotRecognised { line: at, .. } = &error else {
            panic!("{text:?}: {error}");
        };
        assert_eq!(*at, line, "{text:?}: {error}");
        let message = error.to_string();
        assert!(message.starts_with(&format!("a.md line {line}: front matter not recognised: ")));
        assert!(message.contains(reason), "{text:?}: {message}");
    }
}

#[test]
fn a_byte_order_mark_before_any_front_matter_is_kept() {
    for (text, kind) in [
        ("\u{feff}---\na: 1\n---\nx\n", FrontMatter::Yaml),
        ("\u{feff}+++\na = 1\n+++\nx\n", FrontMatter::Toml),
        ("\u{feff}{\"a\": 1}\nx\n", FrontMatter::Json),
    ] {
        let (_, parsed) = read("a.md", text);
        assert_eq!(parsed.front_matter(), Some(kind));
        let out = edit("a.md", text, |d| {
            d.set("a", 2);
        });
        assert_eq!(out, text.replace('1', "2"));
    }
}

// ------------------------------------------------ untouched bytes stay

/// Applies `up` then `down` and checks that `down` gives back `text`.
fn up_down(
    path: &str,
    text: &str,
    up: impl FnOnce(&mut Document),
    down: impl FnOnce(&mut Document),
) -> String {
    let changed = edit(path, text, up);
    let back = edit(path, &changed, down);
    assert_eq!(back, text, "up gave:\n{changed}");
    changed
}

#[test]
fn a_flow_list_closing_at_column_zero_keeps_its_bytes() {
    let text =
        "---\ntitle: Old\naliases: [\n  /old/one/,\n  /old/two/\n]\ntags: [a, b]\n---\nBody\n";
    let out = edit("a.md", text, |d| {
        d.set("title", "New");
        d.set("draft", true);
    });
    assert_eq!(
        out,
        "---\ntitle: New\naliases: [\n  /old/one/,\n  /old/two/\n]\ntags: [a, b]\ndraft: true\n---\nBody\n"
    );
    // The same in a YAML file, the list closing at column 0 mid-file.
    let text = "aliases: [\n  /a/\n]\nweight: 1\n";
    let out = edit("a.yaml", text, |d| {
        d.set("weight", 2);
    });
    assert_eq!(out, "aliases: [\n  /a/\n]\nweight: 2\n");
}

#[test]
fn layouts_real_files_use_are_edited_in_place() {
    // A document start marker, a flow list padded inside its brackets, a
    // quoted item before a bracket at column 0, comments inside a mapping.
    let text =
        "---\nname: \"CodeQL\"\non:\n# push:\n  schedule: [ 'a', 'b' ]\nlabels: [\n  \"bug\"\n]\n";
    let out = edit("a.yaml", text, |d| {
        d.rename("name", "title").unwrap();
        d.set("labels", json!(["bug", "docs"]));
    });
    assert_eq!(
        out,
        "---\ntitle: \"CodeQL\"\non:\n# push:\n  schedule: [ 'a', 'b' ]\nlabels: [\n  \"bug\",\n  \"docs\"\n]\n"
    );
}

#[test]
fn down_steps_give_back_flow_lists_quotes_and_comments() {
    let text = "---\ntitle: \"Ranges\" # shown in the menu\nkeywords: [highlight]\ndate: '2021-03-04'\nlinks: [a, b]\n---\n";
    // Join a list, and split it back.
    let up = up_down(
        "a.md",
        text,
        |d| {
            let joined = join(d.get("keywords").unwrap());
            d.set("keywords", joined);
        },
        |d| {
            let split = split(d.get_str("keywords").unwrap());
            d.set("keywords", split);
        },
    );
    // A list that becomes a string is written as the document writes its
    // strings: here quoted (one value in single quotes, one in double).
    assert!(up.contains("keywords: 'highlight'\n"), "{up}");
    // Where the document's other lists are block lists, the split list is
    // one too: the document's prevailing style, the only one left to know.
    let block = text.replace("links: [a, b]\n", "links:\n  - a\n");
    let back = edit(
        "a.md",
        &edit("a.md", &block, |d| {
            let joined = join(d.get("keywords").unwrap());
            d.set("keywords", joined);
        }),
        |d| {
            let split = split(d.get_str("keywords").unwrap());
            d.set("keywords", split);
        },
    );
    assert_eq!(
        back,
        block.replace("keywords: [highlight]\n", "keywords:\n  - highlight\n")
    );
    // Rewrite a quoted value and back: its quotes and its comment stay.
    let up = up_down(
        "a.md",
        text,
        |d| {
            d.set("title", "Ranges and lines");
            d.set("date", "2021-03-04T00:00:00Z");
        },
        |d| {
            d.set("title", "Ranges");
            d.set("date", "2021-03-04");
        },
    );
    assert!(
        up.contains("title: \"Ranges and lines\" # shown in the menu\n"),
        "{up}"
    );
    assert!(up.contains("date: '2021-03-04T00:00:00Z'\n"), "{up}");
    // Rename a key and add one, and back.
    up_down(
        "a.md",
        text,
        |d| {
            d.rename("keywords", "tags").unwrap();
            d.set("schema_version", 2);
        },
        |d| {
            d.rename("tags", "keywords").unwrap();
            d.remove("schema_version");
        },
    );
}

fn join(list: &Value) -> Value {
    let items: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Value::from(items.join(", "))
}

fn split(text: &str) -> Value {
    Value::from(text.split(", ").map(str::to_owned).collect::<Vec<_>>())
}

#[test]
fn toml_keeps_quoted_keys_literal_strings_and_array_layout() {
    let text = "+++\n'base_url' = 'https://a.example' # c\ntags = [\n  'one',\n  'two',\n]\nkeywords = ['x']\n+++\n";
    up_down(
        "a.md",
        text,
        |d| {
            d.rename("base_url", "url").unwrap();
            d.set("tags", json!(["one", "two", "three"]));
            d.set("keywords", json!("x"));
        },
        |d| {
            d.rename("url", "base_url").unwrap();
            d.set("tags", json!(["one", "two"]));
            d.set("keywords", json!(["x"]));
        },
    );
    let out = edit("a.md", text, |d| {
        d.rename("base_url", "url").unwrap();
        d.set("tags", json!(["one", "2"]));
    });
    assert_eq!(
        out,
        "+++\n'url' = 'https://a.example' # c\ntags = [\n  'one',\n  '2',\n]\nkeywords = ['x']\n+++\n"
    );
}

// ------------------------------------------------ one line number

#[test]
fn errors_give_one_position_counted_in_the_file() {
    let text = "---\ntitle: ok\nsummary: \"never closed\nmore: x\n---\nbody\n";
    let message = refusal("bad_yaml.md", text).to_string();
    assert!(
        message.starts_with("bad_yaml.md line 5, column 1: invalid YAML front matter: "),
        "{message}"
    );
    assert_eq!(message.matches("line").count(), 1, "{message}");
    assert!(!message.contains("column 8"), "{message}");
    // TOML after blank lines counts them too.
    let message = refusal("a.md", "\n\n+++\na = 1\nb = \n+++\n").to_string();
    assert!(message.starts_with("a.md line 5"), "{message}");
    assert_eq!(message.matches("line").count(), 1, "{message}");
}

/// A TOML file of comments only keeps them first when a step adds keys and
/// tables to it.
#[test]
fn a_toml_file_of_comments_only_keeps_them_before_what_a_step_adds() {
    let text = "# settings for the app\n\n# nothing yet\n";
    let with_key = edit("app.toml", text, |doc| {
        doc.set("version", 2);
        doc.set("cache", serde_json::json!({"enabled": true}));
    });
    assert_eq!(
        with_key,
        "# settings for the app\n\n# nothing yet\nversion = 2\n\n[cache]\nenabled = true\n"
    );
    let table_only = edit("app.toml", text, |doc| {
        doc.set("cache", serde_json::json!({"enabled": true}));
    });
    assert_eq!(
        table_only,
        "# settings for the app\n\n# nothing yet\n[cache]\nenabled = true\n"
    );
}
