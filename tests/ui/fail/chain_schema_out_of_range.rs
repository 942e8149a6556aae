use verchain::Chain;

#[derive(serde::Deserialize)]
pub struct NoteV4;

#[derive(Chain)]
#[chain(base = 1, current = 3, schema(4 = NoteV4))]
pub struct Notes;

fn main() {}
