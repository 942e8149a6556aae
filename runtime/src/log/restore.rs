//! Staging a snapshot restore of a log: the snapshot's files are checked as
//! they are copied out beside the log (a dry run only reads them through),
//! while the files as they are now are hashed for the snapshot the restore
//! takes first. A restore refuses to throw away records written since the
//! run it undoes.

use std::fs;

use camino::Utf8PathBuf;

use super::LogError;
use super::record::LogRecord;
use super::run::Staged;
use super::snapshot;
use super::store::{LogFile, LogStore};
use super::stream::{self, Fingerprint};
use crate::run::store::{Restoring, SnapshotEntry};
use crate::run::{Change, ChangeKind, Counts, ErrorKind, Run, io};
use crate::snapshot::SnapshotInfo;

/// Stages the restore of `entry`.
pub(super) fn stage(
    store: &LogStore,
    run: &Run<'_, LogRecord>,
    entry: &SnapshotEntry,
) -> Result<(Staged, Restoring), ErrorKind> {
    let manifest = snapshot::read_manifest(&entry.path)?;
    let info = SnapshotInfo {
        id: entry.id.clone(),
        path: entry.path.clone(),
        size: snapshot::folder_size(&entry.path),
        manifest,
    };
    if let Some(committed) = snapshot::committed(&info.path)? {
        for file in &committed.files {
            let path = store.dir().join(&file.name);
            let now = fs::metadata(&path).map(|m| m.len()).ok();
            if now != Some(file.size) {
                let what = match now {
                    Some(now) => format!("{} bytes when committed, {now} now", file.size),
                    None => format!("{} bytes when committed, gone now", file.size),
                };
                return Err(ErrorKind::store(LogError::ChangedSinceRun {
                    path,
                    snapshot: info.id.clone(),
                    what,
                }));
            }
        }
    }
    let files: Vec<LogFile> = (info.manifest.files.iter())
        .map(|e| LogFile::new(store.dir(), &e.path))
        .collect();
    let restoring = Restoring {
        from: Some(info.manifest.to_version),
        to: info.manifest.from_version,
        records: files.len(),
        counts: Counts {
            changed: files.len(),
            ..Counts::default()
        },
        changes: (info.manifest.files.iter())
            .map(|f| Change {
                path: Utf8PathBuf::from(&f.path),
                kind: ChangeKind::Changed,
                diff: None,
            })
            .collect(),
    };
    let mut staged = Staged::default();
    if run.dry_run() {
        snapshot::verify(&info)?;
        return Ok((staged, restoring));
    }
    // The files as they are now are hashed (for a snapshot of them, in case
    // this restore is itself a mistake) while the snapshot's files are
    // copied out beside them.
    let (copied, now) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_now(&files));
        let copied = (|| {
            for (entry, file) in info.manifest.files.iter().zip(&files) {
                let temp = LogStore::temp_name(file, run.id());
                staged.renames.push((file.clone(), temp.clone()));
                snapshot::restore_file(&info.path, entry, &store.dir().join(&temp))?;
            }
            Ok::<_, ErrorKind>(())
        })();
        let now = hashing.join().unwrap_or_else(|_| {
            Err(io("read", store.path())(std::io::Error::other(
                "the hashing thread panicked",
            )))
        });
        (copied, now)
    });
    let now = copied.and(now).inspect_err(|_| {
        for (_, temp) in &staged.renames {
            let _ = fs::remove_file(store.dir().join(temp));
        }
    })?;
    staged.keep = now;
    Ok((staged, restoring))
}

/// Each of `files` that exists, as it is now.
fn hash_now(files: &[LogFile]) -> Result<Vec<(LogFile, Fingerprint)>, ErrorKind> {
    files
        .iter()
        .filter(|f| f.path.exists())
        .map(|f| stream::hash_file(&f.path).map(|seen| (f.clone(), seen)))
        .collect()
}
