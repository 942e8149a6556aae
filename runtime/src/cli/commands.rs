//! What each command does, over chains whose types were erased into
//! [`ChainEntry`] values.

use std::marker::PhantomData;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use super::output;
use super::{Command, EXIT_FAILED, EXIT_LOCKED, EXIT_RECOVERY, EXIT_USAGE, Target};
use crate::{
    Chain, DirStore, Document, ErrorKind, HistoryRecord, Report, RollbackTo, RunError, RunOptions,
    Stage, Status, StepMeta, ValidationFailure,
};

/// One chain the command line can run, with its store's default folder.
pub trait ChainEntry {
    /// The chain's name.
    fn name(&self) -> &'static str;
    /// The store's folder when `--store` is not given.
    fn default_store(&self) -> &Utf8Path;
    /// Its steps, in order.
    fn steps(&self) -> Vec<StepMeta>;
    /// [`crate::migrate`] for this chain.
    fn migrate(&self, store: &DirStore, options: &RunOptions) -> Result<Report, RunError>;
    /// [`crate::rollback`] for this chain.
    fn rollback(
        &self,
        store: &DirStore,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError>;
    /// [`crate::status`] for this chain.
    fn status(&self, store: &DirStore) -> Result<Status, RunError>;
    /// The file declaring the chain, its type's name, its current version.
    fn source(&self) -> (&'static str, &'static str, u32);
    /// [`crate::verify`] for this chain.
    fn verify(&self, store: &DirStore) -> Result<(usize, Vec<ValidationFailure>), RunError>;
}

struct Entry<C> {
    store: Utf8PathBuf,
    chain: PhantomData<fn() -> C>,
}

/// Chain `C`, whose store is the folder `store` unless `--store` says
/// otherwise.
pub fn chain<C: Chain<Record = Document>>(store: impl Into<Utf8PathBuf>) -> Box<dyn ChainEntry> {
    Box::new(Entry::<C> {
        store: store.into(),
        chain: PhantomData,
    })
}

impl<C: Chain<Record = Document>> ChainEntry for Entry<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn default_store(&self) -> &Utf8Path {
        &self.store
    }

    fn steps(&self) -> Vec<StepMeta> {
        C::steps().iter().map(|s| *s.meta()).collect()
    }

    fn migrate(&self, store: &DirStore, options: &RunOptions) -> Result<Report, RunError> {
        crate::migrate::<C>(store, options)
    }

    fn rollback(
        &self,
        store: &DirStore,
        to: &RollbackTo,
        options: &RunOptions,
    ) -> Result<Report, RunError> {
        crate::rollback::<C>(store, to, options)
    }

    fn status(&self, store: &DirStore) -> Result<Status, RunError> {
        crate::status::<C>(store)
    }

    fn verify(&self, store: &DirStore) -> Result<(usize, Vec<ValidationFailure>), RunError> {
        crate::verify::<C>(store)
    }

    fn source(&self) -> (&'static str, &'static str, u32) {
        (C::SOURCE_FILE, C::TYPE_NAME, C::CURRENT)
    }
}

/// Runs `command` over the selected chains; returns the exit code.
pub(super) fn dispatch(chains: &[Box<dyn ChainEntry>], command: Command) -> u8 {
    let target = match &command {
        Command::Migrate { target, .. }
        | Command::Status { target }
        | Command::Verify { target }
        | Command::New { target, .. }
        | Command::List { target }
        | Command::Rollback { target, .. }
        | Command::Snapshots { target, .. } => target,
    };
    let selected: Vec<&dyn ChainEntry> = chains
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| {
            target
                .chain
                .as_deref()
                .is_none_or(|name| name.eq_ignore_ascii_case(c.name()))
        })
        .collect();
    if selected.is_empty() {
        let names: Vec<_> = chains.iter().map(|c| c.name()).collect();
        eprintln!(
            "error: no chain named `{}`; chains: {}",
            target.chain.as_deref().unwrap_or_default(),
            names.join(", ")
        );
        return EXIT_USAGE;
    }
    if matches!(command, Command::New { .. }) && selected.len() != 1 {
        eprintln!("error: `new` adds a step to one chain: say which with --chain");
        return EXIT_USAGE;
    }
    if target.store.is_some() && selected.len() > 1 {
        eprintln!("error: --store names one store; say which chain with --chain");
        return EXIT_USAGE;
    }
    for chain in selected {
        let store = DirStore::new(
            target
                .store
                .clone()
                .unwrap_or_else(|| chain.default_store().to_owned()),
        );
        if let Err(code) = one(chain, &store, &command, target) {
            return code;
        }
    }
    0
}

fn one(
    chain: &dyn ChainEntry,
    store: &DirStore,
    command: &Command,
    target: &Target,
) -> Result<(), u8> {
    let json = target.json;
    match command {
        Command::Migrate {
            to,
            dry_run,
            diff_limit,
            no_diff,
            wait,
            ..
        } => {
            let options = RunOptions {
                target: *to,
                dry_run: *dry_run,
                wait: Duration::from_secs(*wait),
                diff_limit: if *no_diff { 0 } else { *diff_limit },
            };
            let report = chain
                .migrate(store, &options)
                .map_err(|e| fail(chain, &e))?;
            output::report(store, &report, json);
        }
        Command::Rollback {
            to,
            snapshot,
            dry_run,
            ..
        } => {
            let to = match (to, snapshot) {
                (Some(version), _) => RollbackTo::Version(*version),
                (None, Some(id)) => RollbackTo::Snapshot(id.clone()),
                (None, None) => RollbackTo::LastRun,
            };
            let options = RunOptions {
                dry_run: *dry_run,
                ..RunOptions::default()
            };
            let report = chain
                .rollback(store, &to, &options)
                .map_err(|e| fail(chain, &e))?;
            output::report(store, &report, json);
        }
        Command::Status { .. } => {
            let status = chain.status(store).map_err(|e| fail(chain, &e))?;
            output::status(&status, json);
        }
        Command::New { name, .. } => match new_step(chain, name) {
            0 => {}
            code => return Err(code),
        },
        Command::Verify { .. } => {
            let (checked, failures) = chain.verify(store).map_err(|e| fail(chain, &e))?;
            output::verify(chain.name(), store, checked, &failures, json);
            if !failures.is_empty() {
                return Err(EXIT_FAILED);
            }
        }
        Command::List { .. } => {
            // A damaged history must not read as "nothing applied yet".
            let history = crate::history(store)
                .map_err(|k| fail(chain, &RunError::new(chain.name(), Stage::Detect, k)))?;
            output::list(chain.name(), &chain.steps(), &applied(&history), json);
        }
        Command::Snapshots { prune, keep, .. } => {
            let result = if *prune {
                crate::prune_snapshots(store, keep.unwrap_or(usize::MAX))
            } else {
                crate::snapshots(store)
            };
            let list = result
                .map_err(|k| fail(chain, &RunError::new(chain.name(), Stage::Snapshot, k)))?;
            output::snapshots(chain.name(), store, &list, *prune, json);
        }
    }
    Ok(())
}

/// `new NAME`: writes the next step into the file declaring the chain.
fn new_step(chain: &dyn ChainEntry, name: &str) -> u8 {
    let (file, type_name, current) = chain.source();
    let found = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .map(|dir| dir.join(file))
            .find(|path| !file.is_empty() && path.is_file())
    });
    let Some(path) = found else {
        eprintln!(
            "error: cannot find `{file}`, the file that declares chain `{}`; run this from its \
             workspace",
            chain.name()
        );
        return EXIT_USAGE;
    };
    let result = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|source| super::scaffold(&source, type_name, name, current))
        .and_then(|text| {
            let path = Utf8Path::from_path(&path).ok_or("the path is not UTF-8")?;
            crate::fsio::write_atomic(path, text.as_bytes())
                .map_err(|e| format!("cannot write {path}: {e}"))
        });
    match result {
        Ok(()) => {
            println!(
                "added step `{name}` (v{current} → v{}) to {file} and raised `current` of `{}` \
                 to {}; fill in its body, then run `migrate --dry-run`",
                current + 1,
                chain.name(),
                current + 1
            );
            0
        }
        Err(e) => {
            eprintln!("error: chain `{}`: {e}", chain.name());
            EXIT_FAILED
        }
    }
}

/// The checksum each step had when it was last applied.
fn applied(history: &[HistoryRecord]) -> Vec<(String, String)> {
    history
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                crate::Outcome::Applied | crate::Outcome::Recovered
            )
        })
        .filter_map(|r| Some((r.step.clone()?, r.checksum.clone()?)))
        .collect()
}

/// Prints the error with a hint and returns its exit code.
fn fail(chain: &dyn ChainEntry, error: &RunError) -> u8 {
    let (code, hint) = match &*error.kind {
        ErrorKind::Locked { .. } => (
            EXIT_LOCKED,
            "wait for the other runner to finish, or pass --wait SECONDS",
        ),
        ErrorKind::RecoveryNeeded { .. } => (
            EXIT_RECOVERY,
            "run `migrate` without --dry-run to finish the interrupted commit first",
        ),
        ErrorKind::RecoveryFailed { .. } | ErrorKind::RestoreFailed { .. } => (
            EXIT_RECOVERY,
            "the message above says how to restore by hand",
        ),
        _ if !error.store_unchanged() => (
            EXIT_RECOVERY,
            "the store may be partly committed: run again to finish, or see `snapshots`",
        ),
        ErrorKind::Validation { .. } => (
            EXIT_FAILED,
            "nothing was changed; fix the documents or the step, then run again (`migrate --dry-run` lists every failure)",
        ),
        _ => (EXIT_FAILED, "nothing was changed"),
    };
    eprintln!("error: {error}");
    eprintln!("hint ({}): {hint}", chain.name());
    code
}
