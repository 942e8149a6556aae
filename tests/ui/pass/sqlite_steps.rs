use verchain::sqlite::rusqlite::{Connection, Transaction};
use verchain::sqlite::{Sql, add_column};
use verchain::{Chain, migration};

#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 3)]
pub struct Agents;

/// Adds `status` to workers.
#[migration(chain = Agents, from = 1, to = 2, down = drop_status, verify = every_worker_has_a_status)]
fn add_status(tx: &Transaction) -> Result<(), verchain::BoxError> {
    add_column(tx, "workers", "status", "TEXT NOT NULL DEFAULT 'idle'")?;
    Ok(())
}

fn drop_status(tx: &Transaction) -> Result<(), verchain::sqlite::rusqlite::Error> {
    tx.execute_batch("ALTER TABLE workers DROP COLUMN status")
}

fn every_worker_has_a_status(tx: &Transaction) -> Result<(), String> {
    let missing: i64 = tx
        .query_row("SELECT count(*) FROM workers WHERE status IS NULL", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    match missing {
        0 => Ok(()),
        n => Err(format!("{n} workers without a status")),
    }
}

/// Renames every worker; returns nothing.
#[migration(chain = Agents, from = 2, to = 3)]
fn rename(tx: &Transaction) {
    tx.execute_batch("UPDATE workers SET name = upper(name)").unwrap();
}

fn main() {
    let steps = Agents::steps();
    assert_eq!(steps.iter().map(|s| s.id()).collect::<Vec<_>>(), ["add_status", "rename"]);
    assert!(steps[0].is_reversible() && !steps[1].is_reversible());
    let _: &dyn Fn(&Transaction<'_>) -> Result<(), verchain::BoxError> = steps[0].up();
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE workers (name TEXT); INSERT INTO workers VALUES ('w');")
        .unwrap();
    let tx = conn.transaction().unwrap();
    for step in &steps {
        (step.up())(&tx).unwrap();
        if let Some(verify) = step.verify() {
            verify(&tx).unwrap();
        }
    }
    let row: String = tx
        .query_row("SELECT name || ' ' || status FROM workers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(row, "W idle");
    (steps[0].down().unwrap())(&tx).unwrap();
    tx.execute_batch("INSERT INTO workers VALUES ('v')").unwrap();
    assert!(steps[0].verify().unwrap()(&tx).is_err());
    let _: Option<Sql> = None;
}
