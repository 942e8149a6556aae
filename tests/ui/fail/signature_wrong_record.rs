use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(text: &mut String) {
    text.push_str("status: draft");
}

fn main() {}
