//! Where a run writes its staged files, with the mode and owner of the
//! document each replaces or comes from, and the check that each is on the
//! staging folder's file system.

use std::collections::HashSet;
use std::fs;

use camino::{Utf8Path, Utf8PathBuf};

use super::super::work::Read;
use crate::fsio;
use crate::run::{ErrorKind, io};

/// Where a run writes its staged files: the staging folder, the folders
/// made in it so far, and the process's umask, so that a staged file gets
/// the permissions of the document it replaces without a call to set them
/// where creating it gave them already.
pub(super) struct StagedFiles {
    pub(super) staging: Utf8PathBuf,
    made: HashSet<Utf8PathBuf>,
    umask: Option<u32>,
    /// The file system the staging folder is on (or will be: its nearest
    /// folder that exists), and the store's folders found on it.
    pub(super) device: Option<u64>,
    same_device: HashSet<Utf8PathBuf>,
    /// How a folder's file system is found (replaced in tests).
    pub(super) device_of: fn(&Utf8Path) -> Option<u64>,
}

impl StagedFiles {
    pub(super) fn new(staging: Utf8PathBuf) -> Self {
        StagedFiles {
            device: device_of(&staging),
            staging,
            made: HashSet::new(),
            umask: umask(),
            same_device: HashSet::new(),
            device_of,
        }
    }

    /// Refuses to stage the document at `path` (to write or to remove) when
    /// its folder (or the nearest one that exists) is on another file
    /// system than the staging folder, as a folder of the store that is a
    /// mount point is: the commit moves every staged file into place, and
    /// every removed document aside into the staging folder, by a rename,
    /// which cannot cross file systems, and would fail after all the work.
    pub(super) fn check_device(
        &mut self,
        root: &Utf8Path,
        path: &Utf8Path,
    ) -> Result<(), ErrorKind> {
        let folder = path.parent().unwrap_or(Utf8Path::new(""));
        if self.same_device.contains(folder) {
            return Ok(());
        }
        let here = (self.device_of)(&root.join(folder));
        if let (Some(staging), Some(here)) = (self.device, here)
            && staging != here
        {
            return Err(ErrorKind::BadPath {
                path: path.to_owned(),
                reason: format!(
                    "its folder is on another file system than the run's staging folder \
                     `{}` (a mount point inside the store?); a run moves each document it \
                     rewrites into place from there, and each it removes into it, which cannot \
                     cross file systems: exclude the folder, or migrate it as a store of its own",
                    self.staging
                ),
            });
        }
        self.same_device.insert(folder.to_owned());
        Ok(())
    }

    /// `path` in the staging folder, its folder made if it is not yet.
    pub(super) fn dir(&mut self, path: &Utf8Path) -> Result<Utf8PathBuf, ErrorKind> {
        let target = self.staging.join(path);
        if let Some(parent) = target.parent()
            && !self.made.contains(parent)
        {
            fsio::create_dir_all(parent).map_err(io("create", parent))?;
            self.made.insert(parent.to_owned());
        }
        Ok(target)
    }

    /// Writes one staged file, with the permission bits and owner of the
    /// document it replaces or comes from (`like`; the owner only when
    /// running as root), or the default ones; it is made durable with every
    /// other staged file, before the journal.
    pub(super) fn write(
        &mut self,
        path: &Utf8Path,
        bytes: &[u8],
        like: Option<&Read>,
    ) -> Result<(), ErrorKind> {
        let mode = like.map(|r| r.mode);
        let target = self.dir(path)?;
        fsio::point("stage", &target).map_err(io("stage", &target))?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode & 0o777);
        }
        let mut file = fsio::open_no_link(&mut options, &target).map_err(io("stage", &target))?;
        fsio::write_all(&mut file, "write", &target, bytes).map_err(io("stage", &target))?;
        // A change of owner clears the set-id bits: the mode is set after.
        let owned = match like {
            Some(r) => fsio::point("set owner of", &target)
                .and_then(|()| fsio::give_owner(&file, r.meta.uid, r.meta.gid))
                .map_err(io("set owner of", &target))?,
            None => false,
        };
        let given = |umask: u32| mode.is_some_and(|m| m & 0o777 & !umask == m);
        if let Some(mode) = mode
            && (owned || !self.umask.is_some_and(given))
        {
            fsio::point("set permissions of", &target)
                .and_then(|()| set_mode(&file, mode))
                .map_err(io("set permissions of", &target))?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(file: &fs::File, mode: u32) -> std::io::Result<()> {
    let mut permissions = file.metadata()?.permissions();
    permissions.set_readonly(mode & 0o222 == 0);
    file.set_permissions(permissions)
}

/// The file system `path` is on, or the nearest folder above it that
/// exists is on; `None` where there is no such number or nothing exists.
fn device_of(path: &Utf8Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        path.ancestors()
            .find_map(|p| fs::metadata(p).ok())
            .map(|m| m.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The process's umask, where the system says it without changing it
/// (`/proc/self/status` on Linux); `None` elsewhere.
fn umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}
