//! Editing a YAML text along the changes from one set of fields to the
//! next, node by node: what a step did not change keeps its bytes, and what
//! it changed keeps the style of what it replaces where that fits.

use serde_json::{Map, Value};

use super::super::plan::{Plan, Slot};
use super::super::{Newline, same};
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
}

/// `text` with its fields changed from `old` to `new`, or `None` where its
/// layout is not one this understands.
pub(in super::super) fn splice(
    text: &str,
    newline: Newline,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Option<String> {
    let root = layout::read(text)?;
    let old_value = Value::Object(old.clone());
    let mut editor = Editor {
        text,
        house: House::of(text, root.as_ref(), &old_value),
        edits: Vec::new(),
    };
    match &root {
        Some(node) => match &node.kind {
            Kind::Map(map) => editor.map(node, map, old, new, true)?,
            _ => return None,
        },
        None if new.is_empty() => {}
        None => {
            if !old.is_empty() {
                return None;
            }
            let lines = editor.house.block_map(new, 0)?;
            let added = match text.is_empty() || text.ends_with('\n') {
                true => format!("{lines}\n"),
                false => format!("\n{lines}\n"),
            };
            editor.insert(text.len(), added);
        }
    }
    editor.finish(newline)
}

impl Editor<'_> {
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
        let plan = Plan::new(old, new)?;
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
        self.children(map.flow, &separator, &spans, &deleted, &inserts)
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
        self.children(seq.flow, &separator, &spans, &deleted, &inserts)
    }

    /// Removes the children marked `deleted` and writes `inserts` (new
    /// children's texts, each before the child of the given index, or after
    /// the last). `spans`: where each child starts and ends.
    fn children(
        &mut self,
        flow: bool,
        separator: &str,
        spans: &[(usize, usize)],
        deleted: &[bool],
        inserts: &[(usize, Vec<String>)],
    ) -> Option<()> {
        let len = spans.len();
        if flow {
            let kept: Vec<usize> = (0..len)
                .filter(|&i| !deleted.get(i).copied().unwrap_or(false))
                .collect();
            let &last_kept = kept.last()?;
            for i in 0..len {
                if !deleted.get(i).copied().unwrap_or(false) || i > last_kept {
                    continue;
                }
                self.replace(spans.get(i)?.0, spans.get(i + 1)?.0, String::new());
            }
            if last_kept + 1 < len {
                self.replace(
                    spans.get(last_kept)?.1,
                    spans.get(len - 1)?.1,
                    String::new(),
                );
            }
            for (before, texts) in inserts {
                match spans.get(*before) {
                    Some(&(start, _)) => {
                        let text: String =
                            texts.iter().map(|t| format!("{t}{separator}")).collect();
                        self.insert(start, text);
                    }
                    None => {
                        let text: String =
                            texts.iter().map(|t| format!("{separator}{t}")).collect();
                        self.insert(spans.get(len - 1)?.1, text);
                    }
                }
            }
            return Some(());
        }
        for i in 0..len {
            if !deleted.get(i).copied().unwrap_or(false) {
                continue;
            }
            let (start, end) = *spans.get(i)?;
            if self.starts_line(start) {
                self.replace(self.line_start(start), self.line_end(end), String::new());
            } else {
                let next = spans.get(i + 1)?.0;
                self.replace(start, next, String::new());
            }
        }
        for (before, texts) in inserts {
            let lines = texts.join("\n");
            match spans.get(*before) {
                Some(&(start, _)) if self.starts_line(start) => {
                    self.insert(self.line_start(start), format!("{lines}\n"));
                }
                Some(_) => return None,
                None => {
                    let at = self.line_end(spans.get(len - 1)?.1);
                    match self.text.get(..at)?.ends_with('\n') {
                        true => self.insert(at, format!("{lines}\n")),
                        false => self.insert(at, format!("\n{lines}")),
                    }
                }
            }
        }
        Some(())
    }

    /// What stands between two children of the flow collection `node`: what
    /// stands between its first two, or for one child on a line of its own,
    /// a comma and that line's indentation, else the document's separator.
    fn separator(&self, node: &Node, spans: &[(usize, usize)]) -> Option<String> {
        if !matches!(&node.kind, Kind::Seq(c) if c.flow)
            && !matches!(&node.kind, Kind::Map(c) if c.flow)
        {
            return Some(String::new());
        }
        Some(match spans {
            [a, b, ..] => self.text.get(a.1..b.0)?.to_owned(),
            [a] => {
                let inside = self.text.get(node.start + 1..a.0)?;
                match inside.contains('\n') && inside.trim().is_empty() {
                    true => format!(",{inside}"),
                    false => self.house.separator.clone(),
                }
            }
            [] => self.house.separator.clone(),
        })
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
        match (&node.kind, was, now) {
            (Kind::Map(map), Value::Object(was), Value::Object(now)) => {
                self.map(node, map, was, now, false)
            }
            (Kind::Seq(seq), Value::Array(was), Value::Array(now)) => self.seq(node, seq, was, now),
            (Kind::Scalar(style), _, now) if !now.is_array() && !now.is_object() => {
                let flow = matches!(place, Place::Flow);
                let indent = match (style, place) {
                    (Style::Literal | Style::Folded, _) => self.block_indent(node),
                    (_, Place::Value { at, .. }) => at + self.house.map_indent,
                    (_, Place::Item { at, .. }) => at + 2,
                    (_, Place::Flow) => 0,
                };
                let text = write::scalar(now, *style, self.house.quote, flow, indent)?;
                let text = match node.start == node.end && !flow {
                    true => format!(" {text}"),
                    false => text,
                };
                self.replace(node.start, node.end, text);
                Some(())
            }
            _ => self.fresh(node, now, place),
        }
    }

    /// The column of the first line of the block scalar `node`.
    fn block_indent(&self, node: &Node) -> usize {
        let first = self.line_end(node.start);
        let line = self.text.get(first..).unwrap_or_default();
        line.bytes().take_while(|&b| b == b' ').count().max(1)
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
