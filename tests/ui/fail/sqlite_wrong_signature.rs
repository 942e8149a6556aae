use verchain::sqlite::rusqlite::{Connection, Transaction};
use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 4)]
pub struct Agents;

/// Takes the transaction mutably: steps over SQLite take it by reference.
#[migration(chain = Agents, from = 1, to = 2)]
fn by_mut(tx: &mut Transaction) {
    let _ = tx;
}

/// Takes a connection, not the run's transaction.
#[migration(chain = Agents, from = 2, to = 3)]
fn by_connection(conn: &Connection) {
    let _ = conn;
}

/// A verify function that takes the wrong thing.
#[migration(chain = Agents, from = 3, to = 4, verify = check)]
fn fine(tx: &Transaction) {
    let _ = tx;
}

fn check(conn: &Connection) -> Result<(), String> {
    let _ = conn;
    Ok(())
}

fn main() {}
