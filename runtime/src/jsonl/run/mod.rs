//! The run over a log: lock → recover → detect → plan → stream each file to
//! a new file beside it (steps, validation) → snapshot → commit (renames,
//! journaled) → record → unlock.
//!
//! Until the journal is written, the log's files are untouched: new files
//! are hidden temporary files beside them. A failure before that leaves the
//! log byte for byte as it was; a crash after it is finished by the next run.

mod commit;
mod restore;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use camino::Utf8PathBuf;

use super::error::JsonlError;
use super::journal::Journal;
use super::record::LogRecord;
use super::snapshot;
use super::store::{JsonlStore, LogFile};
use super::stream::{self, Job, Move, Outcome};
use crate::run::history;
use crate::run::lock::{self, StoreLock};
use crate::run::{
    Change, ChangeKind, Counts, Direction, ErrorKind, Report, RunError, RunOptions, Stage, io,
};
use crate::run::{Event, GivenUp, Recovery, RunInfo, plan, recovery_failed};
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

/// A run in progress, holding the log's lock.
pub(crate) struct Run<'s, C: Chain<Record = LogRecord>> {
    pub store: &'s JsonlStore,
    pub options: &'s RunOptions,
    pub steps: Vec<Step<LogRecord>>,
    pub info: RunInfo,
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
            info: RunInfo::new(C::NAME),
            _lock: lock,
            _chain: std::marker::PhantomData,
        };
        run.recover()?;
        Ok(run)
    }

    /// The log file's version (its header's), or `None` when there is no
    /// log yet.
    pub fn stamp(&self) -> Result<Option<u32>, RunError> {
        let main = LogFile::new(self.store.dir(), self.store.name());
        if !main.path.exists() {
            return Ok(None);
        }
        stream::detect(&main, C::VERSION_KEY, self.unversioned())
            .map(Some)
            .map_err(|k| self.fail(Stage::Detect, k))
    }

    /// Refuses to run when steps the log has applied were edited since,
    /// unless the options allow it; then the run's history says so.
    pub fn check_unedited(&mut self) -> Result<(), RunError> {
        let history =
            history::read(&self.store.history_path()).map_err(|k| self.fail(Stage::Plan, k))?;
        let stamp = self.stamp()?;
        self.info
            .check_unedited(&history, &self.steps, stamp, self.options.allow_changed)
            .map_err(|k| self.fail(Stage::Plan, k))
    }

    pub fn emit(&self, event: Event) {
        if let Some(observer) = &self.options.observer {
            observer.emit(&event);
        }
    }

    /// A dry run on a log verchain never touched takes no lock: creating the
    /// lock file would change the folder.
    fn lock(store: &JsonlStore, options: &RunOptions) -> Result<Option<StoreLock>, ErrorKind> {
        store.check_name()?;
        let lock_path = store.lock_path();
        if options.dry_run {
            if !lock_path.exists() {
                return Ok(None);
            }
            return lock::acquire(store.path(), &lock_path, options.wait, false).map(Some);
        }
        let dir = store.dir();
        fs::metadata(dir).map_err(io("open folder", dir))?;
        // Nothing is created beside a path that is not a log file.
        if fs::metadata(store.path()).is_ok_and(|meta| !meta.is_file()) {
            return Err(io("open log", store.path())(std::io::Error::other(
                "it is not a file",
            )));
        }
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
            let dir = self.store.dir();
            let failed = |cause| {
                let snapshot = (journal.snapshot.as_ref())
                    .map(|id| snapshot::path_of(&self.store.snapshot_dir(), id));
                let kind = recovery_failed(
                    snapshot,
                    dir,
                    &journal_path,
                    |snapshot, root| {
                        format!(
                            "copy every file {snapshot}/MANIFEST.json lists back into {root} (a \
                             copy ending in `.zst` that the manifest lists without it is \
                             compressed: `zstd -d` it to the listed name)"
                        )
                    },
                    cause,
                );
                self.fail(Stage::Recover, kind)
            };
            match Recovery::decide(journal.check(self.store), || journal.untouched(dir)) {
                Recovery::Finish => self
                    .finish_commit(&journal, Stage::Recover)
                    .map_err(|e| failed(*e.kind))?,
                Recovery::GiveUp(cause) => {
                    let given_up = GivenUp {
                        history_path: &self.store.history_path(),
                        journal_path: &journal_path,
                        run_id: &journal.run_id,
                        lines: &journal.history,
                        cause: &cause,
                    };
                    given_up
                        .record(|| {
                            let Some(id) = &journal.snapshot else {
                                return Ok(());
                            };
                            let path = snapshot::path_of(&self.store.snapshot_dir(), id);
                            if fs::symlink_metadata(&path).is_err() {
                                return Ok(());
                            }
                            fsio::point("remove", &path)
                                .and_then(|()| fs::remove_dir_all(&path))
                                .map_err(io("remove", &path))
                        })
                        .map_err(|k| self.fail(Stage::Recover, k))?;
                    self.remove_stale_temps();
                }
                Recovery::Stop(cause) => return Err(failed(cause)),
            }
        } else if !self.options.dry_run {
            self.remove_stale_temps();
        }
        Ok(())
    }

    /// Removes hidden new files a crashed run left beside the log, and the
    /// quarantine files of runs that never committed (the history has no
    /// line of theirs, or only lines of a commit recovery gave up).
    fn remove_stale_temps(&self) {
        let prefix = format!(".{}", self.store.name());
        if let Ok(entries) = fs::read_dir(self.store.dir()) {
            for entry in entries.flatten() {
                if let Some(name) = entry.file_name().to_str()
                    && name.starts_with(&prefix)
                    && name.contains(".verchain-")
                {
                    let _ = fsio::remove_file(&self.store.dir().join(name));
                }
            }
        }
        let quarantine = self.store.quarantine_dir();
        let Ok(entries) = fs::read_dir(&quarantine) else {
            return;
        };
        let Ok(history) = history::read(&self.store.history_path()) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(run) = entry.file_name().to_str()
                && !history
                    .iter()
                    .any(|r| r.run_id == run && r.outcome != crate::Outcome::Abandoned)
            {
                let path = quarantine.join(run);
                let _ = fsio::point("remove", &path).and_then(|()| fs::remove_dir_all(&path));
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

    /// The one step `id`, alone: its target version and the plan.
    pub fn plan_one(
        &self,
        id: &str,
        detected: &Detected,
    ) -> Result<(u32, Vec<Move<'_>>), RunError> {
        let step = plan::one_at(&self.steps, id, &detected.versions)
            .map_err(|k| self.fail(Stage::Plan, k))?;
        Ok((step.to, vec![step]))
    }

    /// The `up` steps from the oldest file's version to `target`.
    pub fn plan_up(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
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
        Ok(plan::up(&self.steps, oldest, target))
    }

    /// The `down` steps from the newest file's version to `target`.
    pub fn plan_down(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
        if let Some((store, file)) = detected.newest()
            && store < target
        {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetAboveStore {
                    target,
                    store,
                    path: file.path.clone(),
                },
            ));
        }
        let newest = detected.newest().map_or(target, |(v, _)| v);
        plan::down(&self.steps, newest, target).map_err(|k| self.fail(Stage::Plan, k))
    }

    fn temp_name(&self, file: &LogFile) -> String {
        format!(".{}.verchain-{}", file.name, self.info.run_id)
    }

    /// Whether malformed lines are quarantined: the store's setting, or
    /// this run's.
    fn skips_malformed(&self) -> bool {
        self.store.skips_malformed() || self.options.skip_malformed
    }

    fn quarantine_path(&self, file: &LogFile) -> Utf8PathBuf {
        let name = file.name.strip_suffix(".zst").unwrap_or(&file.name);
        self.store
            .quarantine_dir()
            .join(&self.info.run_id)
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
        progress: Option<&stream::Progress<'_>>,
    ) -> Result<Option<Streamed<'f>>, RunError> {
        let moves = plan::from_version(plan, version);
        // Only a file the plan can take from its own version (one step run
        // alone leaves files at other versions as they are).
        if moves.first().map(|m| m.from) != Some(version) {
            return Ok(None);
        }
        let temp = (!self.options.dry_run).then(|| self.store.dir().join(self.temp_name(file)));
        let schema = |record: &LogRecord| C::check_schema(target, record);
        let job = Job {
            file,
            target,
            moves: &moves,
            version_key: C::VERSION_KEY,
            unversioned: self.unversioned(),
            schema: &schema,
            quarantine: self.skips_malformed().then(|| self.quarantine_path(file)),
            write_quarantine: !self.options.dry_run,
            output: temp.clone(),
            diff_limit,
            progress,
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
        Ok(Some(Streamed {
            file,
            temp,
            outcome,
        }))
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
            quarantine: self.skips_malformed().then(|| self.quarantine_path(file)),
            write_quarantine: false,
            output: None,
            diff_limit: 0,
            progress: None,
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
        let q = self.store.quarantine_dir().join(&self.info.run_id);
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
        let todo: Vec<&(LogFile, u32)> = detected
            .files
            .iter()
            .filter(|(_, v)| *v != target)
            .collect();
        let bytes: u64 = todo
            .iter()
            .filter_map(|(f, _)| fs::metadata(&f.path).ok())
            .map(|m| m.len())
            .sum();
        self.emit(Event::RunStarted {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            direction,
            dry_run: self.options.dry_run,
            from: detected.newest().map(|(v, _)| v),
            to: target,
            plan: plan.iter().map(Move::planned).collect(),
            records: todo.len(),
        });
        let progress = self.options.observer.as_ref().map(|o| {
            o.emit(&Event::StageStarted {
                stage: Stage::Stage,
                total: bytes as usize,
            });
            stream::Progress::new(o, bytes as usize)
        });
        for m in plan {
            self.emit(Event::StepStarted {
                step: m.meta.id,
                from: m.from,
                to: m.to,
            });
        }
        for (file, version) in todo {
            match self.stream_file(file, *version, target, plan, diff_left, progress.as_ref()) {
                Ok(Some(s)) => {
                    diff_left -= s.outcome.diffs.min(diff_left);
                    streamed.push(s);
                }
                Ok(None) => {}
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
        for (m, counts) in plan.iter().zip(&per_step) {
            self.emit(Event::StepFinished {
                step: m.meta.id,
                from: m.from,
                to: m.to,
                counts: *counts,
            });
        }
        for failure in &failures {
            self.emit(Event::ValidationFailed {
                failure: failure.clone(),
            });
        }
        let mut report = Report {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            dry_run: self.options.dry_run,
            direction,
            store_version: detected.newest().map(|(v, _)| v),
            target,
            plan: plan.iter().map(Move::planned).collect(),
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
                self.emit(Event::Committed {
                    version: target,
                    counts: report.counts,
                });
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
}

/// How long `run_startup` waits for another runner.
pub(crate) const STARTUP_WAIT: Duration = Duration::from_secs(60);
