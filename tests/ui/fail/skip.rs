use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

/// Jumps from 1 straight to 3.
#[migration(chain = Notes, from = 1, to = 3)]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

fn main() {}
