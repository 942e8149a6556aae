//! JSON documents: an object at the top level, edited member by member,
//! at every depth ([`splice`]).
//!
//! An object whose members change keeps its text but for those members: a
//! changed member's value is edited the same way where both its old and
//! new values are objects, or lists (element by element where the length
//! stays; where elements are only added or only removed, the others keep
//! their text and separators); any other changed value is rewritten (pretty-printed with the
//! file's indentation where the old value spanned several lines, on one
//! line where it was on one line, with a space after each comma and colon
//! where the document has such spaces). A removed member goes with its
//! comma; a new member is written before the closing brace, indented like
//! the others; a renamed member keeps its place (and its value text where
//! the value did not change). Everything else stays byte for byte.
//!
//! What is not kept: the layout inside a changed value that is not edited
//! in place (a scalar, a list whose elements are both added and removed or
//! that was or becomes empty, an object that was empty); the spacing after the comma that follows the member before a
//! removed last member; the order of existing members when a step reorders
//! them (the object is then written anew: the whole document, at the top
//! level). JSON has no comments, so none can be lost.

use std::cell::RefCell;

use camino::Utf8Path;
use serde::Serialize;
use serde::de::DeserializeSeed;
use serde_json::ser::PrettyFormatter;
use serde_json::{Map, Value};

use super::strict::{Strict, strip_positions};
use super::{Format, FormatError, kind};

#[cfg(test)]
mod props;
mod splice;
pub(super) use splice::splice;

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
