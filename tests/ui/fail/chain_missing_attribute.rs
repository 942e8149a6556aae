use verchain::Chain;

#[derive(Chain)]
pub struct Notes;

fn main() {}
