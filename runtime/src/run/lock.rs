//! One runner per store: an OS file lock (released when the process dies,
//! so a crash never leaves the store locked) that records its owner.
//!
//! The lock file lives in the store's state folder (`.verchain/`). A run
//! that had to create that folder and ends without committing anything
//! removes it again, lock file included, so that a failed command leaves
//! nothing behind. That is safe against a runner waiting on the same file:
//! a runner that wins a lock checks that the file it locked is still the
//! one at the lock's path, and tries again if it is not.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom};
use std::thread;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use super::error::{ErrorKind, RunError, Stage, io};
use super::store::{Purpose, Store};
use super::{Run, RunInfo, RunOptions, recover};
use crate::clock::now_rfc3339;

/// An open store: its session, and its lock while the run holds it.
pub(crate) struct Held<S: Store> {
    pub session: S::Session,
    _lock: Option<StoreLock>,
}

impl<S: Store> std::ops::Deref for Held<S> {
    type Target = S::Session;

    fn deref(&self) -> &S::Session {
        &self.session
    }
}

impl<S: Store> std::ops::DerefMut for Held<S> {
    fn deref_mut(&mut self) -> &mut S::Session {
        &mut self.session
    }
}

/// Opens `store` for `purpose` and takes its lock for the run `owner`
/// (reading takes none; pruning takes it whatever the options say).
pub(crate) fn hold<S: Store>(
    store: &S,
    purpose: Purpose,
    options: &RunOptions,
    owner: &RunInfo,
) -> Result<Held<S>, ErrorKind> {
    let mut session = store.open(purpose, options)?;
    let lock = match purpose {
        Purpose::Read => None,
        Purpose::Prune => store.lock(&mut session, &RunOptions::default(), owner)?,
        Purpose::Run | Purpose::Startup | Purpose::Restore => {
            store.lock(&mut session, options, owner)?
        }
    };
    Ok(Held {
        session,
        _lock: lock,
    })
}

/// Lock, then recover: the first two stages of every run. Refuses options
/// the store cannot honour before anything is opened.
pub(crate) fn open<S: Store>(
    store: &S,
    purpose: Purpose,
    run: &Run<'_, S::Record>,
) -> Result<Held<S>, RunError> {
    if run.options.skip_malformed && !S::QUARANTINES {
        return Err(run.fail(
            Stage::Plan,
            ErrorKind::Unsupported {
                what: "skipping malformed records (`--skip-malformed`) outside a log",
            },
        ));
    }
    let mut session = hold(store, purpose, run.options, &run.info).map_err(|kind| {
        // The store itself (missing, not what it should be) is read at
        // detection; only the lock's own trouble is the lock's.
        let stage = match &kind {
            ErrorKind::Locked { .. } => Stage::Lock,
            ErrorKind::Io { op, .. } if LOCK_OPS.contains(op) => Stage::Lock,
            _ => Stage::Detect,
        };
        run.fail(stage, kind)
    })?;
    recover::recover_open(store, &mut session, run)?;
    Ok(session)
}

/// The store's lock, held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: Utf8PathBuf,
    /// The state folders this run created (outermost first), removed again
    /// when the run ends with nothing else in them.
    created: Vec<Utf8PathBuf>,
    /// Run as root on a store someone else owns: to whom what the run
    /// wrote in the state folder is given when it ends (so that the
    /// owner's own runs can go on using it).
    hand_to: Option<HandTo>,
}

/// The state folder of a store run as root, and the store's owner.
#[derive(Debug)]
struct HandTo {
    /// The store's folder (a log's, a database file's), where the folders
    /// given stop.
    home: Utf8PathBuf,
    state: Utf8PathBuf,
    uid: u32,
    gid: u32,
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        self.remove_created();
        if let Some(hand_to) = &self.hand_to {
            crate::fsio::owner::hand_over(&hand_to.home, &hand_to.state, hand_to.uid, hand_to.gid);
        }
    }
}

impl StoreLock {
    /// Removes the state folders the run created, where they hold nothing
    /// but the lock.
    fn remove_created(&self) {
        let Some(state) = self.created.last() else {
            return;
        };
        // Only a folder that holds nothing but the lock goes: anything else
        // (a history, a snapshot) was written by this run.
        let name = self.path.file_name().unwrap_or_default();
        let only_lock = fs::read_dir(state).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .all(|e| e.file_name() == std::ffi::OsStr::new(name))
        });
        if !only_lock {
            return;
        }
        let _ = fs::remove_file(&self.path);
        for dir in self.created.iter().rev() {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// Whether a process holds the lock at `path` now: a run is in progress.
/// Takes nothing: the lock, if free, is let go at once.
pub(crate) fn busy(path: &Utf8Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

/// What this module does to the lock file, as its errors name it.
const LOCK_OPS: &[&str] = &["open lock file", "lock", "write lock owner to"];

/// How often a waiting runner tries the lock again.
const POLL: Duration = Duration::from_millis(50);

/// The lock at `path` of a store whose state folder is `state` (`root`
/// names the store in messages). A dry run on a store verchain never
/// touched takes none, so as to create nothing, and a dry run never writes
/// to the lock file; any other run creates the state folder if it must.
pub(crate) fn take(
    root: &Utf8Path,
    state: &Utf8Path,
    path: &Utf8Path,
    options: &RunOptions,
) -> Result<Option<StoreLock>, ErrorKind> {
    if options.dry_run {
        if !path.exists() {
            return Ok(None);
        }
        return acquire(root, path, options.wait, false).map(Some);
    }
    let mut created = Vec::new();
    let mut dir = Some(state);
    while let Some(d) = dir
        && !d.exists()
    {
        created.push(d.to_owned());
        dir = d.parent();
    }
    created.reverse();
    crate::fsio::create_dir_all(state).map_err(io("create", state))?;
    let mut lock = acquire(root, path, options.wait, true)?;
    lock.created = created;
    lock.hand_to = owner_other_than_root(root).map(|(uid, gid)| HandTo {
        home: home_of(root),
        state: state.to_owned(),
        uid,
        gid,
    });
    Ok(Some(lock))
}

/// The folder of the store at `root`: itself, or the folder of a log or
/// database file (`.` for a bare file name).
fn home_of(root: &Utf8Path) -> Utf8PathBuf {
    let home = match root.is_dir() {
        true => root,
        false => root.parent().unwrap_or(root),
    };
    match home.as_str() {
        "" => Utf8PathBuf::from("."),
        _ => home.to_owned(),
    }
}

/// The owner of `root`, where this process runs as root and the store is
/// someone else's.
fn owner_other_than_root(root: &Utf8Path) -> Option<(u32, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let meta = fs::metadata(root).ok()?;
        (meta.uid() != 0).then(|| (meta.uid(), meta.gid()))
    }
    #[cfg(not(unix))]
    {
        let _ = root;
        None
    }
}

/// Takes the lock at `path`, polling until `wait` has passed. With
/// `record_owner`, writes this process's pid, host and start time into the
/// lock file so a refused runner can say who holds it.
pub(crate) fn acquire(
    root: &Utf8Path,
    path: &Utf8Path,
    wait: Duration,
    record_owner: bool,
) -> Result<StoreLock, ErrorKind> {
    let deadline = Instant::now() + wait;
    let mut file = loop {
        // A runner that does not record itself (a dry run) must not create or
        // change the file: it opens it read-only, which a lock allows.
        if record_owner && let Some(parent) = path.parent() {
            crate::fsio::create_dir_all(parent).map_err(io("create", parent))?;
        }
        let mut file = crate::fsio::open_no_link(
            OpenOptions::new()
                .read(true)
                .write(record_owner)
                .create(record_owner)
                .truncate(false),
            path,
        )
        .map_err(io("open lock file", path))?;
        match file.try_lock() {
            Ok(()) if same_file(&file, path) => break file,
            // The file was removed (by a run that created it and ended)
            // while this one waited for it: lock the one at the path now.
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => thread::sleep(POLL),
            Err(TryLockError::WouldBlock) => {
                return Err(ErrorKind::Locked {
                    root: root.to_owned(),
                    owner: owner(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", path)(e)),
        }
    };
    if record_owner {
        let owner = format!(
            "pid {} on {} since {}",
            std::process::id(),
            hostname(),
            now_rfc3339()
        );
        // Written in one call, then trimmed, so a reader never sees it empty.
        let padded = format!("{owner:<80}");
        file.seek(SeekFrom::Start(0))
            .and_then(|_| {
                crate::fsio::write_all(&mut file, "write lock owner to", path, padded.as_bytes())
            })
            .and_then(|()| file.set_len(padded.len() as u64))
            .map_err(io("write lock owner to", path))?;
    }
    Ok(StoreLock {
        _file: file,
        path: path.to_owned(),
        created: Vec::new(),
        hand_to: None,
    })
}

/// Whether `file` is still the file at `path`.
#[cfg(unix)]
fn same_file(file: &File, path: &Utf8Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `file` is still the file at `path` (elsewhere, files in use
/// cannot be removed, so it is).
#[cfg(not(unix))]
fn same_file(_file: &File, _path: &Utf8Path) -> bool {
    true
}

/// Who holds the lock, as its file says: the start of the file, without
/// control characters, so that whatever the file holds makes a short,
/// printable error message.
fn owner(file: &mut File) -> String {
    let mut head = Vec::new();
    let _ = file.take(OWNER_MAX).read_to_end(&mut head);
    let text: String = String::from_utf8_lossy(&head)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match text.trim() {
        "" => "another runner".to_owned(),
        owner => owner.to_owned(),
    }
}

/// How much of a lock file is read for its owner (what verchain writes
/// there is under 100 bytes).
const OWNER_MAX: u64 = 200;

/// This machine's host name, for lock owners and history.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_of_a_store_named_by_a_bare_file_name_is_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Utf8Path::from_path(dir.path()).unwrap();
        assert_eq!(home_of(folder), folder);
        assert_eq!(home_of(&folder.join("audit.jsonl")), folder);
        assert_eq!(home_of(Utf8Path::new("audit.jsonl")), Utf8Path::new("."));
        assert_eq!(home_of(Utf8Path::new("logs/app.db")), Utf8Path::new("logs"));
    }

    #[test]
    fn a_second_runner_is_refused_and_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("lock");
        let held = acquire(root, &path, Duration::ZERO, true).unwrap();
        let err = acquire(root, &path, Duration::from_millis(120), true).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("locked by pid {}", std::process::id())),
            "{message}"
        );
        drop(held);
        acquire(root, &path, Duration::ZERO, true).expect("free once dropped");
    }

    #[test]
    fn whatever_a_lock_file_holds_its_owner_is_short_and_printable() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let path = root.join("lock");
        let held = acquire(root, &path, Duration::ZERO, false);
        // A runner that does not record itself leaves the file as it is.
        std::fs::write(&path, b"").unwrap();
        drop(held);
        let mut hostile = b"pid 1\x1b[2J\r\n\xff on host".to_vec();
        hostile.extend(std::iter::repeat_n(b'x', 10_000));
        std::fs::write(&path, &hostile).unwrap();
        let _held = acquire(root, &path, Duration::ZERO, false).unwrap();
        let mut file = File::open(&path).unwrap();
        let said = owner(&mut file);
        assert!(said.starts_with("pid 1[2J\u{fffd} on host"), "{said}");
        assert!(said.len() <= 3 * OWNER_MAX as usize, "{}", said.len());
        assert!(!said.chars().any(char::is_control), "{said:?}");
        std::fs::write(&path, b" \n\t").unwrap();
        assert_eq!(owner(&mut File::open(&path).unwrap()), "another runner");
    }
}
