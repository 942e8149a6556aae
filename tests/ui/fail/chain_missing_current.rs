use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1)]
pub struct Notes;

fn main() {}
