//! Markdown documents: front matter for the fields, the rest as the body.
//!
//! # Which front matter is recognised
//!
//! Front matter is read the way the tools that write it read it, and where
//! those tools disagree the file is refused rather than guessed at. What was
//! checked (their documentation and their readers' code):
//!
//! | tool | YAML `---` | TOML `+++` | JSON `{` | BOM | blank lines before |
//! |---|---|---|---|---|---|
//! | Hugo | yes | yes | yes (the object ends on its own) | skipped | skipped |
//! | Zola | yes | yes | no | skipped | skipped (any whitespace) |
//! | Astro | yes | yes | no | skipped | skipped |
//! | Jekyll | yes, closed by `---` or `...` | no | no | skipped | not front matter |
//! | Docusaurus (gray-matter) | yes | no | no | skipped | not front matter |
//! | Obsidian | yes | no | no | skipped | not front matter |
//!
//! So, after an optional byte order mark:
//!
//! - **YAML**: the first line is `---` (trailing spaces and CR allowed); the
//!   front matter ends at the next line that is `---` or `...`. Blank lines
//!   before the opening `---` are refused ([`FrontMatterNotRecognised`]):
//!   Hugo, Zola and Astro read front matter there, Jekyll, Docusaurus and
//!   Obsidian a file without any.
//! - **TOML**: the first line that is not blank is `+++`; the front matter
//!   ends at the next `+++` line. Every tool that reads `+++` front matter
//!   skips blank lines before it.
//! - **JSON** (Hugo): the first character that is not blank is `{`, and the
//!   front matter is the JSON object that starts there, ending at its
//!   closing brace; a line break right after it belongs to it, the rest is
//!   the body. A file that starts with `{` but holds no JSON object there
//!   (a template tag, say) is refused.
//! - A first line that starts with `---` or `+++` but is not a fence
//!   (`---json`, `----`, an indented `---`) is refused: no tool reads such a
//!   line the same way as another.
//! - Anything else has no front matter ([`FrontMatter::None`]): the whole
//!   file is the body. A step that gives such a document fields gets
//!   [`FormatError::NoFrontMatter`] unless the caller allows adding one
//!   (then a YAML block is written at the top).
//!
//! A fence with no closing line is an error rather than a body, so that
//! front matter missing its end is never mistaken for text.
//!
//! # Writing back
//!
//! The body is everything after the front matter, byte for byte, and is
//! written back byte for byte; the fences and whatever stands before the
//! opening one are kept as they are. YAML front matter is edited like a
//! YAML file, TOML like a TOML file, JSON like a JSON file (see their
//! modules for what that keeps). A step that removes every field leaves an
//! empty front matter.
//!
//! [`FrontMatterNotRecognised`]: FormatError::FrontMatterNotRecognised

use camino::Utf8Path;
use serde_json::{Map, Value};

use super::{Format, FormatError, FrontMatter, Newline, json, line_col, toml, yaml};

/// Where the front matter is in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Front {
    kind: FrontMatter,
    /// Start of the fields' text (just after the opening line; the `{` of
    /// JSON).
    start: usize,
    /// End of the fields' text (start of the closing line; just past the
    /// `}` of JSON).
    end: usize,
    /// Start of the body.
    body_start: usize,
}

impl Front {
    /// Which front matter it is.
    pub(super) fn kind(&self) -> FrontMatter {
        self.kind
    }
}

/// A line's content without its line break.
fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// Whether `line` is the fence `fence` (or, closing YAML, `...`).
fn is_fence(line: &str, fence: &str, closing: bool) -> bool {
    let content = content(line).trim_end_matches([' ', '\t']);
    content == fence || (closing && fence == "---" && content == "...")
}

fn refuse(path: &Utf8Path, text: &str, at: usize, reason: &str) -> FormatError {
    FormatError::FrontMatterNotRecognised {
        path: path.to_owned(),
        line: line_col(text, at).0,
        reason: reason.to_owned(),
    }
}

/// Finds the front matter of `text`, if it has one.
fn front(path: &Utf8Path, text: &str) -> Result<Option<Front>, FormatError> {
    // Blank lines first.
    let mut first = 0;
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') || !content(line).trim_matches([' ', '\t']).is_empty() {
            break;
        }
        first += line.len();
    }
    let rest = text.get(first..).unwrap_or_default();
    let line = rest.split_inclusive('\n').next().unwrap_or_default();
    let trimmed = line.trim_start_matches([' ', '\t']);
    let indented = trimmed.len() < line.len();
    let (fence, kind) = if trimmed.starts_with('{') && !indented {
        return json_front(path, text, first).map(Some);
    } else if trimmed.starts_with("---") {
        ("---", FrontMatter::Yaml)
    } else if trimmed.starts_with("+++") {
        ("+++", FrontMatter::Toml)
    } else if trimmed.starts_with('{') {
        return Err(refuse(
            path,
            text,
            first,
            "an indented `{` is not JSON front matter",
        ));
    } else {
        return Ok(None);
    };
    if indented || !is_fence(line, fence, false) {
        return Err(refuse(
            path,
            text,
            first,
            &format!(
                "the line starts with `{fence}` but is not a front matter fence (`{fence}` alone)"
            ),
        ));
    }
    if kind == FrontMatter::Yaml && first > 0 {
        return Err(refuse(
            path,
            text,
            first,
            "blank lines stand before the opening `---`: Hugo, Zola and Astro read front \
             matter there, Jekyll, Docusaurus and Obsidian read none; remove the blank lines",
        ));
    }
    let start = first + line.len();
    let mut offset = start;
    for line in text.get(start..).unwrap_or_default().split_inclusive('\n') {
        if is_fence(line, fence, true) {
            return Ok(Some(Front {
                kind,
                start,
                end: offset,
                body_start: offset + line.len(),
            }));
        }
        offset += line.len();
    }
    let (line, _) = line_col(text, first);
    Err(FormatError::Syntax {
        path: path.to_owned(),
        line: Some(line),
        column: Some(1),
        syntax: syntax(kind),
        message: match kind {
            FrontMatter::Toml => "TOML front matter opened here is never closed by a `+++` line",
            _ => "front matter opened here is never closed by a `---` or `...` line",
        }
        .to_owned(),
    })
}

/// JSON front matter starting at `start`: the object, and a line break
/// right after it.
fn json_front(path: &Utf8Path, text: &str, start: usize) -> Result<Front, FormatError> {
    let rest = text.get(start..).unwrap_or_default();
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {}
        Some(Err(error)) => {
            return Err(refuse(
                path,
                text,
                start,
                &format!(
                    "the file starts with `{{`, which Hugo reads as JSON front matter, but no \
                     JSON object ends here: {}",
                    super::strict::strip_positions(&error.to_string())
                ),
            ));
        }
        None => return Err(refuse(path, text, start, "no JSON object")),
    }
    let end = start + values.byte_offset();
    let after = text.get(end..).unwrap_or_default();
    let line_break = match after {
        a if a.starts_with("\r\n") => 2,
        a if a.starts_with('\n') => 1,
        _ => 0,
    };
    Ok(Front {
        kind: FrontMatter::Json,
        start,
        end,
        body_start: end + line_break,
    })
}

/// How error messages name the front matter's syntax.
pub(super) fn syntax(kind: FrontMatter) -> &'static str {
    match kind {
        FrontMatter::Toml => "TOML front matter",
        FrontMatter::Json => "JSON front matter",
        FrontMatter::Yaml | FrontMatter::None => Format::Markdown.syntax(),
    }
}

/// `error`, from reading text that starts `lines` lines into the file, with
/// the file's line numbers.
fn shift(mut error: FormatError, lines: usize) -> FormatError {
    match &mut error {
        FormatError::Syntax { line, syntax, .. }
        | FormatError::DuplicateKey { line, syntax, .. } => {
            *line = line.map(|l| l + lines);
            if *syntax == "TOML" {
                *syntax = "TOML front matter";
            } else if *syntax == "JSON" {
                *syntax = "JSON front matter";
            }
        }
        FormatError::NotAMapping { syntax, .. } | FormatError::Unrepresentable { syntax, .. }
            if *syntax == "TOML" =>
        {
            *syntax = "TOML front matter";
        }
        _ => {}
    }
    error
}

/// What a Markdown file reads as: its fields, where its front matter is,
/// its body.
pub(super) type Read = (Map<String, Value>, Option<Front>, String);

/// The number of line breaks before `at`.
fn lines_before(text: &str, at: usize) -> usize {
    text.get(..at)
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
}

/// The fields, where the front matter is, and the body of `text`.
pub(super) fn parse(path: &Utf8Path, text: &str) -> Result<Read, FormatError> {
    let Some(front) = front(path, text)? else {
        return Ok((Map::new(), None, text.to_owned()));
    };
    let matter = text.get(front.start..front.end).unwrap_or_default();
    let lines = lines_before(text, front.start);
    let fields = match front.kind {
        FrontMatter::Toml => toml::parse(path, matter).map_err(|e| shift(e, lines))?.0,
        FrontMatter::Json => json::parse(path, matter).map_err(|e| shift(e, lines))?,
        _ => yaml::parse(path, matter, lines, Format::Markdown)?,
    };
    let body = text.get(front.body_start..).unwrap_or_default().to_owned();
    Ok((fields, Some(front), body))
}

/// What [`render`] writes for a changed document.
pub(super) struct Render<'a> {
    pub(super) path: &'a Utf8Path,
    pub(super) text: &'a str,
    pub(super) front: Option<&'a Front>,
    pub(super) newline: Newline,
    pub(super) old: &'a Map<String, Value>,
    pub(super) new: &'a Map<String, Value>,
    /// The top-level keys the steps renamed.
    pub(super) renamed: &'a super::plan::Renamed,
    pub(super) body: &'a str,
    /// Write TOML or JSON fields anew instead of editing them (YAML is
    /// always edited in place).
    pub(super) canonical: bool,
    /// Whether a document without front matter may be given one.
    pub(super) add_front_matter: bool,
}

/// The text with the fields changed from `old` to `new` and the body `body`.
pub(super) fn render(r: &Render<'_>) -> Result<String, FormatError> {
    let (path, text, newline) = (r.path, r.text, r.newline);
    let nl = newline.as_str();
    let mut out = String::with_capacity(text.len() + 64);
    match r.front {
        Some(front) => {
            let matter = text.get(front.start..front.end).unwrap_or_default();
            out.push_str(text.get(..front.start).unwrap_or_default());
            if super::same_map(r.old, r.new) {
                out.push_str(matter);
            } else {
                out.push_str(&edit(r, front, matter)?);
            }
            if front.kind != FrontMatter::Json && !out.ends_with('\n') {
                out.push_str(nl);
            }
            out.push_str(text.get(front.end..front.body_start).unwrap_or_default());
            // A closing line at the very end of the file has no line break;
            // a body a step gives needs one before it.
            if !r.body.is_empty() && front.kind != FrontMatter::Json && !out.ends_with('\n') {
                out.push_str(nl);
            }
        }
        None if r.new.is_empty() => {}
        None if !r.add_front_matter => {
            return Err(FormatError::NoFrontMatter {
                path: path.to_owned(),
                keys: r.new.keys().cloned().collect(),
            });
        }
        None => {
            out.push_str("---");
            out.push_str(nl);
            out.push_str(&newline.apply(yaml::to_text(path, Format::Markdown, r.new)?));
            out.push_str("---");
            out.push_str(nl);
        }
    }
    out.push_str(r.body);
    Ok(out)
}

/// The front matter's text `matter` with the fields changed.
fn edit(r: &Render<'_>, front: &Front, matter: &str) -> Result<String, FormatError> {
    let (path, newline) = (r.path, r.newline);
    Ok(match front.kind {
        FrontMatter::Toml => match r.canonical {
            true => newline.apply(toml::to_text(path, r.new)?),
            false => {
                let document = toml::parse(path, matter)?.1;
                toml::render(path, &document, newline, (r.old, r.new), r.renamed)?
            }
        },
        FrontMatter::Json => {
            let spliced = (!r.canonical)
                .then(|| json::splice(matter, newline, (r.old, r.new), r.renamed))
                .flatten();
            let text = match spliced {
                Some(text) => text,
                None => newline.apply(json::to_text(r.new)?),
            };
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        // YAML is always edited in place, or refused.
        _ => yaml::splice(matter, newline, (r.old, r.new), r.renamed).map_err(|refusal| {
            let lines = lines_before(r.text, front.start);
            refusal.error(path, matter, lines, Format::Markdown)
        })?,
    })
}
