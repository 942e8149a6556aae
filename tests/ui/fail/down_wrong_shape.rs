use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
pub struct NoteV1 { pub tags: String }
#[derive(Deserialize, Serialize)]
pub struct NoteV2 { pub tags: Vec<String> }

/// Splits tags.
#[migration(chain = Notes, from = 1, to = 2, down = join_tags)]
fn split_tags(note: NoteV1) -> NoteV2 {
    NoteV2 { tags: note.tags.split(",").map(str::to_owned).collect() }
}

/// Wrong: a down step of a typed step is typed too, `NoteV2 -> NoteV1`.
fn join_tags(doc: &mut Document) {
    doc.remove("tags");
}

fn main() {}
