//! Reads a record as a serde type straight from its members: no line is
//! written out and parsed again, and fields the type ignores are not parsed
//! at all (the line was checked to be JSON when it was read).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// A member's value, as written in the line or set by a step.
pub(crate) enum Member<'de> {
    Raw(&'de str),
    New(&'de Value),
}

/// The record as a map of its members.
pub(crate) struct RecordDe<I> {
    pub members: I,
}

impl<'de, I> Deserializer<'de> for RecordDe<I>
where
    I: Iterator<Item = (&'de str, Member<'de>)>,
{
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Members {
            members: self.members,
            value: None,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Members<'de, I> {
    members: I,
    value: Option<Member<'de>>,
}

impl<'de, I> MapAccess<'de> for Members<'de, I>
where
    I: Iterator<Item = (&'de str, Member<'de>)>,
{
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.members.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(Member::Raw(text)) => seed.deserialize(Raw(text)),
            Some(Member::New(value)) => seed.deserialize(value),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
}

/// A value as written in the line.
struct Raw<'de>(&'de str);

/// The error without serde_json's position, which would count from the
/// start of the value rather than the line.
fn positionless(e: serde_json::Error) -> serde_json::Error {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    de::Error::custom(message)
}

macro_rules! forward_raw {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
                let mut de = serde_json::Deserializer::from_str(self.0);
                (&mut de).$method($($arg,)* visitor).map_err(positionless)
            }
        )*
    };
}

impl<'de> Raw<'de> {
    /// The string, when the value is one without escapes (most are): it is
    /// handed over as it is in the line, with no parser in between.
    fn plain_str(&self) -> Option<&'de str> {
        let inner = self.0.strip_prefix('"')?.strip_suffix('"')?;
        memchr::memchr2(b'\\', b'"', inner.as_bytes())
            .is_none()
            .then_some(inner)
    }
}

impl<'de> Deserializer<'de> for Raw<'de> {
    type Error = serde_json::Error;

    /// A field the type does not read is not parsed.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.plain_str() {
            Some(s) => visitor.visit_borrowed_str(s),
            None => serde_json::Deserializer::from_str(self.0)
                .deserialize_any(visitor)
                .map_err(positionless),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0 == "null" {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    forward_raw! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(),
        deserialize_bytes(), deserialize_byte_buf(),
        deserialize_unit(), deserialize_seq(), deserialize_map(),
        deserialize_identifier(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }
}
