use verchain::postgres::postgres::{Client, Transaction};
use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 4)]
pub struct Forms;

/// Takes the transaction by shared reference: steps over PostgreSQL take
/// it by `&mut`.
#[migration(chain = Forms, from = 1, to = 2)]
fn by_ref(tx: &Transaction) {
    let _ = tx;
}

/// Takes the connection without saying it runs outside the transaction.
#[migration(chain = Forms, from = 2, to = 3)]
fn unmarked(client: &mut Client) {
    let _ = client;
}

/// Says it runs outside the transaction, yet takes one.
#[migration(chain = Forms, from = 3, to = 4, transaction = false)]
fn marked(tx: &mut Transaction) {
    let _ = tx;
}

fn main() {}
