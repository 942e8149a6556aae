//! Crash-safe file operations: every write is temp + fsync + rename, and the
//! directory is fsynced after a rename so the rename itself is durable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};

pub(crate) use crate::fault::point;
use crate::fault::{Amount, write_point};

/// Opens the file at `path` as `options` say, never through a symbolic
/// link there: a link someone put in place of a state file (the lock, the
/// history, a temporary file) would otherwise have verchain write, truncate
/// or read a file outside the store, with its own rights. Refused, the
/// error says it is a link.
pub(crate) fn open_no_link(options: &mut OpenOptions, path: &Utf8Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The flag's bits fit an `i32`, as `open(2)` takes them.
        #[allow(clippy::cast_possible_wrap)]
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
            && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        {
            return io::Error::new(
                e.kind(),
                "it is a symbolic link, which verchain does not follow",
            );
        }
        e
    })
}

/// Creates the file at `path` for writing, or empties the one there, never
/// through a symbolic link (see [`open_no_link`]).
pub(crate) fn create(path: &Utf8Path) -> io::Result<File> {
    open_no_link(
        OpenOptions::new().write(true).create(true).truncate(true),
        path,
    )
}

/// Reads the whole file at `path` if it is a regular file: never through a
/// symbolic link, never blocking on a FIFO (see
/// [`crate::contain::open_regular`]).
pub(crate) fn read_regular(path: &Utf8Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = crate::contain::open_regular(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync,
/// rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Utf8Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, &mut |out| out.write_all(bytes))
}

/// Writes the file at `path` as [`write_atomic`] does, its content written
/// by `fill` as it is made (never held whole in memory). Every 64 KiB
/// written passes a fault point, as one [`write_all`] does.
pub(crate) fn write_atomic_with(
    path: &Utf8Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Utf8Path::new("."));
    let name = path.file_name().unwrap_or("file");
    let temp = dir.join(format!(".{name}.verchain-tmp-{}", std::process::id()));
    let result = (|| {
        point("create", &temp)?;
        // A new file: whatever stands at the name (a killed run's temporary
        // file, or a link put there) is removed, never written through.
        let new = || open_no_link(OpenOptions::new().write(true).create_new(true), &temp);
        let file = match new() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                new()?
            }
            opened => opened?,
        };
        let mut out = io::BufWriter::with_capacity(
            1 << 16,
            WholeWrites {
                inner: file,
                path: &temp,
            },
        );
        // Flushed once: a write that failed is not tried again on drop.
        let filled = fill(&mut out).and_then(|()| out.flush());
        let (file, _) = out.into_parts();
        filled?;
        let file = file.inner;
        point("fsync", &temp)?;
        file.sync_all()?;
        point("rename", path)?;
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The temporary files [`write_atomic`] left in `dir` when its process was
/// killed before the rename.
pub(crate) fn temps_in(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let Ok(entries) = dir.read_dir_utf8() else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().starts_with('.') && e.file_name().contains(".verchain-tmp-"))
        .map(|e| e.path().to_owned())
        .collect()
}

/// Appends `lines`, each with a newline, to `path` in one write, creating
/// it, then fsyncs it. A torn last line left by a crash (no newline at the
/// end of the file) is cut off first, so it never sits between whole lines.
pub(crate) fn append_lines(path: &Utf8Path, lines: &[String]) -> io::Result<()> {
    point("open for append", path)?;
    let mut file = open_no_link(
        OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false),
        path,
    )?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut text = Vec::new();
        io::Read::read_to_end(&mut file, &mut text)?;
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole as u64 != len {
            point("cut the torn line of", path)?;
            file.set_len(whole as u64)?;
        }
    }
    file.seek(SeekFrom::End(0))?;
    let mut buf = Vec::new();
    for line in lines {
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
    }
    write_all(&mut file, "append", path, &buf)?;
    point("fsync", path)?;
    file.sync_all()
}

/// Writes all of `bytes` to `out`, passing the write's fault point first.
/// Under a short-write fault only the first half is written, and the write
/// then fails with ENOSPC, as when a disk fills in the middle of a write.
pub(crate) fn write_all(
    out: &mut impl Write,
    op: &'static str,
    path: &Utf8Path,
    bytes: &[u8],
) -> io::Result<()> {
    match write_point(op, path, bytes.len())? {
        Amount::All => out.write_all(bytes),
        Amount::Half => {
            out.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::from_raw_os_error(28))
        }
    }
}

/// A writer each of whose writes is one [`write_all`]: it writes all it is
/// given, or fails.
struct WholeWrites<'p, W> {
    inner: W,
    path: &'p Utf8Path,
}

impl<W: Write> Write for WholeWrites<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_all(&mut self.inner, "write", self.path, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A writer whose every write passes a fault point first; under a
/// short-write fault, that write takes only half its bytes, and the caller
/// must write the rest (as `write_all` does).
pub(crate) struct PointedWriter<W> {
    pub inner: W,
    pub path: Utf8PathBuf,
}

impl<W> PointedWriter<W> {
    pub(crate) fn new(inner: W, path: &Utf8Path) -> Self {
        PointedWriter {
            inner,
            path: path.to_owned(),
        }
    }
}

impl<W: Write> Write for PointedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match write_point("write", &self.path, buf.len())? {
            Amount::Half => self.inner.write(&buf[..buf.len() / 2]),
            Amount::All => self.inner.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Fsyncs a directory so that renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Utf8Path) -> io::Result<()> {
    point("fsync folder", dir)?;
    File::open(dir)?.sync_all()
}

/// Gives `file`, just created by this process to replace another, that
/// file's owner `uid`/`gid` when the process runs as root and they are not
/// its own: documents a migration run by root rewrites keep their owner.
/// Otherwise (or where there are no owners) it does nothing. Returns
/// whether it changed the owner, which clears the set-id bits.
pub(crate) fn give_owner(file: &File, uid: Option<u32>, gid: Option<u32>) -> io::Result<bool> {
    #[cfg(unix)]
    {
        let (Some(uid), Some(gid)) = (uid, gid) else {
            return Ok(false);
        };
        let euid = rustix::process::geteuid();
        let own = uid == euid.as_raw() && gid == rustix::process::getegid().as_raw();
        if !euid.is_root() || own {
            return Ok(false);
        }
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, uid, gid);
        Ok(false)
    }
}

/// Makes the contents of `files` durable, all at once. On Linux this is one
/// `syncfs` of the file system holding `dir` (the files are on it): for
/// 100,000 staged documents, one flush instead of 100,000 fsyncs. Elsewhere
/// each file is fsynced. Folders still need [`sync_dir`].
pub(crate) fn sync_files<P: AsRef<Utf8Path>>(
    dir: &Utf8Path,
    files: impl IntoIterator<Item = P>,
) -> io::Result<()> {
    point("sync files in", dir)?;
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        rustix::fs::syncfs(File::open(dir)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for file in files {
            File::open(file.as_ref())?.sync_all()?;
        }
    }
    Ok(())
}

/// Makes the entries of every folder in `dirs` durable (files added to,
/// renamed in or removed from them), all at once: on Linux one `syncfs` of
/// the file system holding `root` (every folder is on it), instead of one
/// fsync per folder; elsewhere each folder is fsynced.
pub(crate) fn sync_dirs<'a>(
    root: &Utf8Path,
    dirs: impl IntoIterator<Item = &'a Utf8Path>,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = dirs;
        point("sync folders in", root)?;
        rustix::fs::syncfs(File::open(root)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        for dir in dirs {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// What [`exchange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exchanged {
    /// `from` is at `to`, and what was at `to` is at `from`.
    Swapped,
    /// Nothing was at `to`: `from` moved there.
    Moved,
}

/// Puts the file at `from` at `to` in one step, and what was at `to` at
/// `from` in the same step (`renameat2` with `RENAME_EXCHANGE`), so that
/// what it replaces is kept, at no cost, where the replacement was; where
/// nothing was at `to`, moves `from` there without replacing anything.
/// Fails with [`io::ErrorKind::Unsupported`] where the system or the file
/// system cannot exchange (the caller then keeps the old file by other
/// means), and with [`io::ErrorKind::NotFound`] when `from` is missing.
pub(crate) fn exchange(from: &Utf8Path, to: &Utf8Path) -> io::Result<Exchanged> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        let unsupported = |e: Errno| {
            if matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) {
                io::Error::new(io::ErrorKind::Unsupported, e)
            } else {
                e.into()
            }
        };
        match renameat_with(
            CWD,
            from.as_std_path(),
            CWD,
            to.as_std_path(),
            RenameFlags::EXCHANGE,
        ) {
            Ok(()) => Ok(Exchanged::Swapped),
            Err(Errno::NOENT) if fs::symlink_metadata(to).is_err() => {
                let flags = RenameFlags::NOREPLACE;
                renameat_with(CWD, from.as_std_path(), CWD, to.as_std_path(), flags)
                    .map(|()| Exchanged::Moved)
                    .map_err(unsupported)
            }
            Err(e) => Err(unsupported(e)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "exchanging two files in one step",
        ))
    }
}

/// Removes the file at `path`.
pub(crate) fn remove_file(path: &Utf8Path) -> io::Result<()> {
    point("remove", path)?;
    fs::remove_file(path)
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir_all(dir: &Utf8Path) -> io::Result<()> {
    point("create folder", dir)?;
    fs::create_dir_all(dir)
}

/// Creates `dir` and its parents, as [`create_dir_all`]; when running as
/// root, each folder it makes gets the owner of the nearest folder above
/// it that was there, so that a run as root leaves a folder it adds to a
/// store to the store's user. The owner is set on the folder itself, never
/// through a link put in its place.
pub(crate) fn create_dir_all_owned(dir: &Utf8Path) -> io::Result<()> {
    #[cfg(unix)]
    if rustix::process::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        let mut made = Vec::new();
        let mut owner = None;
        for folder in dir.ancestors() {
            match fs::symlink_metadata(folder) {
                Ok(meta) => {
                    owner = Some((meta.uid(), meta.gid()));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => made.push(folder),
                Err(e) => return Err(e),
            }
        }
        create_dir_all(dir)?;
        let own = (0, rustix::process::getegid().as_raw());
        if let Some((uid, gid)) = owner.filter(|&o| o != own) {
            for folder in made.iter().rev() {
                point("set owner of", folder)?;
                std::os::unix::fs::lchown(folder, Some(uid), Some(gid))?;
            }
        }
        return Ok(());
    }
    create_dir_all(dir)
}

/// Removes the folder `dir` and everything in it, as `fs::remove_dir_all`
/// does, with several threads unlinking at once. On a disk where each
/// unlink waits for the device, removing a run's staging folder of 50,000
/// replaced documents took 4.7 s one at a time and 1.4 s eight at a time.
///
/// Each name is removed relative to the folder it was read from, opened
/// without following a symbolic link, so a folder swapped for a link
/// meanwhile cannot lead the removal outside `dir`. Whatever the threads
/// could not remove is left to `fs::remove_dir_all`, whose result is
/// returned.
pub(crate) fn remove_tree(dir: &Utf8Path) -> io::Result<()> {
    #[cfg(unix)]
    tree::unlink_files(dir);
    fs::remove_dir_all(dir)
}

pub(crate) mod mtime;
pub(crate) mod owner;
#[cfg(unix)]
mod tree;

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(path: &std::path::Path) -> &Utf8Path {
        Utf8Path::from_path(path).unwrap()
    }

    #[test]
    fn remove_tree_removes_every_file_and_folder_but_nothing_a_link_points_to() {
        let temp = tempfile::tempdir().unwrap();
        let root = utf8(temp.path());
        let outside = root.join("outside");
        fs::create_dir_all(outside.join("kept")).unwrap();
        fs::write(outside.join("kept/file.md"), "keep me").unwrap();
        fs::write(outside.join("note.md"), "keep me too").unwrap();
        let tree = root.join("tree");
        // More files than one batch in a folder, nested and empty folders,
        // hidden names, and links to a file and a folder outside.
        for i in 0..300 {
            let dir = tree.join(format!("{:02}/deeper", i % 7));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("{i}.md")), i.to_string()).unwrap();
        }
        for i in 0..150 {
            fs::write(tree.join(format!(".{i}")), "hidden").unwrap();
        }
        fs::create_dir_all(tree.join("empty/also-empty")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.join("kept"), tree.join("00/folder-link")).unwrap();
            std::os::unix::fs::symlink(outside.join("note.md"), tree.join("file-link")).unwrap();
        }

        remove_tree(&tree).unwrap();

        assert!(fs::symlink_metadata(&tree).is_err(), "the tree is gone");
        assert_eq!(
            fs::read_to_string(outside.join("kept/file.md")).unwrap(),
            "keep me"
        );
        assert_eq!(
            fs::read_to_string(outside.join("note.md")).unwrap(),
            "keep me too"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_threads_unlink_every_file_and_leave_the_folders_to_the_caller() {
        let temp = tempfile::tempdir().unwrap();
        let tree = utf8(temp.path()).join("tree");
        let mut folders = Vec::new();
        for i in 0..200 {
            let dir = tree.join(format!("{:02}/inner", i % 3));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("{i}.md")), "x").unwrap();
            fs::write(tree.join(format!(".hidden-{i}")), "x").unwrap();
            folders.push(dir);
        }
        std::os::unix::fs::symlink("/", tree.join("link-to-root")).unwrap();

        tree::unlink_files(&tree);

        let left: Vec<_> = walk_files(tree.as_std_path());
        assert!(left.is_empty(), "files left: {left:?}");
        for dir in folders {
            assert!(dir.is_dir(), "{dir} is kept for the caller");
        }
    }

    /// Every entry below `dir` that is not a folder.
    fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            match entry.file_type().unwrap().is_dir() {
                true => found.extend(walk_files(&entry.path())),
                false => found.push(entry.path()),
            }
        }
        found
    }

    #[test]
    fn remove_tree_of_a_missing_folder_fails_as_remove_dir_all_does() {
        let temp = tempfile::tempdir().unwrap();
        let missing = utf8(temp.path()).join("missing");
        let err = remove_tree(&missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn remove_tree_of_a_link_removes_the_link_not_what_it_points_to() {
        let temp = tempfile::tempdir().unwrap();
        let root = utf8(temp.path());
        fs::create_dir_all(root.join("real")).unwrap();
        fs::write(root.join("real/a.md"), "a").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
            // As `fs::remove_dir_all` does: the link is not a folder.
            remove_tree(&root.join("link")).unwrap();
            assert!(fs::symlink_metadata(root.join("link")).is_err());
            assert_eq!(fs::read_to_string(root.join("real/a.md")).unwrap(), "a");
        }
    }
}
