use verchain::postgres::postgres::Client;
use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 3)]
pub struct Forms;

/// `transaction` takes `true` or `false`.
#[migration(chain = Forms, from = 1, to = 2, transaction = "no")]
fn quoted(client: &mut Client) {
    let _ = client;
}

/// Given twice.
#[migration(chain = Forms, from = 2, to = 3, transaction = false, transaction = false)]
fn twice(client: &mut Client) {
    let _ = client;
}

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

/// A typed step cannot run outside a transaction.
#[migration(chain = Notes, from = 1, to = 2, transaction = false)]
fn typed(note: serde_json::Value) -> serde_json::Value {
    note
}

/// A document chain has no transaction to leave.
#[migration(chain = Notes, from = 2, to = 3, transaction = false)]
fn in_place(doc: &mut Document) {
    let _ = doc;
}

fn main() {}
