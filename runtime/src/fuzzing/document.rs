//! Documents: any bytes read as JSON, TOML, YAML or Markdown, written back
//! unchanged and after a few typical edits.

use camino::Utf8Path;
use serde_json::Value;

use super::{Violation, ensure, same_in_order};
use crate::Document;
use crate::format::{self, Format, FormatError, FrontMatter};

const BOM: &[u8] = "\u{feff}".as_bytes();

/// Reads the bytes as a JSON document; see [`format_markdown`].
pub fn format_json(data: &[u8]) -> Result<(), Violation> {
    document(Utf8Path::new("fuzz.json"), Format::Json, data)
}

/// Reads the bytes as a TOML document; see [`format_markdown`].
pub fn format_toml(data: &[u8]) -> Result<(), Violation> {
    document(Utf8Path::new("fuzz.toml"), Format::Toml, data)
}

/// Reads the bytes as a YAML document; see [`format_markdown`].
pub fn format_yaml(data: &[u8]) -> Result<(), Violation> {
    document(Utf8Path::new("fuzz.yaml"), Format::Yaml, data)
}

/// Reads the bytes as a Markdown document with front matter.
///
/// A Markdown document without front matter may refuse an edit that gives
/// it fields ([`FormatError::NoFrontMatter`]); allowed to add one, it must
/// then write it as above.
///
/// What a document read from them must do: an error names the file; a
/// document no step changed is written back as the very bytes it was read
/// from; each of the edits in `EDITS` is written, and the text reads back as the
/// edited document (TOML: the same content, in any order) and keeps the
/// byte order mark, the line ending and, where the body is untouched and
/// something is left, the presence or absence of a final line break (a
/// final line break that is part of the last value stays). Only TOML may
/// refuse an edit with [`FormatError::RoundTrip`], for the mixed line
/// endings its module documents, and only YAML (a file or front matter)
/// with [`FormatError::NotEditable`], where its layout cannot be edited in
/// place; JSON, TOML and JSON front matter can always be written again
/// canonically.
pub fn format_markdown(data: &[u8]) -> Result<(), Violation> {
    document(Utf8Path::new("fuzz.md"), Format::Markdown, data)
}

/// An edit a step could make.
type Edit = fn(&mut Document);

/// The edits each document is put through, each alone on the document as
/// read.
const EDITS: &[(&str, Edit)] = &[
    ("adding a key", |doc| {
        doc.set("fuzz_added", "x");
    }),
    ("changing the first value", |doc| {
        if let Some(key) = first_key(doc) {
            doc.set(key, "changed");
        }
    }),
    ("removing the last key", |doc| {
        if let Some(key) = doc.fields().keys().next_back().cloned() {
            doc.remove(&key);
        }
    }),
    ("renaming the first key", |doc| {
        if let Some(key) = first_key(doc) {
            doc.rename_replacing(&key, "fuzz_renamed");
        }
    }),
    ("adding a key inside a mapping", |doc| {
        if let Some(Value::Object(inner)) = doc.fields_mut().values_mut().find(|v| v.is_object()) {
            inner.insert("fuzz_nested".to_owned(), Value::from(1));
        }
    }),
    (
        "adding a key that needs quoting, with a nested value",
        |doc| {
            doc.set(
                "key: with # signs",
                serde_json::json!({
                    "list": [1, 2.5, "two\nlines", true, "---"],
                    "text": "--- # not: a comment\n...",
                }),
            );
        },
    ),
    ("changing the first value to a multi-line string", |doc| {
        if let Some(key) = first_key(doc) {
            doc.set(key, "line one\n  line two\n\n");
        }
    }),
    ("changing the body", |doc| {
        if doc.body().is_some() {
            doc.set_body("changed\n");
        }
    }),
];

fn first_key(doc: &Document) -> Option<String> {
    doc.fields().keys().next().cloned()
}

fn document(path: &Utf8Path, format: Format, data: &[u8]) -> Result<(), Violation> {
    let (doc, parsed) = match format::parse(path, data) {
        Ok(read) => read,
        Err(error) => {
            let message = error.to_string();
            ensure!(
                message.starts_with(path.as_str()),
                "the error does not name the document: {message}"
            );
            return Ok(());
        }
    };
    ensure!(
        parsed.format() == format,
        "read as {}, not {format}",
        parsed.format()
    );
    let unchanged = format::render(&parsed, &doc)
        .map_err(|e| Violation::new(format!("an unchanged document is not written: {e}")))?;
    ensure!(
        unchanged == data,
        "an unchanged document is written as other bytes: {:?}",
        String::from_utf8_lossy(&unchanged)
    );
    // TOML (a file, or front matter) puts plain keys before tables, so only
    // the content must read back there; everywhere else the order must too.
    let toml = parsed.is_toml();
    for (what, edit) in EDITS {
        let mut edited = doc.clone();
        edit(&mut edited);
        match format::render(&parsed, &edited) {
            Ok(written) => check_written(path, toml, data, &doc, &edited, &written)
                .map_err(|v| v.during(what))?,
            Err(error @ FormatError::NoFrontMatter { .. }) => {
                ensure!(
                    parsed.front_matter() == Some(FrontMatter::None),
                    "{what}: refused for want of a front matter it has: {error}"
                );
                ensure!(
                    error.to_string().starts_with(path.as_str()),
                    "{what}: the error does not name the document: {error}"
                );
                // Allowed to, it adds one.
                let written = format::render_adding_front_matter(&parsed, &edited)
                    .map_err(|e| Violation::new(format!("{what}: adding a front matter: {e}")))?;
                check_written(path, toml, data, &doc, &edited, &written)
                    .map_err(|v| v.during(what))?;
            }
            Err(error @ FormatError::RoundTrip { .. }) if toml => {
                let message = error.to_string();
                ensure!(
                    message.starts_with(path.as_str()),
                    "{what}: the error does not name the document: {message}"
                );
            }
            Err(error @ FormatError::NotEditable { .. })
                if parsed.format() == Format::Yaml
                    || parsed.front_matter() == Some(FrontMatter::Yaml) =>
            {
                let message = error.to_string();
                ensure!(
                    message.starts_with(path.as_str()),
                    "{what}: the error does not name the document: {message}"
                );
            }
            Err(error @ FormatError::Unrepresentable { .. }) => {
                let message = error.to_string();
                ensure!(
                    message.starts_with(path.as_str()),
                    "{what}: the error does not name the document: {message}"
                );
            }
            Err(error) => {
                return Err(Violation::new(format!("{what}: unexpected error: {error}")));
            }
        }
    }
    Ok(())
}

/// Checks the text `written` for `edited`, a changed copy of `doc`, which
/// was read from `data`.
fn check_written(
    path: &Utf8Path,
    toml: bool,
    data: &[u8],
    doc: &Document,
    edited: &Document,
    written: &[u8],
) -> Result<(), Violation> {
    let shown = || String::from_utf8_lossy(written).into_owned();
    let (back, _) = format::parse(path, written).map_err(|e| {
        Violation::new(format!(
            "the written text does not read back: {e}\n{:?}",
            shown()
        ))
    })?;
    let fields_match = if toml {
        back.fields() == edited.fields()
    } else {
        same_in_order(back.fields(), edited.fields())
    };
    ensure!(
        fields_match,
        "the written text reads back as other fields: {:?} instead of {:?}\n{:?}",
        back.fields(),
        edited.fields(),
        shown()
    );
    ensure!(
        back.body() == edited.body(),
        "the written text reads back with another body\n{:?}",
        shown()
    );
    ensure!(
        written.starts_with(BOM) == data.starts_with(BOM),
        "the byte order mark is not kept\n{:?}",
        shown()
    );
    if edited.body() != doc.body() {
        return Ok(());
    }
    let text = data.strip_prefix(BOM).unwrap_or(data);
    let written_text = written.strip_prefix(BOM).unwrap_or(written);
    // An empty text (every field removed) has no line to end.
    if !text.is_empty() && !written_text.is_empty() {
        if text.ends_with(b"\n") {
            ensure!(
                written.ends_with(b"\n"),
                "the final line break is lost\n{:?}",
                shown()
            );
        } else if written.ends_with(b"\n") {
            // Kept only where dropping it would change what the text reads
            // as (a YAML scalar that keeps its final line breaks).
            let mut trimmed = written;
            while let Some(rest) = trimmed.strip_suffix(b"\n") {
                trimmed = rest.strip_suffix(b"\r").unwrap_or(rest);
            }
            let same = format::parse(path, trimmed).is_ok_and(|(back, _)| {
                back.body() == edited.body()
                    && if toml {
                        back.fields() == edited.fields()
                    } else {
                        same_in_order(back.fields(), edited.fields())
                    }
            });
            ensure!(
                !same,
                "a final line break is added where the text had none\n{:?}",
                shown()
            );
        }
    }
    let bare_lf = |bytes: &[u8]| {
        bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
    };
    if text.contains(&b'\n') && !bare_lf(text) {
        ensure!(
            !bare_lf(written),
            "a CRLF document gets a bare LF line break\n{:?}",
            shown()
        );
    }
    if !text.contains(&b'\r') {
        ensure!(
            !written.windows(2).any(|w| w == b"\r\n"),
            "an LF document gets a CRLF line break\n{:?}",
            shown()
        );
    }
    Ok(())
}
