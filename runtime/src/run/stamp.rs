//! Stamp: adopting a store built before verchain. `stamp --version N`
//! records that the store is at version N without running a step, so that
//! the next run starts from N instead of the chain's base: lock → recover
//! → refuse a store that already says its version → the store's stamp
//! (a stamp file, a header in each log file, `user_version`) and one line
//! of history, committed as a run's are.

use super::error::{ErrorKind, RunError, Stage};
use super::history::HistoryRecord;
use super::store::{Purpose, StampState, Store};
use super::{Run, RunOptions, commit, leftover, lock, snapshot};
use crate::Chain;

/// Records that `store`, built before verchain (by an earlier release of
/// the application, or by hand), is at `version` of chain `C`, without
/// running a step: a run then starts from `version` instead of the chain's
/// base. Returns the history's line that says so (outcome
/// [`Outcome::Stamped`](super::Outcome::Stamped)).
///
/// What the store keeps of it is what says its version on every run: a
/// folder's stamp file (documents without a version key are at the
/// stamp), a header on each log file that has none, a database's
/// `user_version`, a PostgreSQL schema's history. A store that already
/// says its version (verchain ran on it, or stamped it) is refused, as is
/// a version outside the chain; nothing is written then.
///
/// ```
/// use verchain::folder::FolderStore;
/// use verchain::{Chain, Document, RunOptions, migration, stamp, status};
///
/// /// Notes.
/// #[derive(Chain)]
/// #[chain(current = 3)]
/// pub struct Notes;
///
/// /// Adds `status`.
/// #[migration(chain = Notes, from = 1, to = 2)]
/// fn add_status(note: &mut Document) {
///     note.set_default("status", "draft");
/// }
///
/// /// Adds `kind`.
/// #[migration(chain = Notes, from = 2, to = 3)]
/// fn add_kind(note: &mut Document) {
///     note.set_default("kind", "note");
/// }
///
/// // Notes an earlier release wrote at version 2, with no version key.
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a.md"), "---\ntitle: A\nstatus: done\n---\n")?;
/// let store = FolderStore::new(camino::Utf8Path::from_path(dir.path()).unwrap());
/// assert!(status::<Notes>(&store)?.unstamped);
/// stamp::<Notes>(&store, 2, &RunOptions::default())?;
/// let now = status::<Notes>(&store)?;
/// assert_eq!((now.stamp, now.unstamped), (Some(2), false));
/// assert_eq!(now.pending.iter().map(|s| s.id).collect::<Vec<_>>(), ["add_kind"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stamp<C: Chain>(
    store: &impl Store<Record = C::Record>,
    version: u32,
    options: &RunOptions,
) -> Result<HistoryRecord, RunError> {
    let run = Run::new::<C>(options)?;
    let result = stamp_run(store, &run, version);
    run.audit_failure(store.location(), Some(version), result)
}

fn stamp_run<S: Store>(
    store: &S,
    run: &Run<'_, S::Record>,
    version: u32,
) -> Result<HistoryRecord, RunError> {
    let refuse = |stage, kind| run.fail(stage, kind).unchanged();
    if run.dry_run() {
        return Err(refuse(
            Stage::Plan,
            ErrorKind::Unsupported {
                what: "a dry run of `stamp` (`status` shows what the store says)",
            },
        ));
    }
    run.chain
        .check_target(version)
        .map_err(|k| refuse(Stage::Plan, k))?;
    let mut session = lock::open(store, Purpose::Run, run)?;
    match store
        .stamp_state(&mut session, &run.chain)
        .map_err(|k| refuse(Stage::Detect, k))?
    {
        StampState::Stamped(said) => {
            return Err(refuse(
                Stage::Detect,
                ErrorKind::AlreadyStamped {
                    store: store.location().to_owned(),
                    said,
                },
            ));
        }
        StampState::Empty | StampState::Unstamped => {}
    }
    leftover::mark(store, run.id()).map_err(|k| refuse(Stage::Stage, k))?;
    let result = write(store, &mut session, run, version);
    leftover::settle(store, &mut session, run.id(), &result);
    let record = result?;
    run.audit_committed(store.location(), std::slice::from_ref(&record));
    Ok(record)
}

/// The store's stamp at `version` and its history's line, committed; the
/// files it replaces (a log's) kept in a snapshot first.
fn write<S: Store>(
    store: &S,
    session: &mut S::Session,
    run: &Run<'_, S::Record>,
    version: u32,
) -> Result<HistoryRecord, RunError> {
    let mut staged = store
        .begin_stamp(session, run, version)
        .map_err(|k| run.fail(Stage::Stage, k))?;
    let taken = match snapshot::take(store, &mut staged, run, version, version) {
        Ok(taken) => taken,
        Err(e) => {
            store.discard(staged, run.id());
            return Err(e);
        }
    };
    let record = HistoryRecord {
        snapshot: taken.clone(),
        ..run.info.stamp_record(version)
    };
    commit::commit(
        store,
        staged,
        run,
        Stage::Commit,
        std::slice::from_ref(&record),
        taken.as_deref(),
        taken.is_some(),
    )?;
    Ok(record)
}
