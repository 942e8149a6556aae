use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

#[migration(chain = Notes, from = 2, to = 3)]
fn rename_tags(doc: &mut Document) {
    doc.rename_replacing("tag", "tags");
}

fn main() {}
