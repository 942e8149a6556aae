use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

#[derive(serde::Deserialize)]
pub struct NoteV1 { pub title: String }

/// Forgot `#[derive(Serialize)]`.
pub struct NoteV2 { pub title: String, pub status: String }

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(note: NoteV1) -> NoteV2 {
    NoteV2 { title: note.title, status: "draft".into() }
}

fn main() {}
