use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, curent = 3)]
pub struct Notes;

fn main() {}
