//! The run: lock → recover → detect → plan → stage → validate → snapshot →
//! commit → record → unlock, over a [`DirStore`].
//!
//! Until the commit journal is written, the store's documents are untouched:
//! steps run on copies, staged under `.verchain/staging/`. A failure before
//! that leaves the store byte for byte as it was; a crash after it is
//! finished by the next run (every journal operation can be repeated).

mod error;
mod event;
pub(crate) mod history;
pub(crate) mod journal;
pub(crate) use journal::{GivenUp, Recovery, recovery_failed};
pub(crate) mod lock;
pub(crate) mod plan;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

#[cfg(feature = "sqlite")]
pub(crate) use error::call_step;
pub(crate) use error::io;
pub use error::{ErrorKind, RunError, Stage, ValidationFailure};
use event::Ticker;
pub use event::{Event, Observer};
pub use history::{Counts, EditedStep, HistoryRecord, Outcome, edited_since_applied};
pub use report::{Change, ChangeKind, Direction, PlannedStep, Report};

use crate::clock::{now_for_name, now_rfc3339};
use crate::dir::DirStore;
use crate::format::{self, Parsed};
use crate::snapshot::{self, SnapshotInfo};
use crate::{Chain, Document, Step, StepMeta, fsio};
use journal::{Journal, Op};
use lock::StoreLock;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The version to reach; the chain's current version when `None`.
    pub target: Option<u32>,
    /// Stop after validation and report; write nothing.
    pub dry_run: bool,
    /// How long to wait for another runner's lock before giving up.
    pub wait: Duration,
    /// How many changed documents get a diff in the report.
    pub diff_limit: usize,
    /// Receives the run's [`Event`]s as they happen.
    pub observer: Option<Observer>,
    /// Run even though steps the store has applied were edited since (the
    /// history then says so); refused otherwise.
    pub allow_changed: bool,
    /// Logs only: move malformed lines, unchanged, to a quarantine file
    /// and count them, instead of failing the run (as
    /// [`JsonlStore::skip_malformed`](crate::JsonlStore::skip_malformed)
    /// does for every run). Other stores refuse it: a document or a row
    /// that cannot be read is never set aside.
    pub skip_malformed: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            target: None,
            dry_run: false,
            wait: Duration::ZERO,
            diff_limit: 100,
            observer: None,
            allow_changed: false,
            skip_malformed: false,
        }
    }
}

impl RunOptions {
    /// Refuses [`RunOptions::skip_malformed`] on a store that cannot set
    /// records aside (`what` names the store's kind).
    pub(crate) fn refuse_skip_malformed(&self, what: &'static str) -> Result<(), ErrorKind> {
        if self.skip_malformed {
            return Err(ErrorKind::Unsupported { what });
        }
        Ok(())
    }
}

/// What to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The snapshot taken before the last run that was not rolled back.
    LastRun,
    /// A snapshot by id (its file name).
    Snapshot(String),
    /// A version, with the `down` steps of every step on the way.
    Version(u32),
}

/// What [`run_startup`](crate::run_startup) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// The store was already current; no document was read.
    UpToDate {
        /// The store's version.
        version: u32,
    },
    /// The store was migrated.
    Migrated(Box<Report>),
}

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
    run.operator_override = true;
    run.check_unedited()?;
    let step = plan::one(&run.steps, id).map_err(|k| run.fail(Stage::Plan, k))?;
    let (to, plan) = (step.to, vec![step]);
    let detected = run.detect()?;
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

/// A store's state, read without changing anything (not even taking the
/// lock's file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The chain.
    pub chain: &'static str,
    /// The store's folder.
    pub store: Utf8PathBuf,
    /// The version stamped by the last commit, if any.
    pub stamp: Option<u32>,
    /// The chain's current version.
    pub current: u32,
    /// How many documents are at each version (empty while a run is
    /// interrupted).
    pub versions: BTreeMap<u32, usize>,
    /// The steps a migration to current would run.
    pub pending: Vec<PlannedStep>,
    /// The last run in the history.
    pub last_run: Option<LastRun>,
    /// How many snapshots the store keeps.
    pub snapshots: usize,
    /// Whether a crashed or failed commit waits to be finished.
    pub interrupted: bool,
    /// Applied steps whose source changed since (a run refuses them).
    pub edited_since_applied: Vec<EditedStep>,
}

/// The last run of a store, from its lines in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// The run's id.
    pub run_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// The version before the run.
    pub from: u32,
    /// The version after it.
    pub to: u32,
    /// The steps it ran, in order (none for a snapshot restore).
    pub steps: Vec<String>,
    /// When it committed.
    pub finished: String,
    /// The snapshot taken before it, or the one it restored.
    pub snapshot: Option<String>,
    /// Whether it was a step run alone with `migrate --id`.
    pub operator_override: bool,
}

impl LastRun {
    /// The last run recorded in `history`.
    pub(crate) fn of(history: &[HistoryRecord]) -> Option<LastRun> {
        let last = history.last()?;
        let lines: Vec<&HistoryRecord> =
            history.iter().filter(|r| r.run_id == last.run_id).collect();
        Some(LastRun {
            run_id: last.run_id.clone(),
            outcome: last.outcome,
            from: lines[0].from,
            to: last.to,
            steps: lines.iter().filter_map(|r| r.step.clone()).collect(),
            finished: last.finished.clone(),
            snapshot: last.snapshot.clone(),
            operator_override: lines.iter().any(|r| r.operator_override),
        })
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
    let detected = run.detect()?;
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
    let detected = run.detect()?;
    let mut failures = Vec::new();
    for (path, version) in &detected.docs {
        let (doc, _) = run.read(path).map_err(|k| run.fail(Stage::Validate, k))?;
        if let Some(Err(e)) = C::check_schema(*version, &doc) {
            failures.push(ValidationFailure {
                path: path.clone(),
                step: None,
                version: *version,
                message: e.to_string(),
            });
        }
    }
    Ok((detected.docs.len(), failures))
}

/// The store's history, oldest first.
pub fn history(store: &DirStore) -> Result<Vec<HistoryRecord>, ErrorKind> {
    history::read(&store.history_path())
}

/// Removes all but the `keep` newest snapshots; returns the removed ones.
/// Takes the store's lock, so no run is using them.
pub fn prune_snapshots(store: &DirStore, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    let dir = store.snapshot_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let _lock = lock::acquire(store.root(), &store.lock_path(), Duration::ZERO, true)?;
    Ok(snapshot::prune(&dir, keep)?)
}

/// The store's snapshots, newest first.
pub fn snapshots(store: &DirStore) -> Result<Vec<SnapshotInfo>, ErrorKind> {
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
    run_id: String,
    started: Instant,
    started_at: String,
    /// Set by [`migrate_step`]: one step, on the documents it applies to.
    operator_override: bool,
    /// Applied steps edited since, run anyway with `allow_changed`.
    edited: Vec<EditedStep>,
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
        let metas: Vec<StepMeta> = self.steps.iter().map(|s| *s.meta()).collect();
        let edited = history::edited_since_applied(&history, &metas, self.stamp()?);
        if edited.is_empty() {
            return Ok(());
        }
        if !self.options.allow_changed {
            return Err(self.fail(Stage::Plan, ErrorKind::EditedSinceApplied { steps: edited }));
        }
        self.edited = edited;
        Ok(())
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
            run_id: new_run_id(),
            started: Instant::now(),
            started_at: now_rfc3339(),
            operator_override: false,
            edited: Vec::new(),
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
            let (doc, _) = self.read(&path).map_err(fail)?;
            let version = self.version_of(&doc, default).map_err(fail)?;
            if version > C::CURRENT {
                return Err(fail(ErrorKind::DocumentTooNew {
                    path,
                    version,
                    current: C::CURRENT,
                }));
            }
            if version < C::BASE {
                return Err(fail(ErrorKind::DocumentTooOld {
                    path,
                    version,
                    base: C::BASE,
                }));
            }
            *versions.entry(version).or_insert(0) += 1;
            docs.push((path, version));
        }
        Ok(Detected { docs, versions })
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
            run_id: self.run_id.clone(),
            direction,
            dry_run: self.options.dry_run,
            from: detected.newest().map(|(v, _)| v),
            to: target,
            plan: plan.iter().map(Move::planned).collect(),
            records: detected.docs.len(),
        });
        let staging_rel = Utf8PathBuf::from(crate::dir::STATE_DIR)
            .join("staging")
            .join(&self.run_id);
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
            run_id: self.run_id.clone(),
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
            run_id: self.run_id.clone(),
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

    /// Removes a run's staging folder; the store is untouched by it.
    fn discard(&self, staging_rel: &Utf8Path) {
        let _ = fs::remove_dir_all(self.store.root().join(staging_rel));
    }

    /// Runs the plan on every document that needs it, writing results to
    /// staging (or, in a dry run, only diffing them).
    fn stage(
        &self,
        detected: &Detected,
        plan: &[Move<'_>],
        target: u32,
        staging_rel: &Utf8Path,
    ) -> Result<Staged, RunError> {
        let fail = |k| self.fail(Stage::Stage, k);
        let staging = self.store.root().join(staging_rel);
        let mut staged = Staged::default();
        let mut claimed: BTreeMap<String, Utf8PathBuf> = BTreeMap::new();
        let mut created: Vec<Utf8PathBuf> = Vec::new();
        for m in plan {
            self.emit(Event::StepStarted {
                step: m.meta.id,
                from: m.from,
                to: m.to,
            });
        }
        let mut ticker = Ticker::start(
            self.options.observer.as_ref(),
            Stage::Stage,
            detected.docs.len(),
        );
        for (path, version) in &detected.docs {
            ticker.tick();
            if *version == target {
                staged.counts.unchanged += 1;
                continue;
            }
            let start = plan.iter().position(|m| m.from == *version);
            if start.is_none() && self.operator_override {
                staged.counts.unchanged += 1;
                staged.versions_after.insert(*version);
                continue;
            }
            let start = start.ok_or_else(|| {
                fail(ErrorKind::BadPath {
                    path: path.clone(),
                    reason: format!(
                        "is at version {version}, which no step of this run leaves (target {target})"
                    ),
                })
            })?;
            let (doc, parsed) = self.read(path).map_err(fail)?;
            let original = self.store.root().join(path);
            let mut work = vec![(doc, start, true)];
            while let Some((mut doc, start, is_original)) = work.pop() {
                let mut removed = false;
                for m in &plan[start..] {
                    let before = doc.clone();
                    self.apply(m, &mut doc)?;
                    let counts = staged.per_step.entry(m.meta.id).or_default();
                    if let Some(verify) = m.verify
                        && let Err(e) = verify(&doc)
                    {
                        self.invalid(
                            &mut staged.failures,
                            ValidationFailure {
                                path: doc.path().to_owned(),
                                step: Some(m.meta.id),
                                version: m.to,
                                message: e.to_string(),
                            },
                        );
                    }
                    // Documents the step created go on, whatever it did to this one.
                    let removed_now = doc.is_removed();
                    let moved = doc.moved_to().is_some();
                    let children = doc.settle();
                    let next = plan
                        .iter()
                        .position(|n| n.from == m.to)
                        .unwrap_or(plan.len());
                    for child in children {
                        counts.created += 1;
                        work.push((child, next, false));
                    }
                    if removed_now {
                        counts.removed += 1;
                        removed = true;
                        break;
                    }
                    if moved {
                        counts.created += 1;
                        counts.removed += 1;
                    } else if doc == before {
                        counts.unchanged += 1;
                    } else {
                        counts.changed += 1;
                    }
                }
                if removed {
                    if is_original {
                        staged.remove_original(path);
                    }
                    continue;
                }
                doc.set(C::VERSION_KEY, target);
                if let Some(Err(e)) = C::check_schema(target, &doc) {
                    self.invalid(
                        &mut staged.failures,
                        ValidationFailure {
                            path: doc.path().to_owned(),
                            step: None,
                            version: target,
                            message: e.to_string(),
                        },
                    );
                }
                let new_path = doc.path().to_owned();
                let same_place = is_original && new_path == *path;
                if !same_place && let Some(reason) = self.store.unwritable(&new_path) {
                    return Err(fail(ErrorKind::BadPath {
                        path: new_path,
                        reason: format!("{reason} (moved or created from {path})"),
                    }));
                }
                // Two documents may not land on one path, nor on paths that
                // differ only in case (one file on macOS and Windows).
                if let Some(first) = claimed.insert(new_path.as_str().to_lowercase(), path.clone())
                {
                    return Err(fail(ErrorKind::BadPath {
                        path: new_path,
                        reason: format!(
                            "both {first} and {path} would be written here (or to a path that \
                             differs only in case)"
                        ),
                    }));
                }
                let format = self.store.format_of(&new_path).ok_or_else(|| {
                    fail(ErrorKind::BadPath {
                        path: new_path.clone(),
                        reason: "has no document format this store reads".to_owned(),
                    })
                })?;
                // The original's layout carries over, moved or not, unless the
                // format changes.
                let bytes = if is_original && format == parsed.format() {
                    format::render(&parsed, &doc)
                } else {
                    format::render_new(format, &doc)
                }
                .map_err(|e| fail(e.into()))?;
                if is_original && !same_place {
                    staged.remove_original(path);
                }
                let old_bytes = same_place.then(|| parsed.original());
                if old_bytes.as_deref() == Some(bytes.as_slice()) {
                    staged.counts.unchanged += 1;
                    continue;
                }
                let kind = if same_place {
                    staged.counts.changed += 1;
                    ChangeKind::Changed
                } else {
                    staged.counts.created += 1;
                    created.push(new_path.clone());
                    ChangeKind::Created
                };
                let diff = (staged.changes.len() < self.options.diff_limit).then(|| {
                    let old = old_bytes
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    report::diff(new_path.as_str(), &old, &String::from_utf8_lossy(&bytes))
                });
                staged.changes.push(Change {
                    path: new_path.clone(),
                    kind,
                    diff,
                });
                if !self.options.dry_run {
                    self.write_staged(&staging, &new_path, &bytes, same_place.then_some(&original))
                        .map_err(fail)?;
                    staged.writes.insert(new_path, snapshot::blake3_hex(&bytes));
                }
            }
        }
        for m in plan {
            self.emit(Event::StepFinished {
                step: m.meta.id,
                from: m.from,
                to: m.to,
                counts: staged.per_step.get(m.meta.id).copied().unwrap_or_default(),
            });
        }
        let removed: BTreeSet<_> = staged.removes.iter().collect();
        for path in created {
            if fs::symlink_metadata(self.store.root().join(&path)).is_err() {
                staged.created.push(path);
            } else if !removed.contains(&path) {
                return Err(fail(ErrorKind::BadPath {
                    path,
                    reason: "a step creates or moves a document here, but a file is already there"
                        .to_owned(),
                }));
            }
        }
        // A path written by this run replaces its old file by the rename; it
        // must not also be removed after it.
        let Staged {
            writes, removes, ..
        } = &mut staged;
        removes.retain(|p| !writes.contains_key(p));
        if !self.options.dry_run && !staged.writes.is_empty() {
            let files: Vec<Utf8PathBuf> = staged.writes.keys().map(|p| staging.join(p)).collect();
            fsio::sync_files(&staging, files.iter().map(Utf8PathBuf::as_path))
                .map_err(|e| fail(io("sync staged files in", &staging)(e)))?;
            for dir in staged_dirs(&staging, staged.writes.keys(), self.store.root()) {
                fsio::sync_dir(&dir).map_err(|e| fail(io("sync", &dir)(e)))?;
            }
        }
        Ok(staged)
    }

    /// A step's description for the history, with what the operator
    /// overrode said first and loudly.
    fn described(&self, meta: &StepMeta) -> String {
        let mut said = String::new();
        if self.operator_override {
            said.push_str(&format!(
                "OPERATOR OVERRIDE: run alone with `migrate --id {}`, out of the chain's order; ",
                meta.id
            ));
        }
        if !self.edited.is_empty() {
            let edited: Vec<String> = self.edited.iter().map(ToString::to_string).collect();
            said.push_str(&format!(
                "RUN WITH --allow-changed: {}; ",
                edited.join("; ")
            ));
        }
        said.push_str(meta.description);
        said
    }

    /// Records a validation failure and tells the observer.
    fn invalid(&self, failures: &mut Vec<ValidationFailure>, failure: ValidationFailure) {
        self.emit(Event::ValidationFailed {
            failure: failure.clone(),
        });
        failures.push(failure);
    }

    /// Runs one step on one document, turning an error or a panic into a
    /// run error that names both.
    fn apply(&self, m: &Move<'_>, doc: &mut Document) -> Result<(), RunError> {
        let path = doc.path().to_owned();
        error::call_step(m.meta.id, m.from, m.to, &path, || (m.body)(doc))
            .map_err(|k| self.fail(Stage::Stage, k))
    }

    fn write_staged(
        &self,
        staging: &Utf8Path,
        path: &Utf8Path,
        bytes: &[u8],
        original: Option<&Utf8PathBuf>,
    ) -> Result<(), ErrorKind> {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            fsio::create_dir_all(parent).map_err(io("create", parent))?;
        }
        fsio::point("stage", &target).map_err(io("stage", &target))?;
        let mut file = fs::File::create(&target).map_err(io("stage", &target))?;
        fsio::point("write", &target).map_err(io("stage", &target))?;
        io::Write::write_all(&mut file, bytes).map_err(io("stage", &target))?;
        if let Some(original) = original {
            let permissions = fs::metadata(original)
                .map_err(io("inspect", original))?
                .permissions();
            fsio::point("set permissions of", &target)
                .and_then(|()| file.set_permissions(permissions))
                .map_err(io("set permissions of", &target))?;
        }
        // Made durable with every other staged file, before the journal.
        Ok(())
    }

    /// Archives every document of the store as it is now.
    fn snapshot(&self, detected: &Detected, from: u32, to: u32) -> Result<String, RunError> {
        let files: Vec<Utf8PathBuf> = detected.docs.iter().map(|(p, _)| p.clone()).collect();
        self.emit(Event::StageStarted {
            stage: Stage::Snapshot,
            total: files.len(),
        });
        let info = snapshot::create(
            self.store.root(),
            &files,
            &self.store.snapshot_dir(),
            C::NAME,
            from,
            to,
        )
        .map_err(|e| self.fail(Stage::Snapshot, ErrorKind::Snapshot(e)))?;
        self.emit(Event::SnapshotWritten {
            id: info.id.clone(),
            files: files.len(),
        });
        Ok(info.id)
    }

    fn history_lines(
        &self,
        plan: &[Move<'_>],
        staged: &Staged,
        snapshot: Option<&str>,
        direction: Direction,
    ) -> Result<Vec<String>, RunError> {
        let finished = now_rfc3339();
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let stamp_before = self.stamp()?;
        plan.iter()
            .enumerate()
            .map(|(i, m)| {
                let counts = staged.per_step.get(m.meta.id).copied().unwrap_or_default();
                // The run's new paths, once: a restore removes them.
                let created_paths = if i == 0 {
                    staged.created.iter().map(ToString::to_string).collect()
                } else {
                    Vec::new()
                };
                let record = HistoryRecord {
                    run_id: self.run_id.clone(),
                    chain: C::NAME.to_owned(),
                    step: Some(m.meta.id.to_owned()),
                    from: m.from,
                    to: m.to,
                    description: self.described(m.meta),
                    checksum: Some(m.meta.checksum.to_owned()),
                    started: self.started_at.clone(),
                    finished: finished.clone(),
                    duration_ms,
                    outcome: match direction {
                        Direction::Up => Outcome::Applied,
                        Direction::Down | Direction::Restore => Outcome::RolledBack,
                    },
                    snapshot: snapshot.map(str::to_owned),
                    counts,
                    created_paths,
                    stamp_before,
                    operator_override: self.operator_override,
                    host: lock::hostname(),
                    verchain: env!("CARGO_PKG_VERSION").to_owned(),
                };
                serde_json::to_string(&record).map_err(|e| {
                    self.fail(
                        Stage::Record,
                        ErrorKind::Damaged {
                            path: self.store.history_path(),
                            line: 0,
                            message: e.to_string(),
                        },
                    )
                })
            })
            .collect()
    }

    /// Applies a written journal, then stamps, records and cleans up. Used by
    /// a commit and by recovery alike.
    fn finish_commit(&self, journal: &Journal, stage: Stage) -> Result<(), RunError> {
        let root = self.store.root();
        let observer = (stage != Stage::Recover)
            .then_some(self.options.observer.as_ref())
            .flatten();
        let mut ticker = Ticker::start(observer, stage, journal.ops.len());
        journal
            .apply(root, &mut || ticker.tick())
            .map_err(|k| self.fail(stage, k))?;
        let stamp_path = self.store.stamp_path();
        match journal.version {
            Some(version) => {
                let stamp = Stamp {
                    chain: C::NAME.to_owned(),
                    version,
                };
                let text = serde_json::to_string(&stamp).map_err(|e| {
                    self.fail(
                        stage,
                        ErrorKind::Damaged {
                            path: stamp_path.clone(),
                            line: 0,
                            message: e.to_string(),
                        },
                    )
                })?;
                fsio::write_atomic(&stamp_path, text.as_bytes())
                    .map_err(|e| self.fail(stage, io("write", &stamp_path)(e)))?;
            }
            None => match fsio::point("remove", &stamp_path)
                .and_then(|()| fs::remove_file(&stamp_path))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.fail(stage, io("remove", &stamp_path)(e))),
            },
        }
        let history_path = self.store.history_path();
        // Only a recovery can find its lines already written (by the run it
        // finishes); a fresh commit does not read the whole history.
        let recorded = stage == Stage::Recover
            && history::read(&history_path)
                .map_err(|k| self.fail(Stage::Record, k))?
                .iter()
                .any(|r| r.run_id == journal.run_id);
        if !recorded {
            let lines = if stage == Stage::Recover {
                journal
                    .history
                    .iter()
                    .map(|l| history::recovered_line(l))
                    .collect()
            } else {
                journal.history.clone()
            };
            fsio::append_lines(&history_path, &lines)
                .map_err(|e| self.fail(Stage::Record, io("append to", &history_path)(e)))?;
        }
        let journal_path = self.store.journal_path();
        fsio::point("remove", &journal_path)
            .and_then(|()| fs::remove_file(&journal_path))
            .map_err(|e| self.fail(Stage::Record, io("remove", &journal_path)(e)))?;
        let state = self.store.state_dir();
        fsio::sync_dir(&state).map_err(|e| self.fail(Stage::Record, io("sync", &state)(e)))?;
        self.discard(&journal.staging);
        Ok(())
    }

    /// Restores a snapshot (by id, or the one before the last run that was
    /// not rolled back), verified before anything is touched. The store as
    /// it is now is snapshotted first, so a restore can be undone too.
    fn restore(&self, id: Option<&str>) -> Result<Report, RunError> {
        let fail = |k| self.fail(Stage::Restore, k);
        if let Some(id) = id
            && !snapshot_id_is_plain(id)
        {
            return Err(fail(ErrorKind::NoSnapshot(format!(
                "`{id}` is not a snapshot name; `snapshots` lists them"
            ))));
        }
        let records = history::read(&self.store.history_path()).map_err(fail)?;
        let undone = runs_to_undo(&records, id).map_err(fail)?;
        let snapshot_id = undone.snapshot.clone();
        let archive = snapshot::path_of(&self.store.snapshot_dir(), &snapshot_id);
        if self.options.dry_run {
            let manifest = snapshot::verify(&archive).map_err(|e| fail(e.into()))?;
            let restored = self.restorable(&manifest).map_err(fail)?;
            let removes = self.removable(&undone, &restored).map_err(fail)?;
            return Ok(self.restore_report(&snapshot_id, &manifest, &restored, &removes));
        }
        let staging_rel = Utf8PathBuf::from(crate::dir::STATE_DIR)
            .join("staging")
            .join(&self.run_id);
        let staging = self.store.root().join(&staging_rel);
        let stamp = self.stamp()?;
        let prepared = (|| {
            let manifest = snapshot::extract(&archive, &staging)?;
            self.emit(Event::RunStarted {
                chain: C::NAME,
                run_id: self.run_id.clone(),
                direction: Direction::Restore,
                dry_run: false,
                from: stamp,
                to: manifest.from_version,
                plan: Vec::new(),
                records: manifest.files.len(),
            });
            let restored = self.restorable(&manifest)?;
            let removes = self.removable(&undone, &restored)?;
            for dir in staged_dirs(&staging, [], self.store.root())
                .iter()
                .chain([&staging])
            {
                fsio::sync_dir(dir).map_err(io("sync", dir))?;
            }
            // The store as it is now, in case this restore is itself a mistake.
            let now = self.store.scan()?;
            self.emit(Event::StageStarted {
                stage: Stage::Snapshot,
                total: now.len(),
            });
            let before = snapshot::create(
                self.store.root(),
                &now,
                &self.store.snapshot_dir(),
                C::NAME,
                manifest.to_version,
                manifest.from_version,
            )?;
            self.emit(Event::SnapshotWritten {
                id: before.id.clone(),
                files: now.len(),
            });
            Ok::<_, ErrorKind>((manifest, restored, removes, before.id))
        })();
        let (manifest, restored, removes, before) = prepared.map_err(|k| {
            self.discard(&staging_rel);
            fail(k)
        })?;
        let report = self.restore_report(&snapshot_id, &manifest, &restored, &removes);
        let manual = |kind: ErrorKind| ErrorKind::RestoreFailed {
            snapshot: archive.clone(),
            root: self.store.root().to_owned(),
            cause: Box::new(kind),
        };
        let record = HistoryRecord {
            run_id: self.run_id.clone(),
            chain: C::NAME.to_owned(),
            step: None,
            from: manifest.to_version,
            to: manifest.from_version,
            description: format!(
                "restored snapshot {snapshot_id}; the store before this restore is in snapshot \
                 {before}"
            ),
            checksum: None,
            started: self.started_at.clone(),
            finished: now_rfc3339(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: Outcome::RolledBack,
            snapshot: Some(snapshot_id.clone()),
            counts: report.counts,
            created_paths: Vec::new(),
            stamp_before: stamp,
            operator_override: false,
            host: lock::hostname(),
            verchain: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let line = serde_json::to_string(&record).map_err(|e| {
            fail(ErrorKind::Damaged {
                path: self.store.history_path(),
                line: 0,
                message: e.to_string(),
            })
        })?;
        let journal = Journal {
            run_id: self.run_id.clone(),
            version: undone.stamp_before,
            snapshot: Some(before.clone()),
            staging: staging_rel,
            ops: manifest
                .files
                .iter()
                .filter(|f| restored.contains(Utf8Path::new(&f.path)))
                .map(|f| Op::Write {
                    path: Utf8PathBuf::from(&f.path),
                    blake3: f.blake3.clone(),
                })
                .chain(removes.into_iter().map(|path| Op::Remove { path }))
                .collect(),
            history: vec![line],
        };
        journal
            .write(&self.store.journal_path())
            .map_err(|k| self.fail(Stage::Restore, manual(k)))?;
        self.finish_commit(&journal, Stage::Restore)
            .map_err(|e| self.fail(e.stage, manual(*e.kind)))?;
        self.emit(Event::RolledBack {
            snapshot: snapshot_id,
            version: journal.version,
        });
        Ok(report)
    }

    /// The paths a snapshot restores, each a document path of this store.
    fn restorable(
        &self,
        manifest: &snapshot::Manifest,
    ) -> Result<BTreeSet<Utf8PathBuf>, ErrorKind> {
        manifest
            .files
            .iter()
            .map(|f| self.writable(Utf8PathBuf::from(&f.path), "in the snapshot"))
            .collect()
    }

    /// The paths the undone runs created that the snapshot does not hold.
    fn removable(
        &self,
        undone: &Undo,
        restored: &BTreeSet<Utf8PathBuf>,
    ) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        undone
            .created
            .iter()
            .map(Utf8PathBuf::from)
            .filter(|p| !restored.contains(p))
            .map(|p| self.writable(p, "listed in the history as created by a run"))
            .collect()
    }

    /// `path` if a restore may write or remove it; `source` says where the
    /// path came from.
    fn writable(&self, path: Utf8PathBuf, source: &str) -> Result<Utf8PathBuf, ErrorKind> {
        match self.store.unwritable(&path) {
            None => Ok(path),
            Some(reason) => Err(ErrorKind::BadPath {
                path,
                reason: format!("{source}: {reason}"),
            }),
        }
    }

    fn restore_report(
        &self,
        snapshot_id: &str,
        manifest: &snapshot::Manifest,
        restored: &BTreeSet<Utf8PathBuf>,
        removes: &[Utf8PathBuf],
    ) -> Report {
        Report {
            chain: C::NAME,
            run_id: self.run_id.clone(),
            dry_run: self.options.dry_run,
            direction: Direction::Restore,
            store_version: Some(manifest.to_version),
            target: manifest.from_version,
            plan: Vec::new(),
            versions: BTreeMap::new(),
            counts: Counts {
                changed: restored.len(),
                unchanged: 0,
                created: 0,
                removed: removes.len(),
                quarantined: 0,
            },
            changes: restored
                .iter()
                .map(|p| Change {
                    path: p.clone(),
                    kind: ChangeKind::Changed,
                    diff: None,
                })
                .chain(removes.iter().map(|p| Change {
                    path: p.clone(),
                    kind: ChangeKind::Removed,
                    diff: None,
                }))
                .collect(),
            failures: Vec::new(),
            snapshot: Some(snapshot_id.to_owned()),
        }
    }
}

/// What a restore undoes: the snapshot to restore, every path the undone
/// runs brought into the store, and the stamp from before them.
struct Undo {
    snapshot: String,
    created: Vec<String>,
    stamp_before: Option<u32>,
}

/// The runs a restore undoes: from the run whose snapshot is `id` (or the
/// last run not yet rolled back) to the end of the history. Runs of `down`
/// steps count as runs too (their snapshot undoes them). A snapshot that
/// belongs to no run still in effect is restored as it is, removing nothing.
fn runs_to_undo(records: &[HistoryRecord], id: Option<&str>) -> Result<Undo, ErrorKind> {
    let live = history::live_runs(records);
    let at = match id {
        Some(id) => {
            let id = id.strip_suffix(".tar.zst").unwrap_or(id);
            match live.iter().position(|l| l.snapshot == id) {
                Some(at) => at,
                None => {
                    return Ok(Undo {
                        snapshot: id.to_owned(),
                        created: Vec::new(),
                        stamp_before: None,
                    });
                }
            }
        }
        None => live.len().checked_sub(1).ok_or_else(|| {
            ErrorKind::NoSnapshot("the history has no applied run to undo".to_owned())
        })?,
    };
    Ok(Undo {
        snapshot: live[at].snapshot.clone(),
        created: live[at..]
            .iter()
            .flat_map(|l| l.created.iter().cloned())
            .collect(),
        stamp_before: live[at].stamp_before,
    })
}

/// Whether `id` names a snapshot file and nothing else.
fn snapshot_id_is_plain(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\\', '\0'])
}

/// Every folder that holds a staged file, deepest first, then the staging
/// folders up to the store root: syncing them all makes the staged files
/// durable before the journal refers to them.
fn staged_dirs<'a>(
    staging: &Utf8Path,
    writes: impl IntoIterator<Item = &'a Utf8PathBuf>,
    root: &Utf8Path,
) -> Vec<Utf8PathBuf> {
    let mut dirs = BTreeSet::new();
    for path in writes {
        let mut dir = staging.join(path);
        while dir.pop() && dir.starts_with(staging) {
            dirs.insert(dir.clone());
        }
    }
    let mut out: Vec<Utf8PathBuf> = dirs.into_iter().rev().collect();
    let mut dir = staging.to_owned();
    while dir.pop() && dir.starts_with(root) && dir != root {
        out.push(dir.clone());
    }
    out
}

/// A run id unique on this machine: the time to the second (readable), the
/// process id, and a per-process counter.
pub(crate) fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", now_for_name(), std::process::id())
}
