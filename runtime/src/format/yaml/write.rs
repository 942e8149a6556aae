//! Writing values as YAML text: a scalar in the style of the one it
//! replaces where it fits, and a new value in the document's own prevailing
//! style ([`House`]).

use serde_json::{Map, Value};

use super::layout::{Kind, Node, Style};
use super::resolve;

/// How the document writes what it holds, learnt from what it holds: the
/// style a new value follows where it has no old value to follow.
///
/// Each choice goes to the style most of the document's own values of that
/// kind use; where it has none, to the default named on the field.
#[derive(Debug, Clone)]
pub(super) struct House {
    /// Whether sequences are written in flow style (`[a, b]`); default:
    /// block (`- a`).
    pub(super) seq_flow: bool,
    /// Whether nested mappings are written in flow style (`{a: 1}`);
    /// default: block.
    pub(super) map_flow: bool,
    /// Columns from a key to the `-` of its block sequence; default 2.
    pub(super) seq_indent: usize,
    /// Columns from a key to the keys of its nested block mapping;
    /// default 2.
    pub(super) map_indent: usize,
    /// What stands between the items of a flow collection; default `, `.
    pub(super) separator: String,
    /// What stands inside a flow collection's brackets; default nothing.
    pub(super) padding: String,
    /// How strings in sequences are written; default plain.
    pub(super) item_style: Style,
    /// How strings that are mapping values are written; default plain.
    pub(super) value_style: Style,
    /// The quotes a string that cannot be plain gets; default double.
    pub(super) quote: Style,
}

#[derive(Default)]
struct Counts {
    flow_seqs: usize,
    block_seqs: usize,
    flow_maps: usize,
    block_maps: usize,
    seq_indent: Option<usize>,
    map_indent: Option<usize>,
    separator: Option<String>,
    padding: Option<String>,
    items: [usize; 3],
    values: [usize; 3],
}

fn slot(style: Style) -> Option<usize> {
    match style {
        Style::Plain => Some(0),
        Style::Single => Some(1),
        Style::Double => Some(2),
        Style::Literal | Style::Folded => None,
    }
}

fn most(counts: [usize; 3]) -> Style {
    let [plain, single, double] = counts;
    if single > plain && single >= double {
        Style::Single
    } else if double > plain && double > single {
        Style::Double
    } else {
        Style::Plain
    }
}

/// The column of byte `pos` (the bytes since the start of its line).
pub(super) fn column(text: &str, pos: usize) -> usize {
    let before = text.get(..pos).unwrap_or(text);
    pos - before.rfind('\n').map_or(0, |i| i + 1)
}

impl House {
    /// The style of `text`, whose root node is `root`, holding `value`.
    pub(super) fn of(text: &str, root: Option<&Node>, value: &Value) -> House {
        let mut counts = Counts::default();
        if let Some(root) = root {
            observe(text, root, value, None, false, true, &mut counts);
        }
        let quoted = [
            0,
            counts.items[1] + counts.values[1],
            counts.items[2] + counts.values[2],
        ];
        House {
            seq_flow: counts.flow_seqs > counts.block_seqs,
            map_flow: counts.flow_maps > counts.block_maps,
            seq_indent: counts.seq_indent.unwrap_or(2),
            map_indent: counts.map_indent.unwrap_or(2),
            separator: counts.separator.unwrap_or_else(|| ", ".to_owned()),
            padding: counts.padding.unwrap_or_default(),
            item_style: most(counts.items),
            value_style: most(counts.values),
            quote: match most(quoted) {
                Style::Single => Style::Single,
                _ => Style::Double,
            },
        }
    }
}

fn observe(
    text: &str,
    node: &Node,
    value: &Value,
    key_column: Option<usize>,
    in_seq: bool,
    root: bool,
    counts: &mut Counts,
) {
    match (&node.kind, value) {
        (Kind::Scalar(style), Value::String(_)) => {
            if let Some(i) = slot(*style) {
                let counts = match in_seq {
                    true => &mut counts.items,
                    false => &mut counts.values,
                };
                if let Some(n) = counts.get_mut(i) {
                    *n += 1;
                }
            }
        }
        (Kind::Seq(seq), Value::Array(values)) if !seq.children.is_empty() => {
            if seq.flow {
                counts.flow_seqs += 1;
                if counts.separator.is_none()
                    && let [a, b, ..] = seq.children.as_slice()
                {
                    let between = text.get(a.node.end..b.node.props).unwrap_or_default();
                    if !between.contains('\n') && between.trim() == "," {
                        counts.separator = Some(between.to_owned());
                        let inside = text.get(node.start + 1..a.node.props).unwrap_or_default();
                        if !inside.contains('\n') && inside.trim().is_empty() {
                            counts.padding = Some(inside.to_owned());
                        }
                    }
                }
            } else {
                counts.block_seqs += 1;
                if counts.seq_indent.is_none()
                    && let Some(key) = key_column
                {
                    counts.seq_indent = column(text, node.start).checked_sub(key);
                }
            }
            for (item, value) in seq.children.iter().zip(values) {
                observe(text, &item.node, value, None, true, false, counts);
            }
        }
        (Kind::Map(map), Value::Object(values)) => {
            if !root {
                match map.flow {
                    true => counts.flow_maps += 1,
                    false => counts.block_maps += 1,
                }
            }
            if !map.flow
                && counts.map_indent.is_none()
                && let Some(key) = key_column
            {
                counts.map_indent = column(text, node.start).checked_sub(key).filter(|&n| n > 0);
            }
            for (entry, value) in map.children.iter().zip(values.values()) {
                let key = (!map.flow).then(|| column(text, entry.key.props));
                observe(text, &entry.value, value, key, false, false, counts);
            }
        }
        _ => {}
    }
}

/// `s` as a plain scalar, where it can be one (in a flow collection, or
/// not) and every YAML reader reads it back as that string.
fn plain(s: &str, flow: bool) -> Option<String> {
    // In a flow collection, an indicator may start a key or end a value,
    // and YAML 1.1 readers take a `:` for one wherever it stands.
    if flow && (s.contains([',', '[', ']', '{', '}', ':']) || s.starts_with(['?', '-'])) {
        return None;
    }
    if resolve::yaml_1_1(s).is_some() {
        return None;
    }
    let text = serde_norway::to_string(s).ok()?;
    (text.strip_suffix('\n') == Some(s)).then(|| s.to_owned())
}

/// Whether YAML can hold `c` unescaped. The line and paragraph
/// separators are printable in YAML 1.2, but YAML 1.1 readers (libyaml,
/// hence `serde_norway`) take them for line breaks: they are escaped.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}')
        || (c >= '\u{a0}'
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ))
}

/// `s` in double quotes.
pub(super) fn double(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if !printable(c) || c == '\u{85}' => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04X}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08X}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` in single quotes, where it fits on one line.
fn single(s: &str) -> Option<String> {
    if !s
        .chars()
        .all(|c| printable(c) && !matches!(c, '\n' | '\r' | '\u{85}'))
    {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}

/// `s` as a block scalar (`|` or, for one line, `>`) whose lines are
/// indented to `indent`.
fn block(s: &str, folded: bool, indent: usize) -> Option<String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| printable(c) && !matches!(c, '\r' | '\u{85}'))
    {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let breaks = s.len() - body.len();
    if body.is_empty() || body.starts_with('\n') {
        return None;
    }
    // A folded scalar folds its line breaks: only one line keeps its value.
    let folded = folded && !body.contains('\n') && !body.starts_with([' ', '\t']);
    // A first line that starts with a space would need an indentation
    // indicator: such text is quoted instead.
    if body.starts_with([' ', '\t']) {
        return None;
    }
    let mut out = String::from(if folded { ">" } else { "|" });
    out.push_str(match breaks {
        0 => "-",
        1 => "",
        _ => "+",
    });
    let pad = " ".repeat(indent.max(1));
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    for _ in 1..breaks {
        out.push('\n');
    }
    Some(out)
}

/// A scalar `value` in `style` where it fits (strings only: other values
/// are plain), else plain, else in `quote`. `flow`: inside a flow
/// collection; `indent`: the column of a block scalar's lines.
pub(super) fn scalar(
    value: &Value,
    style: Style,
    quote: Style,
    flow: bool,
    indent: usize,
) -> Option<String> {
    let s = match value {
        Value::String(s) => s,
        Value::Null => return Some("null".to_owned()),
        Value::Array(_) | Value::Object(_) => return None,
        other => {
            let text = serde_norway::to_string(other).ok()?;
            return Some(text.trim_end().to_owned());
        }
    };
    let styled = match style {
        Style::Plain => plain(s, flow),
        Style::Single => single(s),
        Style::Double => Some(double(s)),
        Style::Literal | Style::Folded if !flow => block(s, style == Style::Folded, indent),
        _ => None,
    };
    styled
        .or_else(|| (style != Style::Plain).then(|| plain(s, flow)).flatten())
        .or_else(|| match quote {
            Style::Single => single(s),
            _ => None,
        })
        .or_else(|| Some(double(s)))
}

/// [`scalar`] for a value that replaces the plain scalar `old`: where a
/// YAML 1.1 reader reads both as the same kind of value (a date replaced by
/// a date-time, `no` by `yes`), the new one stays plain, as the document
/// already wrote such values.
pub(super) fn replacing(
    value: &Value,
    old: &str,
    style: Style,
    quote: Style,
    flow: bool,
    indent: usize,
) -> Option<String> {
    if let (Style::Plain, Value::String(s)) = (style, value)
        && let Some(kind) = resolve::yaml_1_1(s)
        && resolve::yaml_1_1(old) == Some(kind)
        && let Some(text) = serde_norway::to_string(s).ok()
        && text.strip_suffix('\n') == Some(s)
        && !(flow && s.contains([',', '[', ']', '{', '}']))
    {
        return Some(s.to_owned());
    }
    scalar(value, style, quote, flow, indent)
}

/// A key as a scalar in `style` where it fits, else plain, else quoted.
pub(super) fn key(key: &str, style: Style, house: &House, flow: bool) -> Option<String> {
    let style = match style {
        Style::Literal | Style::Folded => Style::Plain,
        style => style,
    };
    let text = scalar(&Value::String(key.to_owned()), style, house.quote, flow, 0)?;
    (!text.contains('\n')).then_some(text)
}

impl House {
    /// `value` in flow style.
    pub(super) fn flow(&self, value: &Value) -> Option<String> {
        let pad = &self.padding;
        let sep = &self.separator;
        Some(match value {
            Value::Array(items) if items.is_empty() => "[]".to_owned(),
            Value::Object(map) if map.is_empty() => "{}".to_owned(),
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| self.flow_item(item))
                    .collect::<Option<Vec<_>>>()?;
                format!("[{pad}{}{pad}]", items.join(sep))
            }
            Value::Object(map) => {
                let entries = map
                    .iter()
                    .map(|(k, v)| {
                        Some(format!(
                            "{}: {}",
                            key(k, Style::Plain, self, true)?,
                            self.flow_value(v)?
                        ))
                    })
                    .collect::<Option<Vec<_>>>()?;
                format!("{{{pad}{}{pad}}}", entries.join(sep))
            }
            scalar => self.flow_value(scalar)?,
        })
    }

    /// An item of a flow sequence.
    pub(super) fn flow_item(&self, value: &Value) -> Option<String> {
        match value {
            Value::Array(_) | Value::Object(_) => self.flow(value),
            _ => scalar(value, self.item_style, self.quote, true, 0),
        }
    }

    /// A value of a flow mapping.
    fn flow_value(&self, value: &Value) -> Option<String> {
        match value {
            Value::Array(_) | Value::Object(_) => self.flow(value),
            _ => scalar(value, self.value_style, self.quote, true, 0),
        }
    }

    /// What follows `key:` for a new `value` of a block mapping whose keys
    /// are at column `at`: ` value` on the key's line, or a line break and
    /// the value's lines.
    pub(super) fn after_key(&self, value: &Value, at: usize) -> Option<String> {
        Some(match value {
            Value::Array(items) if !items.is_empty() && !self.seq_flow => {
                format!("\n{}", self.block_seq(items, at + self.seq_indent)?)
            }
            Value::Object(map) if !map.is_empty() && !self.map_flow => {
                format!("\n{}", self.block_map(map, at + self.map_indent)?)
            }
            Value::Array(_) | Value::Object(_) => format!(" {}", self.flow(value)?),
            _ => format!(
                " {}",
                scalar(
                    value,
                    self.value_style,
                    self.quote,
                    false,
                    at + self.map_indent
                )?
            ),
        })
    }

    /// What follows `-` for a new item `value` of a block sequence whose
    /// `-` is at column `at`.
    pub(super) fn after_dash(&self, value: &Value, at: usize) -> Option<String> {
        let nested = match value {
            Value::Array(items) if !items.is_empty() && !self.seq_flow => {
                self.block_seq(items, at + 2)?
            }
            Value::Object(map) if !map.is_empty() && !self.map_flow => {
                self.block_map(map, at + 2)?
            }
            Value::Array(_) | Value::Object(_) => return Some(format!(" {}", self.flow(value)?)),
            _ => {
                return Some(format!(
                    " {}",
                    scalar(value, self.item_style, self.quote, false, at + 2)?
                ));
            }
        };
        // The first line goes after the `-`.
        Some(format!(" {}", nested.get(at + 2..)?))
    }

    /// The lines of a block sequence whose `-` is at column `at`, without a
    /// final line break.
    pub(super) fn block_seq(&self, items: &[Value], at: usize) -> Option<String> {
        let pad = " ".repeat(at);
        let lines = items
            .iter()
            .map(|item| Some(format!("{pad}-{}", self.after_dash(item, at)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(lines.join("\n"))
    }

    /// The lines of a block mapping whose keys are at column `at`, without
    /// a final line break.
    pub(super) fn block_map(&self, map: &Map<String, Value>, at: usize) -> Option<String> {
        let lines = map
            .iter()
            .map(|(k, v)| self.entry(k, v, at))
            .collect::<Option<Vec<_>>>()?;
        Some(lines.join("\n"))
    }

    /// One entry `key: value` at column `at`, without a final line break.
    pub(super) fn entry(&self, k: &str, v: &Value, at: usize) -> Option<String> {
        Some(format!(
            "{}{}:{}",
            " ".repeat(at),
            key(k, Style::Plain, self, false)?,
            self.after_key(v, at)?
        ))
    }
}
