//! What the YAML writer keeps, quotes and refuses.

use camino::Utf8Path;
use serde_json::json;

use super::super::{Format, parse, render, render_new};
use super::resolve::{Resolved, yaml_1_1};
use crate::Document;

/// The text of `path` after `step` ran on it; it must read back as the
/// step's document.
fn edit(path: &str, text: &str, step: impl FnOnce(&mut Document)) -> String {
    let path = Utf8Path::new(path);
    let (mut doc, parsed) = parse(path, text.as_bytes()).unwrap();
    step(&mut doc);
    let bytes = render(&parsed, &doc).unwrap_or_else(|error| panic!("render failed: {error}"));
    let out = String::from_utf8(bytes).unwrap();
    let (again, _) = parse(path, out.as_bytes()).unwrap();
    assert_eq!(again.fields(), doc.fields(), "{out}");
    out
}

/// The message of the error writing `path` after `step` ran on it.
fn refused(path: &str, text: &str, step: impl FnOnce(&mut Document)) -> String {
    let path = Utf8Path::new(path);
    let (mut doc, parsed) = parse(path, text.as_bytes()).unwrap();
    step(&mut doc);
    match render(&parsed, &doc) {
        Ok(bytes) => panic!("written: {}", String::from_utf8_lossy(&bytes)),
        Err(error) => error.to_string(),
    }
}

/// The message of the error reading `text` as `path`.
fn unreadable(path: &str, text: &str) -> String {
    match parse(Utf8Path::new(path), text.as_bytes()) {
        Ok((doc, _)) => panic!("read as {:?}", doc.fields()),
        Err(error) => error.to_string(),
    }
}

// ------------------------------------------------------------- merge keys

#[test]
fn a_merge_key_is_refused_naming_its_line() {
    let text = "defaults: &defaults\n  host: 10.0.0.5\nserver:\n  <<: *defaults\n  port: 9000\n";
    let message = unreadable("app.yaml", text);
    assert!(
        message.starts_with("app.yaml line 4, column 3: merge key `<<` in YAML: "),
        "{message}"
    );
    assert!(message.contains("invisible to the steps"), "{message}");
    // In front matter, the line is the file's; in flow style too.
    let text = "---\nd: &d {a: 1}\ne: {<<: *d, b: 2}\n---\nBody\n";
    let message = unreadable("n.md", text);
    assert!(
        message.starts_with("n.md line 3, column 5: merge key `<<` in YAML front matter"),
        "{message}"
    );
    // At the top level, and merging a list of mappings.
    let message = unreadable("a.yaml", "a: &a {x: 1}\n<<: [*a]\n");
    assert!(
        message.starts_with("a.yaml line 2, column 1: merge key"),
        "{message}"
    );
}

#[test]
fn a_quoted_merge_key_is_an_ordinary_key() {
    let text = "a: &a {x: 1}\nb:\n  \"<<\": *a\n  '<<x': 2\nc: 3\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("c", 4);
    });
    assert_eq!(out, "a: &a {x: 1}\nb:\n  \"<<\": *a\n  '<<x': 2\nc: 4\n");
}

// ------------------------------------------- what is kept, what is refused

const NOTE: &str = "---\n# Written by the site's editor; keep this comment\ntitle: \"Trip\"   # shown in the header\nflags: FLAGS\n---\nBody\n";

#[test]
fn untouched_sets_pairs_and_keyless_entries_keep_their_bytes() {
    for flags in [
        "{draft, featured}",
        "!!set {draft, featured}",
        "!!omap [a: 1, b: 2]",
        "[a: 1]",
        "{a, b: 1}",
    ] {
        let text = NOTE.replace("FLAGS", flags);
        let out = edit("trip.md", &text, |doc| {
            doc.set("title", "Journey");
            doc.set("status", "draft");
        });
        let expected = text
            .replace("\"Trip\"", "\"Journey\"")
            .replace("\n---\nBody", "\nstatus: \"draft\"\n---\nBody");
        assert_eq!(out, expected, "{flags}");
    }
}

#[test]
fn a_changed_set_pair_or_keyless_entry_is_refused_naming_line_and_construct() {
    let cases = [
        ("{draft, featured}", "without a value (`{a, b}`)"),
        ("[a: 1]", "a pair in a flow sequence (`[a: 1]`)"),
        ("!!set {draft, featured}", "tagged `!!set`"),
        ("!!omap [a: 1]", "tagged `!!omap`"),
    ];
    for (flags, what) in cases {
        let text = NOTE.replace("FLAGS", flags);
        let message = refused("trip.md", &text, |doc| {
            // A change inside it: a mapping stays a mapping, a list a list.
            match flags.contains('[') {
                true => doc.set("flags", json!([{"a": 2}])),
                false => doc.set("flags", json!({"draft": null})),
            };
        });
        assert!(
            message.starts_with(
                "trip.md line 4, column 8: the YAML front matter cannot be edited in place: "
            ),
            "{message}"
        );
        assert!(message.contains(what), "{flags}: {message}");
    }
    // Replaced by another kind of value, it goes whole.
    let out = edit("trip.md", &NOTE.replace("FLAGS", "[a: 1]"), |doc| {
        doc.set("flags", json!({"draft": null}));
    });
    assert_eq!(out, NOTE.replace("flags: FLAGS", "flags:\n  draft: null"));
}

#[test]
fn an_explicit_key_is_refused_naming_its_line() {
    let text = "a: 1\n? b\n: 2\n";
    let message = refused("a.yaml", text, |doc| {
        doc.set("a", 5);
    });
    assert!(
        message.starts_with("a.yaml line 2, column 1: the YAML cannot be edited in place: ")
            && message.contains("explicit key (`? key`)"),
        "{message}"
    );
}

#[test]
fn a_changed_value_whose_anchor_an_alias_repeats_is_refused() {
    let text =
        "# keep\nserver: &srv\n  host: 0.0.0.0  # all\n  port: 9000\nadmin: *srv\nlog: \"info\"\n";
    let message = refused("app.yaml", text, |doc| {
        doc.set("server", json!({"listen": "0.0.0.0:9000"}));
    });
    assert!(
        message.starts_with("app.yaml line 2, column 9: the YAML cannot be edited in place: ")
            && message.contains("anchor `&srv`")
            && message.contains("(`*srv`)"),
        "{message}"
    );
    // Changing a value inside it is the same change.
    let message = refused("app.yaml", text, |doc| {
        doc.set("server", json!({"host": "::", "port": 9000}));
    });
    assert!(message.contains("anchor `&srv`"), "{message}");
    // An anchor no alias repeats stays, and the edit is made in place.
    let text = "# keep\nserver: &srv\n  host: 0.0.0.0  # all\n  port: 9000\nlog: \"info\"\n";
    let out = edit("app.yaml", text, |doc| {
        doc.set("server", json!({"host": "::1", "port": 9000}));
    });
    assert_eq!(out, text.replace("0.0.0.0", "\"::1\""));
}

#[test]
fn reordering_keys_is_refused_at_the_top_and_writes_only_that_value_below() {
    let text = "# keep\na: 1\nb: 2\n";
    let message = refused("a.yaml", text, |doc| {
        let b = doc.remove("b").unwrap();
        let a = doc.remove("a").unwrap();
        doc.set("b", b);
        doc.set("a", a);
    });
    assert!(
        message.starts_with("a.yaml line 2, column 1: ") && message.contains("order"),
        "{message}"
    );
    let text = "# keep\nm:\n  p: 1\n  q: 2\nz: 'q'  # z\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("m", json!({"q": 2, "p": 1}));
    });
    assert_eq!(out, "# keep\nm:\n  q: 2\n  p: 1\nz: 'q'  # z\n");
    // Where that would lose a comment, it is refused.
    let text = "m:\n  p: 1  # one\n  q: 2\n";
    let message = refused("a.yaml", text, |doc| {
        doc.set("m", json!({"q": 2, "p": 1}));
    });
    assert!(
        message.starts_with("a.yaml line 2, column 3: "),
        "{message}"
    );
}

#[test]
fn an_empty_flow_mapping_gets_its_entries_between_the_braces() {
    let out = edit("a.yaml", "{}\n", |doc| {
        doc.set("a", 1);
        doc.set("b", "x");
    });
    assert_eq!(out, "{a: 1, b: x}\n");
    let out = edit("a.yaml", "{a: 1}  # c\n", |doc| {
        doc.remove("a");
    });
    assert_eq!(out, "{}  # c\n");
}

// ------------------------------------------------ strings YAML 1.1 resolves

/// Strings that a YAML 1.1 reader takes for something else when plain, by
/// what it takes them for.
const RESOLVED: &[(Resolved, &[&str])] = &[
    (
        Resolved::Bool,
        &[
            "no", "No", "NO", "nO", "on", "ON", "off", "Off", "yes", "YES", "y", "Y", "n", "N",
            "true", "False",
        ],
    ),
    (Resolved::Null, &["~", "null", "Null", "NULL"]),
    (
        Resolved::Number,
        &[
            "12:30",
            "190:20:30",
            "1_000",
            "1,000",
            "0755",
            "0o17",
            "0x1F",
            "-0x1f",
            "0b101",
            "+0b1_0",
            ".inf",
            "-.Inf",
            "+.INF",
            ".nan",
            ".NaN",
            ".5",
            "1.",
            "1e3",
            "6.8523015e+5",
            "-1_0.5",
            "0",
        ],
    ),
    (
        Resolved::Timestamp,
        &[
            "2024-01-02",
            "2024-1-2",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2002-12-14T00:00:00Z",
        ],
    ),
    (Resolved::Key, &["<<", "="]),
    (Resolved::Symbol, &[":name", ":smile:"]),
];

#[test]
fn yaml_1_1_resolution_is_known_for_each_class() {
    for (kind, strings) in RESOLVED {
        for s in *strings {
            assert_eq!(yaml_1_1(s), Some(*kind), "{s}");
        }
    }
    for s in [
        "Norway",
        "yes please",
        "ok",
        "nope",
        "x",
        "1a",
        "v1.2",
        "12-ab",
        "cafe",
        "e5",
    ] {
        assert_eq!(yaml_1_1(s), None, "{s}");
    }
}

#[test]
fn new_strings_a_yaml_1_1_reader_would_not_read_back_are_quoted() {
    for (_, strings) in RESOLVED {
        for s in *strings {
            // A new value, a new list item, a value replacing a plain
            // string, a new key.
            let out = edit("a.yaml", "a: x\nb: [x]\n", |doc| {
                doc.set("a", *s);
                doc.set("b", json!(["x", s]));
                doc.set("c", *s);
                doc.set(*s, 1);
            });
            let q = format!("\"{}\"", s);
            assert_eq!(out, format!("a: {q}\nb: [x, {q}]\nc: {q}\n{q}: 1\n"), "{s}");
        }
    }
    // The list a step makes of a quoted string (Jekyll's `tags`).
    let text = "---\ntitle: Trip\ntags: 'no, on, 2024-01-02, 12:30, 0755'\n---\nBody\n";
    let out = edit("trip.md", text, |doc| {
        doc.set(
            "tags",
            json!(["no", "on", "2024-01-02", "12:30", "0755", "Oslo"]),
        );
    });
    assert_eq!(
        out,
        "---\ntitle: Trip\ntags:\n  - 'no'\n  - 'on'\n  - '2024-01-02'\n  - '12:30'\n  - '0755'\n  - Oslo\n---\nBody\n"
    );
}

#[test]
fn a_plain_value_a_yaml_1_1_reader_resolves_keeps_its_kind_plain() {
    // A plain date replaced by a date-time is read alike before and after.
    let out = edit("a.md", "---\ndate: 2024-05-01\nok: no\n---\n", |doc| {
        doc.set("date", "2024-05-01T00:00:00Z");
        doc.set("ok", "yes");
    });
    assert_eq!(out, "---\ndate: 2024-05-01T00:00:00Z\nok: yes\n---\n");
    // Of another kind, it is quoted.
    let out = edit("a.md", "---\ndate: 2024-05-01\n---\n", |doc| {
        doc.set("date", "on");
    });
    assert_eq!(out, "---\ndate: \"on\"\n---\n");
}

// ---------------------------------------------------------- where keys go

#[test]
fn a_file_of_only_a_document_start_keeps_it() {
    let out = edit("a.yaml", "---\n", |doc| {
        doc.set("a", 1);
    });
    assert_eq!(out, "---\na: 1\n");
}

#[test]
fn a_new_key_goes_after_the_comment_that_ends_a_nested_mapping() {
    let text = "a:\n  b: 1\n  # end of a\n\n# about c\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("c", 2);
    });
    assert_eq!(out, "a:\n  b: 1\n  # end of a\nc: 2\n\n# about c\n");
}

#[test]
fn a_new_key_goes_after_the_blank_lines_a_kept_block_scalar_holds() {
    // `|+` keeps its trailing line breaks: they are the value's own, so a
    // key added after it goes after them.
    let out = edit("a.yaml", "a: |+\n  text\n\n\n", |doc| {
        doc.set("b", 1);
    });
    assert_eq!(out, "a: |+\n  text\n\n\nb: 1\n");
    let out = edit("n.md", "---\n_:\n- |2+\n\n---\nBody\n", |doc| {
        doc.set("_a", false);
    });
    assert_eq!(out, "---\n_:\n- |2+\n\n_a: false\n---\nBody\n");
    // Blank lines after a clipped scalar are not its own: the key goes
    // right after its text.
    let out = edit("a.yaml", "a: |\n  text\n\n", |doc| {
        doc.set("b", 1);
    });
    assert_eq!(out, "a: |\n  text\nb: 1\n\n");
    // Changing or removing the kept value takes its blank lines with it.
    let out = edit("a.yaml", "a: |+\n  text\n\n\nb: 1\n", |doc| {
        doc.set("a", "new");
    });
    assert_eq!(out, "a: |-\n  new\nb: 1\n");
    let out = edit("a.yaml", "a: |+\n  text\n\n\nb: 1\n", |doc| {
        doc.remove("a");
    });
    assert_eq!(out, "b: 1\n");
    // A kept scalar of blank lines only, changed: its new lines go deeper
    // than the item that holds it.
    let out = edit("a.yaml", "k:\n  x:\n  - |2+\n\n", |doc| {
        doc.set("k", json!({"x": ["new"]}));
    });
    assert_eq!(out, "k:\n  x:\n  - |-\n    new\n");
}

// ------------------------------------------------------------ explicit keys

#[test]
fn a_new_document_whose_keys_a_reader_would_misread_reads_back_and_stays_editable() {
    // A key `<<` would be a merge key, and a key holding a line separator
    // an explicit key (`? key`): both are written quoted on one line.
    let fields = json!({"_": {"<<": false}, "a": {"x\u{2028}y": 1}});
    let doc = Document::new("p/new.yaml", fields.as_object().unwrap().clone());
    let bytes = render_new(Format::Yaml, &doc).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text, "_:\n  \"<<\": false\na:\n  \"x\\u2028y\": 1\n");
    let out = edit("p/new.yaml", &text, |doc| {
        doc.set("b", 2);
    });
    assert_eq!(out, format!("{text}b: 2\n"));
    // Fields a plain writer handles keep its layout.
    let doc = Document::new(
        "p/new.yaml",
        json!({"a": "what? yes"}).as_object().unwrap().clone(),
    );
    let text = String::from_utf8(render_new(Format::Yaml, &doc).unwrap()).unwrap();
    assert_eq!(text, "a: what? yes\n");
}

#[test]
fn a_mapping_with_an_explicit_key_is_kept_or_replaced_whole() {
    let text = "a:\n  ? long key\n  : 1\n  b: 2\nc: 3\n";
    // Untouched, it keeps its bytes.
    let out = edit("a.yaml", text, |doc| {
        doc.set("c", 4);
    });
    assert_eq!(out, "a:\n  ? long key\n  : 1\n  b: 2\nc: 4\n");
    // Replaced by another kind of value, or removed, it goes whole.
    let out = edit("a.yaml", text, |doc| {
        doc.set("a", false);
    });
    assert_eq!(out, "a: false\nc: 3\n");
    let out = edit("a.yaml", text, |doc| {
        doc.remove("a");
    });
    assert_eq!(out, "c: 3\n");
    // A change inside it is refused, naming its line and column.
    let message = refused("a.yaml", text, |doc| {
        doc.set("a", json!({"long key": 1, "b": 5}));
    });
    assert!(message.contains("line 2, column 3"), "{message}");
    assert!(message.contains("explicit key (`? key`)"), "{message}");
    // At the top level, every change is refused.
    let message = refused("a.yaml", "? k\n: 1\nb: 2\n", |doc| {
        doc.set("b", 3);
    });
    assert!(message.contains("top-level mapping"), "{message}");
}

#[test]
fn a_mapping_in_a_list_whose_keys_all_change_is_written_anew() {
    let text = "a:\n- a: false\n  _: false\n  _a: true\n- keep: 1  # stays\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("a", json!([{"__": true}, {"keep": 1}]));
    });
    assert_eq!(out, "a:\n- __: true\n- keep: 1  # stays\n");
    // The first keys of an item removed, the one after them takes the
    // place after the `-`.
    let out = edit(
        "a.yaml",
        "a:\n- false\n- _: false\n  a: false\n  '1': false\n",
        |doc| {
            doc.set("a", json!([false, {"1": false}]));
        },
    );
    assert_eq!(out, "a:\n- false\n- '1': false\n");
    // A key added before the first one of an item takes its place after
    // the `-`.
    let out = edit("a.yaml", "a:\n- '---': false  # first\n", |doc| {
        doc.set("a", json!([{"a": false, "---": false}]));
    });
    assert_eq!(out, "a:\n- a: false\n  '---': false  # first\n");
    let out = edit("a.yaml", "a:\n- x: 1\n  y: 2\n", |doc| {
        doc.set("a", json!([{"w": 0, "y": 2}]));
    });
    assert_eq!(out, "a:\n- w: 0\n  y: 2\n");
    // The first key removed, one added before the key that takes its
    // place after the `-`, and that one renamed.
    let out = edit("a.yaml", "a:\n- false\n- _: 1\n  a: false\n", |doc| {
        doc.set("a", json!([false, {"__": true, "_0": false}]));
    });
    assert_eq!(out, "a:\n- false\n- __: true\n  _0: false\n");
    let out = edit("a.yaml", "k:\n  x: 1\n  y: 2\nz: 3\n", |doc| {
        doc.set("k", json!({"w": 0}));
    });
    assert_eq!(out, "k:\n  w: 0\nz: 3\n");
}

#[test]
fn a_reordered_nested_mapping_is_written_again_unless_a_comment_stands_in_it() {
    // A `#` inside a value is no comment.
    let text = "a:\n  b: false\n  c: '#'\n  d: \"x #y\"\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("a", json!({"c": false, "b": false, "d": "x #y"}));
    });
    assert_eq!(out, "a:\n  c: false\n  b: false\n  d: 'x #y'\n");
    // A comment would be lost: refused.
    let text = "a:\n  b: false  # why\n  c: 1\n";
    let message = refused("a.yaml", text, |doc| {
        doc.set("a", json!({"c": 1, "b": true}));
    });
    assert!(
        message.contains("order of this mapping's keys"),
        "{message}"
    );
}

#[test]
fn a_string_with_a_colon_in_a_flow_mapping_is_quoted() {
    // libyaml reads `{a:?: false}` as an error.
    for key in ["a:?", "a:b", "x:"] {
        let out = edit("a.yaml", "{}\n", |doc| {
            doc.set(key, false);
        });
        assert_eq!(out, format!("{{\"{key}\": false}}\n"));
    }
    let out = edit("a.yaml", "{a: 1}\n", |doc| {
        doc.set("a", "b:?");
    });
    assert_eq!(out, "{a: \"b:?\"}\n");
}

#[test]
fn renaming_the_only_key_of_a_nested_mapping_keeps_its_comments_and_quotes() {
    let text = "meta:\n  # shown on the page\n  title: 'Hello'  # why\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("meta", json!({"name": "Hello"}));
    });
    assert_eq!(
        out,
        "meta:\n  # shown on the page\n  name: 'Hello'  # why\n"
    );
}

#[test]
fn renaming_every_key_of_a_list_item_keeps_its_comments() {
    let text = "steps:\n  - name: a  # c1\n    # c2\n    uses: b\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("steps", json!([{"title": "a", "run": "b"}]));
    });
    assert_eq!(out, "steps:\n  - title: a  # c1\n    # c2\n    run: b\n");
}

#[test]
fn a_changed_block_scalar_keeps_the_comment_on_its_header() {
    let text = "m:\n  d: >- # note\n    a b\n  e: |  # kept\n    x\n";
    let out = edit("a.yaml", text, |doc| {
        doc.set("m", json!({"d": "a b c", "e": "y\n"}));
    });
    assert_eq!(
        out,
        "m:\n  d: >- # note\n    a b c\n  e: |  # kept\n    y\n"
    );
    // Written on one line, the value keeps the comment after it.
    let out = edit("a.yaml", "d: >- # note\n  a b\nz: 1\n", |doc| {
        doc.set("d", 5);
    });
    assert_eq!(out, "d: 5 # note\nz: 1\n");
}

#[test]
fn an_empty_flow_list_that_gets_items_stays_a_flow_list() {
    let out = edit(
        "a.md",
        "---\ntitle: T\ncategories: []\n---\nBody\n",
        |doc| {
            doc.set("categories", json!(["news", "rust"]));
        },
    );
    assert_eq!(out, "---\ntitle: T\ncategories: [news, rust]\n---\nBody\n");
}

#[test]
fn an_empty_value_in_a_flow_mapping_is_set_off_by_a_space() {
    let out = edit("a.yaml", "m: {a: , b: 1}\n", |doc| {
        doc.set("m", json!({"a": "x", "b": 1}));
    });
    assert_eq!(out, "m: {a: x , b: 1}\n");
    let out = edit("a.yaml", "m: {b: 1, a: }\n", |doc| {
        doc.set("m", json!({"b": 1, "a": "x"}));
    });
    assert_eq!(out, "m: {b: 1, a: x }\n");
    let out = edit("a.yaml", "m: {\"a\": , b: 1}\n", |doc| {
        doc.set("m", json!({"a": "x", "b": 1}));
    });
    assert_eq!(out, "m: {\"a\": x , b: 1}\n");
}
