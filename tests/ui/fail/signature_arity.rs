use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(doc: &mut Document, status: &str) {
    doc.set_default("status", status);
}

fn main() {}
