//! Crashes and I/O errors at every fault point of a run, in a process of
//! its own: after each, the store reads as the whole old state or the whole
//! new one, its history agrees with which, and the next run completes.
//!
//! The runner (`bin/runner.rs`) is built with the runtime's `faults`
//! feature; `VERCHAIN_FAULT=crash:N` kills it with SIGKILL at the Nth
//! write, fsync, rename, removal or folder fsync, `fail:N:ERRNO` fails that
//! operation instead, and `short:N` cuts it short if it is a write (half
//! its bytes written, then ENOSPC; or, for a writer, a short count its
//! caller must make up). Each store has its module: a folder of documents
//! (`notes`), a log with rotated and compressed files and a malformed line
//! (`audit`), an SQLite database (`agentdb`), where SQLite writes the
//! file itself and the runner is also killed at each of the run's events,
//! and a PostgreSQL database (`forms`), killed at each event and under a
//! server stopped in the middle of a run.
//! Migrations, snapshot restores and `down` rollbacks are killed and failed
//! (with ENOSPC, EACCES and EIO, and short writes) at a stride that keeps
//! the suite fast; with `VERCHAIN_CRASH_SWEEP=1` (what `cargo xtask
//! crash-sweep` sets) every point is killed and failed with every error.

mod database;
mod folder;
mod harness;
mod log;
mod postgres;
