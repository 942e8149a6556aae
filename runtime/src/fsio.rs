//! Crash-safe file operations: every write is temp + fsync + rename, and the
//! directory is fsynced after a rename so the rename itself is durable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};

use camino::Utf8Path;

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync,
/// rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    let name = path.file_name().unwrap_or("file");
    let temp = dir.join(format!(".{name}.verchain-tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Appends `line` and a newline to `path`, creating it, then fsyncs it.
pub(crate) fn append_line(path: &Utf8Path, line: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    file.write_all(&buf)?;
    file.sync_all()
}

/// Fsyncs a directory so that renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Utf8Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir_all(dir: &Utf8Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}
