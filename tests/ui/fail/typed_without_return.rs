use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

pub struct NoteV1;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(note: NoteV1) {
    let _ = note;
}

fn main() {}
