//! Giving what root wrote in a store's state folder to the store's owner,
//! never through a link, even one put in place while this runs: each folder
//! is opened from the one that holds it (`O_DIRECTORY | O_NOFOLLOW`), every
//! other entry as a path (`O_PATH | O_NOFOLLOW`), and the owner is changed
//! through that handle, only for a folder or a regular file with one name
//! that root owns (a hard link to a file elsewhere is never given).

use camino::Utf8Path;

/// Gives, below `home` (the store's folder), the folders on the way to the
/// state folder `state` and everything in it to `uid` and `gid`, where root
/// owns them. Best effort: whatever cannot be opened is left as it is.
#[cfg(target_os = "linux")]
pub(crate) fn hand_over(home: &Utf8Path, state: &Utf8Path, uid: u32, gid: u32) {
    use rustix::fs::CWD;
    use rustix::process::{Gid, Uid};
    // `home` and `state` as the store names them: `.` and `./.verchain/…`,
    // or `.` and `.verchain/…`, alike.
    let relative = state.strip_prefix(home).or_else(|_| match home.as_str() {
        "." => Ok(state),
        _ => Err(()),
    });
    // Only plain names, each a folder opened from the one before: never `/`,
    // `..` or `.` (the store's own folder is not given).
    let Ok(relative) = relative else {
        return;
    };
    if !(relative.components()).all(|c| matches!(c, camino::Utf8Component::Normal(_))) {
        return;
    }
    let owner = (Uid::from_raw(uid), Gid::from_raw(gid));
    let Ok(mut dir) = open_dir(CWD, home.as_str()) else {
        return;
    };
    for component in relative.components() {
        let Ok(next) = open_dir(&dir, component.as_str()) else {
            return;
        };
        give(&next, owner);
        dir = next;
    }
    give_inside(&dir, owner, 0);
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn hand_over(home: &Utf8Path, state: &Utf8Path, uid: u32, gid: u32) {
    let _ = (home, state, uid, gid);
}

#[cfg(target_os = "linux")]
type Owner = (rustix::process::Uid, rustix::process::Gid);

/// How deep below the state folder entries are given (its snapshots and
/// quarantines are two levels down).
#[cfg(target_os = "linux")]
const MAX_DEPTH: usize = 6;

/// The folder `name` in `at`, never through a link.
#[cfg(target_os = "linux")]
fn open_dir<Fd: rustix::fd::AsFd, P: rustix::path::Arg>(
    at: Fd,
    name: P,
) -> rustix::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, openat};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    openat(at, name, flags, Mode::empty())
}

/// Gives the file `fd` is open on to `owner`, where root owns it and it is
/// a folder or a regular file with one name.
#[cfg(target_os = "linux")]
fn give(fd: &rustix::fd::OwnedFd, owner: Owner) {
    use rustix::fs::{AtFlags, FileType, chownat, fstat};
    let Ok(stat) = fstat(fd) else {
        return;
    };
    let kind = FileType::from_raw_mode(stat.st_mode);
    let one_name =
        kind == FileType::Directory || (kind == FileType::RegularFile && stat.st_nlink == 1);
    if stat.st_uid == 0 && one_name {
        let _ = chownat(fd, "", Some(owner.0), Some(owner.1), AtFlags::EMPTY_PATH);
    }
}

/// Gives what the folder `dir` holds, folders in it included.
#[cfg(target_os = "linux")]
fn give_inside(dir: &rustix::fd::OwnedFd, owner: Owner, depth: usize) {
    use rustix::fs::{Dir, Mode, OFlags, openat};
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = Dir::read_from(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        match open_dir(dir, name) {
            Ok(folder) => {
                give(&folder, owner);
                give_inside(&folder, owner, depth + 1);
            }
            Err(_) => {
                let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                if let Ok(file) = openat(dir, name, flags, Mode::empty()) {
                    give(&file, owner);
                }
            }
        }
    }
}
