//! An application's audit log (`audit.jsonl`, rotated into `audit.jsonl.1`,
//! `audit.jsonl.2.zst`, …): one JSON record a line, whose shape has changed
//! twice.
//!
//! | version | the log |
//! |---|---|
//! | 1 | records only, no header: `ts`, `actor`, `action`, … |
//! | 2 | a header on the first line: `{"_meta":{"schema_version":2,"log":"audit"}}` |
//! | 3 | `actor` renamed `user`; `severity` added, `info` where a record has none |

use serde::Deserialize;
use verchain::log::{LogHeader, LogRecord};
use verchain::{Chain, FieldExists, migration};

/// The audit log.
#[derive(Chain)]
#[chain(base = 1, current = 3, name = "audit", record = LogRecord, schema(3 = EntryV3))]
pub struct Audit;

/// Gives the log a header that names it (the store writes the version into
/// it).
#[migration(chain = Audit, from = 1, to = 2, down = remove_header_fields)]
pub fn add_header(mut header: LogHeader) -> LogHeader {
    header.set_default("log", "audit");
    header
}

/// Takes out what `add_header` put in the header; a header left with only
/// its version at the log's first version is not written.
pub fn remove_header_fields(mut header: LogHeader) -> LogHeader {
    header.remove("log");
    header
}

/// Renames `actor` to `user`, and gives every record a `severity`, `info`
/// where it has none.
#[migration(chain = Audit, from = 2, to = 3, down = rename_user_back)]
pub fn rename_actor(entry: &mut LogRecord) -> Result<(), FieldExists> {
    entry.rename("actor", "user")?;
    entry.set_default("severity", "info");
    Ok(())
}

/// Renames `user` back to `actor`; `severity` stays (version 2 readers
/// ignore it).
pub fn rename_user_back(entry: &mut LogRecord) -> Result<(), FieldExists> {
    entry.rename("user", "actor")?;
    Ok(())
}

/// A record at version 3, as the application reads it.
#[derive(Debug, Deserialize)]
pub struct EntryV3 {
    /// When it happened (RFC 3339).
    pub ts: String,
    /// Who did it; `None` for the system itself.
    #[serde(default)]
    pub user: Option<String>,
    /// What was done, such as `document.update`.
    pub action: String,
    /// `info`, `warn` or `error`.
    pub severity: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_up(line: &str) -> String {
        let mut record = LogRecord::parse(line).unwrap();
        for step in Audit::steps() {
            step.up().apply(&mut record).unwrap();
        }
        record.to_line()
    }

    #[test]
    fn a_v1_record_reaches_v3_and_reads_as_entry_v3() {
        let line =
            r#"{"ts":"2024-05-01T10:00:00Z","actor":"ana","action":"login","ip":"10.0.0.1"}"#;
        let out = run_up(line);
        assert_eq!(
            out,
            r#"{"ts":"2024-05-01T10:00:00Z","user":"ana","action":"login","ip":"10.0.0.1","severity":"info"}"#
        );
        let record = LogRecord::parse(out).unwrap();
        assert!(Audit::check_schema(3, &record).unwrap().is_ok());
    }

    #[test]
    fn a_severity_already_there_stays() {
        let out = run_up(r#"{"ts":"t","actor":"bo","action":"x","severity":"warn"}"#);
        assert_eq!(
            out,
            r#"{"ts":"t","user":"bo","action":"x","severity":"warn"}"#
        );
    }

    #[test]
    fn the_first_step_rewrites_only_the_header() {
        let steps = Audit::steps();
        assert!(steps[0].up().is_header_step());
        assert!(!steps[1].up().is_header_step());
        let header = steps[0].up().apply_header(LogHeader::default()).unwrap();
        assert_eq!(header.get_str("log"), Some("audit"));
        let back = steps[0].down().unwrap().apply_header(header).unwrap();
        assert!(back.fields().is_empty());
    }
}
