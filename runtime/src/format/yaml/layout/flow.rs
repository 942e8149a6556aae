//! Flow collections (`[a, b]`, `{a: 1}`): their children, and what the
//! editor cannot change in place in them.

use super::{Builder, Collection, EXPLICIT_KEY, Entry, Item, Kind, Node};

impl Builder<'_> {
    pub(super) fn flow_seq(&mut self, props: usize, open: usize) -> Option<Node> {
        let mut children = Vec::new();
        let mut cursor = open + 1;
        let mut pairs = false;
        while !self.at_end() {
            let node = self.node(cursor)?;
            // A single pair in a flow sequence (`[a: 1]`).
            pairs |= matches!(node.kind, Kind::Map(Collection { flow: false, .. }));
            cursor = self.past_comma(node.end);
            children.push(Item {
                dash: node.props,
                node,
            });
        }
        self.flow_end(
            props,
            open,
            match pairs {
                true => Kind::Opaque("a pair in a flow sequence (`[a: 1]`)"),
                false => Kind::Seq(Collection {
                    flow: true,
                    children,
                }),
            },
        )
    }

    /// The first byte after the blanks after `at`, and after a comma there.
    fn past_comma(&self, at: usize) -> usize {
        let cursor = self.skip_blank(at);
        match self.at(cursor) {
            b',' => cursor + 1,
            _ => cursor,
        }
    }

    /// The flow collection opened at `open`, of `kind`, now that its
    /// closing event comes.
    fn flow_end(&mut self, props: usize, open: usize, kind: Kind) -> Option<Node> {
        let end = self.end_event()?;
        Some(Node {
            props,
            start: open,
            end,
            anchor: 0,
            kind,
        })
    }

    pub(super) fn flow_map(&mut self, props: usize, open: usize) -> Option<Node> {
        let mut children = Vec::new();
        let mut cursor = open + 1;
        let mut valueless = false;
        while !self.at_end() {
            let key = self.node(cursor)?;
            if self.skip_blank(cursor) != key.props || key.end <= key.start {
                let at = self.skip_blank(cursor);
                return self.refuse(at, EXPLICIT_KEY);
            }
            let colon = self.skip_blank(key.end);
            if matches!(self.at(colon), b',' | b'}') {
                // An entry without a value (`{a, b}`, a set's notation).
                valueless = true;
                let value = self.node(key.end)?;
                cursor = self.past_comma(colon);
                children.push(Entry { key, colon, value });
                continue;
            }
            if self.at(colon) != b':' {
                return None;
            }
            let value = self.node(colon + 1)?;
            cursor = self.past_comma(value.end.max(colon + 1));
            children.push(Entry { key, colon, value });
        }
        self.flow_end(
            props,
            open,
            match valueless {
                true => Kind::Opaque("a flow mapping entry without a value (`{a, b}`)"),
                false => Kind::Map(Collection {
                    flow: true,
                    children,
                }),
            },
        )
    }
}
