//! Reading a line into the members of its JSON object, as spans of the
//! line: the fast scan for most lines, serde_json for the rest.

use std::fmt;

use serde::de::{self, Deserializer as _, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::scan;

/// A range of a record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    #[inline]
    pub(crate) fn of(self, text: &str) -> &str {
        &text[self.start..self.end]
    }
}

/// A member's name: as written in the line (between its quotes, with the
/// decoded name when it holds escapes), or set by a step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Raw {
        span: Span,
        decoded: Option<Box<str>>,
    },
    New(String),
}

/// A member's value: as written in the line, or set by a step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Slot {
    Raw(Span),
    New(Box<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub key: Key,
    pub value: Slot,
}

/// How the line was laid out, so that a changed record keeps its spacing:
/// everything up to the first name's quote, between the first name and its
/// value, between the first two members, and after the last value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Layout {
    pub head: Span,
    pub colon: Option<Span>,
    pub sep: Option<Span>,
    pub tail: Span,
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
pub(crate) fn parse_members(
    text: &str,
    members: &mut Vec<Member>,
) -> Result<Layout, serde_json::Error> {
    let fast = scan::members(text, |found| {
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
    if fast.is_err() {
        members.clear();
        parse_members_serde(text, members)?;
    }
    Ok(layout(text, members))
}

/// Parses `text` as one JSON object with serde_json.
pub(crate) fn parse_members_serde(
    text: &str,
    members: &mut Vec<Member>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Collect { text, members })?;
    de.end()?;
    // A member read as raw JSON is not checked for numbers too large for
    // an `f64`, nesting too deep, lone surrogate escapes (`"\ud800"`) or a
    // name twice in one object (whose first value a step would never see,
    // and a rewrite would keep beside the last); reading the line as values,
    // strictly, is. Only the lines the fast scan gave up on come here, so
    // the second reading is rare.
    let duplicate = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(
        crate::format::strict::Strict {
            duplicate: &duplicate,
        },
        &mut de,
    )
    .map(drop)
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
