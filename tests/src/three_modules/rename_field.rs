//! Step 2 → 3, reversible.

use verchain::{Document, migration};

/// Renames `colour` to `color`.
#[migration(chain = crate::three_modules::Settings, from = 2, to = 3, down = unrename)]
pub fn rename_colour(doc: &mut Document) {
    doc.rename("colour", "color");
}

/// Renames `color` back to `colour`.
pub fn unrename(doc: &mut Document) {
    doc.rename("color", "colour");
}
