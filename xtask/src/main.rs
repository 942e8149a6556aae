//! `cargo xtask <command>`: migrations of the example chains through
//! `verchain::cli`, and the project's own tasks. Runs from any folder of the
//! workspace (the alias lives in `.cargo/config.toml`).

mod bench;
mod crash_sweep;
mod demo;
mod demo_postgres;

use std::process::ExitCode;

const COMMANDS: &str = "\
usage: cargo xtask <command>

migrations of the example chains (`notes`, `config`, `audit`, `agentdb`, and `forms` where a
PostgreSQL server can be started), on working copies of fixtures/ in target/verchain-demo/ (or $VERCHAIN_DEMO_DIR; or --store PATH, or the stores named in
[workspace.metadata.verchain.stores]); `<command> --help` for flags, and
--json, -q, -v, --exclude GLOB (folders of documents) on every command:
  migrate     migrate to current (--to N); --dry-run shows the plan and diffs, writes nothing;
              --id STEP runs one step alone (an operator override, asks first)
  status      versions, pending steps, last run, snapshots
  list        the steps, with checksums; applied steps edited since are flagged
  rollback    undo the last run (restores its snapshot); --to N with down steps; --snapshot ID
  snapshots   list snapshots, newest first; --prune --keep N
  verify      check every document against its version's schema; change nothing
  new NAME    add the next step (empty) to the chain's declaring file and raise `current`
  demo reset  recreate the working copies from fixtures/
(the older spellings `migrate --status`, `--list`, `--rollback`, `--list-snapshots` work too)

project tasks:
  bench       time the folder and log stores on generated data, or `bench sqlite`,
              `bench postgres`
  crash-sweep kill and fail a run at every fault point (tests/crash/, exhaustively)

Exit codes: 0 success; 1 the run failed and the store is as it was; 2 usage error;
3 the store is locked; 4 an interrupted commit or failed rollback needs attention.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "-h" | "--help") => {
            println!("{COMMANDS}");
            return ExitCode::SUCCESS;
        }
        Some("bench") => bench::run(&args[1..]),
        // Hidden: one scenario of `bench`, in a process of its own.
        Some("bench-child") => bench::run_child(&args[1..]),
        Some("crash-sweep") => crash_sweep::run(&args[1..]),
        Some("demo") if args[1..] != ["reset"] => {
            eprintln!(
                "error: usage: cargo xtask demo reset (recreates target/verchain-demo/ from fixtures/)"
            );
            return ExitCode::from(verchain::cli::EXIT_USAGE);
        }
        Some("demo") => demo::reset(),
        Some(_) => {
            let postgres = demo::postgres(&args);
            return match demo::ensure().and_then(|()| demo::chains(postgres.as_ref())) {
                Ok(chains) => {
                    let argv = std::iter::once("cargo xtask".to_owned()).chain(args);
                    verchain::cli::run(&chains, argv)
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
