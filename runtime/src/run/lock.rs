//! One runner per store: an OS file lock (released when the process dies,
//! so a crash never leaves the store locked) that records its owner.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom};
use std::thread;
use std::time::{Duration, Instant};

use camino::Utf8Path;

use super::error::{ErrorKind, io};
use crate::clock::now_rfc3339;

/// The store's lock, held until dropped.
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

/// How often a waiting runner tries the lock again.
const POLL: Duration = Duration::from_millis(50);

/// Takes the lock at `path`, polling until `wait` has passed. With
/// `record_owner`, writes this process's pid, host and start time into the
/// lock file so a refused runner can say who holds it.
pub(crate) fn acquire(
    root: &Utf8Path,
    path: &Utf8Path,
    wait: Duration,
    record_owner: bool,
) -> Result<StoreLock, ErrorKind> {
    // A runner that does not record itself (a dry run) must not create or
    // change the file: it opens it read-only, which a lock allows.
    let mut file = OpenOptions::new()
        .read(true)
        .write(record_owner)
        .create(record_owner)
        .truncate(false)
        .open(path)
        .map_err(io("open lock file", path))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => thread::sleep(POLL),
            Err(TryLockError::WouldBlock) => {
                return Err(ErrorKind::Locked {
                    root: root.to_owned(),
                    owner: owner(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", path)(e)),
        }
    }
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
    Ok(StoreLock { _file: file })
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
