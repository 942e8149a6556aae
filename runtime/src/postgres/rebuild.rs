//! Rebuilding a PostgreSQL table with a new definition, for what `ALTER
//! TABLE` does not do in place (a new column order, columns recomputed
//! from others, a new primary key): the table, its constraints' indexes
//! and its sequences go aside, the new table is created, every row copied
//! in batches, the counts compared, the old table dropped, and what went
//! with it (its other indexes, its triggers, the foreign keys of other
//! tables that reference it, its sequences' values) comes back.

use postgres::Transaction;

use super::batch::{self, Batches};
use super::column::atomically;
use super::error::{PgError, describe};
use super::sql::{qualified, quote};
use super::table::{self, Table};
use crate::table_error::TableError;

/// Rebuilds `table` with a new definition: renames the table (with its
/// constraints' indexes, its other indexes and its sequences) aside,
/// creates the new one with `definition` (a `CREATE TABLE` statement for
/// `table`, run as written), copies every row in batches by the old
/// table's primary key, checks that the counts match, drops the old
/// table, and re-creates its other indexes, its triggers and the foreign
/// keys of other tables that reference it. Returns how many rows were
/// copied.
///
/// Each column of the new table is filled with the expression `computed`
/// gives for it (over the old row's columns, such as `("weight",
/// "coalesce((config ->> 'weight')::int, 1)")`), else with the old column
/// of the same name, else with its default; generated columns compute
/// themselves, and identity columns keep their values (the new sequences
/// go on from the old ones). A row the new table refuses (a `NOT NULL`,
/// `CHECK` or `UNIQUE` constraint, a cast) fails the call, naming its key.
///
/// A table that views read is refused, naming them: drop them in the step
/// before the rebuild and create them again after. The old table's
/// grants, policies and comments do not carry over; the new table belongs
/// to the role that runs the migration. It holds an ACCESS EXCLUSIVE lock
/// on the table until the run's transaction ends.
pub fn rebuild_table(
    tx: &mut Transaction<'_>,
    table: &str,
    definition: &str,
    computed: &[(&str, &str)],
) -> Result<u64, PgError> {
    let starts = definition
        .trim_start()
        .get(..12)
        .is_some_and(|s| s.eq_ignore_ascii_case("CREATE TABLE"));
    if !starts {
        return Err(PgError::Table(TableError::BadName {
            what: "table definition for",
            name: table.to_owned(),
            reason: "it must be a `CREATE TABLE` statement".to_owned(),
        }));
    }
    let old = table::find(tx, table)?;
    atomically(tx, |tx| rebuild(tx, &old, definition, computed))
}

/// What goes away with the old table and comes back on the new one.
struct Companions {
    /// Indexes that back no constraint, and triggers, as SQL.
    recreate: Vec<(String, String)>,
    /// Foreign keys of other tables that reference it: (table, name,
    /// definition).
    references: Vec<(String, String, String)>,
    /// Its columns' sequences: (column, sequence).
    sequences: Vec<(String, String)>,
    /// Its constraints that own an index: (name).
    constraints: Vec<String>,
    /// Its indexes that back no constraint: (qualified name).
    indexes: Vec<String>,
}

fn rebuild(
    tx: &mut Transaction<'_>,
    old: &Table,
    definition: &str,
    computed: &[(&str, &str)],
) -> Result<u64, PgError> {
    let name = old.name.clone();
    let fail = |problem: String| {
        PgError::Table(TableError::Row {
            table: name.clone(),
            row: None,
            column: None,
            problem,
        })
    };
    let views = readers(tx, old)?;
    if !views.is_empty() {
        return Err(PgError::Table(TableError::BadName {
            what: "table",
            name: name.clone(),
            reason: format!(
                "views read it ({}), and a rebuild would drop them: drop them in the step before \
                 the rebuild and create them again after",
                views.join(", ")
            ),
        }));
    }
    let old_columns = table::columns(tx, old)?;
    let has_key = old_columns.iter().any(|c| c.primary_key);
    let before = table::count(tx, old, None)?;
    let companions = companions(tx, old)?;
    let aside = format!("_verchain_old_{name}");
    let sql = |tx: &mut Transaction<'_>, statement: String, what: &str| {
        tx.batch_execute(&statement)
            .map_err(|e| fail(format!("cannot {what}: {}", describe(&e))))
    };
    for (other, constraint, _) in &companions.references {
        sql(
            tx,
            format!("ALTER TABLE {other} DROP CONSTRAINT {}", quote(constraint)),
            "set aside the foreign keys that reference it",
        )?;
    }
    for constraint in &companions.constraints {
        sql(
            tx,
            format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                old.qualified,
                quote(constraint),
                quote(&format!("_verchain_old_{constraint}"))
            ),
            "rename its constraints aside",
        )?;
    }
    for (index, renamed) in companions
        .indexes
        .iter()
        .zip(aside_names(&companions.indexes))
    {
        sql(
            tx,
            format!("ALTER INDEX {index} RENAME TO {}", quote(&renamed)),
            "rename its indexes aside",
        )?;
    }
    let sequences: Vec<String> = companions
        .sequences
        .iter()
        .map(|(_, s)| s.clone())
        .collect();
    for (sequence, renamed) in sequences.iter().zip(aside_names(&sequences)) {
        sql(
            tx,
            format!("ALTER SEQUENCE {sequence} RENAME TO {}", quote(&renamed)),
            "rename its sequences aside",
        )?;
    }
    sql(
        tx,
        format!("ALTER TABLE {} RENAME TO {}", old.qualified, quote(&aside)),
        "rename it aside",
    )?;
    sql(tx, definition.to_owned(), "create the new table")?;
    let new = table::find(tx, &name).map_err(|_| {
        PgError::Table(TableError::BadName {
            what: "table definition for",
            name: name.clone(),
            reason: "it does not create a table of that name".to_owned(),
        })
    })?;
    let old_aside = Table {
        oid: old.oid,
        schema: old.schema.clone(),
        name: aside.clone(),
        qualified: qualified(&old.schema, &aside),
    };
    let insert = copy_statement(tx, &new, &old_aside, &old_columns, computed)?;
    let copy = |rows: &str| format!("{insert} WHERE {rows}");
    if has_key {
        batch::each(tx, &Batches::of(aside.clone()), None, None, copy).map_err(|e| match e {
            PgError::Table(TableError::Row {
                row,
                column,
                problem,
                ..
            }) => PgError::Table(TableError::Row {
                table: name.clone(),
                row,
                column,
                problem: format!("cannot be copied into the rebuilt table: {problem}"),
            }),
            e => e,
        })?;
    } else {
        sql(tx, copy("true"), "copy the rows into the rebuilt table")?;
    }
    let after = table::count(tx, &new, None)?;
    if after != before {
        return Err(PgError::Table(TableError::RowCountChanged {
            table: name,
            before: u64::try_from(before).unwrap_or(0),
            after: u64::try_from(after).unwrap_or(0),
        }));
    }
    let values = sequence_values(tx, &old_aside, &companions.sequences)?;
    sql(
        tx,
        format!("DROP TABLE {}", old_aside.qualified),
        "drop the old table",
    )?;
    for (what, statement) in &companions.recreate {
        sql(tx, statement.clone(), &format!("re-create {what}"))?;
    }
    for (other, constraint, definition) in &companions.references {
        sql(
            tx,
            format!(
                "ALTER TABLE {other} ADD CONSTRAINT {} {definition}",
                quote(constraint)
            ),
            &format!("re-create foreign key `{constraint}` of {other}"),
        )?;
    }
    for (column, value, called) in values {
        tx.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
            &[&new.qualified, &column, &value, &called],
        )
        .map_err(|e| {
            fail(format!(
                "cannot carry over the sequence of column `{column}`: {}",
                describe(&e)
            ))
        })?;
    }
    Ok(u64::try_from(after).unwrap_or(0))
}

/// `INSERT INTO new (…) OVERRIDING SYSTEM VALUE SELECT … FROM old`, each
/// column of the new table from its computed expression or the old column
/// of its name; refuses an expression for a column the new table lacks.
fn copy_statement(
    tx: &mut Transaction<'_>,
    new: &Table,
    old: &Table,
    old_columns: &[table::Column],
    computed: &[(&str, &str)],
) -> Result<String, PgError> {
    let new_columns = table::columns(tx, new)?;
    for (column, _) in computed {
        if !new_columns.iter().any(|c| c.name == *column) {
            return Err(PgError::Table(TableError::NoSuchColumn {
                table: new.name.clone(),
                column: (*column).to_owned(),
            }));
        }
    }
    let generated: Vec<String> = tx
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attgenerated <> ''",
            &[&new.oid],
        )
        .map_err(PgError::sql(format!(
            "read the generated columns of `{}`",
            new.name
        )))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (mut targets, mut sources) = (Vec::new(), Vec::new());
    for column in new_columns.iter().filter(|c| !generated.contains(&c.name)) {
        let source = computed
            .iter()
            .find(|(c, _)| *c == column.name)
            .map(|(_, expr)| format!("({expr})"))
            .or_else(|| {
                old_columns
                    .iter()
                    .any(|c| c.name == column.name)
                    .then(|| quote(&column.name))
            });
        if let Some(source) = source {
            targets.push(quote(&column.name));
            sources.push(source);
        }
    }
    Ok(format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
        new.qualified,
        targets.join(", "),
        sources.join(", "),
        old.qualified
    ))
}

/// The views that read `table`.
fn readers(tx: &mut Transaction<'_>, table: &Table) -> Result<Vec<String>, PgError> {
    Ok(tx
        .query(
            "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d \
             JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
             WHERE d.refobjid = $1 AND v.oid <> $1 ORDER BY 1",
            &[&table.oid],
        )
        .map_err(PgError::sql(format!("find the views of `{}`", table.name)))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn companions(tx: &mut Transaction<'_>, table: &Table) -> Result<Companions, PgError> {
    let what = format!("read what goes with table `{}`", table.name);
    let rows = |tx: &mut Transaction<'_>, sql: &str| {
        tx.query(sql, &[&table.oid])
            .map_err(PgError::sql(what.clone()))
    };
    let indexes = rows(
        tx,
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid = $1 AND NOT EXISTS \
         (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = $1) \
         ORDER BY 1",
    )?;
    let triggers = rows(
        tx,
        "SELECT tgname::text, pg_get_triggerdef(oid) FROM pg_trigger \
         WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY 1",
    )?;
    let references = rows(
        tx,
        "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE confrelid = $1 AND contype = 'f' AND conrelid <> $1 ORDER BY 1, 2",
    )?;
    let constraints = rows(
        tx,
        "SELECT conname::text FROM pg_constraint WHERE conrelid = $1 \
         AND contype IN ('p', 'u', 'x') ORDER BY 1",
    )?;
    let sequences = rows(
        tx,
        "SELECT a.attname::text, s.oid::regclass::text FROM pg_depend d \
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE d.refobjid = $1 AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         ORDER BY 1",
    )?;
    let mut recreate: Vec<(String, String)> = indexes
        .iter()
        .map(|r| (format!("index {}", r.get::<_, String>(0)), r.get(1)))
        .collect();
    recreate.extend(
        triggers
            .iter()
            .map(|r| (format!("trigger `{}`", r.get::<_, String>(0)), r.get(1))),
    );
    Ok(Companions {
        recreate,
        references: references
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
        sequences: sequences.iter().map(|r| (r.get(0), r.get(1))).collect(),
        constraints: constraints.iter().map(|r| r.get(0)).collect(),
        indexes: indexes.iter().map(|r| r.get(0)).collect(),
    })
}

/// The last value of each of the old table's sequences whose column the
/// new table has with a sequence of its own: (column, value, is_called).
fn sequence_values(
    tx: &mut Transaction<'_>,
    old: &Table,
    sequences: &[(String, String)],
) -> Result<Vec<(String, i64, bool)>, PgError> {
    let mut values = Vec::new();
    let names: Vec<String> = sequences.iter().map(|(_, s)| s.clone()).collect();
    for ((column, _), renamed) in sequences.iter().zip(aside_names(&names)) {
        let row = tx
            .query_one(
                &format!(
                    "SELECT last_value, is_called FROM {}",
                    qualified(&old.schema, &renamed)
                ),
                &[],
            )
            .map_err(PgError::sql(format!(
                "read the sequence of column `{column}` of `{}`",
                old.name
            )))?;
        values.push((column.clone(), row.get(0), row.get(1)));
    }
    Ok(values)
}

/// What each of `names` (as `regclass` writes them, perhaps qualified and
/// quoted) is renamed to while the rebuild runs.
fn aside_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| {
            let bare = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
            format!("_verchain_old_{bare}")
        })
        .collect()
}
