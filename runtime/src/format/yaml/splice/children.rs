//! Removing and adding the children of a collection: a block child with its
//! line, a flow child with its comma.

use super::super::layout::{Kind, Node};
use super::super::write::column;
use super::Editor;

impl Editor<'_> {
    /// Removes the children marked `deleted` and writes `inserts` (new
    /// children's texts, each before the child of the given index, or after
    /// the last). `spans`: where each child of the collection `node`
    /// starts and ends.
    pub(super) fn children(
        &mut self,
        node: &Node,
        separator: &str,
        spans: &[(usize, usize)],
        deleted: &[bool],
        inserts: &[(usize, Vec<String>)],
        root: bool,
    ) -> Option<()> {
        let len = spans.len();
        let flow = matches!(&node.kind, Kind::Seq(c) if c.flow)
            || matches!(&node.kind, Kind::Map(c) if c.flow);
        if flow {
            let kept: Vec<usize> = (0..len)
                .filter(|&i| !deleted.get(i).copied().unwrap_or(false))
                .collect();
            let Some(&last_kept) = kept.last() else {
                // No child stays (or there was none): the new ones stand
                // alone between the brackets.
                let texts: Vec<&str> = inserts
                    .iter()
                    .flat_map(|(_, texts)| texts.iter().map(String::as_str))
                    .collect();
                let (start, end) = match (spans.first(), spans.last()) {
                    (Some(first), Some(last)) => (first.0, last.1),
                    _ => (node.start + 1, node.start + 1),
                };
                self.replace(start, end, texts.join(separator));
                return Some(());
            };
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
        let gone = |i: usize| deleted.get(i).copied().unwrap_or(false);
        // The child that takes the place after a `-` of the ones removed
        // before it, and where that place is.
        let mut moved_up: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < len {
            if !gone(i) {
                i += 1;
                continue;
            }
            let (start, end) = *spans.get(i)?;
            if self.starts_line(start) {
                // The comment lines right above it are about it, but for the
                // first key's of the document, which may be about the file.
                let line = self.line_start(start);
                let above = self.comments_above(line, column(self.text, start));
                let from = match i.checked_sub(1).and_then(|p| spans.get(p)) {
                    Some(&(_, previous_end)) => above.max(previous_end),
                    None if root => line,
                    None => above,
                };
                self.replace(from, self.line_end(end), String::new());
                i += 1;
            } else {
                // The child after a `-` goes with the ones removed after
                // it, up to the first that stays, which takes its place.
                let kept = (i + 1..len).find(|&j| !gone(j))?;
                self.replace(start, spans.get(kept)?.0, String::new());
                moved_up = Some((kept, start));
                i = kept;
            }
        }
        for (before, texts) in inserts {
            let lines = texts.join("\n");
            // Before a child that moved up after a `-`: at its new place.
            let spans_here = match moved_up {
                Some((kept, at)) if kept == *before => Some((at, at)),
                _ => spans.get(*before).copied(),
            };
            match spans_here.as_ref() {
                Some(&(start, _)) if self.starts_line(start) => {
                    self.insert(self.line_start(start), format!("{lines}\n"));
                }
                Some(&(start, _)) => {
                    // Before the child after a `-`: the new ones take its
                    // place, and it goes to a line of its own below them.
                    let pad = " ".repeat(column(self.text, start));
                    self.insert(start, format!("{}\n{pad}", lines.trim_start_matches(' ')));
                }
                None => {
                    let at = self.after_comments(node, self.line_end(spans.get(len - 1)?.1));
                    match self.text.get(..at)?.ends_with('\n') {
                        true => self.insert(at, format!("{lines}\n")),
                        false => self.insert(at, format!("\n{lines}")),
                    }
                }
            }
        }
        Some(())
    }

    /// Where the comment lines right above the line that starts at `at`
    /// begin: those written at `column`, with no blank line between.
    fn comments_above(&self, mut at: usize, column: usize) -> usize {
        while at > 0 {
            let start = self.line_start(at - 1);
            let line = self.text.get(start..at).unwrap_or_default();
            let content = line.trim_start_matches(' ');
            if !content.starts_with('#') || line.len() - content.len() != column {
                break;
            }
            at = start;
        }
        at
    }

    /// Past the comment lines from `at` on that are indented deeper than
    /// the block collection `node` (they close what its last child holds),
    /// blank lines between them included.
    pub(super) fn after_comments(&self, node: &Node, mut at: usize) -> usize {
        let column = column(self.text, node.start);
        let mut probe = at;
        while probe < self.text.len() {
            let next = self.line_end(probe);
            let line = self.text.get(probe..next).unwrap_or_default();
            let content = line.trim_start_matches(' ');
            if content.trim_end().is_empty() {
                probe = next;
                continue;
            }
            if !content.starts_with('#') || line.len() - content.len() <= column {
                break;
            }
            at = next;
            probe = next;
        }
        at
    }

    /// Whether a comment stands inside the collection `node`: a `#` that
    /// no scalar of it holds (one inside a collection kept as written
    /// counts).
    pub(super) fn holds_comment(&self, node: &Node) -> bool {
        fn scalars(node: &Node, out: &mut Vec<(usize, usize)>) {
            match &node.kind {
                Kind::Scalar(_) => out.push((node.start, node.end)),
                Kind::Map(map) => {
                    for entry in &map.children {
                        scalars(&entry.key, out);
                        scalars(&entry.value, out);
                    }
                }
                Kind::Seq(seq) => {
                    for item in &seq.children {
                        scalars(&item.node, out);
                    }
                }
                Kind::Alias | Kind::Opaque(_) => {}
            }
        }
        let mut spans = Vec::new();
        scalars(node, &mut spans);
        let text = self.text.get(node.start..node.end).unwrap_or_default();
        text.match_indices('#').any(|(i, _)| {
            let at = node.start + i;
            !spans.iter().any(|&(start, end)| start <= at && at < end)
        })
    }

    /// What stands between two children of the flow collection `node`: what
    /// stands between its first two, or for one child on a line of its own,
    /// a comma and that line's indentation, else the document's separator.
    pub(super) fn separator(&self, node: &Node, spans: &[(usize, usize)]) -> Option<String> {
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
}
