use verchain::{Document, migration};

/// Forgot `#[derive(Chain)]`.
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

fn main() {}
