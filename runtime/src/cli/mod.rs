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
mod log;
mod output;
mod progress;
mod scaffold;
#[cfg(feature = "sqlite")]
mod sqlite;
mod workspace;

use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

pub use commands::{ChainEntry, chain};
pub use log::{log_chain, log_chain_with};
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
    /// The store's path, instead of `[workspace.metadata.verchain.stores]`
    /// in the workspace's Cargo.toml or the chain's default.
    #[arg(long, global = true)]
    store: Option<Utf8PathBuf>,
    /// Machine-readable output, one JSON object a line: a document per
    /// chain, and for `migrate` and `rollback` an event per step of the run
    /// (see the README's "JSON output").
    #[arg(long, global = true)]
    json: bool,
    /// Print errors only.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print each step's counts and more progress.
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
        /// The version to reach (`3` or `v3`).
        #[arg(long, value_parser = parse_version)]
        to: Option<u32>,
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
        /// Do not ask for confirmation (needed for `--id` when not at a
        /// terminal).
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
    },
    /// Each chain's store: versions, pending steps, last run, snapshots.
    Status {
        #[command(flatten)]
        target: Target,
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
        /// The version to go back to, with `down` steps.
        #[arg(long, value_parser = parse_version, conflicts_with = "snapshot")]
        to: Option<u32>,
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
            | Command::Verify { target }
            | Command::New { target, .. }
            | Command::List { target }
            | Command::Rollback { target, .. }
            | Command::Snapshots { target, .. } => target,
        }
    }
}

fn parse_version(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix('v').unwrap_or(text);
    digits
        .parse()
        .map_err(|_| format!("`{text}` is not a version such as `3` or `v3`"))
}

/// Accepts the older spellings (`--status`, `--list`, `--rollback`,
/// `--list-snapshots`) as the subcommands they stand for.
fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut args: Vec<String> = args.into_iter().collect();
    if let Some(first) = args.get_mut(1) {
        let command = match first.as_str() {
            "--status" => Some("status"),
            "--list" => Some("list"),
            "--rollback" => Some("rollback"),
            "--list-snapshots" => Some("snapshots"),
            _ => None,
        };
        if let Some(command) = command {
            *first = command.to_owned();
        }
    }
    args
}

/// Parses the process's arguments and runs the command over `chains`.
pub fn main(chains: &[Box<dyn ChainEntry>]) -> ExitCode {
    run(chains, std::env::args())
}

/// Parses `args` (the first is the program's name) and runs the command
/// over `chains`, printing to stdout and stderr.
pub fn run(chains: &[Box<dyn ChainEntry>], args: impl IntoIterator<Item = String>) -> ExitCode {
    let args = normalize(args);
    // Read before parsing, so that a usage error is a JSON event too.
    let json = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    JSON.store(json, std::sync::atomic::Ordering::Relaxed);
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
