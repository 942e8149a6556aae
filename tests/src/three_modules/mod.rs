//! A chain declared here whose steps live in three sibling modules.

mod add_field;
mod rename_field;
mod split_field;

use verchain::Chain;

/// Settings of an imaginary application, version 1 to 4.
#[derive(Chain)]
#[chain(base = 1, current = 4, name = "settings", version_key = "version")]
pub struct Settings;
