//! The record of a log: one JSON object a line, edited in place so that a
//! step that changes one field changes only that field's bytes, and a record
//! no step changes is written back exactly as it was read.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::parse::{Key, Layout, Member, Slot, Span, parse_members};
use crate::error::FieldExists;

/// One record of a log: a JSON object on one line.
///
/// A step reads and changes its fields by name. The record remembers the
/// line it was read from: members a step does not touch keep their exact
/// bytes (spacing, escapes, number formats), and a record no step changes is
/// written back byte for byte. Changed records keep the line's spacing
/// between members.
///
/// ```
/// use verchain::log::LogRecord;
///
/// let mut entry = LogRecord::parse(r#"{"ts": "2024-05-01", "actor": "ana", "n": 1.0e3}"#)?;
/// entry.rename("actor", "user")?;
/// entry.set_default("severity", "info");
/// assert_eq!(entry.get_str("user").as_deref(), Some("ana"));
/// // `n` keeps its bytes, the spacing stays.
/// assert_eq!(
///     entry.to_line(),
///     r#"{"ts": "2024-05-01", "user": "ana", "n": 1.0e3, "severity": "info"}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct LogRecord {
    pub(super) text: String,
    pub(super) members: Vec<Member>,
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

    pub(super) fn touch(&mut self) {
        self.changed = true;
        self.edits += 1;
    }

    #[inline]
    pub(super) fn name<'a>(&'a self, key: &'a Key) -> &'a str {
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
    /// field's position and its value's bytes; returns whether it did. A
    /// record that has both is refused, since `to`'s value would be lost:
    /// the step fails, naming the line, unless it resolves the clash first.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<bool, FieldExists> {
        if from != to && self.contains(from) && self.contains(to) {
            return Err(FieldExists {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
        Ok(self.rename_replacing(from, to))
    }

    /// Renames `from` to `to` where the record has `from`, keeping the
    /// field's position and its value's bytes, and drops an existing `to`
    /// with its value. Returns whether it renamed.
    pub fn rename_replacing(&mut self, from: &str, to: &str) -> bool {
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
                Key::New(name) => write_str(out, name),
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
                    match &**value {
                        Value::String(text) => write_str(out, text),
                        value => write_json(out, value),
                    }
                    None
                }
            };
        }
        if self.members.is_empty() {
            out.extend_from_slice(self.layout.head.of(text).as_bytes());
        }
        out.extend_from_slice(self.layout.tail.of(text).as_bytes());
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

#[inline]
pub(super) fn key_name<'a>(text: &'a str, key: &'a Key) -> &'a str {
    match key {
        Key::Raw {
            decoded: Some(name),
            ..
        } => name,
        Key::Raw { span, .. } => span.of(text),
        Key::New(name) => name,
    }
}

pub(super) fn slot_value(text: &str, slot: &Slot) -> Value {
    match slot {
        // The span was parsed as JSON when the line was read.
        Slot::Raw(span) => {
            let value = serde_json::from_str(span.of(text));
            debug_assert!(value.is_ok(), "a member read as JSON: {}", span.of(text));
            value.unwrap_or(Value::Null)
        }
        Slot::New(value) => (**value).clone(),
    }
}

/// Writes `text` as a JSON string.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let plain =
        memchr::memchr2(b'"', b'\\', text.as_bytes()).is_none() && text.bytes().all(|b| b >= 0x20);
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, text);
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a string or a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, value);
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
    fn a_value_no_step_could_read_makes_the_line_malformed() {
        // Read as JSON values, as serde_json reads them: out of range. The
        // record must not read it as null.
        for line in [
            r#"{"n":1e400,"m":1}"#,
            r#"{"m":[1,{"n":-2.5E+999}]}"#,
            // Where the fast scan gives up (an escape it cannot decode
            // alone), serde_json's reading must check the range too.
            r#"{"\ud83d\ude00":1e400}"#,
        ] {
            let err = LogRecord::parse(line).unwrap_err();
            assert!(err.to_string().contains("out of range"), "{line}: {err}");
        }
        // A lone surrogate escape is no character: no step could read the
        // string. A pair is one character.
        let err = LogRecord::parse(r#"{"a":"\ud800"}"#).unwrap_err();
        assert!(err.to_string().contains("escape"), "{err}");
        assert_eq!(rec(r#"{"a":"\ud83d\ude00"}"#).get("a"), Some(json!("😀")));
        let big = format!(r#"{{"n":1{}}}"#, "0".repeat(400));
        assert!(LogRecord::parse(big).is_err());
        let r = rec(r#"{"n":1e300,"m":1.7976931348623157e308}"#);
        assert_eq!(r.get("m"), Some(json!(f64::MAX)));
    }

    #[test]
    fn a_changed_record_keeps_the_spacing_and_untouched_values() {
        let mut r = rec(r#"{"actor": "al", "n": 1.50, "bé": {"x" : 1}}"#);
        assert_eq!(r.rename("actor", "user"), Ok(true));
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
    fn rename_keeps_position_and_never_drops_a_value_unasked() {
        let line = r#"{"a":1,"old":2,"new":0,"z":3}"#;
        let mut r = rec(line);
        assert!(r.rename("old", "new").is_err());
        assert_eq!(r.to_line(), line);
        assert!(r.rename_replacing("old", "new"));
        assert_eq!(r.to_line(), r#"{"a":1,"new":2,"z":3}"#);
        let mut r = rec(r#"{"new":0,"old":2}"#);
        assert!(r.rename_replacing("old", "new"));
        assert_eq!(r.to_line(), r#"{"new":2}"#);
        assert_eq!(r.rename("new", "b"), Ok(true));
        assert_eq!(r.to_line(), r#"{"b":2}"#);
        assert_eq!(r.rename("missing", "x"), Ok(false));
        assert_eq!(r.rename("b", "b"), Ok(false));
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Typed {
        a: Option<String>,
        b: Option<String>,
        c: String,
        n: f64,
        list: Vec<u8>,
    }

    #[test]
    fn reading_as_a_type_takes_strings_nulls_and_escapes_from_the_line() {
        let r = rec(r#"{"a":null,"b":"x","c":"é\n\"q\"","n":1.5e1,"list":[1,2],"skip":{"d":[]}}"#);
        assert_eq!(
            r.to_typed::<Typed>().unwrap(),
            Typed {
                a: None,
                b: Some("x".to_owned()),
                c: "é\n\"q\"".to_owned(),
                n: 15.0,
                list: vec![1, 2],
            }
        );
        let err = rec(r#"{"a":1,"b":"x","c":"y","n":1,"list":[]}"#)
            .to_typed::<Typed>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid type: integer `1`, expected a string"),
            "{err}"
        );
        assert!(!err.contains("line 1"), "{err}");
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

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        params: Params,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        tags: Vec<u32>,
    }

    #[test]
    fn a_record_that_does_not_fit_a_type_names_the_field() {
        let r = rec(r#"{"params":{"tags":[1,2,"three"]}}"#);
        let err = r.to_typed::<Nested>().unwrap_err().to_string();
        assert!(
            err.contains("Nested`: field `params.tags[2]`: invalid type: string \"three\""),
            "{err}"
        );
        let mut r = rec(r#"{"params":{"tags":"1, 2"}}"#);
        let err = r
            .apply_typed(|n: Nested| {
                Ok(New {
                    user: format!("{n:?}"),
                    severity: "info",
                })
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `params.tags`: invalid type: string"),
            "{err}"
        );
    }
}
