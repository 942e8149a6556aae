//! What a restore puts back besides the bytes: each file's permission
//! bits, whatever the umask; its modification time, to the nanosecond; and
//! its owner, when verchain runs as root.

use std::fs::{self, File};
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A file's attributes as a snapshot records them (format 2 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMeta {
    /// The permission bits, at most `0o777` (set-id and sticky bits are
    /// neither recorded nor restored).
    pub mode: u32,
    /// The modification time: whole seconds since the Unix epoch (negative
    /// before it)…
    pub mtime: i64,
    /// … and the nanoseconds within that second (below 1,000,000,000).
    pub mtime_nsec: u32,
    /// The owner's user id, where the platform has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The owner's group id, where the platform has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

impl FileMeta {
    /// The attributes `meta` (a file's metadata) says the file has.
    pub(crate) fn of(meta: &fs::Metadata) -> FileMeta {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileMeta {
                mode: meta.mode() & 0o777,
                mtime: meta.mtime(),
                mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
                uid: Some(meta.uid()),
                gid: Some(meta.gid()),
            }
        }
        #[cfg(not(unix))]
        {
            let (mtime, mtime_nsec) = meta.modified().map(split).unwrap_or((0, 0));
            FileMeta {
                mode: if meta.permissions().readonly() {
                    0o444
                } else {
                    0o644
                },
                mtime,
                mtime_nsec,
                uid: None,
                gid: None,
            }
        }
    }

    /// The modification time, or `None` when it cannot be one (nanoseconds
    /// past a second, or out of the platform's range).
    fn modified(&self) -> Option<SystemTime> {
        if self.mtime_nsec >= 1_000_000_000 {
            return None;
        }
        let nanos = Duration::from_nanos(u64::from(self.mtime_nsec));
        let seconds = Duration::from_secs(self.mtime.unsigned_abs());
        if self.mtime >= 0 {
            UNIX_EPOCH.checked_add(seconds)?.checked_add(nanos)
        } else {
            UNIX_EPOCH.checked_sub(seconds)?.checked_add(nanos)
        }
    }

    /// Why these attributes cannot be put back, or `None`.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.mode > 0o777 {
            Some("`mode` holds more than permission bits")
        } else if self.modified().is_none() {
            Some("`mtime` and `mtime_nsec` are not a modification time")
        } else {
            None
        }
    }

    /// Gives the open `file` these attributes, after its last write: the
    /// owner first when running as root (a change of owner may clear
    /// permission bits), then the permission bits exactly (the umask does
    /// not apply to a change of mode), then the modification time.
    pub(crate) fn apply(&self, file: &File) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let (Some(uid), Some(gid)) = (self.uid, self.gid)
                && rustix::process::geteuid().is_root()
            {
                std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
            }
            file.set_permissions(fs::Permissions::from_mode(self.mode & 0o777))?;
        }
        #[cfg(not(unix))]
        {
            let mut permissions = file.metadata()?.permissions();
            permissions.set_readonly(self.mode & 0o222 == 0);
            file.set_permissions(permissions)?;
        }
        let modified = self.modified().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "modification time {}.{:09} is out of range",
                    self.mtime, self.mtime_nsec
                ),
            )
        })?;
        file.set_modified(modified)
    }
}

/// A time as whole seconds since the Unix epoch and nanoseconds.
#[cfg(not(unix))]
fn split(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_and_after_the_epoch_come_back_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        for (mtime, mtime_nsec) in [(1_732_370_709, 123_456_789), (-86_401, 999_999_999), (0, 0)] {
            let meta = FileMeta {
                mode: 0o640,
                mtime,
                mtime_nsec,
                uid: None,
                gid: None,
            };
            assert_eq!(meta.problem(), None);
            meta.apply(&file).unwrap();
            let back = FileMeta::of(&fs::metadata(&path).unwrap());
            assert_eq!((back.mtime, back.mtime_nsec), (mtime, mtime_nsec));
            #[cfg(unix)]
            assert_eq!(back.mode, 0o640);
        }
    }

    #[test]
    fn attributes_that_cannot_be_put_back_are_named() {
        let meta = |mode, mtime, mtime_nsec| FileMeta {
            mode,
            mtime,
            mtime_nsec,
            uid: None,
            gid: None,
        };
        assert!(meta(0o4755, 0, 0).problem().is_some());
        assert!(meta(0o644, 0, 1_000_000_000).problem().is_some());
    }
}
