//! The header of a log, as a header step sees it.

use serde_json::{Map, Value};

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
