//! What each command does, over chains whose types were erased into
//! [`ChainEntry`] values.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;

use super::confirm::{confirm, confirm_breaking};
use super::entry::check_glob;
use super::progress::{self, Verbosity};
use super::workspace::Workspace;
use super::{
    ChainEntry, Command, EXIT_FAILED, EXIT_LOCKED, EXIT_RECOVERY, EXIT_USAGE, FolderSettings,
    SettingError, Target, listing, output,
};
use crate::run::edited_since_applied;
use crate::{ErrorKind, Report, RollbackTo, RunError, RunOptions, Stage};

/// Runs `command` over the selected chains; returns the exit code.
pub(super) fn dispatch(chains: &[Box<dyn ChainEntry>], command: Command) -> u8 {
    let target = command.target();
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
        return usage(&format!(
            "no chain named `{}`; chains: {}",
            target.chain.as_deref().unwrap_or_default(),
            names.join(", ")
        ));
    }
    if matches!(command, Command::New { .. }) && selected.len() != 1 {
        return usage("`new` adds a step to one chain: say which with --chain");
    }
    if matches!(command, Command::Stamp { .. }) && selected.len() != 1 {
        return usage("`stamp` records the version of one store: say which chain with --chain");
    }
    if target.store.is_some() && selected.len() > 1 {
        return usage("--store names one store; say which chain with --chain");
    }
    // The workspace is needed only to find stores and source files.
    let workspace = if target.store.is_some() && !matches!(command, Command::New { .. }) {
        Workspace::default()
    } else {
        match Workspace::load() {
            Ok(workspace) => workspace,
            Err(e) => return usage(&e),
        }
    };
    if let Some(unknown) = workspace
        .configured()
        .find(|name| !chains.iter().any(|c| c.name() == *name))
    {
        let names: Vec<_> = chains.iter().map(|c| c.name()).collect();
        return usage(&format!(
            "[workspace.metadata.verchain.stores] names chain `{unknown}`, which this program \
             does not have; chains: {}",
            names.join(", ")
        ));
    }
    let stores = match set_up(chains, &selected, target, &workspace) {
        Ok(stores) => stores,
        Err(message) => return usage(&message),
    };
    // Every chain must know the version asked for before any runs.
    if let Some(to) = command.to() {
        let flag = match command {
            Command::Stamp { .. } => "--version",
            _ => "--to",
        };
        for (chain, _) in &stores {
            if let Err(e) = chain.releases().resolve(chain.name(), to) {
                return usage(&format!("{flag} {to}: {e}"));
            }
        }
    }
    for (i, (chain, store)) in stores.iter().enumerate() {
        let context = Context {
            chain: chain.as_ref(),
            store,
            target,
            workspace: &workspace,
        };
        if let Err(code) = context.run(&command) {
            // With several chains, the ones before it ran to the end: say
            // which, and which did not run at all.
            if stores.len() > 1 {
                let names = |set: &[SetUp]| {
                    let names: Vec<_> =
                        set.iter().map(|(c, _)| format!("`{}`", c.name())).collect();
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                };
                errln!(
                    "stopped at chain `{}`; done before it: {}; not run: {}",
                    chain.name(),
                    names(&stores[..i]),
                    names(&stores[i + 1..])
                );
            }
            return code;
        }
    }
    0
}

/// A chain ready to run (what its store leaves out is set) and where its
/// store is.
type SetUp = (Box<dyn ChainEntry>, Utf8PathBuf);

/// Each selected chain with its store and the documents the store leaves
/// out (the chain's own globs, the workspace's, then `--exclude`), every
/// glob checked before any chain runs; the usage error otherwise.
fn set_up(
    chains: &[Box<dyn ChainEntry>],
    selected: &[&dyn ChainEntry],
    target: &Target,
    workspace: &Workspace,
) -> Result<Vec<SetUp>, String> {
    for glob in &target.exclude {
        check_glob(glob).map_err(|e| format!("--exclude {e}"))?;
    }
    // The workspace's settings are checked whichever chains run.
    for chain in chains {
        let settings = workspace.folder_settings(chain.name());
        if let Err(SettingError::NotAFolder {
            setting,
            chain,
            kind,
        }) = chain.with_settings(&settings)
        {
            return Err(format!(
                "[workspace.metadata.verchain.stores]: `{setting}` applies to folders of \
                 documents, and the store of chain `{chain}` is {kind}"
            ));
        }
    }
    let given = FolderSettings {
        exclude: target.exclude.clone(),
        without_front_matter: target.without_front_matter,
    };
    selected
        .iter()
        .map(|chain| {
            // `--store` points at another store than the workspace's: the
            // workspace's settings for its store do not apply.
            let configured = match target.store {
                Some(_) => FolderSettings::default(),
                None => workspace.folder_settings(chain.name()),
            };
            let settings = configured.and(&given);
            let entry = chain.with_settings(&settings).map_err(|e| match e {
                SettingError::NotAFolder { chain, kind, .. } => format!(
                    "--{} applies to folders of documents, and the store of chain \
                     `{chain}` is {kind}{}",
                    match given.exclude.is_empty() {
                        true => "without-front-matter",
                        false => "exclude",
                    },
                    if target.chain.is_none() {
                        "; say which chain with --chain"
                    } else {
                        ""
                    }
                ),
                e => format!("chain `{}`: {e}", chain.name()),
            })?;
            let store = match &target.store {
                Some(store) => store.clone(),
                None => workspace.store(chain.name(), chain.default_store()),
            };
            entry
                .check_store(&store)
                .map_err(|e| format!("chain `{}`: {e}", chain.name()))?;
            Ok((entry, store))
        })
        .collect()
}

/// One chain, its store, and how the command line asked to run.
struct Context<'a> {
    chain: &'a dyn ChainEntry,
    store: &'a Utf8Path,
    target: &'a Target,
    workspace: &'a Workspace,
}

impl Context<'_> {
    fn run(&self, command: &Command) -> Result<(), u8> {
        let (chain, store, json) = (self.chain, self.store, self.target.json);
        let verbosity = self.target.verbosity();
        let observer = || progress::observer(json, verbosity);
        let audit = || progress::audit(json, verbosity);
        // Checked by `dispatch` before any chain ran.
        let to = command
            .to()
            .and_then(|to| chain.releases().resolve(chain.name(), to).ok());
        match command {
            Command::Migrate {
                dry_run,
                diff_limit,
                no_diff,
                wait,
                id,
                yes,
                allow_changed,
                skip_malformed,
                no_snapshot,
                ..
            } => {
                let options = RunOptions {
                    no_snapshot: *no_snapshot,
                    target: to,
                    dry_run: *dry_run,
                    wait: Duration::from_secs(*wait),
                    diff_limit: if *no_diff { 0 } else { *diff_limit },
                    observer: observer(),
                    allow_changed: *allow_changed,
                    skip_malformed: *skip_malformed,
                    audit: audit(),
                    confirm_breaking: Some(confirm_breaking(*yes)),
                };
                let report = match id {
                    Some(id) => {
                        if !dry_run {
                            confirm(
                                &format!(
                                    "run step `{id}` of chain `{}` alone, out of the chain's \
                                     order, on {store}? The history will record it as an \
                                     operator override.",
                                    chain.name()
                                ),
                                *yes,
                            )?;
                        }
                        chain.migrate_step(store, id, &options)
                    }
                    None => chain.migrate(store, &options),
                };
                let report = report.map_err(|e| self.fail(&e))?;
                self.report(&report);
                // A dry run fails as the real run would, so that it can gate
                // a deployment.
                if report.dry_run && !report.failures.is_empty() {
                    let kind = ErrorKind::Validation {
                        total: report.failures.len(),
                        failures: report.failures,
                    };
                    return Err(self.fail(&RunError::new(chain.name(), Stage::Validate, kind)));
                }
            }
            Command::Rollback {
                snapshot,
                dry_run,
                diff_limit,
                no_diff,
                wait,
                allow_changed,
                skip_malformed,
                ..
            } => {
                let to = match (to, snapshot) {
                    (Some(version), _) => RollbackTo::Version(version),
                    (None, Some(id)) => RollbackTo::Snapshot(id.clone()),
                    (None, None) => RollbackTo::LastRun,
                };
                let options = RunOptions {
                    dry_run: *dry_run,
                    wait: Duration::from_secs(*wait),
                    diff_limit: if *no_diff { 0 } else { *diff_limit },
                    observer: observer(),
                    allow_changed: *allow_changed,
                    skip_malformed: *skip_malformed,
                    audit: audit(),
                    ..RunOptions::default()
                };
                let report = chain
                    .rollback(store, &to, &options)
                    .map_err(|e| self.fail(&e))?;
                self.report(&report);
            }
            Command::Status { .. } => {
                let status = chain.status(store).map_err(|e| self.fail(&e))?;
                if verbosity != Verbosity::Quiet || json {
                    listing::status(&status, &chain.releases(), json);
                }
            }
            Command::Stamp { wait, yes, .. } => {
                let Some(version) = to else {
                    return Err(EXIT_USAGE);
                };
                confirm(
                    &format!(
                        "record that {} is at {} of chain `{}`? The next run starts there, \
                         skipping the steps before it.",
                        output::shown(store),
                        chain.releases().label(version),
                        chain.name()
                    ),
                    *yes,
                )?;
                let options = RunOptions {
                    wait: Duration::from_secs(*wait),
                    audit: audit(),
                    ..RunOptions::default()
                };
                let record = chain
                    .stamp(store, version, &options)
                    .map_err(|e| self.fail(&e))?;
                if verbosity != Verbosity::Quiet || json {
                    listing::stamped(chain.name(), store, &record, &chain.releases(), json);
                }
            }
            Command::New { name, .. } => super::scaffold::new_step(chain, name, self.workspace)?,
            Command::Verify { .. } => {
                let verified = chain.verify(store).map_err(|e| self.fail(&e))?;
                if verbosity != Verbosity::Quiet || json {
                    listing::verify(chain.name(), store, &verified, json);
                }
                if verified.invalid > 0 {
                    return Err(EXIT_FAILED);
                }
            }
            Command::List { .. } => {
                // A damaged history must not read as "nothing applied yet".
                let history = chain.history(store).map_err(|e| self.fail(&e))?;
                let steps = chain.steps();
                // Every step with an applied record, whatever the version now.
                let edited = edited_since_applied(&history, &steps, Some(u32::MAX));
                let applied: Vec<&str> = steps
                    .iter()
                    .filter(|s| {
                        history
                            .iter()
                            .any(|r| r.applied_a_step() && r.step.as_deref() == Some(s.id))
                    })
                    .map(|s| s.id)
                    .collect();
                listing::list(
                    chain.name(),
                    &steps,
                    &chain.releases(),
                    &applied,
                    &edited,
                    json,
                );
            }
            Command::Snapshots {
                prune, keep, yes, ..
            } => {
                let list = if *prune {
                    let keep = keep.unwrap_or(usize::MAX);
                    let undo = self.undo_snapshot_pruned(keep)?;
                    let warning = undo.map(|id| {
                        format!(
                            " This removes snapshot {id}, the one a plain `rollback` restores to \
                             undo the last run."
                        )
                    });
                    if let (true, Some(warning)) = (*yes, &warning) {
                        errln!("warning:{warning}");
                    }
                    confirm(
                        &format!(
                            "remove every snapshot of chain `{}` but the newest {keep}? Removed \
                             snapshots cannot be restored.{}",
                            chain.name(),
                            warning.as_deref().unwrap_or_default()
                        ),
                        *yes,
                    )?;
                    chain.prune_snapshots(store, keep)
                } else {
                    chain.snapshots(store)
                };
                let list = list.map_err(|e| self.fail(&e))?;
                listing::snapshots(chain.name(), store, &list, *prune, json);
            }
        }
        Ok(())
    }

    /// The snapshot a plain `rollback` would restore, if keeping only the
    /// newest `keep` would remove it.
    fn undo_snapshot_pruned(&self, keep: usize) -> Result<Option<String>, u8> {
        let history = self.chain.history(self.store).map_err(|e| self.fail(&e))?;
        let Ok(undo) = crate::run::history::last_live_snapshot(&history) else {
            return Ok(None);
        };
        let snapshots = self
            .chain
            .snapshots(self.store)
            .map_err(|e| self.fail(&e))?;
        let pruned = snapshots
            .iter()
            .skip(keep)
            .any(|s| s.id == undo || s.id.strip_suffix(".tar.zst") == Some(undo.as_str()));
        Ok(pruned.then_some(undo))
    }

    fn report(&self, report: &Report) {
        match self.target.verbosity() {
            _ if self.target.json => output::report_json(report),
            Verbosity::Quiet => {}
            _ => output::report(self.store, report, &self.chain.releases()),
        }
    }

    /// Prints the error with a hint (and, with `--json`, as a JSON event on
    /// stdout) and returns its exit code.
    fn fail(&self, error: &RunError) -> u8 {
        let (code, hint) = match &*error.kind {
            ErrorKind::Locked { .. } => (
                EXIT_LOCKED,
                "wait for the other runner to finish, or pass --wait SECONDS",
            ),
            ErrorKind::RecoveryNeeded { .. } => (
                EXIT_RECOVERY,
                "run `migrate` without --dry-run to finish the interrupted commit first",
            ),
            ErrorKind::RecoveryFailed { .. }
            | ErrorKind::RestoreFailed { .. }
            | ErrorKind::UndoFailed { .. } => (
                EXIT_RECOVERY,
                "the message above says how to restore by hand",
            ),
            _ if !error.store_unchanged() => (
                EXIT_RECOVERY,
                "the store may be partly committed: run again to finish, or see `snapshots`",
            ),
            ErrorKind::UnknownStep { .. } => (EXIT_USAGE, "`list` shows the chain's steps"),
            ErrorKind::NotConfirmed { .. } => (
                EXIT_USAGE,
                "nothing was changed; answer `y` at a terminal, or pass --yes",
            ),
            ErrorKind::Unsupported { .. } => (EXIT_USAGE, "nothing was changed"),
            ErrorKind::EditedSinceApplied { .. } => (
                EXIT_FAILED,
                "nothing was changed; `list` flags every edited step",
            ),
            ErrorKind::Validation { .. } => (
                EXIT_FAILED,
                "nothing was changed; fix the documents or the step, then run again \
                 (`migrate --dry-run` lists every failure)",
            ),
            _ => (EXIT_FAILED, "nothing was changed"),
        };
        if self.target.json {
            output::print_json(&json!({
                "event": "error",
                "chain": error.chain,
                "stage": error.stage,
                "message": error.kind.to_string(),
                "hint": hint,
                "exit_code": code,
            }));
        }
        errln!("error: {error}");
        errln!("hint ({}): {hint}", self.chain.name());
        code
    }
}

/// Prints a usage error; returns its exit code.
pub(super) fn usage(message: &str) -> u8 {
    if super::json_asked() {
        output::usage_error_json(message);
    }
    errln!("error: {message}");
    EXIT_USAGE
}
