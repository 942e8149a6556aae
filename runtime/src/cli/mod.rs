//! The command line as a library, so that a workspace's own xtask is three
//! lines:
//!
//! ```no_run
//! # use verchain::Chain;
//! # #[derive(Chain)] #[chain(current = 1)] pub struct Notes;
//! fn main() -> std::process::ExitCode {
//!     verchain::cli::main(&[verchain::cli::chain::<Notes>("vault")])
//! }
//! ```
//!
//! Exit codes, for scripts: 0 success; 1 the run failed and the store is as
//! it was; 2 usage error; 3 the store is locked by another runner; 4 an
//! interrupted commit or a failed rollback needs attention.

/// `println!` that never panics: a reader that went away (a closed pipe,
/// as with `| head`) must not turn a finished run into a crash, and the
/// run goes on to its end.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!`, as [`outln`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!`, as [`outln`].
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!`, as [`outln`].
macro_rules! errout {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod commands;
mod confirm;
mod entry;
mod listing;
mod log;
mod output;
#[cfg(feature = "postgres")]
mod postgres;
mod progress;
mod scaffold;
#[cfg(feature = "sqlite")]
mod sqlite;
mod workspace;

use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

pub use entry::{ChainEntry, FolderSettings, SettingError, chain, chain_with};
pub use log::{log_chain, log_chain_with};
#[cfg(feature = "postgres")]
pub use postgres::{postgres_chain, postgres_chain_with};
pub use scaffold::scaffold;
#[cfg(feature = "sqlite")]
pub use sqlite::sqlite_chain;

/// Exit code: the run failed and the store is as it was.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: another runner holds the store's lock.
pub const EXIT_LOCKED: u8 = 3;
/// Exit code: an interrupted commit or a failed rollback needs attention.
pub const EXIT_RECOVERY: u8 = 4;

const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 the run failed and the store is as it was; 2 usage error;
3 the store is locked by another runner; 4 an interrupted commit or a failed rollback
needs attention (the message says how to restore by hand).";

/// Migrations of this workspace's stores.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which chain and store a command works on.
#[derive(Debug, Args)]
struct Target {
    /// Only this chain (by name); every chain when not given.
    #[arg(long, global = true)]
    chain: Option<String>,
    /// The store's path (a `postgres://` URL for a PostgreSQL chain),
    /// instead of `[workspace.metadata.verchain.stores]` in the
    /// workspace's Cargo.toml or the chain's default.
    #[arg(long, global = true)]
    store: Option<Utf8PathBuf>,
    /// Leave out the documents whose path (relative to the store's root,
    /// `/`-separated) matches GLOB, such as `drafts/**`; repeatable. Adds to
    /// the store's `exclude` in `[workspace.metadata.verchain.stores]`.
    /// Folders of documents only.
    #[arg(long, global = true, value_name = "GLOB")]
    exclude: Vec<String>,
    /// What runs do with Markdown documents that have no front matter (or
    /// one the site generators would not read alike): `refuse` them, naming
    /// every one (the default); `skip` them, leaving them as they are and
    /// listing them; or `add` a YAML front matter when a step gives them
    /// fields. Replaces the store's `without_front_matter` in
    /// `[workspace.metadata.verchain.stores]`. Folders of documents only.
    #[arg(long, global = true, value_name = "POLICY", value_parser = parse_policy)]
    without_front_matter: Option<crate::folder::FrontMatterPolicy>,
    /// Machine-readable output, one JSON object a line: a document per
    /// chain, and for `migrate` and `rollback` an event per step of the run
    /// (see the README's "JSON output").
    #[arg(long, global = true)]
    json: bool,
    /// Print errors only.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print each step's counts, more progress, and the run's audit events.
    #[arg(long, short, global = true)]
    verbose: bool,
}

impl Target {
    fn verbosity(&self) -> progress::Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => progress::Verbosity::Quiet,
            (false, true) => progress::Verbosity::Verbose,
            (false, false) => progress::Verbosity::Normal,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate to the chain's current version (or `--to N`).
    Migrate {
        #[command(flatten)]
        target: Target,
        /// The version to reach: `3`, `v3`, or a release the chain names
        /// (`0.2.0`).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Show the plan, counts, diffs and validation failures; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// How many documents get a diff.
        #[arg(long, default_value_t = 20)]
        diff_limit: usize,
        /// No diffs.
        #[arg(long)]
        no_diff: bool,
        /// Wait up to this many seconds for another runner's lock.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Run this one step alone, out of the chain's order, on the
        /// documents at its `from` version: an operator's override, recorded
        /// as one in the history.
        #[arg(long, value_name = "STEP", conflicts_with = "to")]
        id: Option<String>,
        /// Do not ask for confirmation (needed for `--id`, and for a plan
        /// with a `breaking` step, when not at a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Run even though steps the store has applied were edited since
        /// (`list` shows which); the history records it.
        #[arg(long)]
        allow_changed: bool,
        /// Logs only: move malformed lines, unchanged, to a quarantine file
        /// and count them in the history, instead of stopping the run.
        #[arg(long, requires = "chain")]
        skip_malformed: bool,
        /// Commit without taking a snapshot first (for a store too large
        /// to copy on every run); the history records the choice, and
        /// `rollback` cannot undo this run by itself.
        #[arg(long)]
        no_snapshot: bool,
    },
    /// Each chain's store: versions, pending steps, last run, snapshots.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Record that a store built before verchain (by an earlier release of
    /// the application, or by hand) is at `--version N`, without running a
    /// step, so that the next run starts there; refused for a store that
    /// already says its version.
    #[command(alias = "baseline")]
    Stamp {
        #[command(flatten)]
        target: Target,
        /// The version the store is at: `3`, `v3`, or a release the chain
        /// names (`0.2.0`).
        #[arg(long, value_name = "VERSION")]
        version: String,
        /// Wait up to this many seconds for another runner's lock.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Do not ask for confirmation (needed when not at a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Each chain's steps; applied steps edited since are flagged.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Undo the last run (restore its snapshot), or go to `--to N` with
    /// `down` steps, or restore `--snapshot ID`.
    Rollback {
        #[command(flatten)]
        target: Target,
        /// The version to go back to, with `down` steps: `2`, `v2`, or a
        /// release the chain names.
        #[arg(long, value_name = "VERSION", conflicts_with = "snapshot")]
        to: Option<String>,
        /// The snapshot to restore (see `snapshots`).
        #[arg(long)]
        snapshot: Option<String>,
        /// Show what would be restored; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// How many documents get a diff (with `--to`).
        #[arg(long, default_value_t = 20)]
        diff_limit: usize,
        /// No diffs.
        #[arg(long)]
        no_diff: bool,
        /// Wait up to this many seconds for another runner's lock.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Run `down` steps even though steps the store has applied were
        /// edited since; the history records it.
        #[arg(long)]
        allow_changed: bool,
        /// Logs only: `down` steps move malformed lines, unchanged, to a
        /// quarantine file instead of stopping the run.
        #[arg(long, requires = "chain")]
        skip_malformed: bool,
        /// Accepted, so that scripts may pass it to every command that
        /// changes a store: `rollback` never asks, since it snapshots the
        /// store as it is before it restores or runs `down` steps (`rollback
        /// --snapshot ID` with that snapshot undoes it).
        #[arg(long, short)]
        yes: bool,
    },
    /// Add the next step, empty, to the file that declares the chain, and
    /// raise the chain's `current` to match.
    New {
        /// The step's function name, such as `add_priority`.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Check every document against its version's schema; change nothing.
    Verify {
        #[command(flatten)]
        target: Target,
    },
    /// List snapshots, newest first, or prune them.
    #[command(alias = "list-snapshots")]
    Snapshots {
        #[command(flatten)]
        target: Target,
        /// Remove all but the newest `--keep N`.
        #[arg(long, requires = "keep")]
        prune: bool,
        /// How many snapshots `--prune` keeps.
        #[arg(long)]
        keep: Option<usize>,
        /// Do not ask before pruning (needed when not at a terminal).
        #[arg(long, short)]
        yes: bool,
    },
}

impl Command {
    fn target(&self) -> &Target {
        match self {
            Command::Migrate { target, .. }
            | Command::Status { target }
            | Command::Stamp { target, .. }
            | Command::Verify { target }
            | Command::New { target, .. }
            | Command::List { target }
            | Command::Rollback { target, .. }
            | Command::Snapshots { target, .. } => target,
        }
    }

    /// The version `--to` asks for, as given.
    fn to(&self) -> Option<&str> {
        match self {
            Command::Migrate { to, .. } | Command::Rollback { to, .. } => to.as_deref(),
            Command::Stamp { version, .. } => Some(version),
            _ => None,
        }
    }
}

fn parse_policy(text: &str) -> Result<crate::folder::FrontMatterPolicy, String> {
    text.parse()
}

/// The older spellings: a flag that names the command it stands for.
const COMMAND_FLAGS: [(&str, &str); 4] = [
    ("--status", "status"),
    ("--list", "list"),
    ("--rollback", "rollback"),
    ("--list-snapshots", "snapshots"),
];

/// Accepts the older spellings (`--status`, `--list`, `--rollback`,
/// `--list-snapshots`), alone or after `migrate`, as the commands they stand
/// for, and flags given before the command as given after it: `cargo xtask
/// migrate --json --status --chain notes` is `status --json --chain notes`.
/// Two such flags at once are a usage error.
fn normalize(args: impl IntoIterator<Item = String>) -> Result<Vec<String>, String> {
    let mut args: Vec<String> = args.into_iter().collect();
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let named: Vec<usize> = (1..end)
        .filter(|&i| COMMAND_FLAGS.iter().any(|(flag, _)| args[i] == *flag))
        .collect();
    if let [first, second, ..] = named[..] {
        return Err(format!(
            "`{}` and `{}` each name a command; give one",
            args[first], args[second]
        ));
    }
    let mut word = command_word(&args[..end]);
    if let Some(&at) = named.first() {
        let command = COMMAND_FLAGS
            .iter()
            .find(|(flag, _)| args[at] == *flag)
            .map(|(_, command)| (*command).to_owned())
            .unwrap_or_default();
        match word {
            None => {
                args[at] = command;
                word = Some(at);
            }
            Some(w) if args[w] == "migrate" => {
                args[w] = command;
                args.remove(at);
                if at < w {
                    word = Some(w - 1);
                }
            }
            // Another command with the flag: left for the parser to refuse.
            Some(_) => {}
        }
    }
    if let Some(word) = word.filter(|&w| w > 1) {
        let command = args.remove(word);
        args.insert(1, command);
    }
    Ok(args)
}

/// Where the command's name stands among `args` (the first is the
/// program's name): the first argument that is neither a flag nor a flag's
/// value.
fn command_word(args: &[String]) -> Option<usize> {
    let cli = <Cli as clap::CommandFactory>::command();
    let takes_value = |flag: &str| {
        cli.get_subcommands()
            .flat_map(|c| c.get_arguments())
            .any(|a| {
                a.get_action().takes_values()
                    && (a
                        .get_long()
                        .is_some_and(|long| flag.strip_prefix("--") == Some(long))
                        || a.get_short()
                            .is_some_and(|short| flag == format!("-{short}")))
            })
    };
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        if !arg.starts_with('-') {
            return Some(i);
        }
        i += if takes_value(arg) { 2 } else { 1 };
    }
    None
}

/// Parses the process's arguments and runs the command over `chains`.
pub fn main(chains: &[Box<dyn ChainEntry>]) -> ExitCode {
    run(chains, std::env::args())
}

/// Parses `args` (the first is the program's name) and runs the command
/// over `chains`, printing to stdout and stderr.
pub fn run(chains: &[Box<dyn ChainEntry>], args: impl IntoIterator<Item = String>) -> ExitCode {
    let args: Vec<String> = args.into_iter().collect();
    // Read before parsing, so that a usage error is a JSON event too.
    let json = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
    let args = match normalize(args) {
        Ok(args) => args,
        Err(message) => return ExitCode::from(commands::usage(&message)),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            if json {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                output::usage_error_json(first.strip_prefix("error: ").unwrap_or(first));
            }
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
    };
    ExitCode::from(commands::dispatch(chains, cli.command))
}

/// Whether the command line asked for `--json`.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the command line being run asked for `--json`.
fn json_asked() -> bool {
    JSON.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(line: &str) -> Result<String, String> {
        let args = std::iter::once("x".to_owned()).chain(line.split(' ').map(str::to_owned));
        normalize(args).map(|args| args[1..].join(" "))
    }

    #[test]
    fn older_spellings_name_their_commands_wherever_they_stand() {
        for (line, expected) in [
            ("--status", "status"),
            ("migrate --status", "status"),
            (
                "migrate --json --status --chain notes",
                "status --json --chain notes",
            ),
            (
                "migrate --chain notes --list --json",
                "list --chain notes --json",
            ),
            (
                "--chain notes migrate --rollback --yes",
                "rollback --chain notes --yes",
            ),
            (
                "migrate --list-snapshots --prune --keep 1",
                "snapshots --prune --keep 1",
            ),
            ("--json --status", "status --json"),
            ("--store migrate --status", "status --store migrate"),
        ] {
            assert_eq!(normalized(line).as_deref(), Ok(expected), "{line}");
        }
    }

    #[test]
    fn flags_before_the_command_count_as_after_it() {
        assert_eq!(
            normalized("--chain notes --json migrate --to v2").as_deref(),
            Ok("migrate --chain notes --json --to v2")
        );
        assert_eq!(
            normalized("migrate --dry-run").as_deref(),
            Ok("migrate --dry-run")
        );
        // A value that looks like a command stays the flag's value.
        assert_eq!(
            normalized("--chain status list").as_deref(),
            Ok("list --chain status")
        );
    }

    #[test]
    fn two_commands_at_once_or_a_flag_on_another_command_are_refused() {
        let both = normalized("migrate --status --list").unwrap_err();
        assert!(both.contains("`--status` and `--list`"), "{both}");
        // Left for the parser, which names the unexpected argument.
        assert_eq!(normalized("status --list").as_deref(), Ok("status --list"));
        assert!(Cli::try_parse_from(["x", "status", "--list"]).is_err());
    }
}
