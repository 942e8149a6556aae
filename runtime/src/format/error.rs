//! What goes wrong reading or writing a document: every message names the
//! file, and the line and column where there is one.

use camino::{Utf8Path, Utf8PathBuf};
use thiserror::Error;

use super::Format;

/// A document could not be read from, or written back to, its file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file's extension names no document format.
    #[error(
        "{path}: not a document: the extension is not .json, .toml, .yaml, .yml, .md or .markdown"
    )]
    UnknownFormat {
        /// The file, relative to its store.
        path: Utf8PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("{}: not valid UTF-8", at(.path, .line, .column))]
    InvalidUtf8 {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line of the first invalid byte (1-based).
        line: Option<usize>,
        /// Its column, in characters (1-based).
        column: Option<usize>,
    },
    /// The text is not valid in its format.
    #[error("{}: invalid {syntax}: {message}", at(.path, .line, .column))]
    Syntax {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line of the error (1-based), where the parser tells it.
        line: Option<usize>,
        /// Its column (1-based), where the parser tells it.
        column: Option<usize>,
        /// What the fields are written in (`JSON`, `YAML front matter`, …).
        syntax: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A key appears twice in one mapping; neither value is picked.
    #[error("{}: duplicate key `{key}` in {syntax}", at(.path, .line, .column))]
    DuplicateKey {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line where the parser noticed (1-based), where known: in JSON
        /// and TOML the second occurrence, in YAML the start of the mapping.
        line: Option<usize>,
        /// Its column (1-based), where known.
        column: Option<usize>,
        /// What the fields are written in.
        syntax: &'static str,
        /// The key.
        key: String,
    },
    /// The top level is not a mapping, so it has no fields.
    #[error("{path}: the top level of the {syntax} must be a mapping, not {found}")]
    NotAMapping {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// What the fields are written in.
        syntax: &'static str,
        /// What it is instead (`an array`, `a string`, …).
        found: &'static str,
    },
    /// A value cannot be held by a document, or cannot be written in the
    /// document's format (TOML has no null, documents no NaN).
    #[error("{path}: `{key}` cannot be {action} {syntax}: {reason}")]
    Unrepresentable {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The key, dotted from the top level (`a.b.0.c`).
        key: String,
        /// `read from` or `written as`.
        action: &'static str,
        /// What the fields are written in.
        syntax: &'static str,
        /// Why.
        reason: String,
    },
    /// The start of a Markdown file looks like front matter that the tools
    /// which write front matter do not read alike (blank lines before a
    /// `---`, a `---json` line, a `{` that starts no JSON object): it is
    /// refused rather than guessed at. See the Markdown rules in the README.
    #[error("{path} line {line}: front matter not recognised: {reason}")]
    FrontMatterNotRecognised {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line that looks like the start of front matter (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A step gave fields to a Markdown document that has no front matter;
    /// writing a new one is left to the store's policy, so nothing is
    /// written.
    #[error(
        "{path}: has no front matter, but the step gave it fields ({}); a front matter is \
         written only where the store is told to add one",
        keys.join(", ")
    )]
    NoFrontMatter {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The fields the step gave it.
        keys: Vec<String>,
    },
    /// A step gave a body to a document whose format has none.
    #[error("{path}: a {format} document has no body, but the step set one")]
    BodyNotSupported {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// Its format.
        format: Format,
    },
    /// A YAML mapping uses a merge key (`<<: *defaults`): the keys it
    /// brings in would be invisible to the steps, which would then write
    /// values that the document's readers do not see.
    #[error(
        "{}: merge key `<<` in {syntax}: the keys it brings in would be invisible to the \
         steps; write those keys out in the mapping instead (or quote the key, `\"<<\"`, \
         if it is an ordinary key)",
        at(.path, .line, .column)
    )]
    MergeKey {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line of the key (1-based), where known.
        line: Option<usize>,
        /// Its column (1-based), where known.
        column: Option<usize>,
        /// What the fields are written in.
        syntax: &'static str,
    },
    /// A step changed a YAML document whose layout cannot be edited in
    /// place without changing what the step did not touch; it is refused
    /// rather than written again whole, and nothing is written.
    #[error("{}: the {syntax} cannot be edited in place: {reason}", at(.path, .line, .column))]
    NotEditable {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// The line of what cannot be edited (1-based), where known.
        line: Option<usize>,
        /// Its column (1-based), where known.
        column: Option<usize>,
        /// What the fields are written in.
        syntax: &'static str,
        /// What stands in the way, and what the user can do.
        reason: String,
    },
    /// The written text did not read back as the step's document; nothing is
    /// written.
    #[error("{path}: the written {syntax} does not read back as the document: {detail}")]
    RoundTrip {
        /// The document, relative to its store.
        path: Utf8PathBuf,
        /// What the fields are written in.
        syntax: &'static str,
        /// What differed, or why it did not parse.
        detail: String,
    },
}

/// `path line L, column C`, as much of it as is known.
fn at(path: &Utf8Path, line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{path} line {line}, column {column}"),
        (Some(line), None) => format!("{path} line {line}"),
        _ => path.to_string(),
    }
}
