//! JSON documents: an object at the top level, edited member by member.
//!
//! A changed top-level member gets its value rewritten (pretty-printed with
//! the file's indentation where the old value spanned several lines, on one
//! line where it was on one line, with a space after each comma and colon
//! where the document has such spaces); a removed member goes with its comma; a new
//! member is written before the closing brace, indented like the others; a
//! renamed member keeps its place (and its value text where the value did not
//! change). Everything else stays byte for byte.
//!
//! What is not kept: the layout inside a changed top-level value (a change
//! deep inside `"a"` rewrites all of `"a"`'s value); the spacing after the
//! comma that follows the member before a removed last member; the order of
//! existing members when a step reorders them (the whole document is then
//! written canonically). JSON has no comments, so none can be lost.

use std::cell::RefCell;

use camino::Utf8Path;
use serde::Serialize;
use serde::de::DeserializeSeed;
use serde_json::ser::PrettyFormatter;
use serde_json::{Map, Value};

use super::plan::{Plan, Slot};
use super::strict::{Strict, strip_positions};
use super::{Format, FormatError, Newline, kind};

/// The fields of the JSON `text`.
pub(super) fn parse(path: &Utf8Path, text: &str) -> Result<Map<String, Value>, FormatError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value))
    .map_err(|error| {
        let (line, column) = (error.line(), error.column());
        let location = (line > 0)
            .then_some(line)
            .zip((column > 0).then_some(column));
        if let Some(key) = duplicate.take() {
            return FormatError::DuplicateKey {
                path: path.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                syntax: Format::Json.syntax(),
                key,
            };
        }
        FormatError::Syntax {
            path: path.to_owned(),
            line: location.map(|l| l.0),
            column: location.map(|l| l.1),
            syntax: Format::Json.syntax(),
            message: strip_positions(&error.to_string()),
        }
    })?;
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(FormatError::NotAMapping {
            path: path.to_owned(),
            syntax: Format::Json.syntax(),
            found: kind(&other),
        }),
    }
}

/// The fields as pretty JSON, two spaces, LF line breaks and a final one.
pub(super) fn to_text(fields: &Map<String, Value>) -> Result<String, FormatError> {
    let mut text = pretty(fields, b"  ");
    text.push('\n');
    Ok(text)
}

fn pretty<T: Serialize + ?Sized>(value: &T, indent: &[u8]) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, PrettyFormatter::with_indent(indent));
    // Serializing a `Value` or a `Map` cannot fail: every key is a string.
    if value.serialize(&mut serializer).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `value` on one line with a space after each comma and colon
/// (`["a", "b"]`, `{"a": 1}`).
fn spaced_compact(value: &Value) -> String {
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                writer.write_all(b", ")
            }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first {
                Ok(())
            } else {
                writer.write_all(b", ")
            }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, Spaced);
    if value.serialize(&mut serializer).is_err() {
        return compact(value);
    }
    String::from_utf8(out).unwrap_or_default()
}

fn compact<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One top-level member: byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Member {
    start: usize,
    key_end: usize,
    value_start: usize,
    value_end: usize,
}

/// The top-level object: where its braces are and its members.
struct Object {
    open: usize,
    close: usize,
    members: Vec<Member>,
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (just past its closing quote).
fn skip_string(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match bytes.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end of the value starting at `i`, without recursion.
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => skip_string(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = skip_string(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(
                bytes.get(j),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The top-level members of valid JSON `text`.
fn scan(text: &str) -> Option<Object> {
    let bytes = text.as_bytes();
    let open = skip_ws(bytes, 0);
    if bytes.get(open) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut i = skip_ws(bytes, open + 1);
    if bytes.get(i) == Some(&b'}') {
        return Some(Object {
            open,
            close: i,
            members,
        });
    }
    loop {
        let start = i;
        let key_end = skip_string(bytes, start)?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(bytes, i + 1);
        let value_end = skip_value(bytes, value_start)?;
        members.push(Member {
            start,
            key_end,
            value_start,
            value_end,
        });
        i = skip_ws(bytes, value_end);
        match bytes.get(i)? {
            b',' => i = skip_ws(bytes, i + 1),
            b'}' => {
                return Some(Object {
                    open,
                    close: i,
                    members,
                });
            }
            _ => return None,
        }
    }
}

/// One entry of the output, in order.
enum Out<'a> {
    Original(usize, Slot<'a>),
    New(&'a str, &'a Value),
}

/// `text` with the top-level members changed from `old` to `new`, or `None`
/// where the text is laid out in a way this does not understand.
pub(super) fn splice(
    text: &str,
    newline: Newline,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Option<String> {
    let object = scan(text)?;
    let members = &object.members;
    if members.len() != old.len() {
        return None;
    }
    for (member, key) in members.iter().zip(old.keys()) {
        let raw = text.get(member.start..member.key_end)?;
        if serde_json::from_str::<String>(raw).ok()? != *key {
            return None;
        }
    }
    let plan = Plan::new(old, new)?;
    let mut order = Vec::with_capacity(new.len());
    let mut inserts = plan.inserts.into_iter();
    for (i, slot) in plan.slots.into_iter().enumerate() {
        order.extend(inserts.next()?.into_iter().map(|(k, v)| Out::New(k, v)));
        if slot != Slot::Delete {
            order.push(Out::Original(i, slot));
        }
    }
    order.extend(inserts.next()?.into_iter().map(|(k, v)| Out::New(k, v)));

    let nl = newline.as_str();
    let (leading, trailing) = match (members.first(), members.last()) {
        (Some(first), Some(last)) => (
            text.get(object.open + 1..first.start)?.to_owned(),
            text.get(last.value_end..object.close)?.to_owned(),
        ),
        _ => (format!("{nl}  "), nl.to_owned()),
    };
    let multiline = leading.contains('\n');
    let indent = leading.rsplit('\n').next().unwrap_or_default().to_owned();
    let separator = |i: usize| -> Option<&str> {
        let previous = members.get(i.checked_sub(1)?)?;
        text.get(previous.value_end..members.get(i)?.start)
    };
    let typical = match separator(1) {
        Some(separator) => separator.to_owned(),
        None if multiline => format!(",{leading}"),
        None => ", ".to_owned(),
    };
    let old_values: Vec<&Value> = old.values().collect();
    let colon = match members.first() {
        Some(first) => text.get(first.key_end..first.value_start)?.to_owned(),
        None => ": ".to_owned(),
    };
    // One-line values are written with a space after each comma and colon
    // where the document writes its own so.
    let spaced = text.contains(", ") || text.contains(": ");
    let value_text = |value: &Value, pretty_print: bool, line_indent: &str| -> String {
        if pretty_print {
            let unit = if indent.is_empty() { "  " } else { &indent };
            pretty(value, unit.as_bytes()).replace('\n', &format!("{nl}{line_indent}"))
        } else if spaced {
            spaced_compact(value)
        } else {
            compact(value)
        }
    };

    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(text.get(..=object.open)?);
    if order.is_empty() {
        out.push_str(text.get(object.close..)?);
        return Some(out);
    }
    out.push_str(&leading);
    for (n, entry) in order.iter().enumerate() {
        if n > 0 {
            match entry {
                Out::Original(i, _) if *i > 0 => out.push_str(separator(*i)?),
                _ => out.push_str(&typical),
            }
        }
        match entry {
            Out::New(key, value) => {
                out.push_str(&compact(*key));
                out.push_str(&colon);
                out.push_str(&value_text(value, multiline, &indent));
            }
            Out::Original(i, slot) => {
                let member = members.get(*i)?;
                let old_value = text.get(member.value_start..member.value_end)?;
                let line_start = text.get(..member.start)?.rfind('\n').map_or(0, |p| p + 1);
                let own_indent = text.get(line_start..member.start)?;
                let own_indent = if own_indent.trim().is_empty() {
                    own_indent
                } else {
                    indent.as_str()
                };
                let spread = old_value.contains('\n');
                let (key, value) = match slot {
                    Slot::Keep => (None, None),
                    Slot::Replace(value) => (None, Some(*value)),
                    Slot::Rekey(key, value) => {
                        let unchanged = old_values.get(*i).is_some_and(|v| super::same(v, value));
                        (Some(*key), (!unchanged).then_some(*value))
                    }
                    Slot::Delete => continue,
                };
                match key {
                    Some(key) => out.push_str(&compact(key)),
                    None => out.push_str(text.get(member.start..member.key_end)?),
                }
                out.push_str(text.get(member.key_end..member.value_start)?);
                match value {
                    Some(value) => out.push_str(&value_text(value, spread, own_indent)),
                    None => out.push_str(old_value),
                }
            }
        }
    }
    out.push_str(&trailing);
    out.push_str(text.get(object.close..)?);
    Some(out)
}
