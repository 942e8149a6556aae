//! One runner per schema, across machines: a session advisory lock,
//! `pg_try_advisory_lock(namespace, key)`, polled with backoff on the
//! connection the run holds. Never the blocking `pg_advisory_lock`: a
//! session blocked in it waits inside a statement, and `CREATE INDEX
//! CONCURRENTLY` of the runner that holds the lock waits for every such
//! statement to end, so the two would wait for each other.
//!
//! The server releases the lock when the session ends, however it ends (a
//! runner killed with SIGKILL included). Once the lock is won, `pg_locks`
//! must show this session holding it: a pooler in transaction mode runs
//! each statement on whichever server connection is free, so a lock taken
//! through it may belong to another session, or to none.

use std::thread;
use std::time::{Duration, Instant};

use super::error::PgError;
use super::store::{PostgresStore, Session};
use crate::run::{ErrorKind, RunInfo, RunOptions};

/// The first pause between two tries; each pause doubles, up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// The longest `application_name` the server keeps (NAMEDATALEN - 1).
const NAME_MAX: usize = 63;

/// Names the session after the run `owner`, then takes the lock of
/// `owner`'s chain, polling until `options.wait` has passed.
pub(super) fn take(
    store: &PostgresStore,
    session: &mut Session,
    options: &RunOptions,
    owner: &RunInfo,
) -> Result<(), ErrorKind> {
    let (namespace, key) = store.lock_key(owner.chain);
    let client = session.client()?;
    let name = application_name(owner);
    client
        .execute("SELECT set_config('application_name', $1, false)", &[&name])
        .map_err(PgError::sql("set `application_name`"))?;
    let deadline = Instant::now() + options.wait;
    let mut pause = FIRST_PAUSE;
    loop {
        let won: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&namespace, &key])
            .map_err(PgError::sql("take the advisory lock"))?
            .get(0);
        if won {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            let owner = holder(client, namespace, key)
                .map_err(PgError::sql("read who holds the advisory lock"))?;
            return Err(ErrorKind::Locked {
                root: store.location().to_owned(),
                owner,
            });
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
    session.lock = Some((namespace, key));
    let client = session.client()?;
    if !holds(client, namespace, key).map_err(PgError::sql("read `pg_locks`"))? {
        return Err(PgError::LockNotHeld { url: store.url() }.into());
    }
    Ok(())
}

/// `verchain <chain> pid <pid> on <host> run <run id>`, cut to what the
/// server keeps.
fn application_name(owner: &RunInfo) -> String {
    let mut name = format!(
        "verchain {} pid {} on {} run {}",
        owner.chain,
        std::process::id(),
        crate::run::lock::hostname(),
        owner.run_id
    );
    while name.len() > NAME_MAX {
        name.pop();
    }
    name
}

/// The lock's rows in `pg_locks` for this database.
const LOCK_ROWS: &str = "FROM pg_locks l \
     WHERE l.locktype = 'advisory' AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid \
     AND l.objsubid = 2 AND l.granted \
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// Whether this session holds the lock, as `pg_locks` says.
pub(super) fn holds(
    client: &mut postgres::Client,
    namespace: i32,
    key: i32,
) -> Result<bool, postgres::Error> {
    let sql = format!("SELECT EXISTS (SELECT 1 {LOCK_ROWS} AND l.pid = pg_backend_pid())");
    Ok(client.query_one(&sql, &[&namespace, &key])?.get(0))
}

/// Who holds the lock: the server process, its `application_name` (which
/// names the run, its host and pid) and since when it is connected.
fn holder(
    client: &mut postgres::Client,
    namespace: i32,
    key: i32,
) -> Result<String, postgres::Error> {
    let rows = LOCK_ROWS.replacen(
        "FROM pg_locks l",
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid",
        1,
    );
    let sql = format!(
        "SELECT l.pid, coalesce(a.application_name, ''), \
         coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '?'), \
         coalesce(host(a.client_addr), 'a local socket') {rows}"
    );
    let rows = client.query(&sql, &[&namespace, &key])?;
    let Some(row) = rows.first() else {
        // Released between the try and this look.
        return Ok("another runner, which has just finished".to_owned());
    };
    let (pid, name, since, from): (i32, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let name = match name.as_str() {
        "" => "no application_name".to_owned(),
        name => format!("`{name}`"),
    };
    Ok(format!(
        "server process {pid} ({name}, from {from}, connected since {since})"
    ))
}
