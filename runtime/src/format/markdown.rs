//! Markdown documents: YAML front matter for the fields, the rest as the
//! body.
//!
//! Front matter is present when the first line is `---`; it ends at the next
//! line that is `---` or `...` (trailing spaces and CR allowed). The body is
//! everything after that closing line, byte for byte, and is written back
//! byte for byte. A file without front matter has no fields; a step that adds
//! some gets a front matter block written at the top. A first line `---`
//! with no closing line is an error rather than a body, so that front matter
//! missing its end is never mistaken for text (and a step's fields never
//! added in a second block).
//!
//! The front matter is edited like a YAML file (see the YAML module for what
//! that keeps); the delimiter lines are kept as they are. A step that removes
//! every field leaves an empty front matter block.
//!
//! Front matter between `+++` lines (as Hugo and Zola write it) is TOML,
//! and is edited like a TOML file. A file that has none gets YAML.

use camino::Utf8Path;
use serde_json::{Map, Value};

use super::{Format, FormatError, Newline, toml, yaml};

/// Where the front matter is in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Front {
    /// Start of the YAML (just after the opening line).
    yaml_start: usize,
    /// End of the YAML (start of the closing line).
    yaml_end: usize,
    /// Start of the body (just after the closing line).
    body_start: usize,
    /// Whether it is TOML between `+++` lines, not YAML.
    toml: bool,
}

impl Front {
    /// Whether the front matter is TOML (between `+++` lines).
    pub(super) fn is_toml(&self) -> bool {
        self.toml
    }
}

/// A line's content without its line break.
fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

fn is_delimiter(line: &str, closing: bool, toml: bool) -> bool {
    let content = content(line).trim_end_matches([' ', '\t']);
    match toml {
        true => content == "+++",
        false => content == "---" || (closing && content == "..."),
    }
}

/// Finds the front matter of `text`, if it has one.
fn front(path: &Utf8Path, text: &str) -> Result<Option<Front>, FormatError> {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    let toml = is_delimiter(first, false, true);
    if !toml && !is_delimiter(first, false, false) {
        return Ok(None);
    }
    let yaml_start = first.len();
    let mut offset = yaml_start;
    for line in lines {
        if is_delimiter(line, true, toml) {
            return Ok(Some(Front {
                yaml_start,
                yaml_end: offset,
                body_start: offset + line.len(),
                toml,
            }));
        }
        offset += line.len();
    }
    Err(FormatError::Syntax {
        path: path.to_owned(),
        line: Some(1),
        column: Some(1),
        syntax: Format::Markdown.syntax(),
        message: match toml {
            true => "TOML front matter opened here is never closed by a `+++` line",
            false => "front matter opened here is never closed by a `---` or `...` line",
        }
        .to_owned(),
    })
}

/// The fields of TOML front matter `matter`, which starts on line 2.
fn parse_toml(
    path: &Utf8Path,
    matter: &str,
) -> Result<(Map<String, Value>, toml_edit::DocumentMut), FormatError> {
    toml::parse(path, matter).map_err(|mut error| {
        if let FormatError::Syntax { line, .. } | FormatError::DuplicateKey { line, .. } =
            &mut error
        {
            *line = line.map(|l| l + 1);
        }
        error
    })
}

/// What a Markdown file reads as: its fields, where its front matter is,
/// its body.
pub(super) type Read = (Map<String, Value>, Option<Front>, String);

/// The fields, where the front matter is, and the body of `text`.
pub(super) fn parse(path: &Utf8Path, text: &str) -> Result<Read, FormatError> {
    let Some(front) = front(path, text)? else {
        return Ok((Map::new(), None, text.to_owned()));
    };
    let matter = text
        .get(front.yaml_start..front.yaml_end)
        .unwrap_or_default();
    let fields = match front.toml {
        true => parse_toml(path, matter)?.0,
        false => yaml::parse(path, matter, 1, Format::Markdown)?,
    };
    let body = text.get(front.body_start..).unwrap_or_default().to_owned();
    Ok((fields, Some(front), body))
}

/// `text` with the fields changed from `old` to `new` and the body `body`;
/// with `canonical`, the front matter is written anew instead of edited.
#[allow(clippy::too_many_arguments)]
pub(super) fn render(
    path: &Utf8Path,
    text: &str,
    front: Option<&Front>,
    newline: Newline,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    body: &str,
    canonical: bool,
) -> Result<String, FormatError> {
    let nl = newline.as_str();
    let mut out = String::with_capacity(text.len() + 64);
    match front {
        Some(front) => {
            let yaml = text
                .get(front.yaml_start..front.yaml_end)
                .unwrap_or_default();
            out.push_str(text.get(..front.yaml_start).unwrap_or_default());
            if super::same_map(old, new) {
                out.push_str(yaml);
            } else if front.toml {
                let edited = match canonical {
                    true => newline.apply(toml::to_text(path, new)?),
                    false => toml::render(path, &parse_toml(path, yaml)?.1, newline, old, new)?,
                };
                out.push_str(&edited);
            } else {
                let spliced = (!canonical)
                    .then(|| yaml::splice(yaml, newline, old, new))
                    .flatten();
                match spliced {
                    Some(spliced) => out.push_str(&spliced),
                    None => {
                        out.push_str(&newline.apply(yaml::to_text(path, Format::Markdown, new)?));
                    }
                }
            }
            if !out.ends_with('\n') {
                out.push_str(nl);
            }
            out.push_str(
                text.get(front.yaml_end..front.body_start)
                    .unwrap_or_default(),
            );
            // A closing line at the very end of the file has no line break;
            // a body a step gives needs one before it.
            if !body.is_empty() && !out.ends_with('\n') {
                out.push_str(nl);
            }
        }
        None if new.is_empty() => {}
        None => {
            out.push_str("---");
            out.push_str(nl);
            out.push_str(&newline.apply(yaml::to_text(path, Format::Markdown, new)?));
            out.push_str("---");
            out.push_str(nl);
        }
    }
    out.push_str(body);
    Ok(out)
}
