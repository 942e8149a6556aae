//! Named fault points: every write, fsync, rename, removal and folder fsync
//! the runtime performs passes one first, so that tests can kill the
//! process or fail the operation at the Nth one. Without the `faults`
//! feature a point compiles to nothing.
//!
//! With the feature, the environment variable `VERCHAIN_FAULT` picks the
//! fault: `crash:N` kills the process with SIGKILL at the Nth point,
//! `fail:N:ERRNO` makes the Nth operation fail with that OS error (28 is
//! ENOSPC, 13 EACCES, 5 EIO), `short:N` makes the Nth operation, if it is a
//! write, write only the first half of its bytes (see [`write_point`]).
//! Points are counted per process.

use std::io;

use camino::Utf8Path;

/// Passes the fault point of operation `op` on `path`.
#[inline]
pub(crate) fn point(op: &'static str, path: &Utf8Path) -> io::Result<()> {
    #[cfg(feature = "faults")]
    {
        armed::hit(op, path)
    }
    #[cfg(not(feature = "faults"))]
    {
        let _ = (op, path);
        Ok(())
    }
}

/// How much of a write the fault plan lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amount {
    /// All of it.
    All,
    /// The first half: a short write. A writer's `write` returns the short
    /// count (its caller must write the rest); a whole-buffer write fails
    /// after it with ENOSPC, as when the disk fills in the middle of one.
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    Half,
}

/// Passes the fault point of a write of `len` bytes (`op` on `path`), and
/// says how much of it may go through: a write of one byte or none cannot
/// be cut short.
#[inline]
pub(crate) fn write_point(op: &'static str, path: &Utf8Path, len: usize) -> io::Result<Amount> {
    #[cfg(feature = "faults")]
    {
        armed::hit_write(op, path, len)
    }
    #[cfg(not(feature = "faults"))]
    {
        let _ = (op, path, len);
        Ok(Amount::All)
    }
}

/// How many fault points this process has passed, and the last one's
/// operation and path.
#[cfg(feature = "faults")]
pub fn passed() -> (u64, Option<String>) {
    armed::passed()
}

/// The write (its operation and path) that a `short:N` plan cut short in
/// this process, if the Nth point was a write.
#[cfg(feature = "faults")]
pub fn shortened() -> Option<String> {
    armed::shortened()
}

/// Kills this process with SIGKILL, as a crash at a fault point does.
#[cfg(feature = "faults")]
pub fn crash() -> ! {
    armed::crash()
}

#[cfg(feature = "faults")]
mod armed {
    use std::io;
    use std::sync::Mutex;
    use std::sync::OnceLock;

    use camino::Utf8Path;

    use super::Amount;

    enum Plan {
        Crash(u64),
        Fail(u64, i32),
        Short(u64),
    }

    static PASSED: Mutex<(u64, Option<String>)> = Mutex::new((0, None));
    static SHORTENED: Mutex<Option<String>> = Mutex::new(None);

    fn plan() -> Option<&'static Plan> {
        static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let text = std::env::var("VERCHAIN_FAULT").ok()?;
            let parts: Vec<&str> = text.split(':').collect();
            match parts.as_slice() {
                ["crash", n] => Some(Plan::Crash(n.parse().ok()?)),
                ["fail", n, errno] => Some(Plan::Fail(n.parse().ok()?, errno.parse().ok()?)),
                ["short", n] => Some(Plan::Short(n.parse().ok()?)),
                _ => None,
            }
        })
        .as_ref()
    }

    /// Counts a point; returns its number.
    fn count(op: &'static str, path: &Utf8Path) -> u64 {
        let mut passed = PASSED.lock().unwrap_or_else(|e| e.into_inner());
        passed.0 += 1;
        passed.1 = Some(format!("{op} {path}"));
        passed.0
    }

    /// A point that is not a write: a `short:N` plan does nothing to it.
    pub(super) fn hit(op: &'static str, path: &Utf8Path) -> io::Result<()> {
        let n = count(op, path);
        match plan() {
            Some(Plan::Crash(at)) if *at == n => crash(),
            Some(Plan::Fail(at, errno)) if *at == n => Err(io::Error::from_raw_os_error(*errno)),
            _ => Ok(()),
        }
    }

    pub(super) fn hit_write(op: &'static str, path: &Utf8Path, len: usize) -> io::Result<Amount> {
        let n = count(op, path);
        match plan() {
            Some(Plan::Crash(at)) if *at == n => crash(),
            Some(Plan::Fail(at, errno)) if *at == n => Err(io::Error::from_raw_os_error(*errno)),
            Some(Plan::Short(at)) if *at == n && len > 1 => {
                *SHORTENED.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{op} {path}"));
                Ok(Amount::Half)
            }
            _ => Ok(Amount::All),
        }
    }

    pub(super) fn shortened() -> Option<String> {
        SHORTENED.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn passed() -> (u64, Option<String>) {
        PASSED.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Dies at once, as a machine losing power would end the process: no
    /// destructor runs and no buffer is flushed.
    pub(super) fn crash() -> ! {
        #[cfg(target_os = "linux")]
        {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
        std::process::abort()
    }
}
