//! `cargo xtask <command>`: the project's own tasks, run from any folder of
//! the workspace (the alias lives in `.cargo/config.toml`).

mod bench;
mod demo;
mod list;

use std::process::ExitCode;

const COMMANDS: &str = "\
usage: cargo xtask <command>

commands:
  migrate   migrate the example stores (a copy of fixtures/ in target/verchain-demo/):
            --dry-run shows the plan and diffs and writes nothing; --to N; --chain NAME;
            --diff-limit N; --reset starts again from the fixtures
  rollback  undo the last migration of the example stores (--to N: with down steps)
  list      show the example chains: each step's id, versions, description, checksum
  bench     time the document store on a generated vault of notes (see `bench --help`)";

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
        Some("list") => list::run(&args[1..]),
        Some("migrate") => demo::migrate_cmd(&args[1..]),
        Some("rollback") => demo::rollback_cmd(&args[1..]),
        Some(other) => {
            eprintln!("error: unknown command `{other}`\n\n{COMMANDS}");
            return ExitCode::from(2);
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
