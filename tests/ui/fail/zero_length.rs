use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

#[migration(chain = Notes, from = 2, to = 2)]
fn rename_tag(doc: &mut Document) {
    doc.rename_replacing("tag", "tags");
}

fn main() {}
