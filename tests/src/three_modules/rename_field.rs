//! Step 2 → 3, reversible.

use verchain::{Document, migration};

/// Renames `colour` to `color`.
#[migration(chain = crate::three_modules::Settings, from = 2, to = 3, down = unrename)]
pub fn rename_colour(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("colour", "color")?;
    Ok(())
}

/// Renames `color` back to `colour`.
pub fn unrename(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("color", "colour")?;
    Ok(())
}
