//! The run over a log: lock → recover → detect → plan → stream each file to
//! a new file beside it (steps, validation) → snapshot → commit (renames,
//! journaled) → record → unlock.
//!
//! Until the journal is written, the log's files are untouched: new files
//! are hidden temporary files beside them. A failure before that leaves the
//! log byte for byte as it was; a crash after it is finished by the next run.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

use super::error::JsonlError;
use super::journal::{Journal, Rename};
use super::record::LogRecord;
use super::snapshot::{self, Committed, CommittedFile};
use super::store::{JsonlStore, LogFile};
use super::stream::{self, Job, Move, Outcome, Seen};
use crate::clock::{now_for_name, now_rfc3339};
use crate::run::history;
use crate::run::lock::{self, StoreLock};
use crate::run::{
    Change, ChangeKind, Counts, Direction, ErrorKind, HistoryRecord, Outcome as RunOutcome,
    PlannedStep, Report, RunError, RunOptions, Stage, io,
};
use crate::snapshot::SnapshotInfo;
use crate::{Chain, Step, fsio};

/// Every file's version, as detected.
pub(crate) struct Detected {
    pub files: Vec<(LogFile, u32)>,
    pub versions: BTreeMap<u32, usize>,
}

impl Detected {
    fn newest(&self) -> Option<(u32, &LogFile)> {
        self.files
            .iter()
            .max_by_key(|(_, v)| *v)
            .map(|(f, v)| (*v, f))
    }
}

impl From<&Move<'_>> for PlannedStep {
    fn from(m: &Move<'_>) -> Self {
        PlannedStep {
            id: m.meta.id,
            from: m.from,
            to: m.to,
            description: m.meta.description,
        }
    }
}

/// A run in progress, holding the log's lock.
pub(crate) struct Run<'s, C: Chain<Record = LogRecord>> {
    pub store: &'s JsonlStore,
    pub options: &'s RunOptions,
    pub steps: Vec<Step<LogRecord>>,
    pub run_id: String,
    started: Instant,
    started_at: String,
    _lock: Option<StoreLock>,
    _chain: std::marker::PhantomData<C>,
}

/// A file streamed by the run, waiting for the commit.
struct Streamed<'f> {
    file: &'f LogFile,
    temp: Option<Utf8PathBuf>,
    outcome: Outcome,
}

impl<'s, C: Chain<Record = LogRecord>> Run<'s, C> {
    pub fn fail(&self, stage: Stage, kind: impl Into<ErrorKind>) -> RunError {
        RunError::new(C::NAME, stage, kind)
    }

    /// Lock, then recover: the first two stages of every run.
    pub fn open(store: &'s JsonlStore, options: &'s RunOptions) -> Result<Self, RunError> {
        let err = |stage, kind| RunError::new(C::NAME, stage, kind);
        let steps = crate::checked_steps::<C>().map_err(|e| err(Stage::Plan, e.into()))?;
        let lock = Self::lock(store, options).map_err(|k| err(Stage::Lock, k))?;
        let run = Run {
            store,
            options,
            steps,
            run_id: new_run_id(),
            started: Instant::now(),
            started_at: now_rfc3339(),
            _lock: lock,
            _chain: std::marker::PhantomData,
        };
        run.recover()?;
        Ok(run)
    }

    /// A dry run on a log verchain never touched takes no lock: creating the
    /// lock file would change the folder.
    fn lock(store: &JsonlStore, options: &RunOptions) -> Result<Option<StoreLock>, ErrorKind> {
        let lock_path = store.lock_path();
        if options.dry_run {
            if !lock_path.exists() {
                return Ok(None);
            }
            return lock::acquire(store.path(), &lock_path, options.wait, false).map(Some);
        }
        let dir = store.dir();
        fs::metadata(dir).map_err(io("open folder", dir))?;
        let state = store.state_dir();
        fsio::create_dir_all(&state).map_err(io("create", &state))?;
        lock::acquire(store.path(), &lock_path, options.wait, true).map(Some)
    }

    /// Finishes a commit a crash interrupted, and removes new files left by
    /// a run that crashed before committing.
    fn recover(&self) -> Result<(), RunError> {
        let journal_path = self.store.journal_path();
        let journal = Journal::read(&journal_path).map_err(|k| self.fail(Stage::Recover, k))?;
        if let Some(journal) = journal {
            if self.options.dry_run {
                return Err(self.fail(
                    Stage::Recover,
                    ErrorKind::RecoveryNeeded {
                        journal: journal_path,
                    },
                ));
            }
            self.finish_commit(&journal, Stage::Recover).map_err(|e| {
                let kind = match &journal.snapshot {
                    Some(id) => ErrorKind::RecoveryFailed {
                        snapshot: snapshot::path_of(&self.store.snapshot_dir(), id),
                        root: self.store.dir().to_owned(),
                        journal: journal_path.clone(),
                        cause: e.kind,
                    },
                    None => *e.kind,
                };
                self.fail(Stage::Recover, kind)
            })?;
        } else if !self.options.dry_run {
            self.remove_stale_temps();
        }
        Ok(())
    }

    /// Removes hidden new files a crashed run left beside the log.
    fn remove_stale_temps(&self) {
        let prefix = format!(".{}", self.store.name());
        if let Ok(entries) = fs::read_dir(self.store.dir()) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str()
                    && name.starts_with(&prefix)
                    && name.contains(".verchain-")
                {
                    let _ = fs::remove_file(self.store.dir().join(name));
                }
            }
        }
    }

    fn unversioned(&self) -> u32 {
        self.store.unversioned().unwrap_or(C::BASE)
    }

    /// Reads every file's version from its first line.
    pub fn detect(&self) -> Result<Detected, RunError> {
        let fail = |k| self.fail(Stage::Detect, k);
        let files = self.store.files().map_err(fail)?;
        let mut out = Vec::with_capacity(files.len());
        let mut versions = BTreeMap::new();
        for file in files {
            let version =
                stream::detect(&file, C::VERSION_KEY, self.unversioned()).map_err(fail)?;
            if version > C::CURRENT {
                return Err(fail(ErrorKind::DocumentTooNew {
                    path: file.path,
                    version,
                    current: C::CURRENT,
                }));
            }
            if version < C::BASE {
                return Err(fail(ErrorKind::DocumentTooOld {
                    path: file.path,
                    version,
                    base: C::BASE,
                }));
            }
            *versions.entry(version).or_insert(0) += 1;
            out.push((file, version));
        }
        Ok(Detected {
            files: out,
            versions,
        })
    }

    fn check_target(&self, target: u32) -> Result<(), RunError> {
        if target > C::CURRENT {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetPastCurrent {
                    target,
                    current: C::CURRENT,
                },
            ));
        }
        if target < C::BASE {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetBelowBase {
                    target,
                    base: C::BASE,
                },
            ));
        }
        Ok(())
    }

    /// The `up` steps from the oldest file's version to `target`.
    pub fn plan_up(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        self.check_target(target)?;
        if let Some((store, file)) = detected.newest()
            && store > target
        {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetBelowStore {
                    target,
                    store,
                    path: file.path.clone(),
                },
            ));
        }
        let oldest = detected.versions.keys().next().copied().unwrap_or(target);
        Ok(self
            .steps
            .iter()
            .filter(|s| s.from() >= oldest && s.to() <= target)
            .map(|s| Move {
                meta: s.meta(),
                from: s.from(),
                to: s.to(),
                body: s.up(),
                verify: s.verify(),
            })
            .collect())
    }

    /// The `down` steps from the newest file's version to `target`.
    pub fn plan_down(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        self.check_target(target)?;
        let newest = detected.newest().map_or(target, |(v, _)| v);
        let mut plan = Vec::new();
        for step in self.steps.iter().rev() {
            if step.from() < target || step.to() > newest {
                continue;
            }
            let Some(body) = step.down() else {
                return Err(self.fail(
                    Stage::Plan,
                    ErrorKind::Irreversible {
                        step: step.id(),
                        from: step.from(),
                        to: step.to(),
                    },
                ));
            };
            plan.push(Move {
                meta: step.meta(),
                from: step.to(),
                to: step.from(),
                body,
                verify: None,
            });
        }
        Ok(plan)
    }

    fn temp_name(&self, file: &LogFile) -> String {
        format!(".{}.verchain-{}", file.name, self.run_id)
    }

    fn quarantine_path(&self, file: &LogFile) -> Utf8PathBuf {
        let name = file.name.strip_suffix(".zst").unwrap_or(&file.name);
        self.store
            .quarantine_dir()
            .join(&self.run_id)
            .join(format!("{name}.malformed"))
    }

    /// Streams one file through `moves` (the part of the plan from its
    /// version), to a new file beside it unless this is a dry run.
    fn stream_file<'f>(
        &self,
        file: &'f LogFile,
        version: u32,
        target: u32,
        plan: &[Move<'_>],
        diff_limit: usize,
    ) -> Result<Streamed<'f>, RunError> {
        let moves: Vec<Move<'_>> = plan
            .iter()
            .filter(|m| {
                if m.from > m.to {
                    m.from <= version
                } else {
                    m.from >= version
                }
            })
            .map(|m| Move {
                meta: m.meta,
                from: m.from,
                to: m.to,
                body: m.body,
                verify: m.verify,
            })
            .collect();
        let temp = (!self.options.dry_run).then(|| self.store.dir().join(self.temp_name(file)));
        let schema = |record: &LogRecord| C::check_schema(target, record);
        let job = Job {
            file,
            target,
            moves: &moves,
            version_key: C::VERSION_KEY,
            unversioned: self.unversioned(),
            schema: &schema,
            quarantine: self
                .store
                .skips_malformed()
                .then(|| self.quarantine_path(file)),
            write_quarantine: !self.options.dry_run,
            output: temp.clone(),
            diff_limit,
        };
        let mut outcome = stream::run(&job).map_err(|k| self.fail(Stage::Stage, k))?;
        // Per-step counts line up with the plan, not the file's part of it.
        let mut per_step = vec![Counts::default(); plan.len()];
        for (m, counts) in moves.iter().zip(&outcome.per_step) {
            if let Some(i) = plan.iter().position(|p| p.meta.id == m.meta.id) {
                per_step[i] = *counts;
            }
        }
        outcome.per_step = per_step;
        Ok(Streamed {
            file,
            temp,
            outcome,
        })
    }

    /// Reads one file, checking each record against the schema of the
    /// file's own version; changes nothing.
    pub fn check_file(
        &self,
        file: &LogFile,
        version: u32,
    ) -> Result<(usize, Vec<crate::ValidationFailure>), RunError> {
        let schema = |record: &LogRecord| C::check_schema(version, record);
        let job = Job {
            file,
            target: version,
            moves: &[],
            version_key: C::VERSION_KEY,
            unversioned: self.unversioned(),
            schema: &schema,
            quarantine: self
                .store
                .skips_malformed()
                .then(|| self.quarantine_path(file)),
            write_quarantine: false,
            output: None,
            diff_limit: 0,
        };
        let outcome = stream::run(&job).map_err(|k| self.fail(Stage::Validate, k))?;
        Ok((outcome.records as usize, outcome.failures))
    }

    fn discard(&self, streamed: &[Streamed<'_>]) {
        for s in streamed {
            if let Some(temp) = &s.temp {
                let _ = fs::remove_file(temp);
            }
        }
        let q = self.store.quarantine_dir().join(&self.run_id);
        let _ = fs::remove_dir_all(q);
    }

    /// Stream → validate → (dry run: report) → snapshot → commit → record.
    pub fn execute(
        &self,
        detected: &Detected,
        plan: &[Move<'_>],
        target: u32,
        direction: Direction,
    ) -> Result<Report, RunError> {
        let mut streamed: Vec<Streamed<'_>> = Vec::new();
        let mut diff_left = self.options.diff_limit;
        for (file, version) in &detected.files {
            if *version == target {
                continue;
            }
            match self.stream_file(file, *version, target, plan, diff_left) {
                Ok(s) => {
                    diff_left -= s.outcome.diffs.min(diff_left);
                    streamed.push(s);
                }
                Err(e) => {
                    self.discard(&streamed);
                    return Err(e);
                }
            }
        }
        let mut counts = Counts::default();
        let mut per_step = vec![Counts::default(); plan.len()];
        let mut failures = Vec::new();
        let mut failure_total = 0;
        let mut changes = Vec::new();
        for s in &streamed {
            let o = &s.outcome;
            counts.changed += o.changed as usize;
            counts.unchanged += (o.records - o.changed) as usize;
            counts.quarantined += o.quarantined as usize;
            for (total, c) in per_step.iter_mut().zip(&o.per_step) {
                total.changed += c.changed;
                total.unchanged += c.unchanged;
            }
            failure_total += o.failure_total;
            failures.extend(o.failures.iter().cloned());
            let rel = Utf8PathBuf::from(&s.file.name);
            let diff =
                (!o.diff.is_empty()).then(|| format!("--- a/{rel}\n+++ b/{rel}\n{}", o.diff));
            changes.push(Change {
                path: rel,
                kind: ChangeKind::Changed,
                diff,
            });
        }
        failures.truncate(stream::FAILURES_LISTED);
        let mut report = Report {
            chain: C::NAME,
            run_id: self.run_id.clone(),
            dry_run: self.options.dry_run,
            direction,
            store_version: detected.newest().map(|(v, _)| v),
            target,
            plan: plan.iter().map(PlannedStep::from).collect(),
            versions: detected.versions.clone(),
            counts,
            changes,
            failures,
            snapshot: None,
        };
        if self.options.dry_run {
            return Ok(report);
        }
        if let Some(first) = report.failures.first() {
            self.discard(&streamed);
            return Err(self.fail(
                Stage::Validate,
                JsonlError::Invalid {
                    total: failure_total,
                    first: Box::new(first.clone()),
                },
            ));
        }
        if streamed.is_empty() {
            return Ok(report);
        }
        let committed = self.commit(&streamed, detected, target, plan, &per_step, direction);
        match committed {
            Ok(id) => {
                report.snapshot = Some(id);
                Ok(report)
            }
            Err(e) => {
                if e.store_unchanged() {
                    self.discard(&streamed);
                }
                Err(e)
            }
        }
    }

    /// Refuses the commit if a file changed since it was read.
    fn unchanged_since_read(
        &self,
        streamed: &[Streamed<'_>],
        stage: Stage,
    ) -> Result<(), RunError> {
        for s in streamed {
            let seen = s.outcome.seen.as_ref();
            if let Some(seen) = seen
                && let Some(what) = seen
                    .changed(&s.file.path)
                    .map_err(|k| self.fail(stage, k))?
            {
                return Err(self.fail(
                    stage,
                    JsonlError::ChangedDuringRun {
                        path: s.file.path.clone(),
                        what,
                    },
                ));
            }
        }
        Ok(())
    }

    fn commit(
        &self,
        streamed: &[Streamed<'_>],
        detected: &Detected,
        target: u32,
        plan: &[Move<'_>],
        per_step: &[Counts],
        direction: Direction,
    ) -> Result<String, RunError> {
        self.unchanged_since_read(streamed, Stage::Snapshot)?;
        let from_version = detected.newest().map_or(target, |(v, _)| v);
        let kept: Vec<(&LogFile, &Seen)> = streamed
            .iter()
            .filter_map(|s| s.outcome.seen.as_ref().map(|seen| (s.file, seen)))
            .collect();
        let info = snapshot::create(
            &self.store.snapshot_dir(),
            C::NAME,
            from_version,
            target,
            &kept,
            self.store.compresses_snapshots(),
        )
        .map_err(|e| self.fail(Stage::Snapshot, ErrorKind::Snapshot(e)))?;
        // The last moment a writer could have appended unnoticed is before
        // this check; see the store's docs on live appends.
        if let Err(e) = self.unchanged_since_read(streamed, Stage::Snapshot) {
            let _ = fs::remove_dir_all(&info.path);
            return Err(e);
        }
        let mut renames = Vec::new();
        for s in streamed {
            let Some(temp) = &s.temp else { continue };
            let size = fs::metadata(temp)
                .map_err(|e| self.fail(Stage::Commit, io("inspect", temp)(e)))?
                .len();
            renames.push(Rename {
                from: self.temp_name(s.file),
                to: s.file.name.clone(),
                size,
            });
        }
        let quarantined: usize = streamed
            .iter()
            .map(|s| s.outcome.quarantined as usize)
            .sum();
        let history = self.history_lines(
            plan,
            per_step,
            quarantined,
            &info.id,
            direction,
            detected.files.first().map(|(_, v)| *v),
        )?;
        let journal = Journal {
            run_id: self.run_id.clone(),
            snapshot: Some(info.id.clone()),
            renames,
            history,
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Commit, k))?;
        self.finish_commit(&journal, Stage::Commit)?;
        Ok(info.id)
    }

    fn history_lines(
        &self,
        plan: &[Move<'_>],
        per_step: &[Counts],
        quarantined: usize,
        snapshot: &str,
        direction: Direction,
        version_before: Option<u32>,
    ) -> Result<Vec<String>, RunError> {
        let finished = now_rfc3339();
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        plan.iter()
            .enumerate()
            .map(|(i, m)| {
                let mut counts = per_step.get(i).copied().unwrap_or_default();
                if i == 0 {
                    counts.quarantined = quarantined;
                }
                let record = HistoryRecord {
                    run_id: self.run_id.clone(),
                    chain: C::NAME.to_owned(),
                    step: Some(m.meta.id.to_owned()),
                    from: m.from,
                    to: m.to,
                    description: m.meta.description.to_owned(),
                    checksum: Some(m.meta.checksum.to_owned()),
                    started: self.started_at.clone(),
                    finished: finished.clone(),
                    duration_ms,
                    outcome: match direction {
                        Direction::Up => RunOutcome::Applied,
                        Direction::Down | Direction::Restore => RunOutcome::RolledBack,
                    },
                    snapshot: Some(snapshot.to_owned()),
                    counts,
                    created_paths: Vec::new(),
                    stamp_before: version_before,
                    host: lock::hostname(),
                    verchain: env!("CARGO_PKG_VERSION").to_owned(),
                };
                self.history_line(&record)
            })
            .collect()
    }

    pub fn history_line(&self, record: &HistoryRecord) -> Result<String, RunError> {
        serde_json::to_string(record).map_err(|e| {
            self.fail(
                Stage::Record,
                ErrorKind::Damaged {
                    path: self.store.history_path(),
                    line: 0,
                    message: e.to_string(),
                },
            )
        })
    }

    /// Applies a written journal, then records the committed sizes and the
    /// history, and removes the journal. Used by a commit and by recovery.
    pub fn finish_commit(&self, journal: &Journal, stage: Stage) -> Result<(), RunError> {
        let dir = self.store.dir();
        journal.apply(dir).map_err(|k| self.fail(stage, k))?;
        if let Some(id) = &journal.snapshot {
            let committed = Committed {
                files: journal
                    .renames
                    .iter()
                    .map(|r| CommittedFile {
                        name: r.to.clone(),
                        size: r.size,
                    })
                    .collect(),
            };
            let path = snapshot::path_of(&self.store.snapshot_dir(), id);
            if path.exists() {
                snapshot::write_committed(&path, &committed)
                    .map_err(|e| self.fail(Stage::Record, io("write", &path)(e)))?;
            }
        }
        let history_path = self.store.history_path();
        let recorded = stage == Stage::Recover
            && history::read(&history_path)
                .map_err(|k| self.fail(Stage::Record, k))?
                .iter()
                .any(|r| r.run_id == journal.run_id);
        if !recorded {
            let lines: Vec<String> = if stage == Stage::Recover {
                journal.history.iter().map(|l| recovered_line(l)).collect()
            } else {
                journal.history.clone()
            };
            fsio::append_lines(&history_path, &lines)
                .map_err(|e| self.fail(Stage::Record, io("append to", &history_path)(e)))?;
        }
        let journal_path = self.store.journal_path();
        fs::remove_file(&journal_path)
            .map_err(|e| self.fail(Stage::Record, io("remove", &journal_path)(e)))?;
        let state = self.store.state_dir();
        fsio::sync_dir(&state).map_err(|e| self.fail(Stage::Record, io("sync", &state)(e)))?;
        Ok(())
    }

    /// Restores a snapshot (by id, or the one before the last run not yet
    /// undone), checked as it is copied. The files as they are now are
    /// snapshotted first, so a restore can be undone too.
    pub fn restore(&self, id: Option<&str>) -> Result<Report, RunError> {
        let fail = |k: ErrorKind| self.fail(Stage::Restore, k);
        let records = history::read(&self.store.history_path()).map_err(fail)?;
        let id = match id {
            Some(id) => {
                if id.is_empty() || id.starts_with('.') || id.contains(['/', '\\', '\0']) {
                    return Err(fail(ErrorKind::NoSnapshot(format!(
                        "`{id}` is not a snapshot name; `snapshots` lists them"
                    ))));
                }
                id.to_owned()
            }
            None => last_live_snapshot(&records).ok_or_else(|| {
                fail(ErrorKind::NoSnapshot(
                    "the history has no applied run to undo".to_owned(),
                ))
            })?,
        };
        let dir = self.store.snapshot_dir();
        let info = snapshot::open(&dir, &id).map_err(|e| fail(e.into()))?;
        let stamp_before = records
            .iter()
            .find(|r| r.snapshot.as_deref() == Some(id.as_str()) && r.step.is_some())
            .and_then(|r| r.stamp_before);
        if let Some(committed) = snapshot::committed(&info.path).map_err(|e| fail(e.into()))? {
            for file in &committed.files {
                let path = self.store.dir().join(&file.name);
                let now = fs::metadata(&path).map(|m| m.len()).ok();
                if now != Some(file.size) {
                    let what = match now {
                        Some(now) => format!("{} bytes when committed, {now} now", file.size),
                        None => format!("{} bytes when committed, gone now", file.size),
                    };
                    return Err(fail(
                        JsonlError::ChangedSinceRun {
                            path,
                            snapshot: id.clone(),
                            what,
                        }
                        .into(),
                    ));
                }
            }
        }
        let files: Vec<LogFile> = info
            .manifest
            .files
            .iter()
            .map(|e| LogFile::new(self.store.dir(), &e.path))
            .collect();
        let report = self.restore_report(&info);
        if self.options.dry_run {
            snapshot::verify(&info).map_err(|e| fail(e.into()))?;
            return Ok(report);
        }
        let mut temps: Vec<Utf8PathBuf> = Vec::new();
        // The files as they are now are hashed (for a snapshot of them, in
        // case this restore is itself a mistake) while the snapshot's files
        // are copied out beside them.
        let (prepared, now) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| hash_now(&files));
            let prepared = (|| {
                for (entry, file) in info.manifest.files.iter().zip(&files) {
                    let temp = self.store.dir().join(self.temp_name(file));
                    temps.push(temp.clone());
                    snapshot::restore_file(&info.path, entry, &temp)?;
                }
                Ok::<_, crate::SnapshotError>(())
            })();
            let now = hashing.join().unwrap_or_else(|_| {
                Err(io("read", self.store.path())(std::io::Error::other(
                    "the hashing thread panicked",
                )))
            });
            (prepared, now)
        });
        let discard = || {
            for t in &temps {
                let _ = fs::remove_file(t);
            }
        };
        if let Err(e) = prepared {
            discard();
            return Err(fail(e.into()));
        }
        let now = now.map_err(|k| {
            discard();
            fail(k)
        })?;
        let before = self.snapshot_now(&now, &info).inspect_err(|_| discard())?;
        let mut renames = Vec::new();
        for (entry, file) in info.manifest.files.iter().zip(&files) {
            let _ = entry;
            let temp = self.store.dir().join(self.temp_name(file));
            let size = fs::metadata(&temp)
                .map_err(|e| fail(io("inspect", &temp)(e)))?
                .len();
            renames.push(Rename {
                from: self.temp_name(file),
                to: file.name.clone(),
                size,
            });
        }
        let record = HistoryRecord {
            run_id: self.run_id.clone(),
            chain: C::NAME.to_owned(),
            step: None,
            from: info.manifest.to_version,
            to: info.manifest.from_version,
            description: format!(
                "restored snapshot {id}; the log before this restore is in snapshot {}",
                before.as_deref().unwrap_or("(none: no file to keep)")
            ),
            checksum: None,
            started: self.started_at.clone(),
            finished: now_rfc3339(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: RunOutcome::RolledBack,
            snapshot: Some(id.clone()),
            counts: report.counts,
            created_paths: Vec::new(),
            stamp_before,
            host: lock::hostname(),
            verchain: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let journal = Journal {
            run_id: self.run_id.clone(),
            snapshot: before,
            renames,
            history: vec![self.history_line(&record)?],
        };
        let manual = |kind: ErrorKind| ErrorKind::RestoreFailed {
            snapshot: info.path.clone(),
            root: self.store.dir().to_owned(),
            cause: Box::new(kind),
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Restore, manual(k)))?;
        self.finish_commit(&journal, Stage::Restore)
            .map_err(|e| self.fail(e.stage, manual(*e.kind)))?;
        Ok(report)
    }

    /// Snapshots the files a restore replaces, as they are now.
    fn snapshot_now(
        &self,
        now: &[(&LogFile, Seen)],
        info: &SnapshotInfo,
    ) -> Result<Option<String>, RunError> {
        if now.is_empty() {
            return Ok(None);
        }
        let kept: Vec<(&LogFile, &Seen)> = now.iter().map(|(f, s)| (*f, s)).collect();
        snapshot::create(
            &self.store.snapshot_dir(),
            C::NAME,
            info.manifest.to_version,
            info.manifest.from_version,
            &kept,
            self.store.compresses_snapshots(),
        )
        .map(|i| Some(i.id))
        .map_err(|e| self.fail(Stage::Restore, ErrorKind::Snapshot(e)))
    }

    fn restore_report(&self, info: &SnapshotInfo) -> Report {
        Report {
            chain: C::NAME,
            run_id: self.run_id.clone(),
            dry_run: self.options.dry_run,
            direction: Direction::Restore,
            store_version: Some(info.manifest.to_version),
            target: info.manifest.from_version,
            plan: Vec::new(),
            versions: BTreeMap::new(),
            counts: Counts {
                changed: info.manifest.files.len(),
                ..Counts::default()
            },
            changes: info
                .manifest
                .files
                .iter()
                .map(|f| Change {
                    path: Utf8PathBuf::from(&f.path),
                    kind: ChangeKind::Changed,
                    diff: None,
                })
                .collect(),
            failures: Vec::new(),
            snapshot: Some(info.id.clone()),
        }
    }
}

/// Each of `files` that exists, as it is now.
fn hash_now(files: &[LogFile]) -> Result<Vec<(&LogFile, Seen)>, ErrorKind> {
    files
        .iter()
        .filter(|f| f.path.exists())
        .map(|f| stream::hash_file(&f.path).map(|seen| (f, seen)))
        .collect()
}

/// The snapshot of the last run still in effect: runs undone by a restore,
/// or by `down` steps below where they started, do not count.
fn last_live_snapshot(records: &[HistoryRecord]) -> Option<String> {
    struct Live {
        run_id: String,
        snapshot: String,
        from: u32,
    }
    let mut live: Vec<Live> = Vec::new();
    for record in records {
        let Some(snapshot) = &record.snapshot else {
            continue;
        };
        if live.last().is_some_and(|l| l.run_id == record.run_id) {
            continue;
        }
        match (record.outcome, &record.step) {
            (RunOutcome::RolledBack, None) => {
                if let Some(at) = live.iter().position(|l| &l.snapshot == snapshot) {
                    live.truncate(at);
                }
                continue;
            }
            (RunOutcome::RolledBack, Some(_)) => live.retain(|l| l.from < record.to),
            _ => {}
        }
        live.push(Live {
            run_id: record.run_id.clone(),
            snapshot: snapshot.clone(),
            from: record.from,
        });
    }
    live.pop().map(|l| l.snapshot)
}

/// A history line of a commit that recovery finished: applied steps are
/// recorded as recovered.
fn recovered_line(line: &str) -> String {
    match serde_json::from_str::<HistoryRecord>(line) {
        Ok(mut record) if record.outcome == RunOutcome::Applied => {
            record.outcome = RunOutcome::Recovered;
            serde_json::to_string(&record).unwrap_or_else(|_| line.to_owned())
        }
        _ => line.to_owned(),
    }
}

/// A run id unique on this machine: the time to the second, the process id
/// and a per-process counter.
fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", now_for_name(), std::process::id())
}

/// How long `run_startup` waits for another runner.
pub(crate) const STARTUP_WAIT: Duration = Duration::from_secs(60);
