//! The record of a log: one JSON object a line, edited in place so that a
//! step that changes one field changes only that field's bytes, and a record
//! no step changes is written back exactly as it was read.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::de::{self as de_member, RecordDe};
use super::error::JsonlError;
use super::scan;

/// A range of a record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, text: &str) -> &str {
        &text[self.start..self.end]
    }
}

/// A member's name: as written in the line (between its quotes, with the
/// decoded name when it holds escapes), or set by a step.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Raw {
        span: Span,
        decoded: Option<Box<str>>,
    },
    New(String),
}

/// A member's value: as written in the line, or set by a step.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Raw(Span),
    New(Box<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    key: Key,
    value: Slot,
}

/// How the line was laid out, so that a changed record keeps its spacing:
/// everything up to the first name's quote, between the first name and its
/// value, between the first two members, and after the last value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Layout {
    head: Span,
    colon: Option<Span>,
    sep: Option<Span>,
    tail: Span,
}

/// One record of a log: a JSON object on one line.
///
/// A step reads and changes its fields by name. The record remembers the
/// line it was read from: members a step does not touch keep their exact
/// bytes (spacing, escapes, number formats), and a record no step changes is
/// written back byte for byte. Changed records keep the line's spacing
/// between members.
#[derive(Clone, PartialEq)]
pub struct LogRecord {
    text: String,
    members: Vec<Member>,
    layout: Layout,
    changed: bool,
    edits: u64,
    line: u64,
}

impl fmt::Debug for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogRecord")
            .field("line", &self.line)
            .field("text", &self.to_line())
            .field("changed", &self.changed)
            .finish()
    }
}

impl Default for LogRecord {
    fn default() -> Self {
        LogRecord::from_fields(Map::new())
    }
}

impl LogRecord {
    /// Reads one line of a log (without its line ending) as a record.
    pub fn parse(line: impl Into<String>) -> Result<Self, serde_json::Error> {
        let mut record = LogRecord {
            text: String::new(),
            members: Vec::new(),
            layout: Layout::default(),
            changed: false,
            edits: 0,
            line: 0,
        };
        record.reset(line.into(), 0)?;
        Ok(record)
    }

    /// A new record with `fields`, in their order.
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        let text = "{}".to_owned();
        let layout = Layout {
            head: Span { start: 0, end: 1 },
            colon: None,
            sep: None,
            tail: Span { start: 1, end: 2 },
        };
        let changed = !fields.is_empty();
        LogRecord {
            text,
            members: fields
                .into_iter()
                .map(|(k, v)| Member {
                    key: Key::New(k),
                    value: Slot::New(Box::new(v)),
                })
                .collect(),
            layout,
            changed,
            edits: 0,
            line: 0,
        }
    }

    /// Replaces this record with the one on `text`, keeping the allocations.
    /// On error the record holds `text` with no members.
    pub(crate) fn reset(&mut self, text: String, line: u64) -> Result<(), serde_json::Error> {
        self.text = text;
        self.line = line;
        self.changed = false;
        self.members.clear();
        match parse_members(&self.text, &mut self.members) {
            Ok(layout) => {
                self.layout = layout;
                Ok(())
            }
            Err(e) => {
                self.members.clear();
                Err(e)
            }
        }
    }

    /// The line as it was read.
    pub(crate) fn original(&self) -> &str {
        &self.text
    }

    /// Hands back the line's text (to reuse its allocation).
    pub(crate) fn take_text(&mut self) -> String {
        self.members.clear();
        std::mem::take(&mut self.text)
    }

    /// The line the record was read from, 1-based (0 for a record that was
    /// not read from a log).
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// Whether a step changed the record.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// How many changes steps made to the record (per-step counts).
    pub(crate) fn edits(&self) -> u64 {
        self.edits
    }

    fn touch(&mut self) {
        self.changed = true;
        self.edits += 1;
    }

    fn name<'a>(&'a self, key: &'a Key) -> &'a str {
        key_name(&self.text, key)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.members.iter().position(|m| self.name(&m.key) == key)
    }

    /// The names of the fields, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| self.name(&m.key))
    }

    /// Whether the record has `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        Some(slot_value(&self.text, &self.members[at].value))
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON text of `key`'s value: as written in the line for a value
    /// no step changed.
    pub fn get_raw(&self, key: &str) -> Option<Cow<'_, str>> {
        let at = self.position(key)?;
        Some(match &self.members[at].value {
            Slot::Raw(span) => Cow::Borrowed(span.of(&self.text)),
            Slot::New(value) => Cow::Owned(value.to_string()),
        })
    }

    /// Sets `key` to `value`, in place if the key exists, else at the end.
    /// Returns the previous value. Setting a value equal to the current one
    /// changes nothing, not even its bytes.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Option<Value> {
        let value = value.into();
        match self.position(key) {
            Some(at) => {
                let old = slot_value(&self.text, &self.members[at].value);
                if old != value {
                    self.members[at].value = Slot::New(Box::new(value));
                    self.touch();
                }
                Some(old)
            }
            None => {
                self.members.push(Member {
                    key: Key::New(key.to_owned()),
                    value: Slot::New(Box::new(value)),
                });
                self.touch();
                None
            }
        }
    }

    /// Sets `key` to `value` only where the record lacks it; returns whether
    /// it did.
    pub fn set_default(&mut self, key: &str, value: impl Into<Value>) -> bool {
        if self.contains(key) {
            return false;
        }
        self.members.push(Member {
            key: Key::New(key.to_owned()),
            value: Slot::New(Box::new(value.into())),
        });
        self.touch();
        true
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        let member = self.members.remove(at);
        self.touch();
        Some(slot_value(&self.text, &member.value))
    }

    /// Renames `from` to `to` where the record has `from`, keeping the
    /// field's position and its value's bytes. Replaces an existing `to`.
    /// Returns whether it did.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        if from == to {
            return false;
        }
        let Some(at) = self.position(from) else {
            return false;
        };
        self.members[at].key = Key::New(to.to_owned());
        let text = &self.text;
        if self
            .members
            .iter()
            .filter(|m| key_name(text, &m.key) == to)
            .count()
            > 1
        {
            let mut seen = 0;
            self.members.retain(|m| {
                let other = key_name(text, &m.key) == to && seen != at;
                seen += 1;
                !other
            });
        }
        self.touch();
        true
    }

    /// The fields, in order, as JSON values.
    pub fn to_fields(&self) -> Map<String, Value> {
        self.members
            .iter()
            .map(|m| {
                (
                    self.name(&m.key).to_owned(),
                    slot_value(&self.text, &m.value),
                )
            })
            .collect()
    }

    /// The record as it will be written (without a line ending).
    pub fn to_line(&self) -> String {
        let mut out = Vec::with_capacity(self.text.len() + 32);
        self.write_to(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the record as it will be written to `out`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        if !self.changed {
            out.extend_from_slice(self.text.as_bytes());
            return;
        }
        let text = self.text.as_str();
        let bytes = text.as_bytes();
        // Where the last member written ended in the line, if it was
        // written as it was read: a member that followed it there is copied
        // with the separator between them, in one piece.
        let mut last_end: Option<usize> = None;
        for (i, member) in self.members.iter().enumerate() {
            if let (Key::Raw { span: key, .. }, Slot::Raw(value)) = (&member.key, &member.value) {
                let start = key.start - 1;
                let from = match last_end {
                    Some(end) if end <= start && adjacent(&bytes[end..start]) => Some(end),
                    None if i == 0 && start == self.layout.head.end => Some(0),
                    _ => None,
                };
                if let Some(from) = from {
                    out.extend_from_slice(&bytes[from..value.end]);
                    last_end = Some(value.end);
                    continue;
                }
            }
            if i == 0 {
                out.extend_from_slice(self.layout.head.of(text).as_bytes());
            } else {
                match self.layout.sep {
                    Some(sep) => out.extend_from_slice(sep.of(text).as_bytes()),
                    None => out.push(b','),
                }
            }
            match &member.key {
                Key::Raw { span, .. } => {
                    out.push(b'"');
                    out.extend_from_slice(span.of(text).as_bytes());
                    out.push(b'"');
                }
                Key::New(name) => write_json(out, name),
            }
            match self.layout.colon {
                Some(colon) => out.extend_from_slice(colon.of(text).as_bytes()),
                None => out.push(b':'),
            }
            last_end = match &member.value {
                Slot::Raw(span) => {
                    out.extend_from_slice(span.of(text).as_bytes());
                    // The name may be new: what follows is not copied with it.
                    matches!(member.key, Key::Raw { .. }).then_some(span.end)
                }
                Slot::New(value) => {
                    write_json(out, value);
                    None
                }
            };
        }
        if self.members.is_empty() {
            out.extend_from_slice(self.layout.head.of(text).as_bytes());
        }
        out.extend_from_slice(self.layout.tail.of(text).as_bytes());
    }

    /// Reads the record as `T`.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, JsonlError> {
        T::deserialize(self.deserializer()).map_err(|source| JsonlError::Deserialize {
            type_name: std::any::type_name::<T>(),
            source,
        })
    }

    /// The record as a serde deserializer over its members.
    fn deserializer(&self) -> RecordDe<impl Iterator<Item = (&str, de_member::Member<'_>)>> {
        RecordDe {
            members: self.members.iter().map(|m| {
                let value = match &m.value {
                    Slot::Raw(span) => de_member::Member::Raw(span.of(&self.text)),
                    Slot::New(value) => de_member::Member::New(value),
                };
                (self.name(&m.key), value)
            }),
        }
    }

    /// Runs a typed step: reads the record as `A`, converts, and writes `B`
    /// back so that only what the step changed changes.
    ///
    /// Fields `A` does not know are kept where they are, with their bytes.
    /// Fields `A` knows and `B` lacks are removed. Fields in both keep their
    /// position (and their bytes, when the value is the same); fields new in
    /// `B` are appended in `B`'s order.
    pub fn apply_typed<A, B>(
        &mut self,
        step: impl FnOnce(A) -> Result<B, crate::BoxError>,
    ) -> Result<(), crate::BoxError>
    where
        A: DeserializeOwned,
        B: Serialize,
    {
        let mut unknown: Vec<String> = Vec::new();
        let input = {
            serde_ignored::deserialize(self.deserializer(), |path| {
                if let serde_ignored::Path::Map {
                    parent: serde_ignored::Path::Root,
                    key,
                } = path
                {
                    unknown.push(key.clone());
                }
            })
            .map_err(|source| JsonlError::Deserialize {
                type_name: std::any::type_name::<A>(),
                source,
            })?
        };
        let output = step(input)?;
        let Value::Object(mut new) =
            serde_json::to_value(output).map_err(|source| JsonlError::Serialize {
                type_name: std::any::type_name::<B>(),
                source,
            })?
        else {
            return Err(JsonlError::NotAnObject {
                type_name: std::any::type_name::<B>(),
            }
            .into());
        };
        let old = std::mem::take(&mut self.members);
        let mut changed = false;
        for mut member in old {
            let name = key_name(&self.text, &member.key);
            if unknown.iter().any(|k| k == name) {
                self.members.push(member);
            } else if let Some(value) = new.shift_remove(name) {
                if slot_value(&self.text, &member.value) != value {
                    member.value = Slot::New(Box::new(value));
                    changed = true;
                }
                self.members.push(member);
            } else {
                changed = true;
            }
        }
        for (key, value) in new {
            self.members.push(Member {
                key: Key::New(key),
                value: Slot::New(Box::new(value)),
            });
            changed = true;
        }
        if changed {
            self.touch();
        }
        Ok(())
    }
}

/// Whether `between` (the text between two members) is one separator: a
/// comma and spaces, so the members were next to each other in the line.
fn adjacent(between: &[u8]) -> bool {
    between == b"," || {
        let mut commas = 0;
        between.iter().all(|&b| match b {
            b',' => {
                commas += 1;
                true
            }
            b' ' | b'\t' | b'\n' | b'\r' => true,
            _ => false,
        }) && commas == 1
    }
}

fn key_name<'a>(text: &'a str, key: &'a Key) -> &'a str {
    match key {
        Key::Raw {
            decoded: Some(name),
            ..
        } => name,
        Key::Raw { span, .. } => span.of(text),
        Key::New(name) => name,
    }
}

fn slot_value(text: &str, slot: &Slot) -> Value {
    match slot {
        // The span was parsed as JSON when the line was read.
        Slot::Raw(span) => serde_json::from_str(span.of(text)).unwrap_or(Value::Null),
        Slot::New(value) => (**value).clone(),
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a string or a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// A member's name, borrowed from the line when it has no escapes.
enum KeyText<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> de::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyText::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyText::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(KeyText::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// Collects the members of the object on a line as spans of it.
struct Collect<'t, 'm> {
    text: &'t str,
    members: &'m mut Vec<Member>,
}

impl<'de, 'm> Visitor<'de> for Collect<'de, 'm> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (a log record is one object a line)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.text.as_ptr() as usize;
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            let start = value.get().as_ptr() as usize - base;
            let value = Span {
                start,
                end: start + value.get().len(),
            };
            let key = match key {
                KeyText::Borrowed(name) => {
                    let start = name.as_ptr() as usize - base;
                    Key::Raw {
                        span: Span {
                            start,
                            end: start + name.len(),
                        },
                        decoded: None,
                    }
                }
                KeyText::Owned(name) => Key::Raw {
                    span: key_span_before(self.text, value.start)
                        .ok_or_else(|| de::Error::custom("cannot find a field name's quotes"))?,
                    decoded: Some(name.into()),
                },
            };
            self.members.push(Member {
                key,
                value: Slot::Raw(value),
            });
        }
        Ok(())
    }
}

/// Parses `text` as one JSON object into `members`; returns its layout.
/// The fast scanner reads most lines; serde_json reads those it gives up on
/// and has the last word on what is JSON.
fn parse_members(text: &str, members: &mut Vec<Member>) -> Result<Layout, serde_json::Error> {
    let mut escaped_names = false;
    let fast = scan::members(text, |found| {
        escaped_names |= found.escaped;
        members.push(Member {
            key: Key::Raw {
                span: Span {
                    start: found.key.0,
                    end: found.key.1,
                },
                decoded: None,
            },
            value: Slot::Raw(Span {
                start: found.value.0,
                end: found.value.1,
            }),
        });
    });
    let fast = fast.is_ok() && (!escaped_names || decode_names(text, members));
    if !fast {
        members.clear();
        parse_members_serde(text, members)?;
    }
    Ok(layout(text, members))
}

/// Decodes the names that hold escapes; `false` if one does not decode.
fn decode_names(text: &str, members: &mut [Member]) -> bool {
    for member in members {
        if let Key::Raw { span, decoded } = &mut member.key
            && text[span.start..span.end].contains('\\')
        {
            match serde_json::from_str::<String>(&text[span.start - 1..span.end + 1]) {
                Ok(name) => *decoded = Some(name.into()),
                Err(_) => return false,
            }
        }
    }
    true
}

/// Parses `text` as one JSON object with serde_json.
pub(crate) fn parse_members_serde(
    text: &str,
    members: &mut Vec<Member>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Collect { text, members })?;
    de.end()
}

/// The layout of the line `text` whose members were just read.
fn layout(text: &str, members: &[Member]) -> Layout {
    let bytes = text.as_bytes();
    match (members.first(), members.last()) {
        (
            Some(Member {
                key: Key::Raw { span: key0, .. },
                value: Slot::Raw(value0),
            }),
            Some(Member {
                value: Slot::Raw(value_last),
                ..
            }),
        ) => Layout {
            head: Span {
                start: 0,
                end: key0.start - 1,
            },
            colon: Some(Span {
                start: key0.end + 1,
                end: value0.start,
            }),
            sep: match members.get(1) {
                Some(Member {
                    key: Key::Raw { span: key1, .. },
                    ..
                }) => Some(Span {
                    start: value0.end,
                    end: key1.start - 1,
                }),
                _ => None,
            },
            tail: Span {
                start: value_last.end,
                end: bytes.len(),
            },
        },
        _ => {
            let brace = bytes.iter().position(|&b| b == b'{').unwrap_or(0);
            Layout {
                head: Span {
                    start: 0,
                    end: brace + 1,
                },
                colon: None,
                sep: None,
                tail: Span {
                    start: brace + 1,
                    end: bytes.len(),
                },
            }
        }
    }
}

/// The span of the name (between its quotes) of the member whose value
/// starts at `value_start`, found by walking back over `"name" :`.
fn key_span_before(text: &str, value_start: usize) -> Option<Span> {
    let bytes = text.as_bytes();
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut i = value_start;
    while i > 0 && is_ws(bytes[i - 1]) {
        i -= 1;
    }
    if i == 0 || bytes[i - 1] != b':' {
        return None;
    }
    i -= 1;
    while i > 0 && is_ws(bytes[i - 1]) {
        i -= 1;
    }
    if i == 0 || bytes[i - 1] != b'"' {
        return None;
    }
    let close = i - 1;
    let mut j = close;
    while j > 0 {
        j -= 1;
        if bytes[j] == b'"' {
            let backslashes = bytes[..j].iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 0 {
                return Some(Span {
                    start: j + 1,
                    end: close,
                });
            }
        }
    }
    None
}

/// The header of a log: the fields of the `_meta` object on its first line,
/// `{"_meta":{"schema_version":3,…}}`.
///
/// The store keeps the version key itself; a step that takes and returns a
/// `LogHeader` rewrites the other fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogHeader {
    fields: Map<String, Value>,
}

impl LogHeader {
    /// A header with `fields`.
    pub fn new(fields: Map<String, Value>) -> Self {
        LogHeader { fields }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(key.into(), value.into())
    }

    /// Sets `key` to `value` only where the header lacks it; returns whether
    /// it did.
    pub fn set_default(&mut self, key: &str, value: impl Into<Value>) -> bool {
        if self.fields.contains_key(key) {
            return false;
        }
        self.fields.insert(key.to_owned(), value.into());
        true
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.fields.shift_remove(key)
    }

    /// The fields, in order.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The fields, to change freely.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    pub(crate) fn into_fields(self) -> Map<String, Value> {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn rec(line: &str) -> LogRecord {
        LogRecord::parse(line).unwrap()
    }

    #[test]
    fn an_untouched_record_keeps_its_bytes() {
        let line = r#" { "a" : 1.50 , "b\u00e9":"x\n" ,"c":[1, 2]}  "#;
        let r = rec(line);
        assert_eq!(r.keys().collect::<Vec<_>>(), ["a", "bé", "c"]);
        assert_eq!(r.to_line(), line);
        assert_eq!(r.get_raw("a").unwrap(), "1.50");
        assert_eq!(r.get("c"), Some(json!([1, 2])));
    }

    #[test]
    fn a_changed_record_keeps_the_spacing_and_untouched_values() {
        let mut r = rec(r#"{"actor": "al", "n": 1.50, "bé": {"x" : 1}}"#);
        assert!(r.rename("actor", "user"));
        assert!(r.set_default("severity", "info"));
        assert!(!r.set_default("n", 2));
        assert_eq!(
            r.to_line(),
            r#"{"user": "al", "n": 1.50, "bé": {"x" : 1}, "severity": "info"}"#
        );
        let mut r = rec(r#"{"a":1,"b":2}"#);
        assert_eq!(r.remove("a"), Some(json!(1)));
        assert_eq!(r.to_line(), r#"{"b":2}"#);
        r.remove("b");
        assert_eq!(r.to_line(), "{}");
        r.set("c", "x");
        assert_eq!(r.to_line(), r#"{"c":"x"}"#);
    }

    #[test]
    fn rename_keeps_position_and_replaces_the_target() {
        let mut r = rec(r#"{"a":1,"old":2,"new":0,"z":3}"#);
        assert!(r.rename("old", "new"));
        assert_eq!(r.to_line(), r#"{"a":1,"new":2,"z":3}"#);
        let mut r = rec(r#"{"new":0,"old":2}"#);
        assert!(r.rename("old", "new"));
        assert_eq!(r.to_line(), r#"{"new":2}"#);
        assert!(!r.rename("missing", "x"));
        assert!(!r.rename("new", "new"));
    }

    #[test]
    fn setting_an_equal_value_changes_nothing() {
        let mut r = rec(r#"{"n": 1.0, "s": "a"}"#);
        assert_eq!(r.set("s", "a"), Some(json!("a")));
        assert!(!r.is_changed());
        r.set("s", "b");
        assert!(r.is_changed());
    }

    #[test]
    fn escaped_names_are_found_and_kept() {
        let mut r = rec(r#"{"q\"x":1,"k\\":2,"t":3}"#);
        assert_eq!(r.keys().collect::<Vec<_>>(), ["q\"x", "k\\", "t"]);
        r.set("t", 4);
        assert_eq!(r.to_line(), r#"{"q\"x":1,"k\\":2,"t":4}"#);
    }

    #[test]
    fn not_an_object_or_trailing_text_is_an_error() {
        for bad in ["[1]", "3", r#"{"a":1} x"#, r#"{"a":}"#, "", r#"{"a":1"#] {
            let err = LogRecord::parse(bad).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        let err = LogRecord::parse("[1]").unwrap_err().to_string();
        assert!(err.contains("a JSON object"), "{err}");
    }

    #[derive(Deserialize)]
    struct Old {
        actor: String,
    }

    #[derive(Serialize)]
    struct New {
        user: String,
        severity: &'static str,
    }

    #[test]
    fn a_typed_step_changes_only_what_it_maps() {
        let mut r = rec(r#"{"ts":"t","actor":"al","extra":{"k": 1}}"#);
        r.apply_typed(|o: Old| {
            Ok(New {
                user: o.actor,
                severity: "info",
            })
        })
        .unwrap();
        assert_eq!(
            r.to_line(),
            r#"{"ts":"t","extra":{"k": 1},"user":"al","severity":"info"}"#
        );
        let mut r = rec(r#"{"ts":"t"}"#);
        let err = r
            .apply_typed(|o: Old| {
                Ok(New {
                    user: o.actor,
                    severity: "info",
                })
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `actor`"), "{err}");
        assert!(!r.is_changed());
    }
}
