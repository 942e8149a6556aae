//! Commit journals: any bytes as the journal a crashed run left behind, in
//! a document folder and in a log's state folder.

use camino::{Utf8Component, Utf8Path};

use super::{Violation, ensure, scratch, setup};
use crate::folder::journal::{Journal, Op};
use crate::log::journal::Journal as LogJournal;
use crate::run::journal::Operations;

/// Reads the bytes as a folder store's `.verchain/journal.json`.
///
/// What must hold: an error names the journal; an accepted journal names
/// only plain relative paths of documents outside `.verchain`, a staging
/// folder directly in `.verchain/staging/` and a snapshot by one plain
/// name, and reads back the same once written again.
pub fn dir_journal(data: &[u8]) -> Result<(), Violation> {
    let (_dir, root) = scratch()?;
    let path = root.join("journal.json");
    std::fs::write(&path, data).map_err(|e| setup("write the journal", e))?;
    let journal = match Journal::read_at(&path) {
        Ok(Some(journal)) => journal,
        Ok(None) => return Err(Violation::new("a journal that exists reads as none")),
        Err(error) => return names(&error.to_string(), &path),
    };
    let staging = &journal.ops.staging;
    ensure!(
        staging.parent() == Some(Utf8Path::new(".verchain/staging"))
            && staging.file_name().is_some_and(|n| !n.starts_with('.')),
        "accepted staging folder `{staging}`"
    );
    for op in &journal.ops.ops {
        let (Op::Write { path, .. } | Op::Remove { path, .. }) = op;
        ensure!(
            plain(path) && !path.starts_with(crate::run::STATE_DIR),
            "accepted an operation on `{path}`"
        );
    }
    snapshot_id(journal.snapshot.as_deref())?;
    reads_back(&journal, &root)
}

/// Reads the bytes as a log's `.verchain/<log>/journal.json`.
///
/// What must hold: an error names the journal; an accepted journal renames
/// only hidden `.verchain-` temporary files onto plain file names in the
/// log's folder, names a snapshot by one plain name, and reads back the
/// same once written again.
pub fn jsonl_journal(data: &[u8]) -> Result<(), Violation> {
    let (_dir, root) = scratch()?;
    let path = root.join("journal.json");
    std::fs::write(&path, data).map_err(|e| setup("write the journal", e))?;
    let journal = match LogJournal::read_at(&path) {
        Ok(Some(journal)) => journal,
        Ok(None) => return Err(Violation::new("a journal that exists reads as none")),
        Err(error) => return names(&error.to_string(), &path),
    };
    for rename in &journal.ops.renames {
        let (from, to) = (rename.from.as_str(), rename.to.as_str());
        ensure!(
            one_name(from) && one_name(to) && from.starts_with('.') && from.contains(".verchain-"),
            "accepted a rename of `{from}` to `{to}`"
        );
    }
    snapshot_id(journal.snapshot.as_deref())?;
    reads_back(&journal, &root)
}

/// Writes the accepted `journal` again (as verchain writes journals) in
/// `root`, and checks that `read` reads it back the same.
fn reads_back<O: Operations>(
    journal: &crate::run::journal::Journal<O>,
    root: &Utf8Path,
) -> Result<(), Violation> {
    let again = root.join("again.json");
    journal
        .write_at(&again)
        .map_err(|e| Violation::new(format!("an accepted journal is not written: {e}")))?;
    match crate::run::journal::Journal::<O>::read_at(&again) {
        Ok(Some(back)) => ensure!(
            serde_json::to_string(&back).ok() == serde_json::to_string(journal).ok(),
            "a journal written again reads back otherwise"
        ),
        Ok(None) => return Err(Violation::new("a journal written again is missing")),
        Err(error) => {
            return Err(Violation::new(format!(
                "a journal written again is refused: {error}"
            )));
        }
    }
    Ok(())
}

/// Checks that an accepted journal's snapshot (which recovery may remove)
/// is one plain, visible name in the snapshot folder.
fn snapshot_id(snapshot: Option<&str>) -> Result<(), Violation> {
    if let Some(id) = snapshot {
        ensure!(
            one_name(id) && !id.starts_with('.'),
            "accepted the snapshot `{id}`"
        );
    }
    Ok(())
}

/// Whether the error `message` names the journal at `path`.
fn names(message: &str, path: &Utf8Path) -> Result<(), Violation> {
    ensure!(
        message.contains(path.as_str()),
        "the error does not name the journal: {message}"
    );
    Ok(())
}

/// A non-empty path of plain names only: no root, no `.` or `..`.
fn plain(path: &Utf8Path) -> bool {
    path.components().next().is_some()
        && path
            .components()
            .all(|c| matches!(c, Utf8Component::Normal(_)))
}

/// A single plain file name.
fn one_name(name: &str) -> bool {
    let path = Utf8Path::new(name);
    !name.contains(['/', '\\', '\0']) && path.components().count() == 1 && plain(path)
}
