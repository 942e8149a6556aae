//! Where every node of a YAML text is, to the byte: read from the events of
//! `saphyr-parser`, whose spans give where each node starts, with the ends it
//! does not give exactly (quoted scalars, block scalars, block collections)
//! worked out from the text.
//!
//! A collection whose inside is not one this understands but whose ends
//! are known (a flow mapping entry without a value, `{a, b}`; a pair in a
//! flow sequence, `[a: 1]`) is [`Kind::Opaque`]: kept byte for byte while
//! nothing in it changes; so is a block mapping with an explicit key
//! (`? key`). Where even that is not possible (an empty key, text the
//! parser refuses), reading fails with a [`Refusal`] saying where and why,
//! and the caller refuses the edit.

use saphyr_parser::{Event, Parser, Span};

use super::Refusal;

mod flow;
mod scalar;

/// One node: a scalar, an alias or a collection.
#[derive(Debug)]
pub(super) struct Node {
    /// Where its properties (an anchor, a tag) start, or the node where it
    /// has none.
    pub(super) props: usize,
    /// Where the node itself starts: a scalar's first character (a quote, a
    /// block scalar's `|` or `>`), a flow collection's bracket, a block
    /// collection's first key or `-`.
    pub(super) start: usize,
    /// Where its own text ends: no space, comment or line break after it.
    pub(super) end: usize,
    /// The parser's id of its anchor (`&name`); 0 for none.
    pub(super) anchor: usize,
    pub(super) kind: Kind,
}

/// What a node is.
#[derive(Debug)]
pub(super) enum Kind {
    Scalar(Style),
    Alias,
    Seq(Collection<Item>),
    Map(Collection<Entry>),
    /// A collection kept as written, not edited inside (a step may replace
    /// it whole); what makes it so, as error messages name it.
    Opaque(&'static str),
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

/// A sequence's items or a mapping's entries, in flow (`[…]`, `{…}`) or
/// block style.
#[derive(Debug)]
pub(super) struct Collection<T> {
    pub(super) flow: bool,
    pub(super) children: Vec<T>,
}

/// An item of a sequence.
#[derive(Debug)]
pub(super) struct Item {
    /// The `-` of a block item; the node's start in a flow sequence.
    pub(super) dash: usize,
    pub(super) node: Node,
}

/// An entry of a mapping.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: Node,
    /// The position of the `:` after the key.
    pub(super) colon: usize,
    pub(super) value: Node,
}

/// Where every node of a text is.
#[derive(Debug)]
pub(super) struct Layout {
    /// The root node; `None` for a text with no node (empty, or only
    /// comments).
    pub(super) root: Option<Node>,
    /// The anchor ids that some alias refers to.
    pub(super) aliased: Vec<usize>,
}

/// The layout of `text`, or why it is not understood.
pub(super) fn read(text: &str) -> Result<Layout, Refusal> {
    let offsets = (!text.is_ascii()).then(|| {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        offsets
    });
    let scanned = closing_lines_joined(text);
    let mut events = Vec::new();
    for event in Parser::new_from_str(&scanned) {
        match event {
            Ok((event, span)) => events.push((event, span)),
            Err(error) => {
                let index = error.marker().index();
                let at = match &offsets {
                    Some(offsets) => offsets.get(index).copied(),
                    None => Some(index.min(text.len())),
                };
                return Err(Refusal {
                    at,
                    reason: format!(
                        "the in-place editor cannot read the text here ({}); write this \
                         value in plain block style",
                        error.info()
                    ),
                });
            }
        }
    }
    let aliased = events
        .iter()
        .filter_map(|(event, _)| match event {
            Event::Alias(id) => Some(*id),
            _ => None,
        })
        .collect();
    let mut builder = Builder {
        text,
        bytes: text.as_bytes(),
        events,
        next: 0,
        offsets,
        refusal: None,
    };
    let root = builder.root();
    match (root, builder.refusal) {
        (Some(root), _) => Ok(Layout { root, aliased }),
        (None, Some(refusal)) => Err(refusal),
        (None, None) => Err(Refusal::unknown()),
    }
}

impl Builder<'_> {
    /// The root node, `Some(None)` where there is none.
    fn root(&mut self) -> Option<Option<Node>> {
        // Stream start, document start (a `---` line, or nothing).
        let mut after = 0;
        loop {
            let (event, span) = self.events.get(self.next)?;
            match event {
                Event::StreamStart => {}
                Event::DocumentStart(_) => after = self.byte(span.end.index())?,
                Event::DocumentEnd | Event::StreamEnd => return Some(None),
                _ => break,
            }
            self.next += 1;
        }
        let root = self.node(after)?;
        Some(Some(root))
    }
}

/// `text`, where a line starts with `]` or `}`, with the line break before
/// it made spaces: the same length, so every position stays.
///
/// A flow collection whose closing bracket stands alone at column 0 is valid
/// (libyaml, Go's yaml.v3 and js-yaml read it, and generators write it), but
/// `saphyr-parser` refuses it after a quoted item. Outside a flow
/// collection such a line is invalid anyway, and inside a quoted scalar a
/// line break reads as a space, so joining the lines changes no node's
/// place; the values are read by `serde_norway` from the text itself.
pub(super) fn closing_lines_joined(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\n]") && !text.contains("\n}") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut bytes = text.as_bytes().to_vec();
    for i in 1..bytes.len() {
        if matches!(bytes[i], b']' | b'}') && bytes[i - 1] == b'\n' {
            bytes[i - 1] = b' ';
            if i >= 2 && bytes[i - 2] == b'\r' {
                bytes[i - 2] = b' ';
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    std::borrow::Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned()))
}

struct Builder<'a> {
    text: &'a str,
    bytes: &'a [u8],
    events: Vec<(Event<'a>, Span)>,
    next: usize,
    /// Byte offset of each character, where the text is not ASCII.
    offsets: Option<Vec<usize>>,
    /// Why the layout is not understood, where that is known.
    refusal: Option<Refusal>,
}

impl<'a> Builder<'a> {
    fn peek(&self) -> Option<&Event<'a>> {
        self.events.get(self.next).map(|(event, _)| event)
    }

    fn byte(&self, index: usize) -> Option<usize> {
        match &self.offsets {
            Some(offsets) => offsets.get(index).copied(),
            None => (index <= self.text.len()).then_some(index),
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    /// Records why the layout at `at` is not understood; always `None`.
    fn refuse<T>(&mut self, at: usize, reason: &str) -> Option<T> {
        self.refusal.get_or_insert_with(|| Refusal {
            at: Some(at),
            reason: reason.to_owned(),
        });
        None
    }

    /// The first position at or after `i` that is not a space, a tab, a
    /// line break or part of a comment.
    fn skip_blank(&self, mut i: usize) -> usize {
        loop {
            match self.at(i) {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'#' if i == 0 || matches!(self.at(i - 1), b' ' | b'\t' | b'\r' | b'\n') => {
                    while !matches!(self.at(i), b'\n' | 0) {
                        i += 1;
                    }
                }
                _ => return i,
            }
        }
    }

    /// Past the properties (`&anchor`, `!tag`) starting at `i`.
    fn skip_props(&self, mut i: usize) -> usize {
        loop {
            let at = self.skip_blank(i);
            if !matches!(self.at(at), b'&' | b'!') {
                return at;
            }
            i = at;
            while !matches!(self.at(i), b' ' | b'\t' | b'\r' | b'\n' | 0) {
                i += 1;
            }
        }
    }

    /// The node whose events come next; `after` is just past what
    /// introduces it (a `:`, a `-`, a `[`, a `,`).
    fn node(&mut self, after: usize) -> Option<Node> {
        let (event, span) = self.events.get(self.next)?.clone();
        self.next += 1;
        let span_start = self.byte(span.start.index())?;
        let span_end = self.byte(span.end.index())?;
        let has_props = |anchor: usize, tag: bool| anchor != 0 || tag;
        match event {
            Event::Scalar(_, style, anchor, tag) => {
                let props_known = has_props(anchor, tag.is_some());
                self.scalar(after, style, props_known, span_start, span_end)
                    .map(|node| Node { anchor, ..node })
            }
            Event::Alias(_) => Some(Node {
                props: span_start,
                start: span_start,
                end: trim_end(self.bytes, span_start, span_end),
                anchor: 0,
                kind: Kind::Alias,
            }),
            Event::SequenceStart(anchor, tag) => {
                let props = has_props(anchor, tag.is_some());
                match self.opening(span_start, span_end, b'[') {
                    Some(open) => self.flow_seq(span_start, open),
                    None => self.block_seq(after, props),
                }
                .map(|node| Node { anchor, ..node })
            }
            Event::MappingStart(anchor, tag) => {
                let props = has_props(anchor, tag.is_some());
                match self.opening(span_start, span_end, b'{') {
                    Some(open) => self.flow_map(span_start, open),
                    None => self.block_map(after, props),
                }
                .map(|node| Node { anchor, ..node })
            }
            _ => None,
        }
    }

    /// The bracket `open` that ends the span of a collection's start (its
    /// spaces after it aside), where the collection is in flow style.
    fn opening(&self, span_start: usize, span_end: usize, open: u8) -> Option<usize> {
        let end = trim_end(self.bytes, span_start, span_end);
        let at = end.checked_sub(1).filter(|_| end > span_start)?;
        (self.at(at) == open).then_some(at)
    }

    fn end_event(&mut self) -> Option<usize> {
        let (event, span) = self.events.get(self.next)?;
        if !matches!(event, Event::SequenceEnd | Event::MappingEnd) {
            return None;
        }
        // The span of a closing bracket may run on over the spaces and the
        // comment after it: the bracket ends it.
        let start = self.byte(span.start.index())?;
        let end = match self.at(start) {
            b']' | b'}' => start + 1,
            _ => self.byte(span.end.index())?,
        };
        self.next += 1;
        Some(end)
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), Some(Event::SequenceEnd | Event::MappingEnd))
    }

    fn block_seq(&mut self, after: usize, props_known: bool) -> Option<Node> {
        // The span of an indentless sequence's start is past its first `-`:
        // the `-` is found from what introduces the sequence.
        let first_dash = match props_known {
            true => self.skip_props(after),
            false => self.skip_blank(after),
        };
        let props = match props_known {
            true => self.skip_blank(after),
            false => first_dash,
        };
        let mut children = Vec::new();
        let mut cursor = first_dash;
        while !self.at_end() {
            let dash = self.skip_blank(cursor);
            if self.at(dash) != b'-' {
                return None;
            }
            let node = self.node(dash + 1)?;
            cursor = node.end.max(dash + 1);
            children.push(Item { dash, node });
        }
        self.end_event()?;
        let end = children.last().map_or(first_dash, |item| item.node.end);
        Some(Node {
            props,
            start: first_dash,
            end,
            anchor: 0,
            kind: Kind::Seq(Collection {
                flow: false,
                children,
            }),
        })
    }

    fn block_map(&mut self, after: usize, props_known: bool) -> Option<Node> {
        let mut children: Vec<Entry> = Vec::new();
        let mut cursor = match props_known {
            true => self.skip_props(after),
            false => after,
        };
        let props = self.skip_blank(after);
        // Where the first explicit key (`? key`) stands, if one does.
        let mut explicit: Option<usize> = None;
        while !self.at_end() {
            let at = self.skip_blank(cursor);
            let key = self.node(cursor)?;
            let colon = match at != key.props || key.end <= key.start {
                // An explicit key: its `:` may stand on a later line. The
                // mapping is then kept as written, or replaced whole.
                true if self.at(at) == b'?' && key.end > at => {
                    explicit.get_or_insert(at);
                    self.skip_blank(key.end)
                }
                // An empty key (`: value`) is not understood.
                true => return self.refuse(at, EXPLICIT_KEY),
                false => self.skip_blank_line(key.end),
            };
            if self.at(colon) != b':' {
                return match explicit {
                    Some(at) => self.refuse(at, EXPLICIT_KEY),
                    None => None,
                };
            }
            let value = self.node(colon + 1)?;
            cursor = value.end.max(colon + 1);
            children.push(Entry { key, colon, value });
        }
        self.end_event()?;
        let start = match (children.first(), explicit) {
            (Some(first), None) => first.key.props,
            (Some(_), Some(at)) => at.min(children.first()?.key.props),
            (None, _) => return None,
        };
        let end = children.last().map_or(start, |entry| entry.value.end);
        let kind = match explicit {
            Some(_) => Kind::Opaque(EXPLICIT_KEY_SHORT),
            None => Kind::Map(Collection {
                flow: false,
                children,
            }),
        };
        Some(Node {
            props: if props_known { props } else { start },
            start,
            end,
            anchor: 0,
            kind,
        })
    }

    /// Past spaces and tabs from `i` (a key's `:` follows on its line).
    fn skip_blank_line(&self, mut i: usize) -> usize {
        while matches!(self.at(i), b' ' | b'\t') {
            i += 1;
        }
        i
    }
}

/// What makes a block mapping with an explicit key opaque, as messages
/// name it.
const EXPLICIT_KEY_SHORT: &str = "an explicit key (`? key`)";

/// Why an explicit or empty key is refused.
const EXPLICIT_KEY: &str = "an explicit key (`? key`) or an empty key, which the in-place editor \
     cannot keep; write the key as `key: value`";

/// `end`, moved back over spaces, tabs and line breaks, not before `start`.
fn trim_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(bytes.get(end - 1), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        end -= 1;
    }
    end
}
