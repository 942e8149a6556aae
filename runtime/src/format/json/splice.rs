//! Editing the text of a JSON document in place: only what changed is
//! written, at the depth where it changed.

use serde_json::{Map, Value};

use super::{compact, pretty, spaced_compact};
use crate::format::Newline;
use crate::format::plan::{Plan, Renamed, Slot};
use crate::format::same;

/// A member of an object: byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Member {
    start: usize,
    key_end: usize,
    value_start: usize,
    value_end: usize,
}

/// An object: where its braces are and its members.
struct Object {
    open: usize,
    close: usize,
    members: Vec<Member>,
}

/// How the document writes what it writes, for the values written anew.
struct Style {
    /// One level of indentation.
    unit: String,
    /// Whether one-line values have a space after each comma and colon.
    spaced: bool,
    /// The line break.
    nl: &'static str,
}

impl Style {
    /// `value` as the document would write it: pretty-printed over several
    /// lines, each after `line_indent`, or on one line.
    fn write(&self, value: &Value, several_lines: bool, line_indent: &str) -> String {
        if several_lines {
            pretty(value, self.unit.as_bytes()).replace('\n', &format!("{}{line_indent}", self.nl))
        } else if self.spaced {
            spaced_compact(value)
        } else {
            compact(value)
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (just past its closing quote).
fn skip_string(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match bytes.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end of the value starting at `i`, without recursion.
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => skip_string(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = skip_string(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while !matches!(
                bytes.get(j),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The members of the object that starts `text` (after white space), in
/// valid JSON.
fn scan(text: &str) -> Option<Object> {
    let bytes = text.as_bytes();
    let open = skip_ws(bytes, 0);
    if bytes.get(open) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut i = skip_ws(bytes, open + 1);
    if bytes.get(i) == Some(&b'}') {
        return Some(Object {
            open,
            close: i,
            members,
        });
    }
    loop {
        let start = i;
        let key_end = skip_string(bytes, start)?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(bytes, i + 1);
        let value_end = skip_value(bytes, value_start)?;
        members.push(Member {
            start,
            key_end,
            value_start,
            value_end,
        });
        i = skip_ws(bytes, value_end);
        match bytes.get(i)? {
            b',' => i = skip_ws(bytes, i + 1),
            b'}' => {
                return Some(Object {
                    open,
                    close: i,
                    members,
                });
            }
            _ => return None,
        }
    }
}

/// Where each element of the list that is `text` starts and ends, in
/// valid JSON.
fn scan_list(text: &str) -> Option<Vec<(usize, usize)>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') {
        return None;
    }
    let mut elements = Vec::new();
    let mut i = skip_ws(bytes, 1);
    if bytes.get(i) == Some(&b']') {
        return Some(elements);
    }
    loop {
        let end = skip_value(bytes, i)?;
        elements.push((i, end));
        i = skip_ws(bytes, end);
        match bytes.get(i)? {
            b',' => i = skip_ws(bytes, i + 1),
            b']' => return Some(elements),
            _ => return None,
        }
    }
}

/// The white space that `text` puts before `at` on its line, where only
/// white space stands there.
fn indent_before(text: &str, at: usize) -> Option<&str> {
    let before = text.get(..at)?;
    let line = &before[before.rfind('\n').map_or(0, |p| p + 1)..];
    line.trim().is_empty().then_some(line)
}

/// One entry of the output, in order.
enum Out<'a> {
    Original(usize, Slot<'a>),
    New(&'a str, &'a Value),
}

/// `text` with the top-level members changed from `old` to `new`, and
/// within them only what changed, or `None` where the text is laid out in
/// a way this does not understand.
pub(in crate::format) fn splice(
    text: &str,
    newline: Newline,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    renamed: &Renamed,
) -> Option<String> {
    let object = scan(text)?;
    let leading = match object.members.first() {
        Some(first) => text.get(object.open + 1..first.start)?,
        None => "",
    };
    let unit = match leading.rsplit('\n').next() {
        Some(indent) if leading.contains('\n') && !indent.is_empty() => indent,
        _ => "  ",
    };
    let style = Style {
        unit: unit.to_owned(),
        spaced: text.contains(", ") || text.contains(": "),
        nl: newline.as_str(),
    };
    edit_object((text, ""), &object, (old, new), renamed, &style)
}

/// The text of a value that changed from `old` (whose text is `text`, on
/// a line indented by `indent`) to `new`, edited in place where both are
/// objects or lists, and the edit reads back as `new`.
fn edit(old: &Value, new: &Value, (text, indent): (&str, &str), style: &Style) -> Option<String> {
    let edited = match (old, new) {
        (Value::Object(old), Value::Object(new)) if !old.is_empty() => edit_object(
            (text, indent),
            &scan(text)?,
            (old, new),
            &Renamed::new(),
            style,
        )?,
        (Value::Array(old), Value::Array(new)) => {
            let elements = scan_list(text)?;
            if elements.len() != old.len() {
                return None;
            }
            let list = List {
                text,
                indent,
                elements,
            };
            match old.len() == new.len() {
                true => edit_list(&list, old, new, style)?,
                false => resize_list(&list, old, new, style)?,
            }
        }
        _ => return None,
    };
    let back: Value = serde_json::from_str(&edited).ok()?;
    same(&back, new).then_some(edited)
}

/// A list's text, the indentation of the line it starts on, and where each
/// of its elements starts and ends.
struct List<'t> {
    text: &'t str,
    indent: &'t str,
    elements: Vec<(usize, usize)>,
}

/// The `list`, its elements changed from `old` to `new` (as many): each
/// changed element edited in place or written anew, the rest and the text
/// between them kept.
fn edit_list(list: &List<'_>, old: &[Value], new: &[Value], style: &Style) -> Option<String> {
    let List {
        text,
        indent,
        elements,
    } = list;
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for ((&(start, end), old), new) in elements.iter().zip(old).zip(new) {
        out.push_str(text.get(at..start)?);
        let was = text.get(start..end)?;
        // An element on the line of the `[` is on a line indented as the
        // list's.
        let own = indent_before(text, start).unwrap_or(indent);
        if same(old, new) {
            out.push_str(was);
        } else if let Some(edited) = edit(old, new, (was, own), style) {
            out.push_str(&edited);
        } else {
            out.push_str(&style.write(new, was.contains('\n'), own));
        }
        at = end;
    }
    out.push_str(text.get(at..)?);
    Some(out)
}

/// The `list` with elements only added (`old` is what is left of `new`
/// without them) or only removed: the elements kept keep their text, and
/// so does the text between them; a new element is written after the
/// separator the list uses, over several lines where the list is.
fn resize_list(list: &List<'_>, old: &[Value], new: &[Value], style: &Style) -> Option<String> {
    let List {
        text,
        indent,
        elements,
    } = list;
    if old.is_empty() || new.is_empty() {
        return None;
    }
    // Which elements of the longer list the shorter one has, in order.
    let (short, long) = if old.len() < new.len() {
        (old, new)
    } else {
        (new, old)
    };
    let mut found = 0;
    let mut kept = Vec::with_capacity(long.len());
    for item in long {
        let hit = short.get(found).is_some_and(|s| same(s, item));
        found += usize::from(hit);
        kept.push(hit);
    }
    if found != short.len() {
        return None;
    }
    let (first, last) = (elements.first()?, elements.last()?);
    let between =
        |a: usize, b: usize| -> Option<&str> { text.get(elements.get(a)?.1..elements.get(b)?.0) };
    let leading = text.get(1..first.0)?;
    let several = leading.contains('\n');
    let typical = match between(0, 1) {
        Some(separator) => separator.to_owned(),
        None if several => format!(",{leading}"),
        None if style.spaced => ", ".to_owned(),
        None => ",".to_owned(),
    };
    // What the list holds now: an old element (its index) or a new value.
    let now: Vec<Result<usize, &Value>> = if old.len() < new.len() {
        let mut next = 0;
        (kept.iter().zip(new))
            .map(|(&kept, value)| match kept {
                true => {
                    next += 1;
                    Ok(next - 1)
                }
                false => Err(value),
            })
            .collect()
    } else {
        (0..old.len()).filter(|&i| kept[i]).map(Ok).collect()
    };
    let indent = indent_before(text, first.0).unwrap_or(indent);
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(text.get(..first.0)?);
    for (n, element) in now.into_iter().enumerate() {
        if n > 0 {
            // An old element keeps the separator that stood before it.
            match element {
                Ok(b) if b > 0 => out.push_str(between(b - 1, b)?),
                _ => out.push_str(&typical),
            }
        }
        match element {
            Ok(b) => out.push_str(text.get(elements.get(b)?.0..elements.get(b)?.1)?),
            Err(value) => out.push_str(&style.write(value, several, indent)),
        }
    }
    out.push_str(text.get(last.1..)?);
    Some(out)
}

/// `text` (whose object is `object`, on a line indented by `line_indent`)
/// with that object's members changed from `old` to `new`.
fn edit_object(
    (text, line_indent): (&str, &str),
    object: &Object,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    renamed: &Renamed,
    style: &Style,
) -> Option<String> {
    let members = &object.members;
    if members.len() != old.len() {
        return None;
    }
    for (member, key) in members.iter().zip(old.keys()) {
        let raw = text.get(member.start..member.key_end)?;
        if serde_json::from_str::<String>(raw).ok()? != *key {
            return None;
        }
    }
    let plan = Plan::new(old, new, renamed)?;
    let mut order = Vec::with_capacity(new.len());
    let mut inserts = plan.inserts.into_iter();
    for (i, slot) in plan.slots.into_iter().enumerate() {
        order.extend(inserts.next()?.into_iter().map(|(k, v)| Out::New(k, v)));
        if slot != Slot::Delete {
            order.push(Out::Original(i, slot));
        }
    }
    order.extend(inserts.next()?.into_iter().map(|(k, v)| Out::New(k, v)));

    let nl = style.nl;
    let (leading, trailing) = match (members.first(), members.last()) {
        (Some(first), Some(last)) => (
            text.get(object.open + 1..first.start)?.to_owned(),
            text.get(last.value_end..object.close)?.to_owned(),
        ),
        _ => (format!("{nl}{}", style.unit), nl.to_owned()),
    };
    let multiline = leading.contains('\n');
    let indent = leading.rsplit('\n').next().unwrap_or_default().to_owned();
    let separator = |i: usize| -> Option<&str> {
        let previous = members.get(i.checked_sub(1)?)?;
        text.get(previous.value_end..members.get(i)?.start)
    };
    let typical = match separator(1) {
        Some(separator) => separator.to_owned(),
        None if multiline => format!(",{leading}"),
        None if style.spaced => ", ".to_owned(),
        None => ",".to_owned(),
    };
    let old_values: Vec<&Value> = old.values().collect();
    let colon = match members.first() {
        Some(first) => text.get(first.key_end..first.value_start)?.to_owned(),
        None => ": ".to_owned(),
    };

    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(text.get(..=object.open)?);
    if order.is_empty() {
        out.push_str(text.get(object.close..)?);
        return Some(out);
    }
    out.push_str(&leading);
    for (n, entry) in order.iter().enumerate() {
        if n > 0 {
            match entry {
                Out::Original(i, _) if *i > 0 => out.push_str(separator(*i)?),
                _ => out.push_str(&typical),
            }
        }
        match entry {
            Out::New(key, value) => {
                out.push_str(&compact(*key));
                out.push_str(&colon);
                out.push_str(&style.write(value, multiline, &indent));
            }
            Out::Original(i, slot) => {
                let member = members.get(*i)?;
                let old_value = text.get(member.value_start..member.value_end)?;
                // A member on the line of the `{` is on a line indented as
                // the object's.
                let on_line = if multiline {
                    indent.as_str()
                } else {
                    line_indent
                };
                let own_indent = indent_before(text, member.start).unwrap_or(on_line);
                let was = *old_values.get(*i)?;
                let (key, value) = match slot {
                    Slot::Keep => (None, None),
                    Slot::Replace(value) => (None, Some(*value)),
                    Slot::Rekey(key, value) => (Some(*key), (!same(was, value)).then_some(*value)),
                    Slot::Delete => continue,
                };
                match key {
                    Some(key) => out.push_str(&compact(key)),
                    None => out.push_str(text.get(member.start..member.key_end)?),
                }
                out.push_str(text.get(member.key_end..member.value_start)?);
                match value {
                    Some(value) => match edit(was, value, (old_value, own_indent), style) {
                        Some(edited) => out.push_str(&edited),
                        None => {
                            out.push_str(&style.write(value, old_value.contains('\n'), own_indent))
                        }
                    },
                    None => out.push_str(old_value),
                }
            }
        }
    }
    out.push_str(&trailing);
    out.push_str(text.get(object.close..)?);
    Some(out)
}
