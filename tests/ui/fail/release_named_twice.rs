use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, current = 3, release("0.1.0" = 1, "0.1.0" = 2))]
pub struct Notes;

fn main() {}
