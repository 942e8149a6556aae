//! Editing a YAML text along the changes from one set of fields to the
//! next, node by node: what a step did not change keeps its bytes, and what
//! it changed keeps the style of what it replaces where that fits.

use serde_json::{Map, Value};

use super::super::plan::{Plan, Renamed, Slot};
use super::super::{Newline, same};
use super::Refusal;

mod children;
mod scalar;
use super::layout::{self, Collection, Entry, Item, Kind, Node, Style};
use super::write::{self, House, column};

/// One change to the text: bytes `start..end` become `text`.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// Where a value stands, which decides how a new one is written there.
#[derive(Clone, Copy)]
enum Place {
    /// After the `:` at `colon` of a block mapping whose keys are at
    /// column `at`.
    Value { colon: usize, at: usize },
    /// After the `-` at `dash`, at column `at`.
    Item { dash: usize, at: usize },
    /// Inside a flow collection.
    Flow,
}

struct Editor<'a> {
    text: &'a str,
    house: House,
    edits: Vec<Edit>,
    /// The anchor ids some alias refers to.
    aliased: &'a [usize],
    /// Why the change cannot be made in place, where that is known.
    refusal: Option<Refusal>,
    /// The top-level keys the step renamed.
    renamed: &'a Renamed,
}

/// `text` with its fields changed from `old` to `new` (`renamed`: the
/// top-level keys the step renamed), or why that cannot be done without
/// touching what did not change.
pub(in super::super) fn splice(
    text: &str,
    newline: Newline,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    renamed: &Renamed,
) -> Result<String, Refusal> {
    let layout = layout::read(text)?;
    let old_value = Value::Object(old.clone());
    let mut editor = Editor {
        text,
        house: House::of(text, layout.root.as_ref(), &old_value),
        edits: Vec::new(),
        aliased: &layout.aliased,
        refusal: None,
        renamed,
    };
    let spliced = editor.root(layout.root.as_ref(), old, new);
    let refusal = editor.refusal.take();
    spliced
        .and_then(|()| editor.finish(newline))
        .ok_or_else(|| refusal.unwrap_or_else(Refusal::unknown))
}

impl Editor<'_> {
    /// The edits from `old` to `new` of the text whose root node is `root`.
    fn root(
        &mut self,
        root: Option<&Node>,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Option<()> {
        // A document of only `---` holds an empty scalar.
        let root = root.filter(|node| !(node.start == node.end && old.is_empty()));
        match root {
            Some(node) => match &node.kind {
                Kind::Map(map) => self.map(node, map, old, new, true)?,
                Kind::Opaque(what) => {
                    return self.refuse(
                        self.opaque_at(node),
                        format!(
                            "the step changes the top-level mapping, written with {what}, \
                             which cannot be edited in place; write it as a plain mapping"
                        ),
                    );
                }
                _ => return None,
            },
            None if new.is_empty() => {}
            None => {
                if !old.is_empty() {
                    return None;
                }
                let text = self.text;
                let lines = self.house.block_map(new, 0)?;
                let added = match text.is_empty() || text.ends_with('\n') {
                    true => format!("{lines}\n"),
                    false => format!("\n{lines}\n"),
                };
                self.insert(text.len(), added);
            }
        }
        Some(())
    }

    /// Records why the change cannot be made in place at `at`; always
    /// `None`.
    fn refuse<T>(&mut self, at: usize, reason: String) -> Option<T> {
        self.refusal.get_or_insert(Refusal {
            at: Some(at),
            reason,
        });
        None
    }

    fn insert(&mut self, at: usize, text: String) {
        self.edits.push(Edit {
            start: at,
            end: at,
            text,
        });
    }

    fn replace(&mut self, start: usize, end: usize, text: String) {
        self.edits.push(Edit { start, end, text });
    }

    fn finish(mut self, newline: Newline) -> Option<String> {
        self.edits.sort_by_key(|edit| (edit.start, edit.end));
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut at = 0;
        for edit in &self.edits {
            if edit.start < at {
                return None;
            }
            out.push_str(self.text.get(at..edit.start)?);
            out.push_str(&newline.apply(edit.text.clone()));
            at = edit.end;
        }
        out.push_str(self.text.get(at..)?);
        Some(out)
    }

    fn at(&self, i: usize) -> u8 {
        self.text.as_bytes().get(i).copied().unwrap_or(0)
    }

    /// The start of the line holding `pos`.
    fn line_start(&self, pos: usize) -> usize {
        self.text
            .get(..pos)
            .and_then(|before| before.rfind('\n'))
            .map_or(0, |i| i + 1)
    }

    /// Whether only spaces stand before `pos` on its line.
    fn starts_line(&self, pos: usize) -> bool {
        let start = self.line_start(pos);
        self.text
            .get(start..pos)
            .is_some_and(|before| before.bytes().all(|b| b == b' '))
    }

    /// Just past the line break of the line holding `pos` (its comment
    /// included), or the end of the text.
    fn line_end(&self, pos: usize) -> usize {
        self.text
            .get(pos..)
            .and_then(|after| after.find('\n'))
            .map_or(self.text.len(), |i| pos + i + 1)
    }

    /// The edits from `old` to `new` of the mapping `node`.
    fn map(
        &mut self,
        node: &Node,
        map: &Collection<Entry>,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
        root: bool,
    ) -> Option<()> {
        if map.children.len() != old.len() {
            return None;
        }
        for (entry, key) in map.children.iter().zip(old.keys()) {
            let written = self.text.get(entry.key.start..entry.key.end)?;
            if matches!(entry.key.kind, Kind::Scalar(Style::Plain)) && written != key {
                return None;
            }
        }
        if !root && (old.is_empty() || new.is_empty()) {
            return self.fresh(node, &Value::Object(new.clone()), self.place_of(node));
        }
        let none = Renamed::new();
        let renamed = if root { self.renamed } else { &none };
        let Some(plan) = Plan::new(old, new, renamed) else {
            // A nested mapping whose keys the step reorders is written
            // again whole, where that loses no comment.
            if !root && !self.holds_comment(node) {
                return self.fresh(node, &Value::Object(new.clone()), self.place_of(node));
            }
            return self.refuse(
                node.start,
                "the step changes the order of this mapping's keys, which cannot be done in \
                 place; keep the order of the keys it keeps"
                    .to_owned(),
            );
        };
        let at = column(self.text, node.start);
        let olds: Vec<&Value> = old.values().collect();
        let mut deleted = Vec::with_capacity(old.len());
        for ((entry, slot), was) in map.children.iter().zip(&plan.slots).zip(&olds) {
            let place = match map.flow {
                true => Place::Flow,
                false => Place::Value {
                    colon: entry.colon,
                    at,
                },
            };
            deleted.push(matches!(slot, Slot::Delete));
            match slot {
                Slot::Keep | Slot::Delete => {}
                Slot::Replace(value) => self.value(&entry.value, was, value, place)?,
                Slot::Rekey(key, value) => {
                    let style = match entry.key.kind {
                        Kind::Scalar(style) => style,
                        _ => return None,
                    };
                    let text = write::key(key, style, &self.house, map.flow)?;
                    self.replace(entry.key.start, entry.key.end, text);
                    self.value(&entry.value, was, value, place)?;
                }
            }
        }
        let spans: Vec<(usize, usize)> = map
            .children
            .iter()
            .map(|entry| (entry.key.props, entry.value.end.max(entry.colon + 1)))
            .collect();
        let mut inserts = Vec::new();
        for (before, entries) in plan.inserts.iter().enumerate() {
            if entries.is_empty() {
                continue;
            }
            let texts = entries
                .iter()
                .map(|(k, v)| match map.flow {
                    true => Some(format!(
                        "{}: {}",
                        write::key(k, Style::Plain, &self.house, true)?,
                        self.house.flow(v)?
                    )),
                    false => self.house.entry(k, v, at),
                })
                .collect::<Option<Vec<_>>>()?;
            inserts.push((before, texts));
        }
        let separator = self.separator(node, &spans)?;
        self.children(node, &separator, &spans, &deleted, &inserts, root)
    }

    /// The edits from `old` to `new` of the sequence `node`: the items both
    /// start and end with stay, those between are changed in place pairwise,
    /// and the rest removed or added.
    fn seq(
        &mut self,
        node: &Node,
        seq: &Collection<Item>,
        old: &[Value],
        new: &[Value],
    ) -> Option<()> {
        if seq.children.len() != old.len() {
            return None;
        }
        // An empty flow list (`[]`) that gets items stays a flow list.
        if old.is_empty() && seq.flow && !new.is_empty() {
            let text = self.house.flow(&Value::Array(new.to_vec()))?;
            self.replace(node.start, node.end, text);
            return Some(());
        }
        if old.is_empty() || new.is_empty() {
            return self.fresh(node, &Value::Array(new.to_vec()), self.place_of(node));
        }
        let prefix = old.iter().zip(new).take_while(|(a, b)| same(a, b)).count();
        let room = old.len().min(new.len()) - prefix;
        let suffix = old
            .iter()
            .rev()
            .zip(new.iter().rev())
            .take(room)
            .take_while(|(a, b)| same(a, b))
            .count();
        let (old_mid, new_mid) = (old.len() - prefix - suffix, new.len() - prefix - suffix);
        let paired = old_mid.min(new_mid);
        let at = column(self.text, node.start);
        for i in prefix..prefix + paired {
            let item = seq.children.get(i)?;
            let place = match seq.flow {
                true => Place::Flow,
                false => Place::Item {
                    dash: item.dash,
                    at,
                },
            };
            self.value(&item.node, old.get(i)?, new.get(i)?, place)?;
        }
        let deleted: Vec<bool> = (0..old.len())
            .map(|i| i >= prefix + paired && i < prefix + old_mid)
            .collect();
        let mut inserts = Vec::new();
        // New items are written like the last one, where it is a string.
        let mut house = self.house.clone();
        if let (Some(item), Some(Value::String(_))) = (seq.children.last(), old.last())
            && let Kind::Scalar(style @ (Style::Plain | Style::Single | Style::Double)) =
                item.node.kind
        {
            house.item_style = style;
        }
        if new_mid > paired {
            let texts = new
                .get(prefix + paired..prefix + new_mid)?
                .iter()
                .map(|v| match seq.flow {
                    true => house.flow_item(v),
                    false => Some(format!("{}-{}", " ".repeat(at), house.after_dash(v, at)?)),
                })
                .collect::<Option<Vec<_>>>()?;
            inserts.push((prefix + old_mid, texts));
        }
        let spans: Vec<(usize, usize)> = seq
            .children
            .iter()
            .map(|item| (item.dash, item.node.end.max(item.dash + 1)))
            .collect();
        let separator = self.separator(node, &spans)?;
        self.children(node, &separator, &spans, &deleted, &inserts, false)
    }

    /// Where `node` stands, from the text before it.
    fn place_of(&self, node: &Node) -> Place {
        let before = self.text.get(..node.props).unwrap_or_default();
        let trimmed = before.trim_end_matches([' ', '\t', '\r', '\n']);
        match trimmed.as_bytes().last() {
            Some(b':') => {
                let colon = trimmed.len() - 1;
                Place::Value {
                    colon,
                    at: column(self.text, self.key_start(colon)),
                }
            }
            Some(b'-') => {
                let dash = trimmed.len() - 1;
                Place::Item {
                    dash,
                    at: column(self.text, dash),
                }
            }
            _ => Place::Flow,
        }
    }

    /// The first non-space of the line holding `pos`.
    fn key_start(&self, pos: usize) -> usize {
        let start = self.line_start(pos);
        let mut i = start;
        while matches!(self.at(i), b' ' | b'-') && i < pos {
            i += 1;
        }
        i
    }

    /// The edits from `was` to `now` of the value `node`, standing at
    /// `place`.
    fn value(&mut self, node: &Node, was: &Value, now: &Value, place: Place) -> Option<()> {
        if same(was, now) {
            return Some(());
        }
        let props = self.text.get(node.props..node.start).unwrap_or_default();
        if node.anchor != 0 && self.aliased.contains(&node.anchor) {
            let name = props
                .split_whitespace()
                .find(|p| p.starts_with('&'))
                .unwrap_or("&");
            return self.refuse(
                node.props,
                format!(
                    "the step changes a value that carries the anchor `{name}`, which an alias \
                     (`*{}`) repeats: the alias would change with it; write the aliased value \
                     out in full in place of the alias",
                    name.trim_start_matches('&')
                ),
            );
        }
        let collection = matches!(node.kind, Kind::Seq(_) | Kind::Map(_) | Kind::Opaque(_));
        if collection && let Some(tag) = props.split_whitespace().find(|p| p.starts_with('!')) {
            return self.refuse(
                node.props,
                format!(
                    "the step changes a collection tagged `{tag}`, which cannot be done in \
                     place keeping its tag; remove the tag if the value is a plain {}",
                    match node.kind {
                        Kind::Seq(_) => "list",
                        _ => "mapping",
                    }
                ),
            );
        }
        // An opaque collection is kept or replaced whole: a step may turn
        // it into another kind of value, not change what it holds.
        let inside = matches!((was, now), (Value::Object(_), Value::Object(_)))
            || matches!((was, now), (Value::Array(_), Value::Array(_)));
        if let Kind::Opaque(what) = node.kind
            && inside
        {
            return self.refuse(
                self.opaque_at(node),
                format!(
                    "the step changes a value written with {what}, which cannot be edited in \
                     place; write it as a plain mapping or list"
                ),
            );
        }
        match (&node.kind, was, now) {
            (Kind::Map(map), Value::Object(old), Value::Object(new)) => {
                let mark = self.edits.len();
                match self.map(node, map, old, new, false) {
                    Some(()) => Some(()),
                    // A block mapping whose edits cannot be made in place
                    // (every entry of a list item removed and others added)
                    // is written anew, where that loses no comment.
                    None if !map.flow && self.refusal.is_none() && !self.holds_comment(node) => {
                        self.edits.truncate(mark);
                        self.fresh(node, now, place)
                    }
                    None => None,
                }
            }
            (Kind::Seq(seq), Value::Array(was), Value::Array(now)) => self.seq(node, seq, was, now),
            (Kind::Scalar(style), _, now) if !now.is_array() && !now.is_object() => {
                self.scalar(node, *style, now, place)
            }
            _ => self.fresh(node, now, place),
        }
    }

    /// What makes the opaque `node` so: the `?` of its first explicit key
    /// in block style, else where it starts.
    fn opaque_at(&self, node: &Node) -> usize {
        if self.at(node.start) == b'?' {
            return node.start;
        }
        let at = column(self.text, node.start);
        let mut line = self.line_end(node.start);
        while line < node.end {
            let key = line + at;
            let indent = self.text.get(line..key).unwrap_or_default();
            if self.at(key) == b'?' && indent.bytes().all(|b| b == b' ') {
                return key;
            }
            line = self.line_end(line);
        }
        node.start
    }

    /// Writes `now` in place of `node` in the document's style.
    fn fresh(&mut self, node: &Node, now: &Value, place: Place) -> Option<()> {
        let (start, text) = match place {
            Place::Value { colon, at } => (colon + 1, self.house.after_key(now, at)?),
            Place::Item { dash, at } => (dash + 1, self.house.after_dash(now, at)?),
            Place::Flow => (node.props, self.house.flow(now)?),
        };
        self.replace(start, node.end.max(start), text);
        Some(())
    }
}
