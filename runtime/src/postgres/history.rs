//! The history of a PostgreSQL schema: the table `_verchain_history` in
//! the schema, one row per applied step or rollback, written in the
//! transaction of the run it records (and, for a step outside a
//! transaction, a row that it started, committed before it runs). The
//! schema's version is the `to` of the last row that committed a change.

use postgres::GenericClient;

use super::error::PgError;
use super::sql::qualified;
use crate::run::history_row::{HistoryRow, count, record};
use crate::run::{ErrorKind, HistoryRecord};

/// The history table's name.
pub(crate) const TABLE: &str = "_verchain_history";

/// Creates the history table in `schema` if it has none.
pub(crate) fn ensure(client: &mut impl GenericClient, schema: &str) -> Result<(), PgError> {
    let table = qualified(schema, TABLE);
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                seq bigserial PRIMARY KEY,
                run_id text NOT NULL,
                chain text NOT NULL,
                step text,
                from_version integer NOT NULL,
                to_version integer NOT NULL,
                description text NOT NULL,
                checksum text,
                started text NOT NULL,
                finished text NOT NULL,
                duration_ms bigint NOT NULL,
                outcome text NOT NULL,
                snapshot text,
                rows_changed bigint NOT NULL,
                rows_unchanged bigint NOT NULL,
                rows_created bigint NOT NULL,
                rows_removed bigint NOT NULL,
                stamp_before integer,
                host text NOT NULL,
                verchain text NOT NULL,
                operator_override boolean NOT NULL DEFAULT false
            )"
        ))
        .map_err(PgError::sql(format!("create the history table {table}")))
}

/// Appends `records` to the history of `schema`, creating the table if
/// needed.
pub(crate) fn append(
    client: &mut impl GenericClient,
    schema: &str,
    records: &[HistoryRecord],
) -> Result<(), PgError> {
    ensure(client, schema)?;
    let table = qualified(schema, TABLE);
    let what = format!("append to {table}");
    let stmt = client
        .prepare(&format!(
            "INSERT INTO {table} (run_id, chain, step, from_version, to_version, description, \
             checksum, started, finished, duration_ms, outcome, snapshot, rows_changed, \
             rows_unchanged, rows_created, rows_removed, stamp_before, host, verchain, \
             operator_override) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20)"
        ))
        .map_err(PgError::sql(what.clone()))?;
    for r in records {
        let version = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        client
            .execute(
                &stmt,
                &[
                    &r.run_id,
                    &r.chain,
                    &r.step,
                    &version(r.from),
                    &version(r.to),
                    &r.description,
                    &r.checksum,
                    &r.started,
                    &r.finished,
                    &i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                    &r.outcome.name(),
                    &r.snapshot,
                    &count(r.counts.changed),
                    &count(r.counts.unchanged),
                    &count(r.counts.created),
                    &count(r.counts.removed),
                    &r.stamp_before.map(version),
                    &r.host,
                    &r.verchain,
                    &r.operator_override,
                ],
            )
            .map_err(PgError::sql(what.clone()))?;
    }
    Ok(())
}

/// Whether the history table exists in `schema`.
fn exists(client: &mut impl GenericClient, schema: &str) -> Result<bool, PgError> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
            &[&schema, &TABLE],
        )
        .map_err(PgError::sql(format!(
            "look for the history table of schema `{schema}`"
        )))?
        .get(0))
}

/// Every record, oldest first; none when the table does not exist.
pub(crate) fn read(
    client: &mut impl GenericClient,
    schema: &str,
) -> Result<Vec<HistoryRecord>, ErrorKind> {
    if !exists(client, schema)? {
        return Ok(Vec::new());
    }
    let table = qualified(schema, TABLE);
    let rows = client
        .query(
            &format!(
                "SELECT seq, run_id, chain, step, from_version, to_version, description, \
                 checksum, started, finished, duration_ms, outcome, snapshot, rows_changed, \
                 rows_unchanged, rows_created, rows_removed, stamp_before, host, verchain, \
                 operator_override FROM {table} ORDER BY seq"
            ),
            &[],
        )
        .map_err(PgError::sql(format!("read {table}")))?;
    rows.iter()
        .map(|row| {
            record(row).map_err(|message| ErrorKind::Damaged {
                path: format!("{schema}.{TABLE}").into(),
                line: row
                    .try_get::<_, i64>(0)
                    .ok()
                    .and_then(|s| usize::try_from(s).ok())
                    .unwrap_or(0),
                message,
            })
        })
        .collect()
}

/// The schema's version: the `to` of the last row that committed a change
/// (a step applied, finished by recovery, a rollback, or a stamp); `None`
/// when no row did.
pub(crate) fn version(
    client: &mut impl GenericClient,
    schema: &str,
) -> Result<Option<u32>, ErrorKind> {
    if !exists(client, schema)? {
        return Ok(None);
    }
    let table = qualified(schema, TABLE);
    let row = client
        .query_opt(
            &format!(
                "SELECT to_version FROM {table} \
                 WHERE outcome IN ('applied', 'recovered', 'rolled_back', 'stamped') \
                 ORDER BY seq DESC LIMIT 1"
            ),
            &[],
        )
        .map_err(PgError::sql(format!("read the version from {table}")))?;
    row.map(|row| {
        let v: i32 = row.get(0);
        u32::try_from(v).map_err(|_| ErrorKind::BadVersion {
            path: format!("{schema}.{TABLE}").into(),
            key: "to_version",
            value: v.to_string(),
        })
    })
    .transpose()
}

/// Whether run `run_id` has a row that committed a change.
pub(crate) fn committed(
    client: &mut impl GenericClient,
    schema: &str,
    run_id: &str,
) -> Result<bool, PgError> {
    if !exists(client, schema)? {
        return Ok(false);
    }
    let table = qualified(schema, TABLE);
    Ok(client
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE run_id = $1 AND outcome <> 'started')"
            ),
            &[&run_id],
        )
        .map_err(PgError::sql(format!("read {table}")))?
        .get(0))
}

/// A row of the history table, as the shared reader reads it.
impl HistoryRow for postgres::Row {
    fn text(&self, column: usize) -> Result<Option<String>, String> {
        self.try_get(column).map_err(|e| e.to_string())
    }

    /// Versions are `integer` columns, counts and durations `bigint`.
    fn int(&self, column: usize) -> Result<Option<i64>, String> {
        match self.try_get::<_, Option<i64>>(column) {
            Ok(n) => Ok(n),
            Err(_) => (self.try_get::<_, Option<i32>>(column))
                .map(|n| n.map(i64::from))
                .map_err(|e| e.to_string()),
        }
    }

    fn flag(&self, column: usize) -> Result<bool, String> {
        self.try_get(column).map_err(|e| e.to_string())
    }
}
