//! Property tests over JSON documents laid out in many ways: a change at
//! any depth leaves every other byte as it was, so that changing a value
//! and changing it back gives back the original text (but for the spelling
//! of that one value, written as JSON writes it).

use camino::Utf8Path;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::format::{parse, render};

/// A generated document's tree, each scalar with its own spelling.
#[derive(Debug, Clone)]
enum Node {
    /// A scalar's text as the file spells it, and its spelling as JSON
    /// writes it.
    Scalar(String, String),
    List(Vec<Node>),
    Object(Vec<(String, Node)>),
}

fn scalar() -> impl Strategy<Value = Node> {
    let spelled = |text: &str, canonical: &str| Node::Scalar(text.into(), canonical.into());
    prop_oneof![
        (0..1000i64).prop_map(|n| Node::Scalar(n.to_string(), n.to_string())),
        "[a-z ]{0,6}".prop_map(|s| Node::Scalar(format!("\"{s}\""), format!("\"{s}\""))),
        Just(spelled("true", "true")),
        Just(spelled("null", "null")),
        // Spellings JSON would not write itself.
        Just(spelled("1.50", "1.5")),
        Just(spelled("2E3", "2000.0")),
        Just(spelled("-0.0", "-0.0")),
        Just(spelled("\"caf\\u00e9\"", "\"café\"")),
        Just(spelled("\"a\\/b\"", "\"a/b\"")),
        // Strings that hold what the scanner steps over.
        Just(spelled("\"q\\\"}],{[\"", "\"q\\\"}],{[\"")),
        Just(spelled("\"\\\\\"", "\"\\\\\"")),
        Just(spelled("\"\\ud83d\\ude00 é\"", "\"😀 é\"")),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Node::List),
            prop::collection::vec(inner, 0..4).prop_map(|values| {
                Node::Object(
                    (values.into_iter().enumerate())
                        .map(|(i, v)| (format!("k{i}"), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// How a container is laid out.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `[1,2]`
    Tight,
    /// `[1, 2]`
    Spaced,
    /// `[ 1 , 2 ]`
    Loose,
    /// One element a line, indented one unit deeper than the line of `[`.
    Lines,
}

/// Writes `node` into `out` after `indent` (the indentation of its line),
/// taking a layout for each container from `layouts`; returns nothing but
/// records the text range of each scalar, in order, in `scalars`.
fn write(
    node: &Node,
    out: &mut String,
    (indent, unit, nl): (&str, &str, &str),
    layouts: &mut impl Iterator<Item = Layout>,
    scalars: &mut Vec<(usize, usize)>,
) {
    let (open, close, items): (char, char, Vec<(Option<&str>, &Node)>) = match node {
        Node::Scalar(text, _) => {
            scalars.push((out.len(), out.len() + text.len()));
            out.push_str(text);
            return;
        }
        Node::List(items) => ('[', ']', items.iter().map(|n| (None, n)).collect()),
        Node::Object(members) => (
            '{',
            '}',
            members.iter().map(|(k, n)| (Some(k.as_str()), n)).collect(),
        ),
    };
    let layout = layouts.next().unwrap_or(Layout::Spaced);
    out.push(open);
    if items.is_empty() {
        out.push(close);
        return;
    }
    let deeper = format!("{indent}{unit}");
    let (before, comma, colon, after) = match layout {
        Layout::Tight => ("", ",", ":", ""),
        Layout::Spaced => ("", ", ", ": ", ""),
        Layout::Loose => (" ", " , ", " : ", " "),
        Layout::Lines => ("", ",", ": ", ""),
    };
    let lines = matches!(layout, Layout::Lines);
    for (i, (key, item)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(comma);
        }
        if lines {
            out.push_str(nl);
            out.push_str(&deeper);
        } else if i == 0 {
            out.push_str(before);
        }
        if let Some(key) = key {
            out.push_str(&format!("\"{key}\"{colon}"));
        }
        let own = if lines { deeper.as_str() } else { indent };
        write(item, out, (own, unit, nl), layouts, scalars);
    }
    if lines {
        out.push_str(nl);
        out.push_str(indent);
    } else {
        out.push_str(after);
    }
    out.push(close);
}

/// The path (keys and indexes) to each scalar, in the order `write`
/// records them.
fn paths(node: &Node, at: &mut Vec<Value>, all: &mut Vec<Vec<Value>>) {
    match node {
        Node::Scalar(..) => all.push(at.clone()),
        Node::List(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(json!(i));
                paths(item, at, all);
                at.pop();
            }
        }
        Node::Object(members) => {
            for (key, item) in members {
                at.push(json!(key));
                paths(item, at, all);
                at.pop();
            }
        }
    }
}

fn spelling(node: &Node, path: &[Value]) -> String {
    match (node, path.split_first()) {
        (Node::Scalar(_, canonical), None) => canonical.clone(),
        (Node::List(items), Some((Value::Number(i), rest))) => {
            spelling(&items[i.as_u64().unwrap_or(0) as usize], rest)
        }
        (Node::Object(members), Some((Value::String(k), rest))) => {
            let (_, item) = members.iter().find(|(key, _)| key == k).unwrap();
            spelling(item, rest)
        }
        _ => unreachable!("a path the tree has"),
    }
}

fn at<'v>(value: &'v mut Value, path: &[Value]) -> &'v mut Value {
    path.iter().fold(value, |v, step| match step {
        Value::Number(i) => &mut v[i.as_u64().unwrap_or(0) as usize],
        Value::String(k) => &mut v[k.as_str()],
        _ => unreachable!("keys and indexes only"),
    })
}

type Generated = (
    Vec<(String, Node)>,
    Vec<Layout>,
    (&'static str, &'static str),
);

fn document() -> impl Strategy<Value = Generated> {
    let layout = prop_oneof![
        Just(Layout::Tight),
        Just(Layout::Spaced),
        Just(Layout::Loose),
        Just(Layout::Lines),
    ];
    (
        // A scalar among them, so that there is one to change, and a list
        // of scalars long enough to lose one.
        (
            prop::collection::vec(node(), 0..5),
            scalar(),
            prop::collection::vec(scalar(), 3..6),
        )
            .prop_map(|(nodes, last, list)| {
                (nodes
                    .into_iter()
                    .chain([last, Node::List(list)])
                    .enumerate())
                .map(|(i, n)| (format!("m{i}"), n))
                .collect()
            }),
        prop::collection::vec(layout, 1..40),
        (
            prop_oneof![Just("  "), Just("    "), Just("\t")],
            prop_oneof![Just("\n"), Just("\r\n")],
        ),
    )
}

/// The document of `members` written with `layouts` (the top level over
/// several lines, as most files are), the text range of each scalar, and
/// the path to each.
/// A generated document, laid out.
struct LaidOut {
    root: Node,
    text: String,
    /// Where each scalar's text is.
    scalars: Vec<(usize, usize)>,
    /// The path to each scalar.
    all: Vec<Vec<Value>>,
}

fn laid_out(
    members: Vec<(String, Node)>,
    layouts: Vec<Layout>,
    (unit, nl): (&str, &str),
) -> LaidOut {
    let root = Node::Object(members);
    let (mut text, mut scalars, mut all) = (String::new(), Vec::new(), Vec::new());
    let mut layouts = std::iter::once(Layout::Lines).chain(layouts.into_iter().cycle());
    write(&root, &mut text, ("", unit, nl), &mut layouts, &mut scalars);
    text.push_str(nl);
    paths(&root, &mut Vec::new(), &mut all);
    LaidOut {
        root,
        text,
        scalars,
        all,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        max_global_rejects: 100_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_deep_change_and_its_undoing_give_back_every_other_byte(
        (members, layouts, (unit, nl)) in document(),
        pick in any::<prop::sample::Index>(),
    ) {
        let LaidOut { root, text, scalars, all } = laid_out(members, layouts, (unit, nl));
        let path = Utf8Path::new("a.json");
        let (doc, parsed) = parse(path, text.as_bytes()).unwrap();
        let k = pick.index(all.len());
        // Change one scalar, read what was written, and change it back.
        let mut changed = doc.clone();
        let old = {
            let mut value = Value::Object(changed.fields().clone());
            let old = at(&mut value, &all[k]).clone();
            *at(&mut value, &all[k]) = json!("changed");
            let Value::Object(fields) = value else { unreachable!() };
            *changed.fields_mut() = fields;
            old
        };
        let out = String::from_utf8(render(&parsed, &changed).unwrap()).unwrap();
        let (back_doc, back_parsed) = parse(path, out.as_bytes()).unwrap();
        prop_assert_eq!(back_doc.fields(), changed.fields());
        let mut undone = back_doc.clone();
        let mut value = Value::Object(undone.fields().clone());
        *at(&mut value, &all[k]) = old;
        let Value::Object(fields) = value else { unreachable!() };
        *undone.fields_mut() = fields;
        let back = String::from_utf8(render(&back_parsed, &undone).unwrap()).unwrap();
        let (start, end) = scalars[k];
        let expected = format!("{}{}{}", &text[..start], spelling(&root, &all[k]), &text[end..]);
        prop_assert_eq!(back, expected, "changed:\n{}", out);
    }

    #[test]
    fn removing_a_list_element_and_putting_it_back_gives_back_every_other_byte(
        (members, layouts, (unit, nl)) in document(),
        pick in any::<prop::sample::Index>(),
    ) {
        let LaidOut { root, text, scalars, all } = laid_out(members, layouts, (unit, nl));
        let path = Utf8Path::new("a.json");
        let (doc, parsed) = parse(path, text.as_bytes()).unwrap();
        let whole = Value::Object(doc.fields().clone());
        // The scalars that are elements of a list of three or more (with two
        // left, the list still shows its separator).
        let in_lists: Vec<usize> = (0..all.len())
            .filter(|&k| {
                let (last, list) = all[k].split_last().unwrap();
                let mut value = whole.clone();
                // And no other element equal to it, which the list put
                // back could take for it.
                let index = last.as_u64().unwrap_or(0) as usize;
                last.is_number()
                    && at(&mut value, list).as_array().is_some_and(|l| {
                        l.len() >= 3 && l.iter().filter(|e| **e == l[index]).count() == 1
                    })
            })
            .collect();
        prop_assume!(!in_lists.is_empty());
        let k = in_lists[pick.index(in_lists.len())];
        let (last, list_path) = all[k].split_last().unwrap();
        let index = last.as_u64().unwrap() as usize;
        let mut value = whole.clone();
        let removed = at(&mut value, list_path).as_array_mut().unwrap().remove(index);
        let Value::Object(fields) = value else { unreachable!() };
        let mut changed = doc.clone();
        *changed.fields_mut() = fields;
        let out = String::from_utf8(render(&parsed, &changed).unwrap()).unwrap();
        let (back_doc, back_parsed) = parse(path, out.as_bytes()).unwrap();
        prop_assert_eq!(back_doc.fields(), changed.fields());
        let mut value = Value::Object(back_doc.fields().clone());
        at(&mut value, list_path).as_array_mut().unwrap().insert(index, removed);
        let Value::Object(fields) = value else { unreachable!() };
        let mut undone = back_doc.clone();
        *undone.fields_mut() = fields;
        let back = String::from_utf8(render(&back_parsed, &undone).unwrap()).unwrap();
        let (start, end) = scalars[k];
        let expected = format!("{}{}{}", &text[..start], spelling(&root, &all[k]), &text[end..]);
        prop_assert_eq!(back, expected, "removed:\n{}", out);
    }
}
