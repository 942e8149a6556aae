//! The log's side of the run protocol ([`Store`] for [`LogStore`]): its
//! lock and state in `.verchain/<log name>/`, each file's version from its
//! first line, and staging: each file streamed through the steps into a
//! hidden new file beside it. Until the journal is written the log's files
//! are untouched. The commit is in `commit.rs`, a restore in `restore.rs`.

use std::fs;

use camino::{Utf8Path, Utf8PathBuf};

use super::journal::Journal;
use super::record::LogRecord;
use super::snapshot;
use super::store::{LogFile, LogStore};
use super::stream::{self, Fingerprint, Job};
use crate::fsio;
use crate::run::Verified;
use crate::run::plan;
use crate::run::store::{
    Failed, Item, Purpose, Restoring, SnapshotEntry, SnapshotFormat, Staging, StampState, Store,
    Taken, Undo, Version, Work,
};
use crate::run::{
    ChainInfo, Change, ChangeKind, Counts, ErrorKind, Event, HistoryRecord, Outcome, Run,
    RunOptions, Stage, history, io,
};
use crate::snapshot::{Manifest, SnapshotError};

/// What a run prepared: new files beside the log's, the files a snapshot
/// keeps as they were read, and whether quarantine files were written.
#[derive(Default)]
pub struct Staged {
    /// Each new file (hidden, beside the log) and the file it replaces.
    pub(super) renames: Vec<(LogFile, String)>,
    /// The files as they were read: the snapshot keeps them, and a file
    /// that changes since is not committed.
    pub(super) keep: Vec<(LogFile, Fingerprint)>,
}

impl Item for LogFile {
    fn path(&self) -> &Utf8Path {
        &self.path
    }
}

impl crate::run::store::sealed::Sealed for LogStore {}

impl Store for LogStore {
    type Record = LogRecord;
    type Item = LogFile;
    type Session = ();
    type Staged<'s> = Staged;
    type Journal = Journal;

    const KIND: &'static str = "log";
    const QUARANTINES: bool = true;

    fn location(&self) -> &Utf8Path {
        self.path()
    }

    fn open(&self, purpose: Purpose, _: &RunOptions) -> Result<(), ErrorKind> {
        self.check_name()?;
        let exists = fs::symlink_metadata(self.path()).is_ok();
        let must_exist = match purpose {
            Purpose::Run => true,
            // A log that is gone still has its history and snapshots.
            Purpose::Read | Purpose::Prune => !self.state_dir().exists(),
            Purpose::Startup | Purpose::Restore => false,
        };
        if must_exist && let Err(e) = fs::metadata(self.path()) {
            return Err(io("open log", self.path())(e));
        }
        let dir = self.dir();
        fs::metadata(dir).map_err(io("open folder", dir))?;
        // Nothing is created beside a path that is not a log file.
        if exists && fs::metadata(self.path()).is_ok_and(|meta| !meta.is_file()) {
            return Err(io("open log", self.path())(std::io::Error::other(
                "it is not a file",
            )));
        }
        Ok(())
    }

    fn state_dir(&self) -> Utf8PathBuf {
        LogStore::state_dir(self)
    }

    fn leftovers(&self, _: &mut ()) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        Ok(self.stale_temps())
    }

    fn stamp(&self, _: &mut (), chain: &ChainInfo<LogRecord>) -> Result<Option<u32>, ErrorKind> {
        let main = LogFile::new(self.dir(), self.name());
        if !main.path.exists() {
            return Ok(None);
        }
        stream::detect(&main, chain.version_key, self.unversioned_or(chain)).map(Some)
    }

    fn prepare_startup(&self, _: &mut (), chain: &ChainInfo<LogRecord>) -> Result<(), ErrorKind> {
        if self.path().exists() {
            return Ok(());
        }
        let mut meta = serde_json::Map::new();
        meta.insert(chain.version_key.to_owned(), chain.current.into());
        let line = serde_json::json!({ "_meta": meta }).to_string() + "\n";
        fsio::write_atomic(self.path(), line.as_bytes()).map_err(io("create", self.path()))
    }

    fn items(&self, _: &mut ()) -> Result<Vec<LogFile>, ErrorKind> {
        self.files()
    }

    fn stamp_state(
        &self,
        _: &mut (),
        chain: &ChainInfo<LogRecord>,
    ) -> Result<StampState, ErrorKind> {
        self.log_stamp_state(chain)
    }

    fn begin_stamp<'s>(
        &'s self,
        _: &'s mut (),
        run: &Run<'_, LogRecord>,
        version: u32,
    ) -> Result<Staged, ErrorKind> {
        self.stage_stamp(run, version)
    }

    fn version_of(
        &self,
        _: &mut (),
        chain: &ChainInfo<LogRecord>,
        file: &LogFile,
        _stamp: Option<u32>,
    ) -> Result<Version, ErrorKind> {
        stream::detect(file, chain.version_key, self.unversioned_or(chain)).map(Version::At)
    }

    fn begin<'s>(
        &'s self,
        _: &'s mut (),
        _: &Run<'_, LogRecord>,
        _: &Work<'_, '_, Self>,
    ) -> Result<Staged, ErrorKind> {
        Ok(Staged::default())
    }

    fn stage(
        &self,
        staged: &mut Staged,
        run: &Run<'_, LogRecord>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind> {
        self.stream_all(staged, run, work)
    }

    fn snapshot(
        &self,
        staged: &mut Staged,
        run: &Run<'_, LogRecord>,
        from: u32,
        to: u32,
    ) -> Result<Option<Taken>, ErrorKind> {
        if staged.keep.is_empty() {
            return Ok(None);
        }
        run.snapshot_started(staged.keep.len());
        unchanged_since_read(&staged.keep)?;
        let kept: Vec<(&LogFile, &Fingerprint)> = staged.keep.iter().map(|(f, s)| (f, s)).collect();
        let info = snapshot::create(
            &self.snapshot_dir(),
            run.chain.name,
            run.id(),
            from,
            to,
            &kept,
            self.compresses_snapshots(),
        )?;
        // The last moment a writer could have appended unnoticed is before
        // this check; see the store's docs on live appends.
        if let Err(e) = unchanged_since_read(&staged.keep) {
            let _ = fsio::point("remove", &info.path).and_then(|()| fs::remove_dir_all(&info.path));
            return Err(e);
        }
        Ok(Some(info.into()))
    }

    fn commit(
        &self,
        staged: Staged,
        run: &Run<'_, LogRecord>,
        records: &[HistoryRecord],
        snapshot: Option<&str>,
    ) -> Result<(), Failed> {
        super::commit::commit(self, staged, run, records, snapshot)
    }

    fn discard(&self, staged: Staged, run_id: &str) {
        for (_, temp) in &staged.renames {
            let _ = fs::remove_file(self.dir().join(temp));
        }
        let _ = fs::remove_dir_all(self.quarantine_dir().join(run_id));
    }

    fn stage_restore<'s>(
        &'s self,
        _: &'s mut (),
        run: &Run<'_, LogRecord>,
        snapshot: &SnapshotEntry,
        _undo: &Undo,
    ) -> Result<(Staged, Restoring), ErrorKind> {
        super::restore::stage(self, run, snapshot)
    }

    fn check(
        &self,
        _: &mut (),
        run: &Run<'_, LogRecord>,
        file: &LogFile,
        version: u32,
    ) -> Result<Verified, ErrorKind> {
        let schema = |record: &LogRecord| (run.chain.check_schema)(version, record);
        let job = Job {
            file,
            target: version,
            moves: &[],
            version_key: run.chain.version_key,
            unversioned: self.unversioned_or(&run.chain),
            schema: &schema,
            quarantine: self
                .skips_malformed(run)
                .then(|| self.quarantine_path(run, file)),
            write_quarantine: false,
            output: None,
            diff_limit: 0,
            progress: None,
        };
        let outcome = stream::run(&job)?;
        Ok(Verified {
            checked: outcome.records as usize,
            invalid: usize::try_from(outcome.failure_total).unwrap_or(usize::MAX),
            failures: outcome.failures,
        })
    }

    fn snapshots(&self) -> &'static dyn SnapshotFormat {
        &Folders
    }

    fn manual_restore(&self, snapshot: &Utf8Path) -> String {
        format!(
            "copy every file {snapshot}/MANIFEST.json lists back into {} (a copy ending in `.zst` \
             that the manifest lists without it is compressed: `zstd -d` it to the listed name)",
            self.dir()
        )
    }
}

impl LogStore {
    /// The version of a file without a header.
    fn unversioned_or(&self, chain: &ChainInfo<LogRecord>) -> u32 {
        self.unversioned().unwrap_or(chain.base)
    }

    /// Whether malformed lines are quarantined: the store's setting, or
    /// this run's.
    fn skips_malformed(&self, run: &Run<'_, LogRecord>) -> bool {
        self.skip_malformed_set() || run.options.skip_malformed
    }

    /// The hidden name of a file's new version during run `run_id`.
    pub(super) fn temp_name(file: &LogFile, run_id: &str) -> String {
        format!(".{}.verchain-{}", file.name, run_id)
    }

    fn quarantine_path(&self, run: &Run<'_, LogRecord>, file: &LogFile) -> Utf8PathBuf {
        let name = file.name.strip_suffix(".zst").unwrap_or(&file.name);
        self.quarantine_dir()
            .join(run.id())
            .join(format!("{name}.malformed"))
    }

    /// Streams every file not at the target through its part of the plan,
    /// to a new file beside it unless this is a dry run.
    fn stream_all(
        &self,
        staged: &mut Staged,
        run: &Run<'_, LogRecord>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind> {
        let (plan, target) = (work.plan, work.target);
        let todo: Vec<&(LogFile, u32)> = (work.detected.records.iter())
            .filter(|(_, v)| *v != target)
            .collect();
        let bytes: u64 = (todo.iter())
            .filter_map(|(f, _)| fs::metadata(&f.path).ok())
            .map(|m| m.len())
            .sum();
        let progress = run.options.observer.as_ref().map(|o| {
            o.emit(&Event::StageStarted {
                stage: Stage::Stage,
                total: bytes as usize,
            });
            stream::Progress::new(o, bytes as usize)
        });
        for m in plan {
            run.step_started(m);
        }
        let mut out = Staging {
            per_step: vec![Counts::default(); plan.len()],
            ..Staging::default()
        };
        let mut diff_left = run.options.diff_limit;
        for (file, version) in todo {
            let moves = plan::from_version(plan, *version);
            // Only a file the plan can take from its own version (one step
            // run alone leaves files at other versions as they are).
            if moves.first().map(|m| m.from) != Some(*version) {
                continue;
            }
            let temp = LogStore::temp_name(file, run.id());
            let output = (!run.dry_run()).then(|| self.dir().join(&temp));
            if output.is_some() {
                staged.renames.push((file.clone(), temp));
            }
            let schema = |record: &LogRecord| (run.chain.check_schema)(target, record);
            let job = Job {
                file,
                target,
                moves: &moves,
                version_key: run.chain.version_key,
                unversioned: self.unversioned_or(&run.chain),
                schema: &schema,
                quarantine: self
                    .skips_malformed(run)
                    .then(|| self.quarantine_path(run, file)),
                write_quarantine: !run.dry_run(),
                output,
                diff_limit: diff_left,
                progress: progress.as_ref(),
            };
            let o = stream::run(&job)?;
            diff_left -= o.diffs.min(diff_left);
            out.counts.changed += o.changed as usize;
            out.counts.unchanged += (o.records - o.changed) as usize;
            out.counts.quarantined += o.quarantined as usize;
            // Per-step counts line up with the plan, not the file's part of it.
            for (m, counts) in moves.iter().zip(&o.per_step) {
                if let Some(i) = plan.iter().position(|p| p.meta.id == m.meta.id) {
                    out.per_step[i].changed += counts.changed;
                    out.per_step[i].unchanged += counts.unchanged;
                }
            }
            out.failure_total += o.failure_total as usize;
            out.failures.extend(o.failures);
            let rel = Utf8PathBuf::from(&file.name);
            let diff =
                (!o.diff.is_empty()).then(|| format!("--- a/{rel}\n+++ b/{rel}\n{}", o.diff));
            out.changes.push(Change {
                path: rel,
                kind: ChangeKind::Changed,
                diff,
            });
            if let Some(seen) = o.seen {
                staged.keep.push((file.clone(), seen));
            }
            out.commits = true;
        }
        out.failures.truncate(crate::run::FAILURES_LISTED);
        for (m, counts) in plan.iter().zip(&out.per_step) {
            run.step_finished(m, *counts);
        }
        Ok(out)
    }

    /// The hidden new files a crashed run left beside the log, temporary
    /// files of the state folder, and the quarantine files of runs that
    /// never committed (the history has no line of theirs, or only lines of
    /// a commit recovery gave up).
    fn stale_temps(&self) -> Vec<Utf8PathBuf> {
        let prefix = format!(".{}", self.name());
        let mut found = Vec::new();
        if let Ok(entries) = fs::read_dir(self.dir()) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str()
                    && name.starts_with(&prefix)
                    && name.contains(".verchain-")
                {
                    found.push(self.dir().join(name));
                }
            }
        }
        found.extend(fsio::temps_in(&self.state_dir()));
        let quarantine = self.quarantine_dir();
        let Ok(entries) = fs::read_dir(&quarantine) else {
            return found;
        };
        let Ok(history) = history::read(&self.history_path()) else {
            return found;
        };
        for entry in entries.flatten() {
            if let Some(run) = entry.file_name().to_str()
                && !history
                    .iter()
                    .any(|r| r.run_id == run && r.outcome != Outcome::Abandoned)
            {
                found.push(quarantine.join(run));
            }
        }
        found
    }
}

/// Refuses to go on if a file changed since it was read.
pub(super) fn unchanged_since_read(files: &[(LogFile, Fingerprint)]) -> Result<(), ErrorKind> {
    for (file, seen) in files {
        if let Some(what) = seen.changed(&file.path)? {
            return Err(ErrorKind::ChangedDuringRun {
                path: file.path.clone(),
                what,
                kept: None,
            });
        }
    }
    Ok(())
}

/// A log's snapshots: `<id>/` folders holding the old files and a
/// `MANIFEST.json`.
struct Folders;

impl SnapshotFormat for Folders {
    fn id_of<'n>(&self, name: &'n str, is_dir: bool) -> Option<&'n str> {
        is_dir.then_some(name)
    }

    fn path_of(&self, dir: &Utf8Path, id: &str) -> Utf8PathBuf {
        snapshot::path_of(dir, id)
    }

    fn manifest(&self, path: &Utf8Path) -> Result<Manifest, SnapshotError> {
        snapshot::read_manifest(path)
    }

    fn size(&self, path: &Utf8Path) -> u64 {
        snapshot::folder_size(path)
    }

    fn remove(&self, path: &Utf8Path) -> std::io::Result<()> {
        fs::remove_dir_all(path)
    }
}
