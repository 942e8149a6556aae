//! A history kept as a database table (SQLite's and PostgreSQL's
//! `_verchain_history`): how one of its rows reads back as a
//! [`HistoryRecord`]. Both tables hold the same columns in the same order;
//! each store's client says only how to read a column.

use super::history::{Counts, HistoryRecord};

/// One row of a history table, read column by column (0 is the table's
/// own sequence number; 1 to 20 are the record's fields).
pub(crate) trait HistoryRow {
    /// A text column, `None` where it is NULL.
    fn text(&self, column: usize) -> Result<Option<String>, String>;
    /// An integer column, `None` where it is NULL.
    fn int(&self, column: usize) -> Result<Option<i64>, String>;
    /// A boolean column.
    fn flag(&self, column: usize) -> Result<bool, String>;
}

/// The row as a record; a NULL where a value must be, a number out of
/// range or an unknown outcome is named with its column.
pub(crate) fn record(row: &impl HistoryRow) -> Result<HistoryRecord, String> {
    let text = |i: usize| row.text(i)?.ok_or_else(|| format!("column {i} is NULL"));
    let int = |i: usize| row.int(i)?.ok_or_else(|| format!("column {i} is NULL"));
    let version = |n: i64, i: usize| {
        u32::try_from(n).map_err(|_| format!("column {i} holds {n}, not a version"))
    };
    let count = |i: usize| -> Result<usize, String> {
        let n = int(i)?;
        usize::try_from(n).map_err(|_| format!("column {i} holds {n}, not a count"))
    };
    let outcome = text(11)?;
    let duration = int(10)?;
    Ok(HistoryRecord {
        run_id: text(1)?,
        chain: text(2)?,
        step: row.text(3)?,
        from: version(int(4)?, 4)?,
        to: version(int(5)?, 5)?,
        description: text(6)?,
        checksum: row.text(7)?,
        started: text(8)?,
        finished: text(9)?,
        duration_ms: u64::try_from(duration)
            .map_err(|_| format!("column 10 holds {duration}, not a duration"))?,
        outcome: serde_json::from_value(serde_json::Value::String(outcome.clone()))
            .map_err(|_| format!("unknown outcome `{outcome}`"))?,
        snapshot: row.text(12)?,
        counts: Counts {
            changed: count(13)?,
            unchanged: count(14)?,
            created: count(15)?,
            removed: count(16)?,
            quarantined: 0,
        },
        created_paths: Vec::new(),
        created_folders: Vec::new(),
        stamp_before: row.int(17)?.map(|n| version(n, 17)).transpose()?,
        host: text(18)?,
        verchain: text(19)?,
        operator_override: row.flag(20)?,
    })
}

/// A count as a table stores it.
pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as a client would read it: text and numbers by column.
    struct Fake(Vec<Option<&'static str>>);

    impl HistoryRow for Fake {
        fn text(&self, column: usize) -> Result<Option<String>, String> {
            Ok(self.0[column].map(str::to_owned))
        }
        fn int(&self, column: usize) -> Result<Option<i64>, String> {
            (self.0[column].map(str::parse).transpose()).map_err(|e| format!("{e}"))
        }
        fn flag(&self, column: usize) -> Result<bool, String> {
            Ok(self.0[column] == Some("1"))
        }
    }

    fn row() -> Vec<Option<&'static str>> {
        vec![
            Some("1"),
            Some("run"),
            Some("notes"),
            Some("add_status"),
            Some("1"),
            Some("2"),
            Some("Adds a status."),
            None,
            Some("2026-12-07T10:00:00Z"),
            Some("2026-12-07T10:00:01Z"),
            Some("1000"),
            Some("applied"),
            None,
            Some("3"),
            Some("0"),
            Some("0"),
            Some("0"),
            None,
            Some("host"),
            Some("0.1.0"),
            Some("0"),
        ]
    }

    #[test]
    fn a_row_reads_back_as_its_record() {
        let record = record(&Fake(row())).unwrap();
        assert_eq!((record.from, record.to), (1, 2));
        assert_eq!(record.step.as_deref(), Some("add_status"));
        assert_eq!(record.counts.changed, 3);
        assert_eq!(record.duration_ms, 1000);
        assert_eq!(record.stamp_before, None);
        assert!(!record.operator_override);
    }

    #[test]
    fn a_null_a_number_out_of_range_or_an_unknown_outcome_is_named() {
        let mut null = row();
        null[1] = None;
        assert_eq!(record(&Fake(null)).unwrap_err(), "column 1 is NULL");
        let mut negative = row();
        negative[13] = Some("-4");
        assert_eq!(
            record(&Fake(negative)).unwrap_err(),
            "column 13 holds -4, not a count"
        );
        let mut version = row();
        version[17] = Some("-1");
        assert_eq!(
            record(&Fake(version)).unwrap_err(),
            "column 17 holds -1, not a version"
        );
        let mut outcome = row();
        outcome[11] = Some("done");
        assert_eq!(
            record(&Fake(outcome)).unwrap_err(),
            "unknown outcome `done`"
        );
    }
}
