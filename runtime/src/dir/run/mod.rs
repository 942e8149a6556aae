//! A folder's run: lock → recover → detect → plan → stage → validate →
//! snapshot → commit → record → unlock, over a [`DirStore`].
//!
//! Until the commit journal is written, the store's documents are untouched:
//! steps run on copies, staged under `.verchain/staging/` (`stage`). A
//! failure before that leaves the store byte for byte as it was; a crash
//! after it is finished by the next run, since every journal operation can
//! be repeated (`commit`). A restore puts a snapshot back the same way
//! (`restore`).

mod commit;
mod restore;
mod stage;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::dir::DirStore;
use crate::format::{self, Parsed};
use crate::run::journal::{self, Journal, Op};
use crate::run::lock::{self, StoreLock};
use crate::run::{
    Change, ChangeKind, Counts, Direction, ErrorKind, Event, HistoryRecord, LastRun, Recovery,
    Report, RollbackTo, RunError, RunInfo, RunOptions, Stage, Startup, Status, Ticker,
    ValidationFailure, edited_since_applied, history, io, plan,
};
use crate::snapshot::{self, SnapshotInfo};
use crate::{Chain, Document, Step, StepMeta, fsio};

/// Migrates the store to the target version (or reports what that would do,
/// with `dry_run`).
pub fn migrate<C: Chain<Record = Document>>(
    store: &DirStore,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let mut run = Run::<C>::open(store, options)?;
    run.check_unedited()?;
    let detected = run.detect()?;
    let target = options.target.unwrap_or(C::CURRENT);
    let plan = run.plan_up(&detected, target)?;
    run.execute(&detected, &plan, target, Direction::Up)
}

/// Runs the one step `id` on the documents at its `from` version, out of
/// the chain's order: an operator's override, recorded as such in the
/// history. Documents at other versions are left as they are; the store's
/// stamp moves only when every document ends at one version.
pub fn migrate_step<C: Chain<Record = Document>>(
    store: &DirStore,
    id: &str,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let mut run = Run::<C>::open(store, options)?;
    run.info.operator_override = true;
    run.check_unedited()?;
    plan::one(&run.steps, id).map_err(|k| run.fail(Stage::Plan, k))?;
    let detected = run.detect()?;
    let step =
        plan::one_at(&run.steps, id, &detected.versions).map_err(|k| run.fail(Stage::Plan, k))?;
    let (to, plan) = (step.to, vec![step]);
    run.execute(&detected, &plan, to, Direction::Up)
}

/// The call an application makes before it serves: migrates to the current
/// version, or returns at once, without reading any document, when the
/// store's stamp says it is current. Waits up to a minute for another
/// runner.
pub fn run_startup<C: Chain<Record = Document>>(store: &DirStore) -> Result<Startup, RunError> {
    let options = RunOptions {
        wait: Duration::from_secs(60),
        diff_limit: 0,
        ..RunOptions::default()
    };
    let mut run = Run::<C>::open(store, &options)?;
    run.check_unedited()?;
    if let Some(version) = run.stamp()?
        && version == C::CURRENT
    {
        return Ok(Startup::UpToDate { version });
    }
    let detected = run.detect()?;
    let plan = run.plan_up(&detected, C::CURRENT)?;
    let report = run.execute(&detected, &plan, C::CURRENT, Direction::Up)?;
    Ok(Startup::Migrated(Box::new(report)))
}

/// Finishes a commit or restore that a crash or an error interrupted, if
/// any; returns whether there was one. Every run does this first.
pub fn recover<C: Chain<Record = Document>>(store: &DirStore) -> Result<bool, RunError> {
    let pending = store.journal_path().exists();
    Run::<C>::open(store, &RunOptions::default())?;
    Ok(pending)
}

/// Rolls the store back: to a snapshot (restored after it is verified), or
/// to a version with `down` steps.
pub fn rollback<C: Chain<Record = Document>>(
    store: &DirStore,
    to: &RollbackTo,
    options: &RunOptions,
) -> Result<Report, RunError> {
    let run = Run::<C>::open(store, options)?;
    match to {
        RollbackTo::Version(version) => {
            let mut run = run;
            run.check_unedited()?;
            let detected = run.detect()?;
            let plan = run.plan_down(&detected, *version)?;
            run.execute(&detected, &plan, *version, Direction::Down)
        }
        RollbackTo::LastRun => run.restore(None),
        RollbackTo::Snapshot(id) => run.restore(Some(id)),
    }
}

/// The store's state: versions, pending steps, last run, snapshots, and
/// whether an interrupted commit waits to be finished.
pub fn status<C: Chain<Record = Document>>(store: &DirStore) -> Result<Status, RunError> {
    let fail = |stage, kind| RunError::new(C::NAME, stage, kind);
    let history = history(store).map_err(|k| fail(Stage::Detect, k))?;
    let snapshots = snapshots(store).map_err(|k| fail(Stage::Detect, k))?.len();
    let mut status = Status {
        chain: C::NAME,
        store: store.root().to_owned(),
        stamp: None,
        current: C::CURRENT,
        versions: BTreeMap::new(),
        pending: Vec::new(),
        last_run: LastRun::of(&history),
        snapshots,
        interrupted: store.journal_path().exists(),
        edited_since_applied: Vec::new(),
        unreadable: Vec::new(),
    };
    if status.interrupted {
        return Ok(status);
    }
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let run = Run::<C>::open(store, &options)?;
    status.stamp = run.stamp()?;
    let metas: Vec<StepMeta> = run.steps.iter().map(|s| *s.meta()).collect();
    status.edited_since_applied = edited_since_applied(&history, &metas, status.stamp);
    let mut unreadable = Vec::new();
    let detected = run.detect_with(|kind| {
        unreadable.push(kind.to_string());
        Ok(())
    })?;
    status.unreadable = unreadable;
    status.versions = detected.versions.clone();
    status.pending = run
        .plan_up(&detected, C::CURRENT)?
        .iter()
        .map(Move::planned)
        .collect();
    Ok(status)
}

/// Checks every document against the schema type its chain declares for the
/// document's own version, without migrating or changing anything; returns
/// how many documents were checked and every failure.
pub fn verify<C: Chain<Record = Document>>(
    store: &DirStore,
) -> Result<(usize, Vec<ValidationFailure>), RunError> {
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let run = Run::<C>::open(store, &options)?;
    let default = run.stamp()?.unwrap_or(C::BASE);
    let paths = store.scan().map_err(|k| run.fail(Stage::Detect, k))?;
    let mut failures = Vec::new();
    let mut ticker = Ticker::start(options.observer.as_ref(), Stage::Validate, paths.len());
    for path in &paths {
        ticker.tick();
        // A document that cannot be read, or is at a version the chain
        // does not have, is one failure among the others, not the end.
        let read = run.read_versioned(path, default);
        let (version, problem) = match read {
            Ok((doc, version)) => match C::check_schema(version, &doc) {
                Some(Err(e)) => (version, e.to_string()),
                _ => continue,
            },
            Err(kind) => (default, kind.to_string()),
        };
        failures.push(ValidationFailure {
            path: path.clone(),
            step: None,
            version,
            message: problem,
        });
    }
    Ok((paths.len(), failures))
}

/// The store's history, oldest first.
pub fn history(store: &DirStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
    must_exist(store)?;
    history::read(&store.history_path())
}

/// Refuses a store folder that is not there (a mistyped path), rather than
/// reading it as a store with no history and no snapshots.
fn must_exist(store: &DirStore) -> Result<(), ErrorKind> {
    fs::metadata(store.root())
        .map(drop)
        .map_err(io("open store", store.root()))
}

/// Removes all but the `keep` newest snapshots; returns the removed ones.
/// Takes the store's lock, so no run is using them.
pub fn prune_snapshots(store: &DirStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    must_exist(store)?;
    let dir = store.snapshot_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let _lock = lock::acquire(store.root(), &store.lock_path(), Duration::ZERO, true)?;
    Ok(snapshot::prune(&dir, keep)?)
}

/// The store's snapshots, newest first.
pub fn snapshots(store: &DirStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    must_exist(store)?;
    let dir = store.snapshot_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    Ok(snapshot::list(&dir)?)
}

/// The store's stamp: its version after the last commit.
#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    chain: String,
    version: u32,
}

/// Every document's version, as detected.
struct Detected {
    docs: Vec<(Utf8PathBuf, u32)>,
    versions: BTreeMap<u32, usize>,
}

impl Detected {
    /// The newest document's version and path.
    fn newest(&self) -> Option<(u32, &Utf8Path)> {
        self.docs
            .iter()
            .max_by_key(|(_, v)| *v)
            .map(|(p, v)| (*v, p.as_path()))
    }
}

/// One step as a run applies it to documents.
type Move<'a> = plan::Move<'a, Document>;

/// The documents a run writes, and what it learned on the way.
#[derive(Default)]
struct Staged {
    /// Every staged file, by path, with the BLAKE3 of its content.
    writes: BTreeMap<Utf8PathBuf, String>,
    removes: Vec<Utf8PathBuf>,
    changes: Vec<Change>,
    failures: Vec<ValidationFailure>,
    counts: Counts,
    per_step: BTreeMap<&'static str, Counts>,
    /// Paths this run brings into the store that did not exist before it.
    created: Vec<Utf8PathBuf>,
    /// The versions of documents an operator's override left alone.
    versions_after: BTreeSet<u32>,
}

impl Staged {
    /// The run's document at `path` goes away (removed, or moved elsewhere).
    fn remove_original(&mut self, path: &Utf8Path) {
        self.removes.push(path.to_owned());
        self.counts.removed += 1;
        self.changes.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Removed,
            diff: None,
        });
    }
}

/// A run in progress, holding the store's lock.
struct Run<'s, C: Chain<Record = Document>> {
    store: &'s DirStore,
    options: &'s RunOptions,
    steps: Vec<Step<Document>>,
    info: RunInfo,
    _lock: Option<StoreLock>,
    _chain: std::marker::PhantomData<C>,
}

impl<'s, C: Chain<Record = Document>> Run<'s, C> {
    fn fail(&self, stage: Stage, kind: impl Into<ErrorKind>) -> RunError {
        RunError::new(C::NAME, stage, kind)
    }

    /// Refuses to run when steps the store has applied were edited since,
    /// unless the options allow it; then the run's history says so.
    fn check_unedited(&mut self) -> Result<(), RunError> {
        let history =
            history::read(&self.store.history_path()).map_err(|k| self.fail(Stage::Plan, k))?;
        let stamp = self.stamp()?;
        self.info
            .check_unedited(&history, &self.steps, stamp, self.options.allow_changed)
            .map_err(|k| self.fail(Stage::Plan, k))
    }

    fn emit(&self, event: Event) {
        if let Some(observer) = &self.options.observer {
            observer.emit(&event);
        }
    }

    /// Lock, then recover: the first two stages of every run.
    fn open(store: &'s DirStore, options: &'s RunOptions) -> Result<Self, RunError> {
        let err = |stage, kind| RunError::new(C::NAME, stage, kind);
        options
            .refuse_skip_malformed(
                "skipping malformed records (`--skip-malformed`) in a folder of documents",
            )
            .map_err(|k| err(Stage::Plan, k))?;
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

    /// A dry run on a store verchain never touched takes no lock: creating
    /// the lock file would change the store.
    fn lock(store: &DirStore, options: &RunOptions) -> Result<Option<StoreLock>, ErrorKind> {
        let state = store.state_dir();
        if options.dry_run {
            if !store.lock_path().exists() {
                return Ok(None);
            }
            return lock::acquire(store.root(), &store.lock_path(), options.wait, false).map(Some);
        }
        fs::metadata(store.root()).map_err(io("open store", store.root()))?;
        fsio::create_dir_all(&state).map_err(io("create", &state))?;
        lock::acquire(store.root(), &store.lock_path(), options.wait, true).map(Some)
    }

    /// Finishes a commit a crash interrupted, and clears staging left by a
    /// run that crashed before committing.
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
            let root = self.store.root();
            let failed = |cause| {
                let snapshot = (journal.snapshot.as_ref())
                    .map(|id| snapshot::path_of(&self.store.snapshot_dir(), id));
                let kind = journal::recovery_failed(
                    snapshot,
                    root,
                    &journal_path,
                    |snapshot, root| {
                        format!("run `tar --zstd -xf {snapshot} -C {root} --exclude MANIFEST.json`")
                    },
                    cause,
                );
                self.fail(Stage::Recover, kind)
            };
            match Recovery::decide(journal.check(root), || journal.untouched(root)) {
                Recovery::Finish => self
                    .finish_commit(&journal, Stage::Recover)
                    .map_err(|e| failed(*e.kind))?,
                Recovery::GiveUp(cause) => {
                    let given_up = journal::GivenUp {
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
                            match fsio::remove_file(&path) {
                                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                                    Err(io("remove", &path)(e))
                                }
                                _ => Ok(()),
                            }
                        })
                        .map_err(|k| self.fail(Stage::Recover, k))?;
                    self.remove_staging()?;
                }
                Recovery::Stop(cause) => return Err(failed(cause)),
            }
        } else if !self.options.dry_run {
            self.remove_staging()?;
        }
        Ok(())
    }

    /// Removes what a run that never committed staged.
    fn remove_staging(&self) -> Result<(), RunError> {
        let staging = self.store.staging_root();
        if staging.exists() {
            fsio::point("remove", &staging)
                .and_then(|()| fs::remove_dir_all(&staging))
                .map_err(|e| self.fail(Stage::Recover, io("remove", &staging)(e)))?;
        }
        Ok(())
    }

    fn stamp(&self) -> Result<Option<u32>, RunError> {
        let path = self.store.stamp_path();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Stamp>(&text)
                .map(|s| Some(s.version))
                .map_err(|e| {
                    self.fail(
                        Stage::Detect,
                        ErrorKind::Damaged {
                            path,
                            line: e.line(),
                            message: e.to_string(),
                        },
                    )
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.fail(Stage::Detect, io("read", path)(e))),
        }
    }

    /// Reads every document's version. A document without the version key
    /// is at the store's stamped version, or the chain's base.
    fn detect(&self) -> Result<Detected, RunError> {
        self.detect_with(Err)
    }

    /// Every document's version. A document that cannot be read, or is at
    /// a version the chain does not have, goes to `unreadable`, whose error
    /// stops the detection (a run stops at the first; `status` lists them).
    fn detect_with(
        &self,
        mut unreadable: impl FnMut(ErrorKind) -> Result<(), ErrorKind>,
    ) -> Result<Detected, RunError> {
        let fail = |k| self.fail(Stage::Detect, k);
        let stamp = self.stamp()?;
        if let Some(version) = stamp
            && version > C::CURRENT
        {
            return Err(fail(ErrorKind::DocumentTooNew {
                path: self.store.stamp_path(),
                version,
                current: C::CURRENT,
            }));
        }
        let default = stamp.unwrap_or(C::BASE);
        let paths = self.store.scan().map_err(fail)?;
        let mut docs = Vec::with_capacity(paths.len());
        let mut versions = BTreeMap::new();
        let mut ticker = Ticker::start(self.options.observer.as_ref(), Stage::Detect, paths.len());
        for path in paths {
            ticker.tick();
            match self.read_versioned(&path, default) {
                Ok((_, version)) => {
                    *versions.entry(version).or_insert(0) += 1;
                    docs.push((path, version));
                }
                Err(kind) => unreadable(kind).map_err(fail)?,
            }
        }
        Ok(Detected { docs, versions })
    }

    /// The document at `path` and its version, one the chain has.
    fn read_versioned(&self, path: &Utf8Path, default: u32) -> Result<(Document, u32), ErrorKind> {
        let (doc, _) = self.read(path)?;
        match self.version_of(&doc, default)? {
            version if version > C::CURRENT => Err(ErrorKind::DocumentTooNew {
                path: path.to_owned(),
                version,
                current: C::CURRENT,
            }),
            version if version < C::BASE => Err(ErrorKind::DocumentTooOld {
                path: path.to_owned(),
                version,
                base: C::BASE,
            }),
            version => Ok((doc, version)),
        }
    }

    fn read(&self, path: &Utf8Path) -> Result<(Document, Parsed), ErrorKind> {
        let full = self.store.root().join(path);
        let bytes = fs::read(&full).map_err(io("read", &full))?;
        Ok(format::parse(path, &bytes)?)
    }

    fn version_of(&self, doc: &Document, default: u32) -> Result<u32, ErrorKind> {
        match doc.get(C::VERSION_KEY) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| ErrorKind::BadVersion {
                    path: doc.path().to_owned(),
                    key: C::VERSION_KEY,
                    value: value.to_string(),
                }),
        }
    }

    /// The `up` steps from the oldest document's version to `target`.
    fn plan_up(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
        if let Some((store, path)) = detected.newest()
            && store > target
        {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetBelowStore {
                    target,
                    store,
                    path: path.to_owned(),
                },
            ));
        }
        if let Some(stamp) = self.stamp()?
            && stamp > target
        {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetBelowStore {
                    target,
                    store: stamp,
                    path: self.store.stamp_path(),
                },
            ));
        }
        let oldest = detected.versions.keys().next().copied().unwrap_or(target);
        Ok(plan::up(&self.steps, oldest, target))
    }

    /// The `down` steps from the newest document's version to `target`.
    fn plan_down(&self, detected: &Detected, target: u32) -> Result<Vec<Move<'_>>, RunError> {
        plan::check_target::<C>(target).map_err(|k| self.fail(Stage::Plan, k))?;
        if let Some((store, path)) = detected.newest()
            && store < target
        {
            return Err(self.fail(
                Stage::Plan,
                ErrorKind::TargetAboveStore {
                    target,
                    store,
                    path: path.to_owned(),
                },
            ));
        }
        let newest = detected.newest().map_or(target, |(v, _)| v);
        plan::down(&self.steps, newest, target).map_err(|k| self.fail(Stage::Plan, k))
    }

    /// Stage → validate → (dry run: report) → snapshot → commit → record.
    fn execute(
        &self,
        detected: &Detected,
        plan: &[Move<'_>],
        target: u32,
        direction: Direction,
    ) -> Result<Report, RunError> {
        self.emit(Event::RunStarted {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            direction,
            dry_run: self.options.dry_run,
            from: detected.newest().map(|(v, _)| v),
            to: target,
            plan: plan.iter().map(Move::planned).collect(),
            records: detected.docs.len(),
        });
        let staging_rel = Utf8PathBuf::from(crate::dir::STATE_DIR)
            .join("staging")
            .join(&self.info.run_id);
        let staged = self.stage(detected, plan, target, &staging_rel);
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => {
                self.discard(&staging_rel);
                return Err(e);
            }
        };
        let mut staged = staged;
        let mut report = Report {
            chain: C::NAME,
            run_id: self.info.run_id.clone(),
            dry_run: self.options.dry_run,
            direction,
            store_version: detected.newest().map(|(v, _)| v),
            target,
            plan: plan.iter().map(Move::planned).collect(),
            versions: detected.versions.clone(),
            counts: staged.counts,
            changes: std::mem::take(&mut staged.changes),
            failures: std::mem::take(&mut staged.failures),
            snapshot: None,
        };
        if self.options.dry_run {
            return Ok(report);
        }
        if !report.failures.is_empty() {
            self.discard(&staging_rel);
            return Err(self.fail(
                Stage::Validate,
                ErrorKind::Validation {
                    failures: report.failures,
                },
            ));
        }
        // An override that leaves documents at other versions keeps the
        // stamp: it must not say the store is at a version it is not.
        let stamp = if staged.versions_after.iter().any(|v| *v != target) {
            self.stamp()?
        } else {
            Some(target)
        };
        if staged.writes.is_empty() && staged.removes.is_empty() && self.stamp()? == stamp {
            self.discard(&staging_rel);
            return Ok(report);
        }
        // Nothing to write but the stamp: no snapshot is needed.
        let snapshot = if staged.writes.is_empty() && staged.removes.is_empty() {
            None
        } else {
            let from_version = report.store_version.unwrap_or(target);
            Some(
                self.snapshot(detected, from_version, target)
                    .inspect_err(|_| {
                        self.discard(&staging_rel);
                    })?,
            )
        };
        report.snapshot = snapshot.clone();
        let history = self.history_lines(plan, &staged, snapshot.as_deref(), direction)?;
        let journal = Journal {
            run_id: self.info.run_id.clone(),
            version: stamp,
            snapshot: snapshot.clone(),
            staging: staging_rel,
            ops: staged
                .writes
                .iter()
                .map(|(path, blake3)| Op::Write {
                    path: path.clone(),
                    blake3: blake3.clone(),
                })
                .chain(
                    staged
                        .removes
                        .iter()
                        .map(|p| Op::Remove { path: p.clone() }),
                )
                .collect(),
            history,
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Commit, k))?;
        self.finish_commit(&journal, Stage::Commit)?;
        self.emit(Event::Committed {
            version: target,
            counts: report.counts,
        });
        Ok(report)
    }
}
