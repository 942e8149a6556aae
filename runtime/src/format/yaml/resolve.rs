//! How YAML 1.1 readers (PyYAML, Ruby's Psych as Jekyll uses it, libyaml's
//! users) resolve a plain scalar: a string that YAML 1.2 reads back as
//! itself may still be read as a boolean, a number or a date there, so new
//! strings that could be are quoted.

/// What a YAML 1.1 reader may take a plain scalar for, other than a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolved {
    Bool,
    Null,
    Number,
    Timestamp,
    /// A merge key `<<` or a value key `=`.
    Key,
    /// A Ruby symbol (`:name`), which Psych refuses to load safely.
    Symbol,
}

/// What a YAML 1.1 reader may read the plain scalar `s` as, where that is
/// not a string: a boolean (`yes`, `no`, `on`, `off`, `y`, `n` in any case), null
/// (`~`, `null`), a number in any of its notations (`1_000`, `1,000`,
/// `0x1F`, `0b101`, `017`, `0o17`, sexagesimal `12:30`, `.5`, `.inf`,
/// `.nan`), a date or timestamp (`2024-01-02`, `2024-01-02 10:00:00`), a
/// merge key or value key (`<<`, `=`), or a Ruby symbol (`:name`). Strings
/// that only look close (`1-2`, `3:4:5:6`) count too: quoting them does no
/// harm. YAML 1.2 readers are asked separately (`serde_norway` writes
/// their plain scalars).
pub(super) fn yaml_1_1(s: &str) -> Option<Resolved> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" => return Some(Resolved::Bool),
        "~" | "null" => return Some(Resolved::Null),
        "=" | "<<" => return Some(Resolved::Key),
        _ => {}
    }
    if s.starts_with(':') && s.len() > 1 {
        return Some(Resolved::Symbol);
    }
    if starts_with_date(s) {
        return Some(Resolved::Timestamp);
    }
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let digits = |rest: &str, ok: fn(char) -> bool| {
        !rest.is_empty() && rest.chars().all(|c| ok(c) || c == '_' || c == ',')
    };
    let radix = |prefix: &str, ok: fn(char) -> bool| {
        unsigned.strip_prefix(prefix).map(|rest| digits(rest, ok))
    };
    // Decimal, octal, sexagesimal and float notations.
    let decimal = || {
        unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && unsigned
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '_' | ',' | ':' | '.' | 'e' | '+' | '-'))
    };
    let number = matches!(unsigned, ".inf" | ".nan")
        || radix("0x", |c| c.is_ascii_hexdigit())
            .or_else(|| radix("0o", |c| c.is_digit(8)))
            .or_else(|| radix("0b", |c| c.is_digit(2)))
            .unwrap_or_else(decimal);
    number.then_some(Resolved::Number)
}

/// Whether `s` starts with a date, `YYYY-M-D` (one or two digits for the
/// month and day): what YAML 1.1 timestamps start with.
fn starts_with_date(s: &str) -> bool {
    let bytes = s.as_bytes();
    let run = |from: usize| {
        bytes
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    if run(0) != 4 || bytes.get(4) != Some(&b'-') {
        return false;
    }
    let month = run(5);
    if !(1..=2).contains(&month) || bytes.get(5 + month) != Some(&b'-') {
        return false;
    }
    let day = run(6 + month);
    (1..=2).contains(&day)
}
