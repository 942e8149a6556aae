//! The one rule for the paths a snapshot stores, shared by writing (store
//! files) and reading (archive entries), so whatever `create` writes,
//! `extract` accepts.

use camino::{Utf8Component, Utf8Path};

/// Why a path is not a plain relative path, or `None` when it is one.
///
/// A plain relative path is non-empty, `/` separated, with no empty, `.` or
/// `..` component, no NUL, and nothing the platform reads as a root, drive
/// or separator (on Windows a `\` or `C:` is refused).
pub(super) fn problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.contains('\0') {
        return Some("contains a NUL byte");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    let mut parts = 0;
    for part in path.split('/') {
        parts += 1;
        match part {
            "" => return Some("empty component"),
            "." => return Some("`.` component"),
            ".." => return Some("`..` component"),
            _ => {}
        }
    }
    // What the platform sees must be the same plain components: this catches
    // drive prefixes and `\` separators on Windows.
    let mut seen = 0;
    for component in Utf8Path::new(path).components() {
        seen += 1;
        if !matches!(component, Utf8Component::Normal(_)) {
            return Some("not a plain relative path on this platform");
        }
    }
    if seen != parts {
        return Some("not a plain relative path on this platform");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn plain_relative_paths_pass() {
        for ok in [
            "a",
            "notes/a.md",
            "ünïcødé/日本.md",
            "a b/.hidden",
            "...",
            "a..b",
        ] {
            assert_eq!(problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for (bad, why) in [
            ("", "empty path"),
            ("/etc/x", "absolute path"),
            ("../evil", "`..` component"),
            ("a/../../evil", "`..` component"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("./a", "`.` component"),
            ("a\0b", "contains a NUL byte"),
        ] {
            assert_eq!(problem(bad), Some(why), "{bad:?}");
        }
    }
}
