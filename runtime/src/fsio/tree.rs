//! The threads of [`super::remove_tree`]: one reads the folders, eight
//! unlink what it hands them, each name relative to the folder it was read
//! from.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, mpsc};

use camino::Utf8Path;
use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, openat, unlinkat};

/// How many threads unlink at once: the work waits on the device, not
/// on the processor.
const THREADS: usize = 8;
/// How many names a thread is handed at a time.
const BATCH: usize = 64;

/// Names to unlink, in the folder open at the descriptor.
type Batch = (Arc<OwnedFd>, Vec<CString>);

/// Unlinks every file (and symbolic link) below `dir`, leaving its
/// folders; stops at nothing, leaving what fails to the caller.
pub(super) fn unlink_files(dir: &Utf8Path) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(root) = openat(CWD, dir.as_std_path(), flags, Mode::empty()) else {
        return;
    };
    let (send, receive) = mpsc::sync_channel::<Batch>(THREADS * 2);
    let receive = Mutex::new(receive);
    std::thread::scope(|threads| {
        let mut started = 0;
        for _ in 0..THREADS {
            let receive = &receive;
            let thread = std::thread::Builder::new().spawn_scoped(threads, move || {
                loop {
                    // The lock is held only to take the next batch.
                    let next = receive.lock().map(|r| r.recv());
                    let Ok(Ok((folder, names))) = next else {
                        return;
                    };
                    for name in names {
                        let _ = unlinkat(&*folder, name.as_c_str(), AtFlags::empty());
                    }
                }
            });
            started += usize::from(thread.is_ok());
        }
        // Without a thread to take the batches, the caller removes it
        // all.
        if started > 0 {
            walk(Arc::new(root), &send);
        }
        drop(send);
    });
}

/// Reads the folders below `root`, each once, handing their files to
/// the threads in batches. The folders waiting to be read are kept by
/// name under an open parent, so that the descriptors held stay few.
fn walk(root: Arc<OwnedFd>, send: &mpsc::SyncSender<Batch>) {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut folders = vec![(root, None::<CString>)];
    while let Some((parent, name)) = folders.pop() {
        let folder = match name {
            None => parent,
            Some(name) => match openat(&*parent, name.as_c_str(), flags, Mode::empty()) {
                Ok(fd) => Arc::new(fd),
                Err(_) => continue,
            },
        };
        let Ok(entries) = Dir::read_from(&*folder) else {
            continue;
        };
        let mut batch = Vec::with_capacity(BATCH);
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let is_folder = match entry.file_type() {
                FileType::Directory => true,
                FileType::Unknown => rustix::fs::statat(&*folder, name, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
                _ => false,
            };
            if is_folder {
                folders.push((Arc::clone(&folder), Some(name.to_owned())));
                continue;
            }
            batch.push(name.to_owned());
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if send.send((Arc::clone(&folder), full)).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() && send.send((Arc::clone(&folder), batch)).is_err() {
            return;
        }
    }
}
