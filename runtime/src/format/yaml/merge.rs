//! Merge keys (`<<: *defaults`), which YAML 1.1 readers (PyYAML, Ruby's
//! Psych, libyaml's users such as docker-compose and GitLab) resolve into
//! the keys of the mapping that holds them. The fields are read without
//! them, so a document that uses one is refused: a step would not see the
//! merged keys, and could write values its readers never see.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use super::layout::closing_lines_joined;

/// Whether any mapping in `value` has the key `<<`.
pub(super) fn has_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| k == "<<" || has_key(v)),
        Value::Array(items) => items.iter().any(has_key),
        _ => false,
    }
}

/// Where a merge key is in `text`: `Some(Some(offset))` for the first plain
/// `<<` that stands as a mapping's key (a quoted `"<<"` is an ordinary key),
/// `Some(None)` where there is none, `None` where the event parser cannot
/// read the text.
pub(super) fn find(text: &str) -> Option<Option<usize>> {
    let scanned = closing_lines_joined(text);
    // Per open collection: for a mapping, whether its next node is a key.
    let mut open: Vec<Option<bool>> = Vec::new();
    for event in Parser::new_from_str(&scanned) {
        let (event, span) = event.ok()?;
        let is_key = matches!(open.last(), Some(Some(true)));
        let done = match event {
            Event::Scalar(value, style, _, tag) => {
                if is_key && style == ScalarStyle::Plain && tag.is_none() && value == "<<" {
                    let chars = span.start.index();
                    return Some(Some(text.char_indices().nth(chars).map_or(0, |(i, _)| i)));
                }
                true
            }
            Event::Alias(_) => true,
            Event::SequenceStart(..) => {
                open.push(None);
                false
            }
            Event::MappingStart(..) => {
                open.push(Some(true));
                false
            }
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
                true
            }
            _ => false,
        };
        // A node is done: in a mapping, a key is followed by a value and a
        // value by a key.
        if done && let Some(Some(next_is_key)) = open.last_mut() {
            *next_is_key = !*next_is_key;
        }
    }
    Some(None)
}
