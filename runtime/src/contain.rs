//! Containment: verchain opens, writes and removes only what lies inside a
//! store. Every name it reads back from disk (a snapshot id in a journal or
//! the history, a staging folder, a file a manifest lists) is checked here
//! as user input is, before anything is opened, written or removed; and a
//! file read for a restore or a recovery is opened so that a symbolic link
//! is never followed and a FIFO or a device never blocks.

use std::fs::{self, File};
use std::io;

use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

/// Why `id` cannot name a snapshot in a store's snapshot folder, or `None`
/// when it can: an id is one plain file name, not hidden (which also rules
/// out `.` and `..`), without a path separator, a NUL or a control
/// character, and at most 255 bytes long.
pub(crate) fn snapshot_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id.starts_with('.') {
        Some("it starts with `.`")
    } else if id.contains(['/', '\\']) {
        Some("it holds a path separator")
    } else if id.chars().any(char::is_control) {
        Some("it holds a control character")
    } else if id.len() > 255 {
        Some("it is longer than 255 bytes")
    } else {
        None
    }
}

/// Whether `path` is relative and made only of plain names (no root, no
/// `.` or `..`, not empty).
pub(crate) fn is_plain(path: &Utf8Path) -> bool {
    path.components().next().is_some()
        && path
            .components()
            .all(|c| matches!(c, Utf8Component::Normal(_)))
}

/// The first folder on the way from `root` to `rel` (a plain relative
/// path) that is a symbolic link, or not a folder, with why; `None` when
/// every folder that exists on the way is a real folder. `rel` itself is
/// not looked at: a rename over it or a removal of it never follows it.
pub(crate) fn link_on_way(root: &Utf8Path, rel: &Utf8Path) -> Option<(Utf8PathBuf, &'static str)> {
    let mut dir = root.to_owned();
    for part in rel.parent().into_iter().flat_map(Utf8Path::components) {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Some((
                    dir,
                    "a folder on its way is a symbolic link; verchain does not follow links",
                ));
            }
            Ok(meta) if !meta.is_dir() => {
                return Some((dir, "a file stands where its folder must be"));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    None
}

/// What a file is, in words, when it is not a regular file: `symbolic
/// link`, `folder`, `FIFO`, `socket`, `character device`, `block device`;
/// `None` for a regular file.
pub(crate) fn special_kind(kind: fs::FileType) -> Option<&'static str> {
    if kind.is_file() {
        return None;
    }
    if kind.is_symlink() {
        return Some("symbolic link");
    }
    if kind.is_dir() {
        return Some("folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("FIFO");
        }
        if kind.is_socket() {
            return Some("socket");
        }
        if kind.is_char_device() {
            return Some("character device");
        }
        if kind.is_block_device() {
            return Some("block device");
        }
    }
    Some("special file")
}

/// The error for a file that is not a regular file.
fn not_regular(kind: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is a {kind}, not a regular file; verchain reads only regular files"),
    )
}

/// Opens `path` for reading only if it is a regular file: never through a
/// symbolic link in its last component (`O_NOFOLLOW`), and never blocking
/// on a FIFO or a device (`O_NONBLOCK`, then the type of the opened handle
/// is checked, so nothing can be swapped in between).
pub(crate) fn open_regular(path: &Utf8Path) -> io::Result<File> {
    #[cfg(unix)]
    let file = {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::open(path.as_std_path(), flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::LOOP) => return Err(not_regular("symbolic link")),
            Err(e) => return Err(e.into()),
        }
    };
    #[cfg(not(unix))]
    let file = {
        let meta = fs::symlink_metadata(path)?;
        if let Some(kind) = special_kind(meta.file_type()) {
            return Err(not_regular(kind));
        }
        File::open(path)?
    };
    let kind = file.metadata()?.file_type();
    match special_kind(kind) {
        None => Ok(file),
        Some(kind) => Err(not_regular(kind)),
    }
}

/// Reads the regular file at `path` whole (opened as [`open_regular`]
/// does), refusing one larger than `limit` bytes before reading it, so a
/// hostile file cannot take more memory than that.
pub(crate) fn read_bounded(path: &Utf8Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    let too_large = |size: u64| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is {size} bytes, more than the limit of {limit}"),
        )
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The BLAKE3 (lowercase hex) of the regular file at `path`, streamed;
/// `None` when there is no such file. A file that is not regular (a link,
/// a FIFO) or cannot be read is an error.
pub(crate) fn blake3_of(path: &Utf8Path) -> io::Result<Option<String>> {
    let file = match open_regular(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file)?;
    Ok(Some(hasher.finalize().to_hex().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_are_one_plain_name() {
        for ok in ["2026-11-23T14-05-09_pre_v1_to_v3", "a", "x-2", "ünï"] {
            assert_eq!(snapshot_id_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "../../outside/victim",
            "a/b",
            "a\\b",
            "/etc/passwd",
            "a\0b",
            "a\nb",
        ] {
            assert!(snapshot_id_problem(bad).is_some(), "{bad:?}");
        }
        assert!(snapshot_id_problem(&"x".repeat(256)).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn open_regular_refuses_links_fifos_and_folders_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        fs::write(root.join("file"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("file"), root.join("link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo").as_std_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        fs::create_dir(root.join("folder")).unwrap();
        assert!(open_regular(&root.join("file")).is_ok());
        for (name, kind) in [
            ("link", "symbolic link"),
            ("fifo", "FIFO"),
            ("folder", "folder"),
        ] {
            let error = open_regular(&root.join(name)).unwrap_err();
            assert!(error.to_string().contains(kind), "{name}: {error}");
        }
        assert_eq!(
            open_regular(&root.join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn read_bounded_refuses_a_file_over_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path()).unwrap().join("big");
        fs::write(&path, vec![b' '; 100]).unwrap();
        assert_eq!(read_bounded(&path, 100).unwrap().len(), 100);
        let error = read_bounded(&path, 99).unwrap_err();
        assert!(error.to_string().contains("limit of 99"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn link_on_way_finds_a_linked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("linked")).unwrap();
        fs::write(root.join("file"), "").unwrap();
        assert_eq!(link_on_way(root, Utf8Path::new("real/sub/a.md")), None);
        assert_eq!(link_on_way(root, Utf8Path::new("linked")), None);
        let (at, _) = link_on_way(root, Utf8Path::new("linked/sub/a.md")).unwrap();
        assert_eq!(at, root.join("linked"));
        let (at, _) = link_on_way(root, Utf8Path::new("file/a.md")).unwrap();
        assert_eq!(at, root.join("file"));
    }
}
