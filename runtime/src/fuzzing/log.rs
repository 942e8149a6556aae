//! Log lines: any bytes as the first line of a log, read as a record and
//! as the log's header.

use serde_json::Value;

use super::{Violation, ensure, same_in_order, scratch, setup};
use crate::log::LogRecord;
use crate::log::parse::{parse_members, parse_members_serde};
use crate::log::store::LogFile;
use crate::log::stream::detect;

/// The version [`detect`] is told an unversioned log has.
const UNVERSIONED: u32 = 1;

/// An edit a step could make.
type Edit = fn(&mut LogRecord);

/// The edits each record is put through, each alone on the record as read.
const EDITS: &[(&str, Edit)] = &[
    ("adding a key", |r| {
        r.set("fuzz_added", 1);
    }),
    ("changing the first value", |r| {
        if let Some(key) = first_key(r) {
            r.set(&key, "changed \"quoted\"\n");
        }
    }),
    ("removing the first key", |r| {
        if let Some(key) = first_key(r) {
            r.remove(&key);
        }
    }),
    ("renaming the first key", |r| {
        if let Some(key) = first_key(r) {
            r.rename_replacing(&key, "fuzz_renamed");
        }
    }),
    ("removing the last key", |r| {
        if let Some(key) = r.keys().last().map(str::to_owned) {
            r.remove(&key);
        }
    }),
];

fn first_key(record: &LogRecord) -> Option<String> {
    record.keys().next().map(str::to_owned)
}

/// Reads the bytes' first line as a log record, and the bytes as a log
/// whose header that line may be.
///
/// What must hold: the fast scanner accepts a line only where serde_json
/// does, and finds the same members; a line is a record only where
/// serde_json reads it as an object (numbers in range, nesting in bounds,
/// no lone surrogate); a record no step changed is written back as its
/// line; a record whose line serde_json reads as an object with no repeated
/// key has those fields, read as they are or typed; after each of
/// the edits in `EDITS`, the written line is one line and reads back as the edited
/// record. The header gives the version serde_json reads in `_meta`, or an
/// error naming the file.
pub fn jsonl_line(data: &[u8]) -> Result<(), Violation> {
    // The first line without its line ending (`\n` or `\r\n`).
    let first = data.split(|&b| b == b'\n').next().unwrap_or(data);
    let line = match first.strip_suffix(b"\r") {
        Some(line) if first.len() < data.len() => line,
        _ => first,
    };
    if let Ok(text) = std::str::from_utf8(line) {
        record(text)?;
    }
    header(data, line)
}

fn record(text: &str) -> Result<(), Violation> {
    let mut fast = Vec::new();
    let mut slow = Vec::new();
    let fast_read = parse_members(text, &mut fast);
    let slow_read = parse_members_serde(text, &mut slow);
    ensure!(
        fast_read.is_ok() == slow_read.is_ok(),
        "the line is read {} by the scanner and {} by serde_json",
        if fast_read.is_ok() {
            "accepted"
        } else {
            "refused"
        },
        if slow_read.is_ok() {
            "accepted"
        } else {
            "refused"
        }
    );
    ensure!(
        fast == slow,
        "the scanner and serde_json find other members: {fast:?} and {slow:?}"
    );
    let record = match LogRecord::parse(text) {
        Ok(record) => record,
        Err(error) => {
            ensure!(
                fast_read.is_err(),
                "the members are read but the record is refused: {error}"
            );
            return Ok(());
        }
    };
    let read = serde_json::from_str::<Value>(text);
    ensure!(
        matches!(read, Ok(Value::Object(_))),
        "the record is accepted, serde_json reads the line as {read:?}"
    );
    ensure!(
        record.to_line() == text,
        "an unchanged record is written as {:?}",
        record.to_line()
    );
    let fields = record.to_fields();
    let distinct = record.keys().count() == fields.len();
    if let (true, Ok(Value::Object(read))) = (distinct, read) {
        ensure!(
            same_in_order(&fields, &read),
            "the record has fields {fields:?}, serde_json reads {read:?}"
        );
        // A typed step reads the record straight from its members.
        let typed: serde_json::Map<String, Value> = record
            .to_typed()
            .map_err(|e| Violation::new(format!("the record does not read as a map: {e}")))?;
        ensure!(
            same_in_order(&typed, &read),
            "the record reads typed as {typed:?}, serde_json reads {read:?}"
        );
    }
    for (what, edit) in EDITS {
        let mut edited = record.clone();
        edit(&mut edited);
        let written = edited.to_line();
        ensure!(
            !written.contains('\n'),
            "{what}: the written record is not one line: {written:?}"
        );
        let back = LogRecord::parse(written.as_str()).map_err(|e| {
            Violation::new(format!(
                "{what}: the written record does not read back: {e}: {written:?}"
            ))
        })?;
        if distinct {
            ensure!(
                same_in_order(&back.to_fields(), &edited.to_fields()),
                "{what}: the written record reads back as {:?}, not {:?}: {written:?}",
                back.to_fields(),
                edited.to_fields()
            );
        }
    }
    Ok(())
}

fn header(data: &[u8], line: &[u8]) -> Result<(), Violation> {
    let (_dir, root) = scratch()?;
    let file = LogFile::new(&root, "fuzz.jsonl");
    std::fs::write(&file.path, data).map_err(|e| setup("write the log", e))?;
    let detected = detect(&file, "schema_version", UNVERSIONED);
    // A byte order mark before the header is not part of it.
    let expected = expected_version(line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line));
    match (detected, expected) {
        (Ok(found), Some(Ok(expected))) => ensure!(
            found == expected,
            "the header gives version {found}, serde_json reads {expected}"
        ),
        (Err(error), Some(Ok(expected))) => {
            return Err(Violation::new(format!(
                "the header is refused, serde_json reads version {expected}: {error}"
            )));
        }
        (Ok(found), Some(Err(()))) => {
            return Err(Violation::new(format!(
                "the header gives version {found}, but its `_meta` is not one"
            )));
        }
        (Ok(_), None) => {}
        (Err(error), _) => {
            let message = error.to_string();
            ensure!(
                message.contains(file.path.as_str()),
                "the error does not name the log: {message}"
            );
        }
    }
    Ok(())
}

/// The version serde_json reads on a first line that is an object with no
/// repeated key, an error where its `_meta` is not a valid header, or
/// `None` where serde_json does not read the line as such an object.
fn expected_version(line: &[u8]) -> Option<Result<u32, ()>> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    let record = LogRecord::parse(std::str::from_utf8(line).ok()?).ok()?;
    if record.keys().count() != fields.len() {
        return None;
    }
    Some(match fields.get("_meta") {
        None => Ok(UNVERSIONED),
        Some(Value::Object(meta)) => match meta.get("schema_version") {
            None => Ok(UNVERSIONED),
            Some(version) => version
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or(()),
        },
        Some(_) => Err(()),
    })
}
