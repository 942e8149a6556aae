//! TOML documents, edited in place with `toml_edit`.
//!
//! A step's changes are applied to the parsed `toml_edit::DocumentMut` key by
//! key: a changed value is replaced keeping its decor (the whitespace around
//! it and a comment after it on its line); a change inside a table, an inline
//! table or an array of tables of the same length recurses, so its siblings,
//! and their comments, stay as they were; a removed key goes; a renamed key
//! keeps its place; a new key is appended to its table.
//!
//! Reading: datetimes read as strings (`"1979-05-27T07:32:00Z"`); a changed
//! value written over a datetime stays a datetime when it still reads as
//! one. NaN and infinite floats cannot be held by a document and are refused.
//!
//! A changed array is edited item by item: a changed item keeps its place
//! and spacing, new items are spaced like the last one, and the array keeps
//! its line breaks, trailing comma and comments. A changed literal string
//! (`'…'`) stays literal where the new text can be one; a renamed key keeps
//! its quotes. A new string (a new key, a string that replaces a value of
//! another kind) is literal where most of the document's strings are.
//!
//! What is not kept: the layout inside a value that changes type (it is
//! written in `toml_edit`'s default style); where a new plain key goes
//! relative to tables (TOML puts every plain key of a table before its
//! sub-tables, so a key a step appends after a table is written before it);
//! multi-line strings (a changed one is written on one line with escapes);
//! mixed line endings:
//! `toml_edit` writes LF and a CRLF file gets CRLF back on every line, so in
//! a changed file whose first line ends in CRLF any bare LF becomes CRLF
//! (inside a multi-line string that changes the value, and the read-back
//! check refuses the write). Steps cannot write null (TOML has none) nor
//! integers above `i64::MAX`: [`FormatError::Unrepresentable`] names the
//! key.

use std::collections::HashMap;

use camino::Utf8Path;
use serde_json::{Map, Number, Value};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Key, Table};

use super::plan::{Plan, Slot};
use super::{FormatError, MAX_DEPTH, Newline, line_col, same};

const SYNTAX: &str = "TOML";

/// The dotted key of what is being converted, for errors.
struct KeyPath<'a> {
    path: &'a Utf8Path,
    parts: Vec<String>,
    /// Whether new strings are written as literal strings (`'…'`), as most
    /// of the document's strings are.
    literal: bool,
}

impl KeyPath<'_> {
    fn error(&self, action: &'static str, reason: impl Into<String>) -> FormatError {
        FormatError::Unrepresentable {
            path: self.path.to_owned(),
            key: self.parts.join("."),
            action,
            syntax: SYNTAX,
            reason: reason.into(),
        }
    }

    fn enter<T>(
        &mut self,
        part: impl ToString,
        f: impl FnOnce(&mut Self) -> Result<T, FormatError>,
    ) -> Result<T, FormatError> {
        if self.parts.len() >= MAX_DEPTH {
            return Err(self.error(
                "handled in",
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.parts.push(part.to_string());
        let result = f(self);
        self.parts.pop();
        result
    }
}

/// The fields of the TOML `text`, and the document to edit them in.
pub(super) fn parse(
    path: &Utf8Path,
    text: &str,
) -> Result<(Map<String, Value>, DocumentMut), FormatError> {
    let document: DocumentMut = text.parse().map_err(|error: toml_edit::TomlError| {
        let location = error.span().map(|span| line_col(text, span.start));
        let message = error.message().trim_end().to_owned();
        if message.starts_with("duplicate key") {
            let key = error
                .span()
                .and_then(|span| text.get(span))
                .unwrap_or_default()
                .to_owned();
            return FormatError::DuplicateKey {
                path: path.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                syntax: SYNTAX,
                key,
            };
        }
        FormatError::Syntax {
            path: path.to_owned(),
            line: location.map(|l| l.0),
            column: location.map(|l| l.1),
            syntax: SYNTAX,
            message,
        }
    })?;
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: false,
    };
    let fields = table_to_json(document.as_table(), &mut keys)?;
    Ok((fields, document))
}

fn table_to_json(table: &Table, keys: &mut KeyPath<'_>) -> Result<Map<String, Value>, FormatError> {
    let mut map = Map::new();
    for (key, item) in table.iter() {
        let value = keys.enter(key, |keys| item_to_json(item, keys))?;
        if let Some(value) = value {
            map.insert(key.to_owned(), value);
        }
    }
    Ok(map)
}

fn item_to_json(item: &Item, keys: &mut KeyPath<'_>) -> Result<Option<Value>, FormatError> {
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

fn value_to_json(value: &toml_edit::Value, keys: &mut KeyPath<'_>) -> Result<Value, FormatError> {
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
fn string(text: &str) -> toml_edit::Value {
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
fn json_to_value(value: &Value, keys: &mut KeyPath<'_>) -> Result<toml_edit::Value, FormatError> {
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
fn json_to_item(value: &Value, keys: &mut KeyPath<'_>) -> Result<Item, FormatError> {
    match value {
        Value::Object(map) => {
            let mut table = Table::new();
            for (key, item) in map {
                table.insert(key, keys.enter(key, |keys| json_to_item(item, keys))?);
            }
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

/// The fields as a new TOML document, LF line breaks.
pub(super) fn to_text(path: &Utf8Path, fields: &Map<String, Value>) -> Result<String, FormatError> {
    let mut document = DocumentMut::new();
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: false,
    };
    for (key, value) in fields {
        let item = keys.enter(key, |keys| json_to_item(value, keys))?;
        document.insert(key, item);
    }
    Ok(document.to_string())
}

/// The original document with the changes from `old` to `new` applied.
pub(super) fn render(
    path: &Utf8Path,
    document: &DocumentMut,
    newline: Newline,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> Result<String, FormatError> {
    let mut document = document.clone();
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: mostly_literal(document.as_table()),
    };
    update_table(document.as_table_mut(), old, new, &mut keys)?;
    Ok(newline.apply(document.to_string()))
}

fn update_table(
    table: &mut Table,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    // A renamed key keeps its decor: the comments above it and around it.
    let renamed = renames(old, new);
    for (from, to) in &renamed {
        if let Some((key, item)) = table.remove_entry(from) {
            let mut key_to = styled_key(&key, to);
            *key_to.leaf_decor_mut() = key.leaf_decor().clone();
            table.insert_formatted(&key_to, item);
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) && !renamed.contains_key(key.as_str()) {
            table.remove(key);
        }
    }
    let renamed_to: HashMap<&str, &str> = renamed
        .iter()
        .map(|(from, to)| (to.as_str(), from.as_str()))
        .collect();
    for (key, value) in new {
        let was = old
            .get(key)
            .or_else(|| renamed_to.get(key.as_str()).and_then(|from| old.get(*from)));
        match (table.get_mut(key), was) {
            (Some(_), Some(was)) if same(was, value) => {}
            (Some(item), Some(was)) => {
                keys.enter(key, |keys| update_item(item, was, value, keys))?
            }
            _ => {
                let item = keys.enter(key, |keys| json_to_item(value, keys))?;
                table.insert(key, item);
            }
        }
    }
    let rank = ranks(new);
    let ranked = |key: &str| rank.get(key).copied().unwrap_or(usize::MAX);
    let in_order = table.iter().map(|(key, _)| ranked(key)).is_sorted();
    if !in_order {
        table.sort_values_by(|a, _, b, _| ranked(a.get()).cmp(&ranked(b.get())));
    }
    Ok(())
}

fn update_inline(
    table: &mut InlineTable,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    for key in old.keys() {
        if !new.contains_key(key) {
            // The space before `}` belongs to the last value: it moves to the
            // new last one.
            let last = table.iter().last().map(|(k, _)| k == key.as_str());
            let removed = table.remove(key);
            if let (Some(true), Some(removed)) = (last, removed) {
                let suffix = removed.decor().suffix().cloned();
                if let (Some((_, last)), Some(suffix)) = (table.iter_mut().last(), suffix) {
                    last.decor_mut().set_suffix(suffix);
                }
            }
        }
    }
    for (key, value) in new {
        match (table.get_mut(key), old.get(key)) {
            (Some(_), Some(was)) if same(was, value) => {}
            (Some(item), Some(was)) => {
                keys.enter(key, |keys| update_value(item, was, value, keys))?
            }
            _ => {
                let item = keys.enter(key, |keys| json_to_value(value, keys))?;
                // The space before `}` belongs to the last value: it moves to
                // the new last one.
                if let Some((_, last)) = table.iter_mut().last() {
                    last.decor_mut().set_suffix("");
                }
                table.insert(key, item);
            }
        }
    }
    let rank = ranks(new);
    let ranked = |key: &str| rank.get(key).copied().unwrap_or(usize::MAX);
    if !table.iter().map(|(key, _)| ranked(key)).is_sorted() {
        table.sort_values_by(|a, _, b, _| ranked(a.get()).cmp(&ranked(b.get())));
    }
    Ok(())
}

/// Keys that a step renamed: an original key gone, and a new key in its
/// place (see [`Plan`]), by old name.
fn renames(old: &Map<String, Value>, new: &Map<String, Value>) -> HashMap<String, String> {
    let Some(plan) = Plan::new(old, new) else {
        return HashMap::new();
    };
    old.keys()
        .zip(&plan.slots)
        .filter_map(|(from, slot)| match slot {
            Slot::Rekey(to, _) => Some((from.clone(), (*to).to_owned())),
            _ => None,
        })
        .collect()
}

fn ranks(map: &Map<String, Value>) -> HashMap<&str, usize> {
    map.keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect()
}

fn update_item(
    item: &mut Item,
    was: &Value,
    value: &Value,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    match (item, was, value) {
        (Item::Table(table), Value::Object(was), Value::Object(now)) => {
            update_table(table, was, now, keys)
        }
        (Item::ArrayOfTables(array), Value::Array(was), Value::Array(now))
            if was.len() == now.len()
                && array.len() == now.len()
                && now.iter().all(Value::is_object) =>
        {
            for (i, (was, now)) in was.iter().zip(now).enumerate() {
                if let (Some(table), Value::Object(was), Value::Object(now)) =
                    (array.get_mut(i), was, now)
                {
                    keys.enter(i, |keys| update_table(table, was, now, keys))?;
                }
            }
            Ok(())
        }
        (Item::Value(current), was, value) => update_value(current, was, value, keys),
        (item, _, value) => {
            *item = json_to_item(value, keys)?;
            Ok(())
        }
    }
}

fn update_value(
    current: &mut toml_edit::Value,
    was: &Value,
    value: &Value,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    if let (toml_edit::Value::InlineTable(table), Value::Object(was), Value::Object(now)) =
        (&mut *current, was, value)
    {
        return update_inline(table, was, now, keys);
    }
    if let (toml_edit::Value::Array(array), Value::Array(was), Value::Array(now)) =
        (&mut *current, was, value)
    {
        return update_array(array, was, now, keys);
    }
    let mut replacement = match (&*current, value) {
        (toml_edit::Value::Datetime(_), Value::String(s)) => match s.parse::<toml_edit::Datetime>()
        {
            Ok(datetime) => datetime.into(),
            Err(_) => json_to_value(value, keys)?,
        },
        (toml_edit::Value::String(old), Value::String(s)) => {
            // A string keeps its own quotes, whatever most strings use.
            quoted_like(old.as_repr(), s).unwrap_or_else(|| string(s))
        }
        _ => json_to_value(value, keys)?,
    };
    *replacement.decor_mut() = current.decor().clone();
    *current = replacement;
    Ok(())
}

/// `key` quoted the way `like` is (`'literal'`, `"basic"` or bare) where it
/// can be.
fn styled_key(like: &Key, key: &str) -> Key {
    let raw = like.as_repr().and_then(|repr| repr.as_raw().as_str());
    let quoted = match raw.and_then(|raw| raw.chars().next()) {
        Some('\'') if !key.contains(['\'', '\n', '\r']) => Some(format!("'{key}'")),
        Some('"') => serde_json::to_string(key).ok(),
        _ => None,
    };
    quoted
        .and_then(|quoted| Key::parse(&quoted).ok())
        .and_then(|mut keys| (keys.len() == 1).then(|| keys.pop()).flatten())
        .filter(|parsed| parsed.get() == key)
        .unwrap_or_else(|| Key::new(key))
}

/// `s` as a literal string (`'…'`) where the string it replaces, written as
/// `repr`, is one and `s` can be one.
/// With no `repr`, wherever `s` can be one.
fn quoted_like(repr: Option<&toml_edit::Repr>, s: &str) -> Option<toml_edit::Value> {
    let raw = match repr {
        Some(repr) => repr.as_raw().as_str()?,
        None => "'",
    };
    if !raw.starts_with('\'') || raw.starts_with("\'\'\'") || s.contains(['\'', '\n', '\r']) {
        return None;
    }
    if s.chars().any(char::is_control) {
        return None;
    }
    format!("'{s}'").parse().ok()
}

/// The items of `array` changed from `was` to `now`, in place: a changed
/// item keeps its place and its spacing, new items are spaced like the last
/// one, and the array keeps its line breaks, trailing comma and comments
/// after the last item.
fn update_array(
    array: &mut Array,
    was: &[Value],
    now: &[Value],
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    while array.len() > now.len() {
        array.remove(array.len() - 1);
    }
    for (i, value) in now.iter().enumerate() {
        match (array.get_mut(i), was.get(i)) {
            (Some(_), Some(old)) if same(old, value) => {}
            (Some(item), Some(old)) => {
                keys.enter(i, |keys| update_value(item, old, value, keys))?
            }
            _ => {
                let mut item = keys.enter(i, |keys| json_to_value(value, keys))?;
                let like = array.iter().last();
                if let (toml_edit::Value::String(_), Some(toml_edit::Value::String(last))) =
                    (&item, like)
                    && let Some(styled) =
                        value.as_str().and_then(|s| quoted_like(last.as_repr(), s))
                {
                    item = styled;
                }
                let decor = match like {
                    Some(last) if array.len() > 1 => last.decor().clone(),
                    Some(last) => {
                        let mut decor = last.decor().clone();
                        let prefix = decor.prefix().and_then(|p| p.as_str()).unwrap_or("");
                        if !prefix.contains('\n') {
                            decor.set_prefix(" ");
                        }
                        decor
                    }
                    None => toml_edit::Decor::default(),
                };
                *item.decor_mut() = decor;
                array.push_formatted(item);
            }
        }
    }
    Ok(())
}

/// Whether more of the strings in `table` are literal (`'…'`) than basic.
fn mostly_literal(table: &Table) -> bool {
    fn count(value: &toml_edit::Value, counts: &mut (usize, usize)) {
        match value {
            toml_edit::Value::String(s) => {
                match s
                    .as_repr()
                    .and_then(|r| r.as_raw().as_str())
                    .map(|raw| raw.starts_with('\''))
                {
                    Some(true) => counts.0 += 1,
                    Some(false) => counts.1 += 1,
                    None => {}
                }
            }
            toml_edit::Value::Array(array) => array.iter().for_each(|v| count(v, counts)),
            toml_edit::Value::InlineTable(table) => {
                table.iter().for_each(|(_, v)| count(v, counts))
            }
            _ => {}
        }
    }
    fn walk(item: &Item, counts: &mut (usize, usize), depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match item {
            Item::Value(value) => count(value, counts),
            Item::Table(table) => table
                .iter()
                .for_each(|(_, item)| walk(item, counts, depth + 1)),
            Item::ArrayOfTables(array) => array.iter().for_each(|table| {
                table
                    .iter()
                    .for_each(|(_, item)| walk(item, counts, depth + 1))
            }),
            Item::None => {}
        }
    }
    let mut counts = (0, 0);
    table
        .iter()
        .for_each(|(_, item)| walk(item, &mut counts, 0));
    counts.0 > counts.1
}
