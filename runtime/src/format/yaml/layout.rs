//! Where every node of a YAML text is, to the byte: read from the events of
//! `saphyr-parser`, whose spans give where each node starts, with the ends it
//! does not give exactly (quoted scalars, block scalars, block collections)
//! worked out from the text.
//!
//! `None` is the answer wherever the layout is not one this understands
//! (complex `?` keys, flow pairs without a value, text the parser refuses);
//! the caller then writes the document again canonically.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

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
    pub(super) kind: Kind,
}

/// What a node is.
#[derive(Debug)]
pub(super) enum Kind {
    Scalar(Style),
    Alias,
    Seq(Collection<Item>),
    Map(Collection<Entry>),
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

/// The root node of `text`, or `None` for a text with no node (empty, or
/// only comments) and where the layout is not understood; the flag says
/// which: `Some(None)` is a text without a node.
pub(super) fn read(text: &str) -> Option<Option<Node>> {
    let scanned = closing_lines_joined(text);
    let mut events = Vec::new();
    for event in Parser::new_from_str(&scanned) {
        let (event, span) = event.ok()?;
        events.push((event, span));
    }
    let offsets = (!text.is_ascii()).then(|| {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        offsets
    });
    let mut builder = Builder {
        text,
        bytes: text.as_bytes(),
        events,
        next: 0,
        offsets,
    };
    // Stream start, document start (a `---` line, or nothing).
    let mut after = 0;
    loop {
        let (event, span) = builder.events.get(builder.next)?;
        match event {
            Event::StreamStart => {}
            Event::DocumentStart(_) => after = builder.byte(span.end.index())?,
            Event::DocumentEnd | Event::StreamEnd => return Some(None),
            _ => break,
        }
        builder.next += 1;
    }
    let root = builder.node(after)?;
    Some(Some(root))
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
fn closing_lines_joined(text: &str) -> std::borrow::Cow<'_, str> {
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
            }
            Event::Alias(_) => Some(Node {
                props: span_start,
                start: span_start,
                end: trim_end(self.bytes, span_start, span_end),
                kind: Kind::Alias,
            }),
            Event::SequenceStart(anchor, tag) => {
                let props = has_props(anchor, tag.is_some());
                match self.opening(span_start, span_end, b'[') {
                    Some(open) => self.flow_seq(span_start, open),
                    None => self.block_seq(after, props),
                }
            }
            Event::MappingStart(anchor, tag) => {
                let props = has_props(anchor, tag.is_some());
                match self.opening(span_start, span_end, b'{') {
                    Some(open) => self.flow_map(span_start, open),
                    None => self.block_map(after, props),
                }
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

    fn scalar(
        &mut self,
        after: usize,
        style: ScalarStyle,
        props_known: bool,
        span_start: usize,
        span_end: usize,
    ) -> Option<Node> {
        let (style, props, start, end) = match style {
            ScalarStyle::Plain if span_end <= span_start => {
                // An empty scalar: nothing written after its `:` or `-`.
                let (props, start) = match props_known {
                    true => (self.skip_blank(after), self.skip_props(after)),
                    false => (after, after),
                };
                (Style::Plain, props, start, start)
            }
            ScalarStyle::Plain => {
                let start = self.skip_props(span_start);
                let end = trim_end(self.bytes, start, span_end);
                (Style::Plain, span_start, start, end)
            }
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                let start = self.skip_props(span_start);
                let end = self.quoted_end(start)?;
                let style = match self.at(start) {
                    b'\'' => Style::Single,
                    _ => Style::Double,
                };
                (style, span_start, start, end)
            }
            ScalarStyle::Literal | ScalarStyle::Folded => {
                let props = self.skip_blank(after);
                let start = self.skip_props(props);
                if !matches!(self.at(start), b'|' | b'>') {
                    return None;
                }
                let mut header_end = start + 1;
                while matches!(self.at(header_end), b'+' | b'-' | b'0'..=b'9') {
                    header_end += 1;
                }
                let content_from = span_start.max(header_end);
                let content = self.text.get(content_from..span_end.max(content_from))?;
                let len = content.trim_end_matches([' ', '\t', '\r', '\n']).len();
                let end = match len {
                    0 => header_end,
                    len => content_from + len,
                };
                let style = match style {
                    ScalarStyle::Literal => Style::Literal,
                    _ => Style::Folded,
                };
                (style, props, start, end)
            }
        };
        Some(Node {
            props,
            start,
            end,
            kind: Kind::Scalar(style),
        })
    }

    /// Just past the closing quote of the quoted scalar at `start`.
    fn quoted_end(&self, start: usize) -> Option<usize> {
        let quote = self.at(start);
        if !matches!(quote, b'\'' | b'"') {
            return None;
        }
        let mut i = start + 1;
        while i < self.bytes.len() {
            let c = self.at(i);
            if quote == b'"' && c == b'\\' {
                i += 2;
                continue;
            }
            if c == quote {
                if quote == b'\'' && self.at(i + 1) == b'\'' {
                    i += 2;
                    continue;
                }
                return Some(i + 1);
            }
            i += 1;
        }
        None
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

    fn flow_seq(&mut self, props: usize, open: usize) -> Option<Node> {
        let mut children = Vec::new();
        let mut cursor = open + 1;
        while !self.at_end() {
            let node = self.node(cursor)?;
            if matches!(node.kind, Kind::Map(Collection { flow: false, .. })) {
                // A single pair in a flow sequence (`[a: 1]`).
                return None;
            }
            cursor = self.skip_blank(node.end);
            if self.at(cursor) == b',' {
                cursor += 1;
            }
            children.push(Item {
                dash: node.props,
                node,
            });
        }
        let end = self.end_event()?;
        Some(Node {
            props,
            start: open,
            end,
            kind: Kind::Seq(Collection {
                flow: true,
                children,
            }),
        })
    }

    fn flow_map(&mut self, props: usize, open: usize) -> Option<Node> {
        let mut children = Vec::new();
        let mut cursor = open + 1;
        while !self.at_end() {
            let key = self.node(cursor)?;
            if self.skip_blank(cursor) != key.props || key.end <= key.start {
                return None;
            }
            let colon = self.skip_blank(key.end);
            if self.at(colon) != b':' {
                return None;
            }
            let value = self.node(colon + 1)?;
            cursor = self.skip_blank(value.end.max(colon + 1));
            if self.at(cursor) == b',' {
                cursor += 1;
            }
            children.push(Entry { key, colon, value });
        }
        let end = self.end_event()?;
        Some(Node {
            props,
            start: open,
            end,
            kind: Kind::Map(Collection {
                flow: true,
                children,
            }),
        })
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
        while !self.at_end() {
            let key = self.node(cursor)?;
            // A complex key (`? …`) or an empty one is not understood.
            if self.skip_blank(cursor) != key.props || key.end <= key.start {
                return None;
            }
            let colon = self.skip_blank_line(key.end);
            if self.at(colon) != b':' {
                return None;
            }
            let value = self.node(colon + 1)?;
            cursor = value.end.max(colon + 1);
            children.push(Entry { key, colon, value });
        }
        self.end_event()?;
        let start = children.first()?.key.props;
        let end = children.last().map_or(start, |entry| entry.value.end);
        Some(Node {
            props: if props_known { props } else { start },
            start,
            end,
            kind: Kind::Map(Collection {
                flow: false,
                children,
            }),
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

/// `end`, moved back over spaces, tabs and line breaks, not before `start`.
fn trim_end(bytes: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(bytes.get(end - 1), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        end -= 1;
    }
    end
}
