use verchain::Chain;

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes<T>(T);

fn main() {}
