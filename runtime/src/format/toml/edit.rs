//! A step's changes applied to a parsed TOML document key by key, keeping
//! the decor, quoting and layout of what it does not change.

use std::collections::HashMap;

use serde_json::{Map, Value};
use toml_edit::{Array, InlineTable, Item, Key, Table};

use super::*;
use crate::format::plan::{Plan, Renamed, Slot};
use crate::format::{FormatError, MAX_DEPTH, same};

pub(super) fn update_table(
    table: &mut Table,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    renamed: &Renamed,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    // A renamed key keeps its decor: the comments above it and around it.
    let renamed = renames(old, new, renamed);
    for (from, to) in &renamed {
        if let Some((key, item)) = table.remove_entry(from) {
            let mut key_to = styled_key(&key, to);
            *key_to.leaf_decor_mut() = key.leaf_decor().clone();
            table.insert_formatted(&key_to, item);
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) && !renamed.contains_key(key.as_str()) {
            // The document's first key, in the original order (a renamed
            // key was taken out and put back already).
            let first = keys.parts.is_empty() && old.keys().next() == Some(key);
            remove_keeping_comments(table, key, first);
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
    // The key/value pairs (dotted keys included) in the new order, each
    // taken out and put back whole: what a dotted key holds keeps its own
    // order. Tables with a header of their own stay where they are.
    let is_pair = |item: &Item| !matches!(item, Item::Table(t) if !t.is_dotted());
    let in_order = (table.iter())
        .filter(|(_, item)| is_pair(item))
        .map(|(key, _)| ranked(key))
        .is_sorted();
    if !in_order {
        let pairs: Vec<String> = (table.iter())
            .filter(|(_, item)| is_pair(item))
            .map(|(key, _)| key.to_owned())
            .collect();
        let mut taken: Vec<(Key, Item)> = (pairs.iter())
            .filter_map(|key| table.remove_entry(key))
            .collect();
        taken.sort_by_key(|(key, _)| ranked(key.get()));
        for (key, item) in taken {
            table.insert_formatted(&key, item);
        }
    }
    Ok(())
}

pub(super) fn update_inline(
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

/// Removes `key` from `table`, and the comment lines right above it with
/// it; the lines before those (after a blank line, or all of them above
/// the document's `first` key: they may be about the whole file) go to
/// what comes next.
fn remove_keeping_comments(table: &mut Table, key: &str, first: bool) {
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
    let at = keys.iter().position(|k| k == key);
    let prefix = (table.key(key))
        .and_then(|k| k.leaf_decor().prefix())
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_owned();
    let kept = match at {
        _ if first => prefix.as_str(),
        // Up to the last blank line.
        _ => match prefix.trim_end_matches([' ', '\t']).rfind("\n\n") {
            Some(blank) => &prefix[..blank + 2],
            None => match prefix.trim_start_matches([' ', '\t']).starts_with('\n') {
                true => "\n",
                false => "",
            },
        },
    }
    .to_owned();
    table.remove(key);
    if !kept.contains('#') {
        return;
    }
    let next = at.and_then(|at| keys.get(at + 1..)).and_then(|rest| {
        rest.iter()
            .find(|k| table.get(k.as_str()).is_some_and(Item::is_value))
    });
    if let Some(mut next) = next.and_then(|k| table.key_mut(k)) {
        let decor = next.leaf_decor_mut();
        let own = decor.prefix().and_then(|p| p.as_str()).unwrap_or_default();
        let joined = format!("{kept}{own}");
        decor.set_prefix(joined);
        return;
    }
    // Before the first table that has a header of its own.
    for (_, item) in table.iter_mut() {
        if let Item::Table(sub) = item
            && !sub.is_implicit()
        {
            let decor = sub.decor_mut();
            let own = decor.prefix().and_then(|p| p.as_str()).unwrap_or_default();
            let joined = format!("{kept}{own}");
            decor.set_prefix(joined);
            return;
        }
    }
}

/// Keys that a step renamed: an original key gone, and a new key in its
/// place (see [`Plan`]), by old name.
pub(super) fn renames(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    renamed: &Renamed,
) -> HashMap<String, String> {
    let Some(plan) = Plan::new(old, new, renamed) else {
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

pub(super) fn ranks(map: &Map<String, Value>) -> HashMap<&str, usize> {
    map.keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect()
}

pub(super) fn update_item(
    item: &mut Item,
    was: &Value,
    value: &Value,
    keys: &mut KeyPath<'_>,
) -> Result<(), FormatError> {
    match (item, was, value) {
        (Item::Table(table), Value::Object(was), Value::Object(now)) => {
            update_table(table, (was, now), &Renamed::new(), keys)?;
            // A table without a header that is left empty gets one: nothing
            // else would say it is there.
            if table.is_empty() {
                table.set_implicit(false);
            }
            Ok(())
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
                    keys.enter(i, |keys| {
                        update_table(table, (was, now), &Renamed::new(), keys)
                    })?;
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

pub(super) fn update_value(
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
pub(super) fn styled_key(like: &Key, key: &str) -> Key {
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
pub(super) fn quoted_like(repr: Option<&toml_edit::Repr>, s: &str) -> Option<toml_edit::Value> {
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
pub(super) fn update_array(
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
pub(super) fn mostly_literal(table: &Table) -> bool {
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
