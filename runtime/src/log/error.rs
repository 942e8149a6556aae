//! Why a run over a log failed: a line that is not a record, a step that
//! failed on one, a log that changed under the run. Every message names the
//! file and, where there is one, the line and its byte offset.

use camino::Utf8PathBuf;
use thiserror::Error;

use crate::BoxError;
use crate::error::in_field;
use crate::run::ValidationFailure;

/// What went wrong with a log (a [`LogStore`](crate::log::LogStore)).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LogError {
    /// A line is not one JSON object.
    #[error(
        "{path} line {line} (byte {offset}): {message}; fix or remove the line, or run with \
         `--skip-malformed` (`LogStore::skip_malformed`) to move such lines to a quarantine \
         file"
    )]
    Malformed {
        /// The log file.
        path: Utf8PathBuf,
        /// The line, 1-based.
        line: u64,
        /// The offset of the line's first byte in the (uncompressed) file.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The log's name is one a folder store keeps in `.verchain/`, where
    /// the log's own files would go (`.verchain/<log name>/`).
    #[error(
        "{path}: a log named `{name}` cannot be migrated: its files would go in \
         `.verchain/{name}/`, which a folder of documents uses for its own; rename the log"
    )]
    ReservedName {
        /// The log file.
        path: Utf8PathBuf,
        /// Its name.
        name: String,
    },
    /// The first line is a header that verchain cannot read.
    #[error("{path} line 1: bad header: {message}")]
    BadHeader {
        /// The log file.
        path: Utf8PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A step returned an error on one line.
    #[error(
        "step `{step}` (v{from} → v{to}) failed on {path} line {line} (byte {offset}): {cause}"
    )]
    Step {
        /// The step's id.
        step: &'static str,
        /// The version it reads.
        from: u32,
        /// The version it writes.
        to: u32,
        /// The log file.
        path: Utf8PathBuf,
        /// The line, 1-based (1 for the header).
        line: u64,
        /// The offset of the line's first byte.
        offset: u64,
        /// The step's error.
        cause: BoxError,
    },
    /// A step panicked on one line.
    #[error(
        "step `{step}` (v{from} → v{to}) panicked on {path} line {line} (byte {offset}): {message}"
    )]
    StepPanicked {
        /// The step's id.
        step: &'static str,
        /// The version it reads.
        from: u32,
        /// The version it writes.
        to: u32,
        /// The log file.
        path: Utf8PathBuf,
        /// The line, 1-based.
        line: u64,
        /// The offset of the line's first byte.
        offset: u64,
        /// The panic's message.
        message: String,
    },
    /// Records failed validation; a real run does not commit.
    #[error("{total} record(s) failed validation; first: {first}")]
    Invalid {
        /// How many records failed (the report lists the first ones).
        total: u64,
        /// The first failure.
        first: Box<ValidationFailure>,
    },
    /// A restore would throw away records written since the run it undoes.
    #[error(
        "{path} changed since the run that snapshot {snapshot} undoes ({what}); restoring it \
         would lose what was written since. Move those records aside first, or roll back with \
         `down` steps (to a version) instead"
    )]
    ChangedSinceRun {
        /// The log file.
        path: Utf8PathBuf,
        /// The snapshot that would be restored.
        snapshot: String,
        /// What changed.
        what: String,
    },
    /// A record could not be read as a step's type.
    #[error("does not read as `{type_name}`: {}{source}", in_field(.field))]
    Deserialize {
        /// The type.
        type_name: &'static str,
        /// The field that did not fit, as a path from the top level
        /// (`keywords`, `params.tags[2]`); `None` where the top level itself
        /// did not (a missing field of the type).
        field: Option<String>,
        /// What did not fit.
        source: serde_json::Error,
    },
    /// A step's output could not be written as a record.
    #[error("cannot write `{type_name}`: {source}")]
    Serialize {
        /// The type.
        type_name: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// A typed step returned something that is not a JSON object.
    #[error("a typed step must return a struct or map, but `{type_name}` is neither")]
    NotAnObject {
        /// The type returned.
        type_name: &'static str,
    },
}
