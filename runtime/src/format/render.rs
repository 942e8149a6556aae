//! Writing a step's result back: in place over the text that was read, or
//! in canonical form, and always read back before it is returned.

use serde_json::{Map, Value};

use super::*;

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
    let renamed = &doc.renamed();
    // A Markdown document's front matter, edited in place or canonical.
    let markdown = |front: &Option<markdown::Front>, canonical: bool| {
        markdown::render(&markdown::Render {
            path,
            text: &parsed.text,
            front: front.as_ref(),
            newline,
            old,
            new,
            renamed,
            body: body.unwrap_or_default(),
            canonical,
            add_front_matter,
        })
    };
    let spliced = match &parsed.state {
        State::Plain if format == Format::Json => {
            json::splice(&parsed.text, newline, (old, new), renamed)
        }
        State::Plain => Some(
            yaml::splice(&parsed.text, newline, (old, new), renamed)
                .map_err(|refusal| refusal.error(path, &parsed.text, 0, format))?,
        ),
        State::Toml(document) => Some(toml::render(path, document, newline, (old, new), renamed)?),
        State::Markdown(front) => Some(markdown(front, false)?),
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
    // YAML is never written again whole: that would lose every comment and
    // all quoting the step did not touch.
    let yaml_front =
        matches!(&parsed.state, State::Markdown(Some(front)) if front.kind() == FrontMatter::Yaml);
    if format == Format::Yaml || yaml_front {
        let error = last_error.unwrap_or_else(|| round_trip(format, path, "no text"));
        return Err(not_editable(error));
    }
    // The in-place edit did not read back: write the fields canonically.
    let text = match &parsed.state {
        State::Markdown(front) => markdown(front, true)?,
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
pub(super) fn is_toml(format: Format, state: &State) -> bool {
    format == Format::Toml
        || matches!(state, State::Markdown(Some(front)) if front.kind() == FrontMatter::Toml)
}

/// A YAML edit that did not read back, as the refusal it is.
fn not_editable(error: FormatError) -> FormatError {
    match error {
        FormatError::RoundTrip {
            path,
            syntax,
            detail,
        } => FormatError::NotEditable {
            path,
            line: None,
            column: None,
            syntax,
            reason: match detail.as_str() {
                // It reads, but as other values: something ties them.
                "the fields differ" | "the body differs" => format!(
                    "the text edited in place would not read back as the step's fields \
                     ({detail}); an anchor, an alias or a tag may tie a changed value to \
                     another"
                ),
                // It does not read: a layout the editor cannot change.
                _ => format!(
                    "the text edited in place would not read back ({detail}): the in-place \
                     editor cannot make this change in this layout; write the changed values \
                     in plain block style"
                ),
            },
        },
        other => other,
    }
}

fn round_trip(format: Format, path: &Utf8Path, detail: &str) -> FormatError {
    FormatError::RoundTrip {
        path: path.to_owned(),
        syntax: format.syntax(),
        detail: detail.to_owned(),
    }
}

/// Equality that also compares the order of keys, at every level.
pub(crate) fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

/// Equality that also compares the order of keys, at every level.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => same_map(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_yaml_edit_says_why_by_what_went_wrong() {
        let refusal = |detail: &str| {
            not_editable(round_trip(Format::Yaml, Utf8Path::new("a.yaml"), detail)).to_string()
        };
        // Read back as other values: something ties them together.
        let differ = refusal("the fields differ");
        assert!(differ.contains("an anchor, an alias or a tag"), "{differ}");
        // Not read back at all: a layout the editor cannot change.
        let broken = refusal("a.yaml line 1, column 12: found unexpected ':'");
        assert!(
            broken.contains("cannot make this change in this layout"),
            "{broken}"
        );
        assert!(!broken.contains("anchor"), "{broken}");
    }
}
