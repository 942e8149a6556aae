use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, current = 3, release("0.1.0" = 1, "0.4.0" = 4))]
pub struct Notes;

fn main() {}
