//! The commit journal of a staged-files store (a folder, a log): the
//! operations a commit performs, written before the first one, so that a
//! crash in the middle is finished on the next start; and what recovery
//! decides about one. Each store defines its own operations.

use std::fs;
use std::io;

use camino::Utf8Path;
use serde::Serialize;

use super::error::{ErrorKind, io};
use crate::fsio;

/// Writes a journal (of any store) durably, in one rename.
pub(crate) fn write<J: Serialize>(journal: &J, path: &Utf8Path) -> Result<(), ErrorKind> {
    let text = serde_json::to_string_pretty(journal).map_err(|e| ErrorKind::Damaged {
        path: path.to_owned(),
        line: 0,
        message: e.to_string(),
    })?;
    fsio::write_atomic(path, text.as_bytes()).map_err(io("write journal", path))
}

/// Reads the journal an interrupted run of a `what` (store, log) left at
/// `path`, if there is one; a journal that does not parse is damage.
pub(crate) fn read<J: serde::de::DeserializeOwned>(
    path: &Utf8Path,
    what: &str,
) -> Result<Option<J>, ErrorKind> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read journal", path)(e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| damaged(path, what, e.line(), &e.to_string()))
}

/// A journal that verchain did not write as it reads.
pub(crate) fn damaged(path: &Utf8Path, what: &str, line: usize, message: &str) -> ErrorKind {
    ErrorKind::Damaged {
        path: path.to_owned(),
        line,
        message: format!(
            "{message}; the {what} may be half-committed: restore the newest snapshot by hand"
        ),
    }
}

/// The end of a commit, for any store: the run's history `lines` appended
/// (marked as recovered when a recovery finishes the commit, and not again
/// if the run got that far), then the journal removed and its folder synced.
/// From here the store has no commit pending.
pub(crate) fn close(
    history_path: &Utf8Path,
    journal_path: &Utf8Path,
    run_id: &str,
    lines: &[String],
    recovering: bool,
) -> Result<(), ErrorKind> {
    // Only a recovery can find its lines already written (by the run it
    // finishes); a fresh commit does not read the whole history.
    let recorded = recovering
        && super::history::read(history_path)?
            .iter()
            .any(|r| r.run_id == run_id);
    if !recorded {
        let created = !history_path.exists();
        let lines: Vec<String> = if recovering {
            lines
                .iter()
                .map(|l| super::history::recovered_line(l))
                .collect()
        } else {
            lines.to_vec()
        };
        fsio::append_lines(history_path, &lines).map_err(io("append to", history_path))?;
        if created {
            // The history file's name is durable before the journal goes.
            let folder = history_path.parent().unwrap_or(Utf8Path::new("."));
            fsio::sync_dir(folder).map_err(io("sync", folder))?;
        }
    }
    remove(journal_path)
}

/// What recovery does with the commit journal of an interrupted run, for
/// any store: finish it, give it up, or stop.
pub(crate) enum Recovery {
    /// Every staged file is as the journal says: finish the commit.
    Finish,
    /// It cannot finish, but nothing has been moved yet: the store is whole
    /// as before that run, which is given up (see [`GivenUp`]).
    GiveUp(ErrorKind),
    /// It cannot finish and files have been moved (or the check itself
    /// failed): stop, and say how to restore the snapshot.
    Stop(ErrorKind),
}

impl Recovery {
    /// Decides from the journal's `check` and whether it is `untouched`.
    pub fn decide(check: Result<(), ErrorKind>, untouched: impl Fn() -> bool) -> Recovery {
        match check {
            Ok(()) => Recovery::Finish,
            Err(
                cause @ (ErrorKind::StagedFileDamaged { .. } | ErrorKind::StagedFileLost { .. }),
            ) if untouched() => Recovery::GiveUp(cause),
            Err(cause) => Recovery::Stop(cause),
        }
    }
}

/// Removes the journal at `path` and syncs its folder: from here the store
/// has no commit pending.
pub(crate) fn remove(path: &Utf8Path) -> Result<(), ErrorKind> {
    let state = path.parent().unwrap_or(Utf8Path::new("."));
    fsio::remove_file(path)
        .and_then(|()| fsio::sync_dir(state))
        .map_err(io("remove", path))
}
