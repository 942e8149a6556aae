//! YAML documents and Markdown front matter, edited block by block.
//!
//! Values are read with [`serde_norway`], a maintained fork of the archived
//! `serde_yaml` 0.9 (same API and behaviour, regular releases since 2024,
//! licensed MIT OR Apache-2.0 like verchain). It was chosen over
//! `serde_yaml_ng` (MIT only, fewer releases), `serde_yml` (deprecated, now a
//! shim over another crate) and `yaml-rust2`/`saphyr` (no serde, so no error
//! positions for our values and no limits we could rely on): it reports line
//! and column for every error, refuses input nested deeper than 128 levels
//! and bounds alias expansion, and it serializes in block style. Values are
//! read through a strict visitor that refuses duplicate keys, which
//! `serde_json::Value` would otherwise silently resolve to the last one.
//!
//! Writing back is line-wise at the top level: each top-level key's block
//! runs from its `key:` line at column 0 to the last line before the next
//! such line that is neither blank nor a column-0 comment; the blank lines and
//! comments after a block stay where they are whatever happens to the block.
//! A changed block is replaced by `key: value` serialized alone, a removed
//! block is deleted, a new key is appended after the last block (or takes
//! the place of a removed one), and a renamed key whose value did not change
//! gets only its key rewritten on its first line.
//!
//! What is not kept: everything inside a changed block (comments, a comment
//! on its key line, flow style, quoting style, block scalar style, anchors and
//! tags defined in it); aliases to an anchor defined in a changed block
//! (those expand, since the whole document is then written again, see
//! below). Aliases read as copies and merge keys (`<<`) as an ordinary key.
//! Tagged values (`!tag`) are refused. Where the layout is not one this
//! understands (a flow mapping at the top level, complex `?` keys, a
//! top-level key indented), or the spliced text does not read back as the
//! step's fields, the whole mapping is written again in canonical block
//! style, which keeps every value but no comment and no layout.
//! `serde_norway` writes YAML 1.2: strings such as `yes` or `on` are written
//! unquoted, which YAML 1.1 readers take as booleans.

use std::cell::RefCell;

use camino::Utf8Path;
use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use super::plan::{Plan, Slot};
use super::strict::{Strict, strip_location};
use super::{Format, FormatError, Newline, kind, same};

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
            .map(|l| (l.line() + line_offset, l.column(), l.line(), l.column()));
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
        let message = match location {
            Some((_, _, own_line, own_column)) => {
                strip_location(error.to_string(), own_line, own_column)
            }
            None => error.to_string(),
        };
        FormatError::Syntax {
            path: path.to_owned(),
            line,
            column,
            syntax,
            message,
        }
    })?;
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
    serde_norway::to_string(fields).map_err(|error| FormatError::Unrepresentable {
        path: path.to_owned(),
        key: String::new(),
        action: "written as",
        syntax: format.syntax(),
        reason: error.to_string(),
    })
}

/// `key: value` alone, in block style, LF line breaks.
fn entry(key: &str, value: &Value) -> Option<String> {
    let mut map = Map::new();
    map.insert(key.to_owned(), value.clone());
    serde_norway::to_string(&map).ok()
}

/// `key` as a one-line YAML scalar, or `None` where it takes several lines.
fn key_text(key: &str) -> Option<String> {
    let text = serde_norway::to_string(key).ok()?;
    let text = text.strip_suffix('\n')?;
    (!text.contains('\n') && !text.starts_with(['|', '>'])).then(|| text.to_owned())
}

/// Whether `line` starts a top-level entry: something at column 0 that is not
/// a comment, a blank, a document marker or a list item.
fn starts_entry(line: &str) -> bool {
    let content = line.trim_end_matches(['\n', '\r']);
    let Some(first) = content.chars().next() else {
        return false;
    };
    if matches!(first, ' ' | '\t' | '#' | '%') {
        return false;
    }
    if is_marker(content) {
        return false;
    }
    !(content == "-" || content.starts_with("- ") || content.starts_with("-\t"))
}

/// `---` or `...`, alone or followed by a space.
fn is_marker(content: &str) -> bool {
    ["---", "..."].iter().any(|marker| {
        content
            .strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

/// Whether `line` belongs between blocks: blank, a column-0 comment or a
/// document end marker.
fn is_gap(line: &str) -> bool {
    let content = line.trim_end_matches(['\n', '\r']);
    content.trim().is_empty() || content.starts_with('#') || is_marker(content)
}

/// Whether the key line `line` plainly starts with `key` (quoted keys and
/// other spellings are not checked here; the read-back check covers them).
fn key_matches(line: &str, key: &str) -> bool {
    if line.starts_with(['"', '\'']) {
        return true;
    }
    line.strip_prefix(key)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// `text` with its top-level entries changed from `old` to `new`, or `None`
/// where its layout is not one this understands.
pub(super) fn splice(
    text: &str,
    newline: Newline,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines.get(i).is_some_and(|line| starts_entry(line)))
        .collect();
    if starts.len() != old.len() {
        return None;
    }
    let old_keys: Vec<&String> = old.keys().collect();
    let old_values: Vec<&Value> = old.values().collect();
    // Where each block's own lines end; the gap after it runs to the next
    // block (or the end of the text).
    let mut ends = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        if !key_matches(lines.get(start)?, old_keys.get(n)?) {
            return None;
        }
        let next = starts.get(n + 1).copied().unwrap_or(lines.len());
        let mut end = next;
        while end > start + 1 && lines.get(end - 1).is_some_and(|line| is_gap(line)) {
            end -= 1;
        }
        ends.push(end);
    }
    let plan = Plan::new(old, new)?;

    let nl = newline.as_str();
    let mut out = String::with_capacity(text.len() + 64);
    let push = |out: &mut String, piece: &str| {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(piece);
    };
    let push_entry = |out: &mut String, key: &str, value: &Value| -> Option<()> {
        push(out, &newline.apply(entry(key, value)?));
        Some(())
    };
    let first = starts.first().copied().unwrap_or(lines.len());
    for line in lines.get(..first)? {
        push(&mut out, line);
    }
    let count = starts.len();
    for (n, slot) in plan.slots.iter().enumerate() {
        for (key, value) in plan.inserts.get(n)? {
            push_entry(&mut out, key, value)?;
        }
        let (start, end) = (*starts.get(n)?, *ends.get(n)?);
        let block = lines.get(start..end)?;
        match slot {
            Slot::Keep => block.iter().for_each(|line| push(&mut out, line)),
            Slot::Replace(value) => push_entry(&mut out, old_keys.get(n)?, value)?,
            Slot::Rekey(key, value) => {
                let old_key = old_keys.get(n)?;
                let head = block.first()?;
                let renamed =
                    if same(old_values.get(n)?, value) && head.starts_with(old_key.as_str()) {
                        key_text(key).zip(head.get(old_key.len()..))
                    } else {
                        None
                    };
                match renamed {
                    Some((key, rest)) if rest.starts_with(':') => {
                        push(&mut out, &key);
                        out.push_str(rest);
                        block.iter().skip(1).for_each(|line| push(&mut out, line));
                    }
                    _ => push_entry(&mut out, key, value)?,
                }
            }
            Slot::Delete => {}
        }
        if n + 1 == count {
            for (key, value) in plan.inserts.get(count)? {
                push_entry(&mut out, key, value)?;
            }
        }
        let next = starts.get(n + 1).copied().unwrap_or(lines.len());
        for line in lines.get(end..next)? {
            push(&mut out, line);
        }
    }
    if count == 0 {
        for (key, value) in plan.inserts.first()? {
            push_entry(&mut out, key, value)?;
        }
    }
    // The caller drops the final line break where the text had none.
    Some(ensure_final_newline(out, nl))
}

fn ensure_final_newline(mut text: String, nl: &str) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(nl);
    }
    text
}
