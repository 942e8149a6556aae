//! What a step and a chain may say of themselves beside their versions: a
//! step's estimated duration, and the names of a chain's releases. The
//! macros check them at compile time and the runtime reads and prints them
//! with the same functions.

use std::time::Duration;

use thiserror::Error;

/// An estimate that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EstimateError {
    /// Nothing was given.
    #[error("an estimate is a duration such as \"30s\", \"5m\" or \"1h30m\"; it cannot be empty")]
    Empty,
    /// A part is not a number followed by a unit.
    #[error(
        "`{text}` is not a duration: write a number and a unit (`ms`, `s`, `m`, `h`), such as \
         \"30s\", \"5m\" or \"1h30m\""
    )]
    Malformed {
        /// The estimate as written.
        text: String,
    },
    /// The duration does not fit.
    #[error("`{text}` is longer than verchain can count")]
    TooLong {
        /// The estimate as written.
        text: String,
    },
}

/// Reads an estimate such as `"30s"`, `"5m"`, `"1h30m"` or `"250ms"`: one
/// or more numbers, each followed by its unit (`ms`, `s`, `m`, `h`).
pub fn parse_estimate(text: &str) -> Result<Duration, EstimateError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(EstimateError::Empty);
    }
    let malformed = || EstimateError::Malformed {
        text: text.to_owned(),
    };
    let too_long = || EstimateError::TooLong {
        text: text.to_owned(),
    };
    let mut total: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(malformed());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(malformed()),
        };
        rest = &rest[unit_len..];
        let part = number.checked_mul(millis).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    Ok(Duration::from_millis(total))
}

/// An estimate as [`parse_estimate`] reads it, shortest first: `"1h30m"`,
/// `"45s"`, `"250ms"`.
pub fn format_estimate(estimate: Duration) -> String {
    let mut millis = u64::try_from(estimate.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

/// A release name that cannot name a version of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReleaseRuleError {
    /// The name is empty or only spaces.
    #[error("a release name cannot be empty")]
    Empty,
    /// The name reads as a version number, which `--to` reads as one.
    #[error(
        "release name `{name}` reads as a version number, which `--to {name}` already means; \
         name releases as the application does, such as \"0.2.0\""
    )]
    LooksLikeAVersion {
        /// The name.
        name: String,
    },
    /// The name has spaces or control characters at its ends or inside.
    #[error(
        "release name `{name}` has spaces or control characters; a command line cannot name it plainly"
    )]
    Spaces {
        /// The name.
        name: String,
    },
}

/// Checks that `name` can name a release: not empty, without spaces, and
/// not something `--to` reads as a version number (`3`, `v3`).
pub fn check_release_name(name: &str) -> Result<(), ReleaseRuleError> {
    if name.trim().is_empty() {
        return Err(ReleaseRuleError::Empty);
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ReleaseRuleError::Spaces {
            name: name.to_owned(),
        });
    }
    if parse_version_number(name).is_some() {
        return Err(ReleaseRuleError::LooksLikeAVersion {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A version number as a command line gives it: `3` or `v3`.
pub fn parse_version_number(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('v').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_read_and_print_alike() {
        for (text, millis, printed) in [
            ("30s", 30_000, "30s"),
            ("5m", 300_000, "5m"),
            ("1h30m", 5_400_000, "1h30m"),
            ("90s", 90_000, "1m30s"),
            ("250ms", 250, "250ms"),
            (" 2h ", 7_200_000, "2h"),
        ] {
            let d = parse_estimate(text).unwrap();
            assert_eq!(d, Duration::from_millis(millis), "{text}");
            assert_eq!(format_estimate(d), printed, "{text}");
            assert_eq!(parse_estimate(printed).unwrap(), d);
        }
    }

    #[test]
    fn estimates_without_a_unit_or_with_a_strange_one_are_refused() {
        assert_eq!(parse_estimate(""), Err(EstimateError::Empty));
        for text in ["5", "m", "5 m", "5d", "1.5h", "-1s", "s5"] {
            assert!(
                matches!(parse_estimate(text), Err(EstimateError::Malformed { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            parse_estimate("99999999999999999999h"),
            Err(EstimateError::TooLong { .. })
        ));
    }

    #[test]
    fn release_names_cannot_be_versions_or_empty() {
        assert_eq!(check_release_name("0.2.0"), Ok(()));
        assert_eq!(check_release_name("2024-spring"), Ok(()));
        assert_eq!(check_release_name(""), Err(ReleaseRuleError::Empty));
        assert!(check_release_name("3").is_err());
        assert!(check_release_name("v3").is_err());
        assert!(check_release_name("a b").is_err());
        assert_eq!(parse_version_number("v12"), Some(12));
        assert_eq!(parse_version_number("0.2.0"), None);
        assert_eq!(parse_version_number("v"), None);
    }
}
