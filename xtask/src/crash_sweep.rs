//! `cargo xtask crash-sweep`: the crash and fault tests (`tests/crash/`)
//! at every fault point with every error, instead of the stride `cargo
//! test` uses to stay fast.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Runs the exhaustive sweep; its counts are printed as it goes.
pub fn run(args: &[String]) -> Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask crash-sweep (takes no arguments)");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "test",
            "--package",
            "verchain-tests",
            "--test",
            "crash",
            "--",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("VERCHAIN_CRASH_SWEEP", "1")
        .status()
        .context("starting cargo test")?;
    if !status.success() {
        bail!("the crash sweep failed ({status})");
    }
    Ok(())
}
