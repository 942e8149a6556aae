//! Small pieces of SQL text: quoted names and literals, and timeouts as
//! settings.

use std::time::Duration;

/// `name` as a quoted identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `schema.table`, both quoted.
pub(crate) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote(schema), quote(table))
}

/// A timeout as a setting's value, in milliseconds (0: none).
pub(crate) fn millis(timeout: Duration) -> String {
    format!("'{}ms'", timeout.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_text_are_quoted_whatever_they_hold() {
        assert_eq!(quote("users"), "\"users\"");
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(qualified("app", "t"), "\"app\".\"t\"");
        assert_eq!(millis(Duration::from_secs(10)), "'10000ms'");
    }
}
