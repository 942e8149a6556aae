//! The history: any bytes as a store's `history.jsonl`.

use super::{Violation, ensure, scratch, setup};
use crate::run::ErrorKind;
use crate::run::history::{self, HistoryRecord};

/// Reads the bytes as a store's history file.
///
/// What must hold: a last line with no line break after it (torn by a
/// crash mid-append) is not part of the history; every other line that is
/// not blank is a record, or the read fails naming the file and the number
/// of a line that is not one; a record names its snapshot (which a rollback
/// restores from) by one plain name in the snapshot folder, or is not one;
/// a record reads back the same once written again.
pub fn history(data: &[u8]) -> Result<(), Violation> {
    let (_dir, root) = scratch()?;
    let path = root.join("history.jsonl");
    std::fs::write(&path, data).map_err(|e| setup("write the history", e))?;
    // The complete lines, each without its line break.
    let lines: Vec<&[u8]> = match data.iter().rposition(|&b| b == b'\n') {
        Some(end) => data[..end].split(|&b| b == b'\n').collect(),
        None => Vec::new(),
    };
    let is_record = |line: &[u8]| {
        std::str::from_utf8(line).is_ok_and(|text| {
            serde_json::from_str::<HistoryRecord>(text).is_ok_and(|r| plain_id(&r))
        })
    };
    let blank = |line: &[u8]| std::str::from_utf8(line).is_ok_and(|t| t.trim().is_empty());
    match history::read(&path) {
        Ok(records) => {
            let expected = lines.iter().filter(|l| !blank(l)).count();
            ensure!(
                records.len() == expected,
                "{} records read from {expected} lines that are not blank",
                records.len()
            );
            ensure!(
                lines.iter().all(|l| blank(l) || is_record(l)),
                "a line that is not a record was read as one"
            );
            for record in &records {
                ensure!(
                    plain_id(record),
                    "accepted the snapshot {:?}",
                    record.snapshot
                );
                let line = serde_json::to_string(record)
                    .map_err(|e| Violation::new(format!("a record does not write: {e}")))?;
                let back: HistoryRecord = serde_json::from_str(&line)
                    .map_err(|e| Violation::new(format!("{line} does not read back: {e}")))?;
                ensure!(&back == record, "{line} reads back as {back:?}");
            }
            Ok(())
        }
        Err(ErrorKind::Damaged {
            path: named, line, ..
        }) => {
            ensure!(named == path, "the error names {named}, not {path}");
            ensure!(
                (1..=lines.len()).contains(&line),
                "the error names line {line} of {} complete lines",
                lines.len()
            );
            let text = lines[line - 1];
            ensure!(
                !blank(text) && !is_record(text),
                "line {line} is called damaged but is {}",
                if blank(text) { "blank" } else { "a record" }
            );
            ensure!(
                lines[..line - 1].iter().all(|l| blank(l) || is_record(l)),
                "line {line} is called damaged, but an earlier line is not a record either"
            );
            Ok(())
        }
        Err(other) => Err(Violation::new(format!(
            "the history's content gave another error: {other}"
        ))),
    }
}

/// Whether the record's snapshot, if any, is one plain visible file name.
fn plain_id(record: &HistoryRecord) -> bool {
    record.snapshot.as_deref().is_none_or(|id| {
        !id.is_empty()
            && !id.starts_with('.')
            && !id.contains(['/', '\\'])
            && !id.chars().any(char::is_control)
            && id.len() <= 255
    })
}
