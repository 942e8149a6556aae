//! An agent runtime's state in SQLite: routers hand work to planners,
//! planners to workers, and each keeps its settings in a JSON column. Its
//! schema changed four times, once for each common kind of step:
//!
//! | version | change | helper |
//! |---|---|---|
//! | 1 | `fixtures/agentdb/v1.sql` | |
//! | 2 | every router's `config` has `timeout_ms` (30000 where missing) | [`add_json_default`] |
//! | 3 | workers have a `status` column, `idle` for existing ones | [`add_column`] |
//! | 4 | a router's `region` moves out of `config` into a column | [`promote_json`] |
//! | 5 | routers are rebuilt: names compare without case, `weight` is a checked column | [`rebuild_table`] |

use verchain::sqlite::rusqlite::Transaction;
use verchain::sqlite::{
    Rows, add_column, add_json_default, expect_rows, promote_json, rebuild_table,
};
use verchain::{BoxError, Chain, migration};

/// The SQL that builds the database at version 1.
pub const V1_SQL: &str = include_str!("../../../fixtures/agentdb/v1.sql");

/// The agent-state database.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 5, name = "agentdb")]
pub struct AgentDb;

/// Gives every router a request timeout: `timeout_ms` 30000 in its
/// `config` where it has none.
#[migration(chain = AgentDb, from = 1, to = 2)]
pub fn add_router_timeout(tx: &Transaction) -> Result<(), BoxError> {
    add_json_default(tx, "routers", "config", "timeout_ms", 30_000)?;
    Ok(())
}

/// Adds the worker `status` column; existing workers are `idle`.
#[migration(chain = AgentDb, from = 2, to = 3)]
pub fn add_worker_status(tx: &Transaction) -> Result<(), BoxError> {
    add_column(
        tx,
        "workers",
        "status",
        "TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'busy', 'draining'))",
    )?;
    Ok(())
}

/// Moves a router's `region` out of its `config` into a column of its
/// own; routers without one are `global`.
#[migration(chain = AgentDb, from = 3, to = 4, verify = no_region_left_in_config)]
pub fn promote_router_region(tx: &Transaction) -> Result<(), BoxError> {
    expect_rows(tx, "routers", Rows::Unchanged)?;
    promote_json(
        tx,
        "routers",
        "config",
        "region",
        "region",
        "TEXT NOT NULL DEFAULT 'global'",
    )?;
    Ok(())
}

/// After `promote_router_region`: no router's `config` still has a region.
pub fn no_region_left_in_config(tx: &Transaction) -> Result<(), BoxError> {
    let left: i64 = tx.query_row(
        "SELECT count(*) FROM routers WHERE json_type(config, '$.region') IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    match left {
        0 => Ok(()),
        n => Err(format!("{n} routers still have `region` in their config").into()),
    }
}

/// The routers table at version 5, as its definition is kept.
pub const ROUTERS_V5: &str = "CREATE TABLE routers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    config TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT 'global',
    weight INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0)
)";

/// Rebuilds `routers`: names become unique without regard to case, and a
/// router's `weight` moves from its `config` into a checked column
/// (1 where it had none).
#[migration(chain = AgentDb, from = 4, to = 5)]
pub fn rebuild_routers(tx: &Transaction) -> Result<(), BoxError> {
    rebuild_table(
        tx,
        "routers",
        ROUTERS_V5,
        &[
            ("weight", "coalesce(json_extract(config, '$.weight'), 1)"),
            ("config", "json_remove(config, '$.weight')"),
        ],
    )?;
    Ok(())
}
