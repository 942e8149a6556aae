//! The checksum that identifies a step's source, so a history can tell when an
//! applied step was edited afterwards.

/// The algorithm id written before every checksum; a new algorithm gets a new
/// id so old histories stay readable.
pub const CHECKSUM_ALGORITHM: &str = "v1:blake3";

/// Checksums a step's source given as a sequence of tokens.
///
/// The caller passes the source already split into tokens (the macro passes
/// the function's tokens), so white space, line endings and comments do not
/// count: a CRLF checkout or a reformatted body keeps its checksum. Tokens are
/// joined by a single space before hashing.
///
/// ```
/// let a = verchain_core::checksum(["fn", "f", "(", ")", "{", "}"]);
/// assert!(a.starts_with("v1:blake3:"));
/// assert_eq!(a.len(), "v1:blake3:".len() + 64);
/// assert_ne!(a, verchain_core::checksum(["fn", "g", "(", ")", "{", "}"]));
/// ```
pub fn checksum<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut hasher = blake3::Hasher::new();
    for (i, token) in tokens.into_iter().enumerate() {
        if i > 0 {
            hasher.update(b" ");
        }
        hasher.update(token.as_ref().as_bytes());
    }
    format!("{CHECKSUM_ALGORITHM}:{}", hasher.finalize().to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_boundaries_matter() {
        assert_ne!(checksum(["ab", "c"]), checksum(["a", "bc"]));
        assert_eq!(
            checksum(["a", "b"]),
            checksum(vec![String::from("a"), "b".into()])
        );
    }
}
