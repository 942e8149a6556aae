use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

#[migration(chain = Notes, from = 2, to = 3)]
fn rename_tags(doc: &mut Document) {
    doc.rename_replacing("tag", "tags");
}

#[migration(chain = Notes, from = 3, to = 4)]
fn add_priority(doc: &mut Document) {
    doc.set_default("priority", 0);
}

fn main() {}
