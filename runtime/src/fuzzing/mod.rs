//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus: each reads arbitrary bytes the way verchain reads a
//! file of that kind, and checks what verchain promises about the result.
//!
//! A target returns `Ok(())` when every promise held (an input that is
//! refused with a clear error is fine) and a [`Violation`] saying which
//! promise broke otherwise. A panic inside verchain is a finding too: the
//! fuzzer reports it, and the corpus test fails on it.

mod document;
mod history;
mod journal;
mod log;
mod snapshot;

use std::fmt;

pub use document::{format_json, format_markdown, format_toml, format_yaml};
pub use history::history;
pub use journal::{dir_journal, jsonl_journal};
pub use log::jsonl_line;
pub use snapshot::{snapshot_archive, snapshot_manifest};

/// A promise that did not hold for an input.
#[derive(Debug)]
pub struct Violation(String);

impl Violation {
    fn new(message: impl Into<String>) -> Self {
        Violation(message.into())
    }

    /// The same violation, saying what was being done.
    fn during(self, what: &str) -> Self {
        Violation(format!("{what}: {}", self.0))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// A target's check: the input's bytes in, the first broken promise out.
pub type Check = fn(&[u8]) -> Result<(), Violation>;

/// Every target, by name: the name is its file in `fuzz/fuzz_targets/`
/// and its corpus folder in `fuzz/corpus/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("format_json", format_json),
    ("format_toml", format_toml),
    ("format_yaml", format_yaml),
    ("format_markdown", format_markdown),
    ("dir_journal", dir_journal),
    ("jsonl_journal", jsonl_journal),
    ("history", history),
    ("jsonl_line", jsonl_line),
    ("snapshot_manifest", snapshot_manifest),
    ("snapshot_archive", snapshot_archive),
];

/// Returns a [`Violation`] with the message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err($crate::fuzzing::Violation::new(format!($($message)+)));
        }
    };
}
use ensure;

/// A scratch folder for checks that need files.
fn scratch() -> Result<(tempfile::TempDir, camino::Utf8PathBuf), Violation> {
    let dir = tempfile::tempdir()
        .map_err(|e| Violation::new(format!("cannot create a scratch folder: {e}")))?;
    let path = camino::Utf8PathBuf::from_path_buf(dir.path().to_owned())
        .map_err(|p| Violation::new(format!("scratch folder {} is not UTF-8", p.display())))?;
    Ok((dir, path))
}

/// A file the check itself needs could not be written or read.
fn setup(what: &str, error: std::io::Error) -> Violation {
    Violation::new(format!("cannot {what}: {error}"))
}

/// Whether two maps hold the same keys in the same order with the same
/// values (`Map`'s own equality ignores the order).
fn same_in_order(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    a == b && serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}
