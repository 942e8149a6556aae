use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2, requires_restart = [""])]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

fn main() {}
