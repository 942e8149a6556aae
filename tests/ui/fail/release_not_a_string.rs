use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, current = 3, release(v0_2 = 2))]
pub struct Notes;

fn main() {}
