//! What changed at the top level of a document: for each original key,
//! whether it is kept, gets a new value, a new name or goes, and where new
//! keys go. JSON and YAML splice their text along it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::same;

/// What happens to one original top-level entry.
#[derive(Debug, PartialEq)]
pub(super) enum Slot<'a> {
    /// Unchanged.
    Keep,
    /// Same key, new value.
    Replace(&'a Value),
    /// A new key (and maybe a new value) in this entry's place: a rename
    /// (the step renamed the key, or the new key has the gone one's value).
    Rekey(&'a str, &'a Value),
    /// Removed.
    Delete,
}

/// The changes from one set of fields to the next.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    /// One per original entry, in order.
    pub(super) slots: Vec<Slot<'a>>,
    /// New entries to write before original entry `i`; the last element
    /// (index `slots.len()`) holds those that go after every entry.
    pub(super) inserts: Vec<Vec<(&'a str, &'a Value)>>,
}

/// The keys a step renamed: each new key and the key it had in the
/// original (see [`Document::renamed`](crate::Document::renamed)).
pub(crate) type Renamed = HashMap<String, String>;

impl<'a> Plan<'a> {
    /// The plan from `old` to `new`, or `None` when keys in both changed
    /// their relative order (no in-place edit can express that). A new key
    /// takes a gone key's place when `renamed` says it is that key renamed,
    /// or when it has that key's value; any other gone key is removed, and
    /// any other new key is added.
    pub(super) fn new(
        old: &Map<String, Value>,
        new: &'a Map<String, Value>,
        renamed: &Renamed,
    ) -> Option<Plan<'a>> {
        let index: HashMap<&str, usize> = old
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let olds: Vec<&Value> = old.values().collect();
        let keys: Vec<&str> = old.keys().map(String::as_str).collect();
        let mut plan = Plan {
            slots: (0..old.len()).map(|_| Slot::Delete).collect(),
            inserts: (0..=old.len()).map(|_| Vec::new()).collect(),
        };
        let mut next = 0;
        let mut pending = Vec::new();
        for (key, value) in new {
            let Some(&at) = index.get(key.as_str()) else {
                pending.push((key.as_str(), value));
                continue;
            };
            if at < next {
                return None;
            }
            plan.fill_gap(next, at, (&keys, &olds), renamed, &mut pending);
            let slot = plan.slots.get_mut(at)?;
            *slot = match olds.get(at) {
                Some(old) if same(old, value) => Slot::Keep,
                _ => Slot::Replace(value),
            };
            next = at + 1;
        }
        plan.fill_gap(next, old.len(), (&keys, &olds), renamed, &mut pending);
        Some(plan)
    }

    /// Original entries `from..to` are gone; new entries `pending` come in
    /// their place. A new entry that is a gone one renamed, or has its
    /// value, takes its slot (a rename), in order; the other new entries are
    /// written before the next original entry that stays after them.
    fn fill_gap(
        &mut self,
        from: usize,
        to: usize,
        (keys, olds): (&[&str], &[&Value]),
        renamed: &Renamed,
        pending: &mut Vec<(&'a str, &'a Value)>,
    ) {
        let taken: Vec<(&'a str, &'a Value)> = std::mem::take(pending);
        let mut next = 0;
        for slot in from..to {
            let (Some(old), Some(old_key)) = (olds.get(slot), keys.get(slot)) else {
                break;
            };
            let found = taken.get(next..).and_then(|rest| {
                let named = |key: &str| renamed.get(key).is_some_and(|k| k == old_key);
                (rest.iter().position(|(key, _)| named(key))).or_else(|| {
                    // Of the keys a rename did not bring in.
                    let unnamed = |key: &str| !renamed.contains_key(key);
                    rest.iter()
                        .position(|(key, value)| unnamed(key) && same(old, value))
                })
            });
            if let Some(offset) = found {
                let at = next + offset;
                if let Some(inserts) = self.inserts.get_mut(slot) {
                    inserts.extend(taken.get(next..at).unwrap_or_default().iter().copied());
                }
                if let (Some(place), Some(&(key, value))) =
                    (self.slots.get_mut(slot), taken.get(at))
                {
                    *place = Slot::Rekey(key, value);
                }
                next = at + 1;
            }
        }
        let rest = taken.get(next..).unwrap_or_default().iter().copied();
        if let Some(inserts) = self.inserts.get_mut(to) {
            inserts.extend(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn rename_takes_the_old_slot() {
        let old = map(json!({"a": 1, "b": 2, "c": 3}));
        let new = map(json!({"a": 1, "x": 2, "c": 4}));
        let plan = Plan::new(&old, &new, &Renamed::new()).unwrap();
        assert_eq!(
            plan.slots,
            [
                Slot::Keep,
                Slot::Rekey("x", &json!(2)),
                Slot::Replace(&json!(4))
            ]
        );
        assert!(plan.inserts.iter().all(Vec::is_empty));
    }

    #[test]
    fn removals_and_additions() {
        let old = map(json!({"a": 1, "b": 2, "c": 3}));
        let new = map(json!({"n": 0, "a": 1, "c": 3, "z": 9}));
        let plan = Plan::new(&old, &new, &Renamed::new()).unwrap();
        assert_eq!(plan.slots, [Slot::Keep, Slot::Delete, Slot::Keep]);
        assert_eq!(plan.inserts[0], [("n", &json!(0))]);
        assert_eq!(plan.inserts[3], [("z", &json!(9))]);
    }

    #[test]
    fn a_new_key_takes_the_slot_of_the_gone_key_with_its_value() {
        // `version` goes and `package` is `renamed` back: the rename is read
        // from the values, not from the places.
        let old = map(json!({"version": 2, "renamed": {"a": 1}, "deps": 3}));
        let new = map(json!({"package": {"a": 1}, "deps": 3}));
        let plan = Plan::new(&old, &new, &Renamed::new()).unwrap();
        assert_eq!(
            plan.slots,
            [
                Slot::Delete,
                Slot::Rekey("package", &json!({"a": 1})),
                Slot::Keep
            ]
        );
        assert!(plan.inserts.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_removed_key_s_place_goes_only_to_that_key_renamed() {
        let old = map(json!({"title": "T", "aliases": ["a"]}));
        let new = map(json!({"title": "T", "status": "draft"}));
        // Removed, and another added: the new key goes after the others.
        let plan = Plan::new(&old, &new, &Renamed::new()).unwrap();
        assert_eq!(plan.slots, [Slot::Keep, Slot::Delete]);
        assert_eq!(plan.inserts[2], [("status", &json!("draft"))]);
        // Renamed, and its value changed: it keeps the place.
        let renamed = Renamed::from([("status".to_owned(), "aliases".to_owned())]);
        let plan = Plan::new(&old, &new, &renamed).unwrap();
        assert_eq!(
            plan.slots,
            [Slot::Keep, Slot::Rekey("status", &json!("draft"))]
        );
        assert!(plan.inserts.iter().all(Vec::is_empty));
    }

    #[test]
    fn reordering_is_refused() {
        let old = map(json!({"a": 1, "b": 2}));
        let new = map(json!({"b": 2, "a": 1}));
        assert!(Plan::new(&old, &new, &Renamed::new()).is_none());
    }
}
