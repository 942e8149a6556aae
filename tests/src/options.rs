//! Run options the tests use again and again.

use verchain::RunOptions;

/// Migrate (or roll back) to `target`.
pub fn to(target: u32) -> RunOptions {
    RunOptions {
        target: Some(target),
        ..RunOptions::default()
    }
}

/// A dry run to the chain's current version.
pub fn dry() -> RunOptions {
    RunOptions {
        dry_run: true,
        ..RunOptions::default()
    }
}
