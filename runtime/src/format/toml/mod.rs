//! TOML documents, edited in place with `toml_edit`.
//!
//! A step's changes are applied to the parsed `toml_edit::DocumentMut` key by
//! key: a changed value is replaced keeping its decor (the whitespace around
//! it and a comment after it on its line); a change inside a table, an inline
//! table or an array of tables of the same length recurses, so its siblings,
//! and their comments, stay as they were; a removed key goes; a renamed key
//! keeps its place; a new key is appended to its table.
//!
//! Reading: datetimes read as strings (`"1979-05-27T07:32:00Z"`); a changed
//! value written over a datetime stays a datetime when it still reads as
//! one. NaN and infinite floats cannot be held by a document and are refused.
//!
//! A changed array is edited item by item: a changed item keeps its place
//! and spacing, new items are spaced like the last one, and the array keeps
//! its line breaks, trailing comma and comments. A changed literal string
//! (`'…'`) stays literal where the new text can be one; a renamed key keeps
//! its quotes. A new string (a new key, a string that replaces a value of
//! another kind) is literal where most of the document's strings are.
//!
//! What is not kept: the layout inside a value that changes type (it is
//! written in `toml_edit`'s default style); where a new plain key goes
//! relative to tables (TOML puts every plain key of a table before its
//! sub-tables, so a key a step appends after a table is written before it);
//! multi-line strings (a changed one is written on one line with escapes);
//! mixed line endings:
//! `toml_edit` writes LF and a CRLF file gets CRLF back on every line, so in
//! a changed file whose first line ends in CRLF any bare LF becomes CRLF
//! (inside a multi-line string that changes the value, and the read-back
//! check refuses the write). Steps cannot write null (TOML has none) nor
//! integers above `i64::MAX`: [`FormatError::Unrepresentable`] names the
//! key.

use camino::Utf8Path;
use serde_json::{Map, Value};
use toml_edit::DocumentMut;

use super::{FormatError, MAX_DEPTH, Newline, line_col};

mod convert;
mod edit;

use convert::*;
use edit::*;

const SYNTAX: &str = "TOML";

/// The dotted key of what is being converted, for errors.
struct KeyPath<'a> {
    path: &'a Utf8Path,
    parts: Vec<String>,
    /// Whether new strings are written as literal strings (`'…'`), as most
    /// of the document's strings are.
    literal: bool,
}

impl KeyPath<'_> {
    fn error(&self, action: &'static str, reason: impl Into<String>) -> FormatError {
        FormatError::Unrepresentable {
            path: self.path.to_owned(),
            key: self.parts.join("."),
            action,
            syntax: SYNTAX,
            reason: reason.into(),
        }
    }

    fn enter<T>(
        &mut self,
        part: impl ToString,
        f: impl FnOnce(&mut Self) -> Result<T, FormatError>,
    ) -> Result<T, FormatError> {
        if self.parts.len() >= MAX_DEPTH {
            return Err(self.error(
                "handled in",
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.parts.push(part.to_string());
        let result = f(self);
        self.parts.pop();
        result
    }
}

/// The fields of the TOML `text`, and the document to edit them in.
pub(super) fn parse(
    path: &Utf8Path,
    text: &str,
) -> Result<(Map<String, Value>, DocumentMut), FormatError> {
    let document: DocumentMut = text.parse().map_err(|error: toml_edit::TomlError| {
        let location = error.span().map(|span| line_col(text, span.start));
        let message = error.message().trim_end().to_owned();
        if message.starts_with("duplicate key") {
            let key = error
                .span()
                .and_then(|span| text.get(span))
                .unwrap_or_default()
                .to_owned();
            return FormatError::DuplicateKey {
                path: path.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                syntax: SYNTAX,
                key,
            };
        }
        FormatError::Syntax {
            path: path.to_owned(),
            line: location.map(|l| l.0),
            column: location.map(|l| l.1),
            syntax: SYNTAX,
            message,
        }
    })?;
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: false,
    };
    let fields = table_to_json(document.as_table(), &mut keys)?;
    Ok((fields, document))
}

/// The fields as a new TOML document, LF line breaks.
pub(super) fn to_text(path: &Utf8Path, fields: &Map<String, Value>) -> Result<String, FormatError> {
    let mut document = DocumentMut::new();
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: false,
    };
    for (key, value) in fields {
        let item = keys.enter(key, |keys| json_to_item(value, keys))?;
        document.insert(key, item);
    }
    Ok(document.to_string())
}

/// The original document with the changes from `old` to `new` applied.
pub(super) fn render(
    path: &Utf8Path,
    document: &DocumentMut,
    newline: Newline,
    (old, new): (&Map<String, Value>, &Map<String, Value>),
    renamed: &crate::format::plan::Renamed,
) -> Result<String, FormatError> {
    let mut document = document.clone();
    let mut keys = KeyPath {
        path,
        parts: Vec::new(),
        literal: mostly_literal(document.as_table()),
    };
    let was_empty = document.as_table().is_empty();
    let had_pairs = first_pair(document.as_table()).is_some();
    update_table(document.as_table_mut(), (old, new), renamed, &mut keys)?;
    if was_empty {
        comments_first(&mut document);
    } else if !had_pairs {
        header_first(&mut document);
    }
    Ok(newline.apply(document.to_string()))
}

/// The first key/value pair of the root table (its pairs come before its
/// tables), if it has one.
fn first_pair(root: &toml_edit::Table) -> Option<String> {
    (root.iter())
        .find(|(_, item)| !item.is_table() && !item.is_array_of_tables())
        .map(|(key, _)| key.to_owned())
}

/// A document whose root held only tables, and now holds keys too, keeps
/// the comment lines at its top that a blank line parts from its first
/// table (they are about the whole file) above those keys.
fn header_first(document: &mut DocumentMut) {
    let root = document.as_table_mut();
    let Some(key) = first_pair(root) else { return };
    let Some(table) = (root.iter_mut())
        .filter_map(|(_, item)| item.as_table_mut())
        .filter(|table| !table.is_dotted())
        .min_by_key(|table| table.position())
    else {
        return;
    };
    let prefix = (table.decor().prefix())
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_owned();
    let Some(blank) = prefix.find("\n\n") else {
        return;
    };
    let (header, rest) = prefix.split_at(blank + 1);
    if !header.trim_start().starts_with('#') {
        return;
    }
    table.decor_mut().set_prefix(rest.to_owned());
    if let Some(mut key) = root.key_mut(&key) {
        let decor = key.leaf_decor_mut();
        let own = decor.prefix().and_then(|p| p.as_str()).unwrap_or("");
        let joined = format!("{header}\n{own}");
        decor.set_prefix(joined);
    }
}

/// A document that held only comments (and blank lines) keeps them first:
/// `toml_edit` keeps them after its last table, so the keys and tables a
/// step adds would come before them.
fn comments_first(document: &mut DocumentMut) {
    let trailing = document.trailing().as_str().unwrap_or("").to_owned();
    if trailing.trim().is_empty() {
        return;
    }
    let root = document.as_table_mut();
    // Keys of the root table come before its tables.
    let first_key = first_pair(root);
    let prefix = |decor: &mut toml_edit::Decor| {
        let own = decor
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_owned();
        decor.set_prefix(format!("{trailing}{own}"));
    };
    if let Some(key) = first_key {
        if let Some(mut key) = root.key_mut(&key) {
            prefix(key.leaf_decor_mut());
        }
    } else if let Some(table) = (root.iter_mut())
        .filter_map(|(_, item)| item.as_table_mut())
        .min_by_key(|table| table.position())
    {
        prefix(table.decor_mut());
    } else {
        return;
    }
    document.set_trailing("");
}
