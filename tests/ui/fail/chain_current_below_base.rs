use verchain::Chain;

#[derive(Chain)]
#[chain(base = 3, current = 2)]
pub struct Notes;

fn main() {}
