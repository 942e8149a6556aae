//! Replacing a scalar with another: in its style where that fits, a
//! block scalar's header comment kept.

use serde_json::Value;

use super::super::layout::{Node, Style};
use super::super::write;
use super::{Editor, Place};

impl Editor<'_> {
    /// Writes the scalar `now` in place of the scalar `node`, written in
    /// `style`, at `place`.
    pub(super) fn scalar(
        &mut self,
        node: &Node,
        style: Style,
        now: &Value,
        place: Place,
    ) -> Option<()> {
        let flow = matches!(place, Place::Flow);
        let indent = match (style, place) {
            (Style::Literal | Style::Folded, _) => self.block_indent(node),
            (_, Place::Value { at, .. }) => at + self.house.map_indent,
            (_, Place::Item { at, .. }) => at + 2,
            (_, Place::Flow) => 0,
        };
        let old = self.text.get(node.start..node.end).unwrap_or_default();
        let text = write::replacing(now, old, style, self.house.quote, flow, indent)?;
        let text = match header_comment(old, style) {
            None => text,
            Some(comment) => match text.split_once('\n') {
                Some((header, rest)) if text.starts_with(['|', '>']) => {
                    format!("{header}{comment}\n{rest}")
                }
                None => format!("{text}{comment}"),
                Some(_) => {
                    return self.refuse(
                        node.start,
                        "the step changes a block scalar whose first line holds a \
                         comment, which its new value cannot keep"
                            .to_owned(),
                    );
                }
            },
        };
        // An empty scalar stands right after its `:` or `-`: the new one
        // is set off by a space (in a flow mapping too, where `a:x` would
        // be one plain key).
        let spaced =
            (self.text.get(..node.start)).is_some_and(|before| before.ends_with([' ', '\t']));
        let text = match node.start == node.end && !spaced {
            true => format!(" {text}"),
            false => text,
        };
        self.replace(node.start, node.end, text);
        Some(())
    }

    /// The column of the first line of the block scalar `node`; where that
    /// line is blank, deeper than the line that holds its `|` or `>`.
    fn block_indent(&self, node: &Node) -> usize {
        let spaces = |line: &str| line.bytes().take_while(|&b| b == b' ').count();
        let own = spaces(
            self.text
                .get(self.line_start(node.start)..)
                .unwrap_or_default(),
        );
        let first = self.line_end(node.start);
        let line = self.text.get(first..).unwrap_or_default();
        let line = line.split('\n').next().unwrap_or_default();
        match line.trim_end_matches([' ', '\r']).is_empty() {
            true => own + 2,
            false => spaces(line).max(own + 1),
        }
    }
}

/// The comment on the header line of the block scalar `old` (a `|` or `>`
/// scalar's text), with the blanks before it, if it has one.
fn header_comment(old: &str, style: Style) -> Option<&str> {
    if !matches!(style, Style::Literal | Style::Folded) {
        return None;
    }
    let header = old.split('\n').next()?.trim_end_matches('\r');
    let hash = header
        .char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && header[..i].ends_with([' ', '\t']))?
        .0;
    let start = header[..hash].trim_end_matches([' ', '\t']).len();
    Some(&header[start..])
}
