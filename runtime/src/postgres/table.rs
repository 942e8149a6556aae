//! The tables and columns the helpers work on, found as the steps' SQL
//! finds them (through the run's `search_path`, the store's schema
//! first), with what the helpers need to know of them.

use postgres::Transaction;

use super::error::PgError;
use super::sql::{qualified, quote};
use crate::table_error::TableError;

/// A table a helper works on.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub oid: u32,
    /// Its schema.
    pub schema: String,
    /// Its name, as the table has it.
    pub name: String,
    /// Its schema and name, quoted: what the helpers' SQL names.
    pub qualified: String,
}

/// A column of a table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    /// Its type, as `format_type` writes it (`bigint`, `jsonb`,
    /// `character varying(80)`).
    pub ty: String,
    pub not_null: bool,
    /// Whether it alone is the table's primary key.
    pub primary_key: bool,
    /// Whether a valid unique index without a predicate has it alone.
    pub unique: bool,
}

/// The table `name` (one name, found through the `search_path`; a plain
/// table or a partitioned one).
pub(crate) fn find(tx: &mut Transaction<'_>, name: &str) -> Result<Table, PgError> {
    let found = tx
        .query_opt(
            "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
            &[&quote(name)],
        )
        .map_err(PgError::sql(format!("find table `{name}`")))?;
    match found {
        Some(row) => {
            let (schema, table): (String, String) = (row.get(1), row.get(2));
            Ok(Table {
                oid: row.get(0),
                qualified: qualified(&schema, &table),
                schema,
                name: table,
            })
        }
        None => {
            let schema: String = tx
                .query_one("SELECT coalesce(current_schema(), '')::text", &[])
                .map_err(PgError::sql("read the current schema"))?
                .get(0);
            Err(PgError::Table(TableError::NoSuchTable {
                schema: Some(schema),
                table: name.to_owned(),
            }))
        }
    }
}

/// Every column of `table`, in order.
pub(crate) fn columns(tx: &mut Transaction<'_>, table: &Table) -> Result<Vec<Column>, PgError> {
    let rows = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid \
                 AND i.indisprimary AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum), \
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid \
                 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL \
                 AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum) \
             FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table.oid],
        )
        .map_err(PgError::sql(format!(
            "read the columns of table `{}`",
            table.name
        )))?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            ty: r.get(1),
            not_null: r.get(2),
            primary_key: r.get(3),
            unique: r.get(4),
        })
        .collect())
}

/// The column `name` of `table`.
pub(crate) fn column(
    tx: &mut Transaction<'_>,
    table: &Table,
    name: &str,
) -> Result<Column, PgError> {
    columns(tx, table)?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            PgError::Table(TableError::NoSuchColumn {
                table: table.name.clone(),
                column: name.to_owned(),
            })
        })
}

/// The column `name` of `table`, which must be `jsonb`.
pub(crate) fn jsonb_column(
    tx: &mut Transaction<'_>,
    table: &Table,
    name: &str,
) -> Result<Column, PgError> {
    let column = column(tx, table, name)?;
    if column.ty != "jsonb" {
        return Err(PgError::Table(TableError::BadName {
            what: "column",
            name: format!("{}.{name}", table.name),
            reason: format!("it is {}, not jsonb", column.ty),
        }));
    }
    Ok(column)
}

/// How many rows of `table` `condition` (SQL over its columns, or none)
/// holds for.
pub(crate) fn count(
    tx: &mut Transaction<'_>,
    table: &Table,
    condition: Option<&str>,
) -> Result<i64, PgError> {
    let filter = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
    Ok(tx
        .query_one(
            &format!("SELECT count(*) FROM {}{filter}", table.qualified),
            &[],
        )
        .map_err(PgError::sql(format!("count the rows of `{}`", table.name)))?
        .get(0))
}
