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
//! JSON does not pass that check (an unusual layout the splicer does not
//! understand), the fields are written again in canonical form, which keeps
//! the data but not the layout of that document; where even that does not
//! read back, [`FormatError::RoundTrip`] is returned and nothing is written.
//! YAML (a file or front matter) is never written again whole: an edit it
//! cannot make in place is refused with [`FormatError::NotEditable`].

mod error;
mod json;
mod markdown;
mod plan;
mod render;
pub(crate) mod strict;
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

use camino::Utf8Path;
use serde_json::{Map, Value};

use crate::Document;

pub use error::FormatError;
use render::is_toml;
pub(crate) use render::{render, render_adding_front_matter, render_new, same, same_map};

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
