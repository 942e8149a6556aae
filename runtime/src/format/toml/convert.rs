//! TOML values as JSON values and back, naming the key of what cannot be
//! converted.

use serde_json::{Map, Number, Value};
use toml_edit::{Array, ArrayOfTables, InlineTable, Item, Table};

use super::*;
use crate::format::FormatError;

pub(super) fn table_to_json(
    table: &Table,
    keys: &mut KeyPath<'_>,
) -> Result<Map<String, Value>, FormatError> {
    let mut map = Map::new();
    for (key, item) in table.iter() {
        let value = keys.enter(key, |keys| item_to_json(item, keys))?;
        if let Some(value) = value {
            map.insert(key.to_owned(), value);
        }
    }
    Ok(map)
}

pub(super) fn item_to_json(
    item: &Item,
    keys: &mut KeyPath<'_>,
) -> Result<Option<Value>, FormatError> {
    Ok(Some(match item {
        Item::None => return Ok(None),
        Item::Value(value) => value_to_json(value, keys)?,
        Item::Table(table) => Value::Object(table_to_json(table, keys)?),
        Item::ArrayOfTables(array) => {
            let mut items = Vec::with_capacity(array.len());
            for (i, table) in array.iter().enumerate() {
                items.push(keys.enter(i, |keys| table_to_json(table, keys).map(Value::Object))?);
            }
            Value::Array(items)
        }
    }))
}

pub(super) fn value_to_json(
    value: &toml_edit::Value,
    keys: &mut KeyPath<'_>,
) -> Result<Value, FormatError> {
    use toml_edit::Value as T;
    Ok(match value {
        T::String(s) => Value::String(s.value().clone()),
        T::Integer(i) => Value::Number((*i.value()).into()),
        T::Float(f) => Number::from_f64(*f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                keys.error("read from", "NaN and infinity cannot be held by a document")
            })?,
        T::Boolean(b) => Value::Bool(*b.value()),
        T::Datetime(d) => Value::String(d.value().to_string()),
        T::Array(array) => {
            let mut items = Vec::with_capacity(array.len());
            for (i, item) in array.iter().enumerate() {
                items.push(keys.enter(i, |keys| value_to_json(item, keys))?);
            }
            Value::Array(items)
        }
        T::InlineTable(table) => {
            let mut map = Map::new();
            for (key, item) in table.iter() {
                map.insert(
                    key.to_owned(),
                    keys.enter(key, |keys| value_to_json(item, keys))?,
                );
            }
            Value::Object(map)
        }
    })
}

/// `text` as a TOML string. One with a line break is written on one line
/// with escapes, never as a multi-line string: the file's line breaks are
/// set after writing, and they would change the string's value.
pub(super) fn string(text: &str) -> toml_edit::Value {
    if !text.contains(['\n', '\r']) {
        return text.into();
    }
    // A JSON string is a TOML basic string: the same escapes, and the
    // characters it leaves raw are allowed raw.
    serde_json::to_string(text)
        .ok()
        .and_then(|quoted| quoted.parse::<toml_edit::Value>().ok())
        .unwrap_or_else(|| text.into())
}

/// `value` as a TOML value (objects as inline tables).
pub(super) fn json_to_value(
    value: &Value,
    keys: &mut KeyPath<'_>,
) -> Result<toml_edit::Value, FormatError> {
    Ok(match value {
        Value::Null => return Err(keys.error("written as", "TOML has no null")),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            _ if n.is_u64() => {
                return Err(
                    keys.error("written as", format!("{n} is above TOML's largest integer"))
                );
            }
            (None, Some(f)) => f.into(),
            (None, None) => {
                return Err(keys.error("written as", format!("{n} is not a TOML number")));
            }
        },
        Value::String(s) if keys.literal => quoted_like(None, s).unwrap_or_else(|| string(s)),
        Value::String(s) => string(s),
        Value::Array(items) => {
            let mut array = Array::new();
            for (i, item) in items.iter().enumerate() {
                array.push(keys.enter(i, |keys| json_to_value(item, keys))?);
            }
            array.into()
        }
        Value::Object(map) => {
            let mut table = InlineTable::new();
            for (key, item) in map {
                table.insert(key, keys.enter(key, |keys| json_to_value(item, keys))?);
            }
            table.into()
        }
    })
}

/// `value` as an item of a standard table: objects as `[tables]`, lists of
/// objects as `[[arrays of tables]]`.
pub(super) fn json_to_item(value: &Value, keys: &mut KeyPath<'_>) -> Result<Item, FormatError> {
    match value {
        Value::Object(map) => {
            let mut table = Table::new();
            for (key, item) in map {
                table.insert(key, keys.enter(key, |keys| json_to_item(item, keys))?);
            }
            // A table that holds only tables gets no header of its own:
            // `[a.b]` says that `a` is a table.
            let only_tables = (table.iter())
                .all(|(_, item)| matches!(item, Item::Table(_) | Item::ArrayOfTables(_)));
            table.set_implicit(!map.is_empty() && only_tables);
            Ok(Item::Table(table))
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut array = ArrayOfTables::new();
            for (i, item) in items.iter().enumerate() {
                if let Item::Table(table) = keys.enter(i, |keys| json_to_item(item, keys))? {
                    array.push(table);
                }
            }
            Ok(Item::ArrayOfTables(array))
        }
        _ => Ok(Item::Value(json_to_value(value, keys)?)),
    }
}
