//! What each step would lock, read from the server rather than guessed
//! from SQL text: before and after each step inside the run's transaction,
//! the table locks this session holds (`pg_locks`); a step's locks are the
//! ones it added, the strongest per table, held from its start until the
//! transaction's steps are done. A dry run reports them with the plan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use postgres::Transaction;

use super::error::PgError;
use super::history;
use crate::run::StepLock;

/// The table locks the session holds: (table, mode) pairs, the mode as
/// `pg_locks` names it (`AccessExclusiveLock`).
pub(super) type Held = BTreeSet<(String, String)>;

/// PostgreSQL's table lock modes, weakest first, each with what it keeps
/// other sessions from doing.
const MODES: [(&str, &str); 8] = [
    (
        "AccessShareLock",
        "schema changes (ALTER TABLE, DROP, VACUUM FULL); reads and writes go on",
    ),
    (
        "RowShareLock",
        "schema changes and EXCLUSIVE locks; reads and writes go on",
    ),
    (
        "RowExclusiveLock",
        "index builds and schema changes; reads and writes of other rows go on",
    ),
    (
        "ShareUpdateExclusiveLock",
        "schema changes, VACUUM and concurrent index builds; reads and writes go on",
    ),
    ("ShareLock", "writes; reads go on"),
    ("ShareRowExclusiveLock", "writes; reads go on"),
    (
        "ExclusiveLock",
        "writes and SELECT … FOR UPDATE; plain reads go on",
    ),
    ("AccessExclusiveLock", "reads and writes"),
];

/// The table locks this session holds now, on tables of any schema but
/// the catalogs and the session's own temporary tables (named with their
/// schema where it is not `schema`), the history table left out.
pub(super) fn held(tx: &mut Transaction<'_>, schema: &str) -> Result<Held, PgError> {
    Ok(tx
        .query(
            "SELECT CASE WHEN n.nspname = $1 THEN c.relname::text \
             ELSE n.nspname || '.' || c.relname END, l.mode \
             FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
             AND c.relkind IN ('r', 'p', 'm', 'v') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             AND NOT (n.nspname = $1 AND c.relname = $2)",
            &[&schema, &history::TABLE],
        )
        .map_err(PgError::sql("read the locks this run holds"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The locks the steps of one transaction took.
#[derive(Default)]
pub(super) struct Taken {
    /// Step, table, mode, and when the step started.
    locks: Vec<(&'static str, String, &'static str, Instant)>,
}

impl Taken {
    /// Records what `step`, started at `start`, added to `before`: the
    /// strongest new mode on each table.
    pub(super) fn step(&mut self, step: &'static str, start: Instant, before: &Held, after: &Held) {
        let mut strongest: BTreeMap<&str, usize> = BTreeMap::new();
        for (table, mode) in after.difference(before) {
            if let Some(rank) = MODES.iter().position(|(m, _)| m == mode) {
                let was = strongest.entry(table).or_insert(rank);
                *was = (*was).max(rank);
            }
        }
        for (table, rank) in strongest {
            self.locks
                .push((step, table.to_owned(), MODES[rank].0, start));
        }
    }

    /// Every lock, held until now.
    pub(super) fn finish(self) -> Vec<StepLock> {
        let end = Instant::now();
        self.locks
            .into_iter()
            .map(|(step, table, mode, start)| StepLock {
                step,
                table,
                mode: spoken(mode),
                held: end.duration_since(start),
                blocks: MODES
                    .iter()
                    .find(|(m, _)| *m == mode)
                    .map_or("", |(_, blocks)| blocks),
            })
            .collect()
    }
}

/// A mode as PostgreSQL's documentation and `LOCK TABLE` say it:
/// `AccessExclusiveLock` is `ACCESS EXCLUSIVE`.
fn spoken(mode: &str) -> String {
    let bare = mode.strip_suffix("Lock").unwrap_or(mode);
    let mut out = String::new();
    for c in bare.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(pairs: &[(&str, &str)]) -> Held {
        pairs
            .iter()
            .map(|(t, m)| ((*t).to_owned(), (*m).to_owned()))
            .collect()
    }

    #[test]
    fn a_step_reports_the_strongest_lock_it_added_on_each_table() {
        let mut taken = Taken::default();
        let before = held(&[("users", "AccessShareLock"), ("forms", "RowExclusiveLock")]);
        let after = held(&[
            ("users", "AccessShareLock"),
            ("forms", "RowExclusiveLock"),
            ("submissions", "RowExclusiveLock"),
            ("submissions", "AccessExclusiveLock"),
            ("submissions", "ShareLock"),
        ]);
        taken.step("add", Instant::now(), &before, &after);
        taken.step("again", Instant::now(), &after, &after);
        let locks = taken.finish();
        assert_eq!(locks.len(), 1, "{locks:?}");
        assert_eq!(
            (
                locks[0].step,
                locks[0].table.as_str(),
                locks[0].mode.as_str()
            ),
            ("add", "submissions", "ACCESS EXCLUSIVE")
        );
        assert_eq!(locks[0].blocks, "reads and writes");
        assert!(
            locks[0]
                .to_string()
                .starts_with("holds ACCESS EXCLUSIVE on `submissions` for 0 ms")
        );
        assert_eq!(spoken("ShareUpdateExclusiveLock"), "SHARE UPDATE EXCLUSIVE");
        assert_eq!(spoken("ShareLock"), "SHARE");
    }
}
