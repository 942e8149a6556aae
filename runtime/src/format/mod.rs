//! Reading documents (JSON, TOML, YAML, Markdown with front matter) into a
//! [`Document`] and writing them back so that only what a step changed
//! changes.
//!
//! [`parse`] keeps the original text beside the fields it read; [`render`]
//! compares the step's result with what was read and edits the original text
//! in place: an unchanged document is written back as the very bytes it was
//! read from, and a changed one keeps everything the step did not touch.
//! Each format's module says exactly what it cannot keep.
//!
//! What every format keeps: a UTF-8 byte order mark, the line ending (LF or
//! CRLF, detected from the file's first line break; all generated text uses
//! it) and the presence or absence of a final line break.
//!
//! Every edit is checked before it is returned: the written text is parsed
//! again and must give the step's fields (and body). Where an in-place edit of
//! JSON or YAML does not pass that check (an unusual layout the splicer does
//! not understand), the fields are written again in canonical form, which
//! keeps the data but not the layout of that document; where even that does
//! not read back, [`FormatError::RoundTrip`] is returned and nothing is
//! written.

mod json;
mod markdown;
mod plan;
mod strict;
mod toml;
mod yaml;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod faithful_tests;
#[cfg(test)]
mod regressions;
#[cfg(test)]
mod style_props;
#[cfg(test)]
mod tests;

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::Document;

/// Nesting deeper than this is refused when converting between formats, so
/// that no input, however deep, can overflow the stack.
const MAX_DEPTH: usize = 128;

const BOM: &str = "\u{feff}";

/// The format of a document, known from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// JSON: `.json`; the top level must be an object.
    Json,
    /// TOML: `.toml`.
    Toml,
    /// YAML: `.yaml` or `.yml`; the top level must be a mapping.
    Yaml,
    /// Markdown: `.md` or `.markdown`; the fields are the front matter
    /// (YAML between `---` lines, TOML between `+++` lines, or a JSON
    /// object, see [`FrontMatter`]), the body is the rest.
    Markdown,
}

impl Format {
    /// The format of the file at `path`, from its extension (any case);
    /// `None` for files that are not documents.
    pub fn from_path(path: &Utf8Path) -> Option<Format> {
        let extension = path.extension()?;
        let is = |name: &str| extension.eq_ignore_ascii_case(name);
        if is("json") {
            Some(Format::Json)
        } else if is("toml") {
            Some(Format::Toml)
        } else if is("yaml") || is("yml") {
            Some(Format::Yaml)
        } else if is("md") || is("markdown") {
            Some(Format::Markdown)
        } else {
            None
        }
    }

    /// The format's name, lowercase: `json`, `toml`, `yaml`, `markdown`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Yaml => "yaml",
            Format::Markdown => "markdown",
        }
    }

    /// What the fields are written in, as error messages name it.
    fn syntax(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
            Format::Markdown => "YAML front matter",
        }
    }
}

/// Which front matter a Markdown document has, as it was read.
///
/// A document without one ([`FrontMatter::None`]) is written back as it
/// was; a step that gives it fields makes writing it fail with
/// [`FormatError::NoFrontMatter`] unless the store allows adding one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrontMatter {
    /// No front matter: the whole file is the body.
    None,
    /// YAML between a first line `---` and the next `---` or `...` line.
    Yaml,
    /// TOML between `+++` lines (Hugo, Zola, Astro), blank lines before
    /// allowed.
    Toml,
    /// A JSON object at the start of the file (Hugo), blank lines before
    /// allowed.
    Json,
}

impl FrontMatter {
    /// Its name, lowercase: `none`, `yaml`, `toml`, `json`.
    pub fn name(self) -> &'static str {
        match self {
            FrontMatter::None => "none",
            FrontMatter::Yaml => "yaml",
            FrontMatter::Toml => "toml",
            FrontMatter::Json => "json",
        }
    }
}

impl fmt::Display for FrontMatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// The line ending a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newline {
    Lf,
    CrLf,
}

impl Newline {
    /// CRLF when the first line break is CRLF, else LF.
    fn detect(text: &str) -> Newline {
        match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes().get(i - 1) == Some(&b'\r') => Newline::CrLf,
            _ => Newline::Lf,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Newline::Lf => "\n",
            Newline::CrLf => "\r\n",
        }
    }

    /// `text`, generated with LF line breaks, with this line ending.
    fn apply(self, text: String) -> String {
        match self {
            Newline::Lf => text,
            Newline::CrLf => to_crlf(&text),
        }
    }
}

/// Every LF that is not already part of a CRLF becomes CRLF.
fn to_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// A document as it was read: what [`render`] needs to write it back.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    format: Format,
    /// The text after the byte order mark.
    text: String,
    bom: bool,
    newline: Newline,
    /// The fields as read, to tell what a step changed.
    fields: Map<String, Value>,
    /// The body as read (Markdown only).
    body: Option<String>,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Plain,
    Toml(Box<toml_edit::DocumentMut>),
    Markdown(Option<markdown::Front>),
}

impl Parsed {
    /// The document's format.
    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// Which front matter a Markdown document has; `None` for the other
    /// formats.
    pub(crate) fn front_matter(&self) -> Option<FrontMatter> {
        match &self.state {
            State::Markdown(front) => Some(front.as_ref().map_or(FrontMatter::None, |f| f.kind())),
            _ => None,
        }
    }

    /// Whether the fields are TOML (a TOML file, or TOML front matter),
    /// which puts plain keys before tables whatever their order.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn is_toml(&self) -> bool {
        is_toml(self.format, &self.state)
    }

    /// The original bytes.
    pub(crate) fn original(&self) -> Vec<u8> {
        with_bom(self.bom, &self.text)
    }
}

fn with_bom(bom: bool, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 3);
    if bom {
        out.extend_from_slice(BOM.as_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out
}

/// Reads the document at `path` (relative to its store) from `bytes`, in the
/// format its extension names.
pub(crate) fn parse(path: &Utf8Path, bytes: &[u8]) -> Result<(Document, Parsed), FormatError> {
    let format = Format::from_path(path).ok_or_else(|| FormatError::UnknownFormat {
        path: path.to_owned(),
    })?;
    parse_as(format, path, bytes)
}

/// Reads `bytes` as `format`.
pub(crate) fn parse_as(
    format: Format,
    path: &Utf8Path,
    bytes: &[u8],
) -> Result<(Document, Parsed), FormatError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
        let prefix = String::from_utf8_lossy(valid);
        let (line, column) = line_col(&prefix, prefix.len());
        FormatError::InvalidUtf8 {
            path: path.to_owned(),
            line: Some(line),
            column: Some(column),
        }
    })?;
    let (bom, text) = match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (fields, body, state) = read(format, path, text)?;
    let mut document = Document::new(path, fields.clone());
    if let Some(body) = &body {
        document = document.with_body(body.clone());
    }
    let parsed = Parsed {
        format,
        text: text.to_owned(),
        bom,
        newline: Newline::detect(text),
        fields,
        body,
        state,
    };
    Ok((document, parsed))
}

type Read = (Map<String, Value>, Option<String>, State);

fn read(format: Format, path: &Utf8Path, text: &str) -> Result<Read, FormatError> {
    Ok(match format {
        Format::Json => (json::parse(path, text)?, None, State::Plain),
        Format::Toml => {
            let (fields, document) = toml::parse(path, text)?;
            (fields, None, State::Toml(Box::new(document)))
        }
        Format::Yaml => (
            yaml::parse(path, text, 0, Format::Yaml)?,
            None,
            State::Plain,
        ),
        Format::Markdown => {
            let (fields, front, body) = markdown::parse(path, text)?;
            (fields, Some(body), State::Markdown(front))
        }
    })
}

/// Writes `doc` back over the document `parsed` was read from, changing only
/// what differs: an unchanged document gives the original bytes. A Markdown
/// document without front matter to which the step gave fields is refused
/// with [`FormatError::NoFrontMatter`].
pub(crate) fn render(parsed: &Parsed, doc: &Document) -> Result<Vec<u8>, FormatError> {
    render_with(parsed, doc, false)
}

/// [`render`], except that a Markdown document without front matter to which
/// the step gave fields gets a YAML front matter at the top: for a store
/// told to add one.
pub(crate) fn render_adding_front_matter(
    parsed: &Parsed,
    doc: &Document,
) -> Result<Vec<u8>, FormatError> {
    render_with(parsed, doc, true)
}

fn render_with(
    parsed: &Parsed,
    doc: &Document,
    add_front_matter: bool,
) -> Result<Vec<u8>, FormatError> {
    let body = doc.body();
    if same_map(doc.fields(), &parsed.fields) && body == parsed.body.as_deref() {
        return Ok(parsed.original());
    }
    let format = parsed.format;
    if body.is_some() && format != Format::Markdown {
        return Err(FormatError::BodyNotSupported {
            path: doc.path().to_owned(),
            format,
        });
    }
    let path = doc.path();
    let newline = parsed.newline;
    let old = &parsed.fields;
    let new = doc.fields();
    let spliced = match &parsed.state {
        State::Plain if format == Format::Json => json::splice(&parsed.text, newline, old, new),
        State::Plain => yaml::splice(&parsed.text, newline, old, new),
        State::Toml(document) => Some(toml::render(path, document, newline, old, new)?),
        State::Markdown(front) => Some(markdown::render(&markdown::Render {
            path,
            text: &parsed.text,
            front: front.as_ref(),
            newline,
            old,
            new,
            body: body.unwrap_or_default(),
            canonical: false,
            add_front_matter,
        })?),
    };
    let mut last_error = None;
    if let Some(text) = spliced {
        match finish(format, path, &parsed.text, text, doc) {
            Ok(text) => return Ok(with_bom(parsed.bom, &text)),
            Err(error) => last_error = Some(error),
        }
    }
    if format == Format::Toml {
        return Err(last_error.unwrap_or_else(|| round_trip(format, path, "no text")));
    }
    // The in-place edit did not read back: write the fields canonically.
    let text = match &parsed.state {
        State::Markdown(front) => markdown::render(&markdown::Render {
            path,
            text: &parsed.text,
            front: front.as_ref(),
            newline,
            old,
            new,
            body: body.unwrap_or_default(),
            canonical: true,
            add_front_matter,
        })?,
        _ => {
            let canonical = canonical(format, path, new)?;
            finish(format, path, &parsed.text, newline.apply(canonical), doc)?
        }
    };
    check(format, path, &text, doc)?;
    Ok(with_bom(parsed.bom, &text))
}

/// Writes a document that has no original file, in canonical form: JSON
/// pretty-printed with two spaces, TOML as `toml_edit` writes it, YAML in
/// block style, Markdown as `---`, the YAML front matter, `---`, the body.
/// Each ends with a line break (Markdown: where the body does).
pub(crate) fn render_new(format: Format, doc: &Document) -> Result<Vec<u8>, FormatError> {
    let path = doc.path();
    if format == Format::Markdown {
        let mut text = String::from("---\n");
        if !doc.fields().is_empty() {
            text.push_str(&yaml::to_text(path, Format::Markdown, doc.fields())?);
        }
        text.push_str("---\n");
        text.push_str(doc.body().unwrap_or_default());
        return Ok(text.into_bytes());
    }
    if doc.body().is_some() {
        return Err(FormatError::BodyNotSupported {
            path: path.to_owned(),
            format,
        });
    }
    Ok(canonical(format, path, doc.fields())?.into_bytes())
}

/// The fields in canonical form, with LF line breaks and a final one.
fn canonical(
    format: Format,
    path: &Utf8Path,
    fields: &Map<String, Value>,
) -> Result<String, FormatError> {
    match format {
        Format::Json => json::to_text(fields),
        Format::Toml => toml::to_text(path, fields),
        Format::Yaml | Format::Markdown => yaml::to_text(path, format, fields),
    }
}

/// `text`, written for a document read from `original`, ending with a line
/// break exactly where `original` did (an empty original counts as ending
/// with one), once checked to read back as `doc`. Where the original does
/// not end with one, every line break at the end goes (blank lines that
/// were between entries end the text once the entry after them is
/// removed), unless that changes what the text reads as: a YAML block
/// scalar that keeps its final line breaks (`|+`) ends the text with them.
/// A Markdown body is the step's, so its end is left as the step wrote it.
fn finish(
    format: Format,
    path: &Utf8Path,
    original: &str,
    text: String,
    doc: &Document,
) -> Result<String, FormatError> {
    if format != Format::Markdown && !original.is_empty() && !original.ends_with('\n') {
        let mut trimmed = text.as_str();
        while let Some(rest) = trimmed.strip_suffix('\n') {
            trimmed = rest.strip_suffix('\r').unwrap_or(rest);
        }
        if trimmed.len() < text.len() && check(format, path, trimmed, doc).is_ok() {
            return Ok(trimmed.to_owned());
        }
    }
    check(format, path, &text, doc)?;
    Ok(text)
}

/// Whether `text` reads back as `doc`.
fn check(format: Format, path: &Utf8Path, text: &str, doc: &Document) -> Result<(), FormatError> {
    let (fields, body, state) =
        read(format, path, text).map_err(|error| round_trip(format, path, &error.to_string()))?;
    // TOML puts plain keys before tables whatever their order, so only the
    // content must match there (in a TOML file or TOML front matter);
    // everywhere else the order must too.
    let fields_match = if is_toml(format, &state) {
        &fields == doc.fields()
    } else {
        same_map(&fields, doc.fields())
    };
    if !fields_match {
        return Err(round_trip(format, path, "the fields differ"));
    }
    if format == Format::Markdown && body.as_deref() != Some(doc.body().unwrap_or_default()) {
        return Err(round_trip(format, path, "the body differs"));
    }
    Ok(())
}

/// Whether a document read as `format` into `state` holds TOML: a TOML
/// file, or Markdown with TOML front matter.
fn is_toml(format: Format, state: &State) -> bool {
    format == Format::Toml
        || matches!(state, State::Markdown(Some(front)) if front.kind() == FrontMatter::Toml)
}

fn round_trip(format: Format, path: &Utf8Path, detail: &str) -> FormatError {
    FormatError::RoundTrip {
        path: path.to_owned(),
        syntax: format.syntax(),
        detail: detail.to_owned(),
    }
}

/// Equality that also compares the order of keys, at every level.
fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

/// Equality that also compares the order of keys, at every level.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => same_map(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// `a number`, `an array`, … for a value that should have been a mapping.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a mapping",
    }
}
