//! A log record read as a step's type, and a typed step's result written
//! back so that only what the step changed changes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::de::{self as de_member, RecordDe};
use super::error::LogError;
use super::parse::{Key, Member, Slot};
use super::record::{LogRecord, key_name, slot_value};
use crate::error::{deserialize_at, deserialize_noting_unknown};

impl LogRecord {
    /// Reads the record as `T`.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, LogError> {
        deserialize_at(|| self.deserializer()).map_err(|(field, source)| LogError::Deserialize {
            type_name: std::any::type_name::<T>(),
            field,
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
        let (input, unknown) =
            deserialize_noting_unknown(self.deserializer()).map_err(|(field, source)| {
                LogError::Deserialize {
                    type_name: std::any::type_name::<A>(),
                    field,
                    source,
                }
            })?;
        let output = step(input)?;
        let Value::Object(mut new) =
            serde_json::to_value(output).map_err(|source| LogError::Serialize {
                type_name: std::any::type_name::<B>(),
                source,
            })?
        else {
            return Err(LogError::NotAnObject {
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
