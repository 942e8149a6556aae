//! YAML documents and Markdown front matter, edited node by node.
//!
//! Values are read with [`serde_norway`], a maintained fork of the archived
//! `serde_yaml` 0.9 (same API and behaviour, regular releases since 2024,
//! licensed MIT OR Apache-2.0 like verchain). It was chosen over
//! `serde_yaml_ng` (MIT only, fewer releases) and `serde_yml` (deprecated):
//! it reports line and column for every error, refuses input nested deeper
//! than 128 levels and bounds alias expansion. Values are read through a
//! strict visitor that refuses duplicate keys, which `serde_json::Value`
//! would otherwise silently resolve to the last one.
//!
//! Where each node is comes from the event parser of `saphyr-parser`
//! (MIT OR Apache-2.0, a YAML 1.2 parser that passes the YAML test suite and
//! gives every event its span), so that every key's value is known to the
//! byte, in every style: block and flow collections at any indentation, flow
//! collections over several lines closing at any column, quoted, folded and
//! literal scalars, anchors, aliases and tags (see the layout module).
//!
//! Writing back edits only what a step changed:
//!
//! - A key the step did not change keeps its bytes, and so does everything
//!   between keys (comments, blank lines, a comment after a value).
//! - A changed mapping or sequence is edited inside, child by child: a
//!   changed child keeps its place, a removed one goes with its line (block)
//!   or its comma (flow), a new one is written after the last (a sequence's
//!   items common to its start and end stay; those between change in place).
//! - A changed scalar keeps its style where the new value fits it: a plain
//!   scalar stays plain, a quoted one keeps its quote character, a literal
//!   (`|`) or folded (`>`) block scalar stays one (a folded one only for one
//!   line; several lines are written literal). Where it does not fit (a
//!   string that would read as a number if plain, a line break in single
//!   quotes), it is written plain if it can be, else in double quotes. A
//!   number, a boolean or null is always plain. What follows the value on
//!   its line, a comment, stays.
//! - A renamed key keeps its place, its quoting and its value's bytes.
//! - Where a value changes kind (a string becomes a list) or is new (a new
//!   key), it is written in the document's prevailing style for that kind:
//!   sequences and nested mappings in flow style where most of the
//!   document's are, else in block style; block sequences indented as the
//!   document's are under their key, nested mappings likewise; flow items
//!   separated as the document's first flow sequence separates them; strings
//!   quoted the way most of the document's strings of that place (items,
//!   values) are. A document with none of a kind gets the defaults: block
//!   style, two spaces in (as Obsidian, Astro and most hand-written front
//!   matter indent lists), `, `, plain strings.
//!
//! So a step that renames a key, adds a key, rewrites a scalar or turns a
//! list into a string, and the step that undoes it, give back the original
//! bytes; turning a string back into a list gives the list's original style
//! where the document has another list to learn it from.
//!
//! A new string that a YAML 1.1 reader (PyYAML, Ruby's Psych as Jekyll
//! uses it, Go's yaml.v2) would read as something else when plain (`no`,
//! `on`, `y`, `2024-01-02`, `12:30`, `1_000`, `0x1F`, `.inf`, `~`, `:name`, …)
//! is quoted; one that replaces a plain scalar such a reader reads as the
//! same kind of value (a date by a date-time) stays plain.
//!
//! What is not kept: a comment between a key and a value whose kind
//! changes; the comments inside a nested mapping whose keys a step
//! reorders (that mapping is written again; where it holds a comment, the
//! edit is refused).
//!
//! What is refused, naming the line and saying why, and never written
//! again whole: a merge key (`<<: *defaults`), when the document is read
//! (the keys it brings in would be invisible to the steps); tagged values
//! (`!tag`), when it is read; and, when a step changes the document, a
//! change to a value whose anchor an alias repeats, to a tagged collection
//! (`!!set`, `!!omap`), to a flow collection written with entries without
//! values (`{a, b}`) or pairs (`[a: 1]`), or to a mapping with an explicit
//! `? key` (those are kept byte for byte while unchanged, and may be
//! replaced whole); a step that reorders the top-level keys; any change to
//! a top-level mapping with an explicit key; text that `saphyr-parser`
//! refuses although `serde_norway` reads it (flow content less indented
//! than the flow collection that holds it); and an edit that does not read
//! back as the step's fields.

mod layout;
mod merge;
mod resolve;
mod splice;
mod write;

pub(super) use splice::splice;

use std::cell::RefCell;

use camino::Utf8Path;
use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::strict::{Strict, strip_positions};
use super::{Format, FormatError, kind};

/// Why a YAML text cannot be edited in place: where, and what stands there
/// and what the user can do.
#[derive(Debug)]
pub(super) struct Refusal {
    /// The byte offset in the text, where known.
    pub(super) at: Option<usize>,
    pub(super) reason: String,
}

impl Refusal {
    /// A refusal for a layout the in-place editor does not understand,
    /// where it cannot tell what stands in the way.
    fn unknown() -> Refusal {
        Refusal {
            at: None,
            reason: "the in-place editor cannot make this change in this layout without \
                     touching what the step did not change; write the changed values in \
                     plain block style"
                .to_owned(),
        }
    }

    /// The error for `path`, whose YAML `text` starts on line
    /// `line_offset + 1` of its file.
    pub(super) fn error(
        self,
        path: &Utf8Path,
        text: &str,
        line_offset: usize,
        format: Format,
    ) -> FormatError {
        let position = self.at.map(|at| super::line_col(text, at));
        FormatError::NotEditable {
            path: path.to_owned(),
            line: position.map(|(line, _)| line + line_offset),
            column: position.map(|(_, column)| column),
            syntax: format.syntax(),
            reason: self.reason,
        }
    }
}

/// The fields of the YAML `text`, which starts on line `line_offset + 1` of
/// its file. An empty document (or one of only comments) has no fields.
pub(super) fn parse(
    path: &Utf8Path,
    text: &str,
    line_offset: usize,
    format: Format,
) -> Result<Map<String, Value>, FormatError> {
    let syntax = format.syntax();
    if let Some(offset) = too_deep(text) {
        let (line, column) = super::line_col(text, offset);
        return Err(FormatError::Syntax {
            path: path.to_owned(),
            line: Some(line + line_offset),
            column: Some(column),
            syntax,
            message: format!("more than {MAX_OPEN} unclosed `[` or `{{`"),
        });
    }
    let duplicate = RefCell::new(None);
    let value = Strict {
        duplicate: &duplicate,
    }
    .deserialize(serde_norway::Deserializer::from_str(text))
    .map_err(|error| {
        let location = error
            .location()
            .map(|l| (l.line() + line_offset, l.column()));
        let line = location.map(|l| l.0);
        let column = location.map(|l| l.1);
        if let Some(key) = duplicate.take() {
            return FormatError::DuplicateKey {
                path: path.to_owned(),
                line,
                column,
                syntax,
                key,
            };
        }
        // The parser's own positions count from the start of the YAML, not
        // of the file: the error's line and column say where it is.
        let message = strip_positions(&error.to_string());
        FormatError::Syntax {
            path: path.to_owned(),
            line,
            column,
            syntax,
            message,
        }
    })?;
    if merge::has_key(&value) {
        // A quoted `"<<"` is an ordinary key; where the event parser cannot
        // tell, the first `<<` is taken for a merge key.
        let at = match merge::find(text) {
            Some(found) => found,
            None => Some(text.find("<<").unwrap_or(0)),
        };
        if let Some(at) = at {
            let (line, column) = super::line_col(text, at);
            return Err(FormatError::MergeKey {
                path: path.to_owned(),
                line: Some(line + line_offset),
                column: Some(column),
                syntax,
            });
        }
    }
    match value {
        Value::Object(fields) => Ok(fields),
        Value::Null => Ok(Map::new()),
        other => Err(FormatError::NotAMapping {
            path: path.to_owned(),
            syntax,
            found: kind(&other),
        }),
    }
}

/// How many `[` and `{` may be open at once, counted without regard to
/// quoting. The YAML parser takes time quadratic in the nesting of flow
/// collections before the deserializer's limit of 128 levels applies, so
/// deeper input is refused before it is parsed.
const MAX_OPEN: usize = 1024;

/// The offset where more than [`MAX_OPEN`] brackets are open, if anywhere.
fn too_deep(text: &str) -> Option<usize> {
    let mut open = 0usize;
    for (i, byte) in text.bytes().enumerate() {
        match byte {
            b'[' | b'{' => {
                open += 1;
                if open > MAX_OPEN {
                    return Some(i);
                }
            }
            b']' | b'}' => open = open.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The fields in block style, LF line breaks and a final one; `""` for no
/// fields in front matter, `{}` in a YAML file.
pub(super) fn to_text(
    path: &Utf8Path,
    format: Format,
    fields: &Map<String, Value>,
) -> Result<String, FormatError> {
    if fields.is_empty() && format == Format::Markdown {
        return Ok(String::new());
    }
    let text = serde_norway::to_string(fields).map_err(|error| FormatError::Unrepresentable {
        path: path.to_owned(),
        key: String::new(),
        action: "written as",
        syntax: format.syntax(),
        reason: error.to_string(),
    })?;
    // `serde_norway` writes a key `<<` plain (a merge key to a reader) and
    // a key holding a line separator as an explicit key (`? key`), which
    // the in-place editor keeps but cannot edit inside. Such fields are
    // written by the editor's own writer, which quotes them.
    let reads_back = read_fields(path, &text).is_some_and(|read| super::same_map(&read, fields));
    let explicit = text.lines().any(|line| {
        let line = line.trim_start_matches([' ', '-']);
        line.starts_with("? ") || line == "?"
    });
    if reads_back && !explicit {
        return Ok(text);
    }
    let own = write::House::of("", None, &Value::Null)
        .block_map(fields, 0)
        .map(|lines| format!("{lines}\n"))
        .filter(|own| read_fields(path, own).is_some_and(|read| super::same_map(&read, fields)));
    match (own, reads_back) {
        (Some(own), _) => Ok(own),
        (None, true) => Ok(text),
        (None, false) => Err(FormatError::Unrepresentable {
            path: path.to_owned(),
            key: String::new(),
            action: "written as",
            syntax: format.syntax(),
            reason: "the text written does not read back as the fields".to_owned(),
        }),
    }
}

/// The fields `text` reads as, where it reads as a mapping.
fn read_fields(path: &Utf8Path, text: &str) -> Option<Map<String, Value>> {
    parse(path, text, 0, Format::Yaml).ok()
}

#[cfg(test)]
mod tests;
