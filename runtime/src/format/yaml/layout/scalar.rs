//! Where a scalar node starts and ends: its spans do not give the end of
//! a quoted or block scalar, nor where an empty one stands, exactly.

use saphyr_parser::ScalarStyle;

use super::{Builder, Kind, Node, Style, trim_end};

impl Builder<'_> {
    pub(super) fn scalar(
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
                let mut end = match len {
                    0 => header_end,
                    len => content_from + len,
                };
                if self
                    .text
                    .get(start..header_end)
                    .is_some_and(|h| h.contains('+'))
                {
                    // Kept chomping: the blank lines after the content are
                    // the value's own; it ends on the last of them.
                    end = self.kept_blank_lines(end);
                }
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
            anchor: 0,
            kind: Kind::Scalar(style),
        })
    }

    /// The start of the last of the blank lines that follow the line
    /// holding `end`, or `end` where none follows.
    fn kept_blank_lines(&self, end: usize) -> usize {
        let line_after = |pos: usize| {
            self.text
                .get(pos..)
                .and_then(|rest| rest.find('\n'))
                .map(|i| pos + i + 1)
        };
        let mut last = end;
        let mut next = line_after(end);
        while let Some(line) = next.filter(|&at| at < self.text.len()) {
            let blank = self.text.get(line..).is_some_and(|rest| {
                let content = rest.split('\n').next().unwrap_or_default();
                content.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
            });
            if !blank {
                break;
            }
            last = line;
            next = line_after(line);
        }
        last
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
}
