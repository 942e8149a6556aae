//! Step 1 → 2.

use verchain::{BoxError, Document, migration};

use super::Settings;

/// Adds `theme`, `light` where missing.
#[migration(chain = Settings, from = 1, to = 2)]
pub fn add_theme(doc: &mut Document) -> Result<(), BoxError> {
    doc.set_default("theme", "light");
    Ok(())
}
