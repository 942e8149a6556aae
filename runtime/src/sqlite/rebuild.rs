//! Rebuilding an SQLite table with a new definition: create, copy, compare
//! the counts, swap, re-create the indexes and triggers, keep the rowids
//! and the AUTOINCREMENT counter.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::error::SqliteError;
use super::helpers::{atomically, count_rows, first_failing_row};
use super::sql::{self, quote};
use crate::table_error::TableError;

/// Rebuilds `table` with a new definition, the way SQLite's documentation
/// says to change what `ALTER TABLE` cannot: renames the old table aside,
/// creates the new one with `definition` (a `CREATE TABLE` statement for
/// `table`, kept as written), copies every row, checks that the counts
/// match, drops the old table, and re-creates the table's indexes and
/// triggers. Returns how many rows were copied.
///
/// Each column of the new table is filled with the expression `computed`
/// gives for it (over the old row's columns, such as
/// `("weight", "coalesce(json_extract(config, '$.weight'), 1)")`), else
/// with the old column of the same name, else with its default. Rowids are
/// kept. A row the new table refuses (a `NOT NULL`, `CHECK` or `UNIQUE`
/// constraint) fails the call, naming its rowid.
///
/// Foreign key enforcement must be off, as verchain's run has it: with it
/// on, dropping the old table would delete or refuse the rows that
/// reference it. The run checks every foreign key before it commits.
pub fn rebuild_table(
    tx: &Transaction<'_>,
    table: &str,
    definition: &str,
    computed: &[(&str, &str)],
) -> Result<u64, SqliteError> {
    let old = sql::table(tx, table)?;
    let name = old.name.clone();
    let bad = |reason: String| {
        SqliteError::Table(TableError::BadName {
            what: "table definition for",
            name: name.clone(),
            reason,
        })
    };
    let starts = definition
        .trim_start()
        .get(..12)
        .is_some_and(|s| s.eq_ignore_ascii_case("CREATE TABLE"));
    if !starts {
        return Err(bad("it must be a `CREATE TABLE` statement".to_owned()));
    }
    let fk: bool = tx
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .map_err(SqliteError::sql("read `PRAGMA foreign_keys`"))?;
    if fk {
        return Err(bad(
            "foreign key enforcement is on; a rebuild needs `PRAGMA foreign_keys = OFF` before \
             the transaction begins (verchain's run does this) and checks the keys after"
                .to_owned(),
        ));
    }
    atomically(tx, || rebuild(tx, &old, definition, computed))
}

fn rebuild(
    tx: &Transaction<'_>,
    old: &sql::TableInfo,
    definition: &str,
    computed: &[(&str, &str)],
) -> Result<u64, SqliteError> {
    let name = old.name.clone();
    let bad = |reason: String| {
        SqliteError::Table(TableError::BadName {
            what: "table definition for",
            name: name.clone(),
            reason,
        })
    };
    let old_columns = sql::columns(tx, &name)?;
    let before = count_rows(tx, &name)?;
    let companions = companions(tx, &name)?;
    let sequence = sequence(tx, &name)?;
    let aside = format!("_verchain_old_{name}");
    let legacy: bool = tx
        .query_row("PRAGMA legacy_alter_table", [], |r| r.get(0))
        .map_err(SqliteError::sql("read `PRAGMA legacy_alter_table`"))?;
    // Legacy renaming leaves references to the table in other tables,
    // views and triggers as they are: they name the new table once it
    // takes the name.
    let what = format!("rename table `{name}` aside");
    tx.execute_batch("PRAGMA legacy_alter_table = ON")
        .map_err(SqliteError::sql(what.clone()))?;
    let renamed = tx.execute_batch(&format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&name),
        quote(&aside)
    ));
    let reset = tx.execute_batch(&format!(
        "PRAGMA legacy_alter_table = {}",
        if legacy { "ON" } else { "OFF" }
    ));
    renamed.and(reset).map_err(SqliteError::sql(what))?;
    tx.execute_batch(definition)
        .map_err(SqliteError::sql(format!("create the new table `{name}`")))?;
    let new = sql::table(tx, &name)
        .map_err(|_| bad("it does not create a table of that name".to_owned()))?;
    let new_columns = sql::columns(tx, &new.name)?;
    for (column, _) in computed {
        if sql::find(&new_columns, column).is_none() {
            return Err(SqliteError::Table(TableError::NoSuchColumn {
                table: new.name,
                column: (*column).to_owned(),
            }));
        }
    }
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for column in &new_columns {
        let source = computed
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&column.name))
            .map(|(_, expr)| format!("({expr})"))
            .or_else(|| sql::find(&old_columns, &column.name).map(|c| quote(&c.name)));
        if let Some(source) = source {
            targets.push(quote(&column.name));
            sources.push(source);
        }
    }
    let keeps_rowid =
        sql::rowid_alias(&new_columns).is_some_and(|alias| targets.contains(&quote(&alias.name)));
    if !old.without_rowid && !new.without_rowid && !keeps_rowid {
        targets.insert(0, "rowid".to_owned());
        sources.insert(0, "rowid".to_owned());
    }
    let insert = format!(
        "INSERT INTO {} ({}) SELECT {} FROM {}",
        quote(&new.name),
        targets.join(", "),
        sources.join(", "),
        quote(&aside)
    );
    if let Err(cause) = tx.execute(&insert, []) {
        let found = if old.without_rowid {
            None
        } else {
            first_failing_row(
                tx,
                &format!("{insert} WHERE rowid = ?1"),
                &format!("SELECT rowid FROM {} ORDER BY rowid", quote(&aside)),
                &[],
            )
            .ok()
            .flatten()
        };
        let (rowid, cause) = match found {
            Some((rowid, e)) => (Some(rowid), e),
            None => (None, cause),
        };
        return Err(SqliteError::Table(TableError::Row {
            table: name,
            row: rowid.map(crate::table_error::rowid),
            column: None,
            problem: format!("cannot be copied into the rebuilt table: {cause}"),
        }));
    }
    let after = count_rows(tx, &new.name)?;
    if after != before {
        return Err(SqliteError::Table(TableError::RowCountChanged {
            table: name,
            before,
            after,
        }));
    }
    tx.execute_batch(&format!("DROP TABLE {}", quote(&aside)))
        .map_err(SqliteError::sql(format!("drop the old table `{name}`")))?;
    for (kind, object, definition) in companions {
        tx.execute_batch(&definition).map_err(|cause| {
            SqliteError::Table(TableError::Row {
                table: name.clone(),
                row: None,
                column: None,
                problem: format!("cannot re-create {kind} `{object}` after the rebuild: {cause}"),
            })
        })?;
    }
    if let Some(seq) = sequence {
        tx.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
            (&name, seq),
        )
        .map_err(SqliteError::sql(format!(
            "keep the AUTOINCREMENT counter of `{name}`"
        )))?;
    }
    Ok(after)
}

/// The indexes and triggers of `table` that a rebuild must re-create, as
/// (kind, name, definition); indexes SQLite makes for constraints come
/// back with the table's definition.
fn companions(
    conn: &Connection,
    table: &str,
) -> Result<Vec<(String, String, String)>, SqliteError> {
    conn.prepare(
        "SELECT type, name, sql FROM main.sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE \
         AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, rowid",
    )
    .and_then(|mut stmt| {
        stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    })
    .map_err(SqliteError::sql(format!(
        "read the indexes and triggers of `{table}`"
    )))
}

/// The table's AUTOINCREMENT counter, if it has one.
fn sequence(conn: &Connection, table: &str) -> Result<Option<i64>, SqliteError> {
    let has_sequence: bool = conn
        .query_row(
            "SELECT count(*) FROM main.sqlite_schema WHERE name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )
        .map_err(SqliteError::sql("look for `sqlite_sequence`"))?;
    if !has_sequence {
        return Ok(None);
    }
    conn.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = ?1 COLLATE NOCASE",
        [table],
        |r| r.get(0),
    )
    .optional()
    .map_err(SqliteError::sql(format!(
        "read the AUTOINCREMENT counter of `{table}`"
    )))
}
