use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, current = 3, release("0.2.0" = 3, "0.1.0" = 1))]
pub struct Notes;

fn main() {}
