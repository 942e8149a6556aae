//! [`LogStore`]: where a log and its rotated files are, how to read a log
//! without a header, and where verchain keeps its own files for it.

use std::fs;

use camino::{Utf8Path, Utf8PathBuf};
use globset::{Glob, GlobMatcher};

use super::error::LogError;
use crate::run::STATE_DIR;
use crate::run::{ErrorKind, io};

/// An append-only log of JSON records, one a line (`audit.jsonl`), and its
/// rotated files (`audit.jsonl.1`, `audit.jsonl.2.zst`, …), migrated
/// together in one run.
///
/// The log's version is in a header on its first line,
/// `{"_meta":{"schema_version":3}}` (the chain's `version_key`); a file
/// without one is at the chain's base version, or at
/// [`unversioned_at`](LogStore::unversioned_at). Each file has its own
/// header and migrates from its own version. Files ending in `.zst` are read
/// and written zstd-compressed.
///
/// verchain keeps its lock, history, snapshots and quarantined lines in
/// `.verchain/<log name>/` beside the log.
///
/// # Live appends
///
/// A run reads each file up to the size it had when the run started and
/// refuses to commit if a file changed since (it grew, or was rewritten):
/// nothing is lost, and the run can be repeated once writers stop. The
/// contract for an application that writes the log is: call
/// [`run_startup`](crate::run_startup) before opening the log for
/// appending; it holds the store's lock while it migrates, and creates a
/// missing log with a header at the current version. Rotation must not run
/// during a migration either.
#[derive(Debug, Clone)]
pub struct LogStore {
    path: Utf8PathBuf,
    rotated: Option<GlobMatcher>,
    rotated_pattern: Option<String>,
    unversioned: Option<u32>,
    skip_malformed: bool,
    compress_snapshots: bool,
}

/// One file of a log store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The file, as the store's path and the file's name make it.
    pub path: Utf8PathBuf,
    /// Its file name.
    pub name: String,
    /// Whether it is zstd-compressed (its name ends in `.zst`).
    pub compressed: bool,
}

impl LogFile {
    pub(crate) fn new(dir: &Utf8Path, name: &str) -> Self {
        LogFile {
            path: dir.join(name),
            name: name.to_owned(),
            compressed: name.ends_with(".zst"),
        }
    }
}

impl LogStore {
    /// The log at `path`, such as `logs/audit.jsonl`, with rotated files
    /// named `<name>.*` beside it.
    pub fn new(path: impl Into<Utf8PathBuf>) -> Self {
        let path = path.into();
        let name = path.file_name().unwrap_or_default().to_owned();
        let pattern = format!("{}.*", globset::escape(&name));
        let rotated = Glob::new(&pattern).ok().map(|g| g.compile_matcher());
        LogStore {
            path,
            rotated,
            rotated_pattern: Some(pattern),
            unversioned: None,
            skip_malformed: false,
            compress_snapshots: false,
        }
    }

    /// Which files in the log's folder are its rotated files: a glob over
    /// file names, such as `audit.jsonl.*` (the default) or
    /// `audit-*.jsonl.zst`. Hidden files never match.
    pub fn rotated(mut self, pattern: &str) -> Result<Self, globset::Error> {
        self.rotated = Some(Glob::new(pattern)?.compile_matcher());
        self.rotated_pattern = Some(pattern.to_owned());
        Ok(self)
    }

    /// Migrates the log file alone, without rotated files.
    #[must_use]
    pub fn without_rotated(mut self) -> Self {
        self.rotated = None;
        self.rotated_pattern = None;
        self
    }

    /// The version of a file that has no header (the chain's base version
    /// when not set).
    #[must_use]
    pub fn unversioned_at(mut self, version: u32) -> Self {
        self.unversioned = Some(version);
        self
    }

    /// With `true`, a line that is not one JSON object does not fail the
    /// run: it is moved, unchanged, to a quarantine file under
    /// `.verchain/<log name>/quarantine/`, and counted in the report and
    /// the history. Off by default.
    #[must_use]
    pub fn skip_malformed(mut self, skip: bool) -> Self {
        self.skip_malformed = skip;
        self
    }

    /// With `true`, a snapshot holds zstd-compressed copies of the old
    /// files; by default it keeps the old files themselves (a hard link
    /// where the file system allows it, which costs no space until the log
    /// is pruned).
    #[must_use]
    pub fn compress_snapshots(mut self, compress: bool) -> Self {
        self.compress_snapshots = compress;
        self
    }

    /// The log file.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// The folder the log is in.
    pub fn dir(&self) -> &Utf8Path {
        match self.path.parent() {
            Some(dir) if !dir.as_str().is_empty() => dir,
            _ => Utf8Path::new("."),
        }
    }

    /// The log's file name.
    pub fn name(&self) -> &str {
        self.path.file_name().unwrap_or_default()
    }

    /// The glob of rotated files, if any.
    pub fn rotated_pattern(&self) -> Option<&str> {
        self.rotated_pattern.as_deref()
    }

    pub(crate) fn unversioned(&self) -> Option<u32> {
        self.unversioned
    }

    pub(crate) fn skip_malformed_set(&self) -> bool {
        self.skip_malformed
    }

    pub(crate) fn compresses_snapshots(&self) -> bool {
        self.compress_snapshots
    }

    /// Where verchain keeps its files for this log:
    /// `.verchain/<log name>/` beside it.
    pub fn state_dir(&self) -> Utf8PathBuf {
        self.dir().join(STATE_DIR).join(self.name())
    }

    /// Refuses a log whose name a folder store uses in `.verchain/` (its
    /// files would go to the same place), in any letter case.
    pub(crate) fn check_name(&self) -> Result<(), LogError> {
        let name = self.name();
        if crate::run::RESERVED
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            return Err(LogError::ReservedName {
                path: self.path.clone(),
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    /// The history file, `.verchain/<log name>/history.jsonl`.
    pub fn history_path(&self) -> Utf8PathBuf {
        self.state_dir().join("history.jsonl")
    }

    /// The snapshot folder, `.verchain/<log name>/snapshots/`.
    pub fn snapshot_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("snapshots")
    }

    /// The folder of quarantine files, `.verchain/<log name>/quarantine/`.
    pub fn quarantine_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("quarantine")
    }

    /// Whether the file `name` in the log's folder is one of this store's:
    /// the log, or (not hidden) a rotated file its glob matches.
    pub(crate) fn owns(&self, name: &str) -> bool {
        name == self.name()
            || (!name.starts_with('.') && self.rotated.as_ref().is_some_and(|g| g.is_match(name)))
    }

    /// The log file (if it exists), then its rotated files in order
    /// (`.1` before `.2` before `.10`).
    pub(crate) fn files(&self) -> Result<Vec<LogFile>, ErrorKind> {
        let dir = self.dir();
        let mut files = Vec::new();
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_file() => files.push(LogFile::new(dir, self.name())),
            Ok(meta) => return Err(not_regular(self.path.clone(), meta.file_type())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("inspect", &self.path)(e)),
        }
        if self.rotated.is_none() {
            return Ok(files);
        }
        let mut rotated = Vec::new();
        let entries = fs::read_dir(dir).map_err(io("read folder", dir))?;
        for entry in entries {
            let entry = entry.map_err(io("read folder", dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name == self.name() || !self.owns(&name) {
                continue;
            }
            let kind = entry.file_type().map_err(io("inspect", dir.join(&name)))?;
            // A folder whose name matches is not a file of the log.
            if kind.is_dir() {
                continue;
            }
            if !kind.is_file() {
                return Err(not_regular(dir.join(&name), kind));
            }
            rotated.push(LogFile::new(dir, &name));
        }
        rotated.sort_by_key(|f| (rotation_number(&f.name, self.name()), f.name.clone()));
        files.extend(rotated);
        Ok(files)
    }
}

/// The error for a file of the log that is not a regular file: a link is
/// never followed, and a FIFO, socket, device or folder never skipped.
fn not_regular(path: Utf8PathBuf, kind: fs::FileType) -> ErrorKind {
    let kind = crate::contain::special_kind(kind).unwrap_or("special file");
    ErrorKind::BadPath {
        path,
        reason: format!(
            "is a {kind}, not a regular file; verchain reads only regular files and does not \
             follow links"
        ),
    }
}

/// The number in a rotated file's name after the log's name (`2` for
/// `audit.jsonl.2.zst`), for ordering.
fn rotation_number(name: &str, log: &str) -> u64 {
    let rest = name.strip_prefix(log).unwrap_or(name);
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_come_in_numeric_order_and_hidden_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        for name in [
            "audit.jsonl",
            "audit.jsonl.10",
            "audit.jsonl.2.zst",
            "audit.jsonl.1",
            ".audit.jsonl.verchain-tmp",
            "other.jsonl",
        ] {
            fs::write(root.join(name), "").unwrap();
        }
        let store = LogStore::new(root.join("audit.jsonl"));
        let names: Vec<String> = store.files().unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "audit.jsonl",
                "audit.jsonl.1",
                "audit.jsonl.2.zst",
                "audit.jsonl.10"
            ]
        );
        let alone = store.clone().without_rotated();
        assert_eq!(alone.files().unwrap().len(), 1);
        assert_eq!(store.state_dir(), root.join(".verchain/audit.jsonl"));
    }
}
