//! The definitions of a schema's objects, read from the catalog with the
//! server's own `pg_get_*` functions and rendered as the SQL that creates
//! them again: enum types, sequences (and their values), tables (columns,
//! types, collations, defaults, identity and generated columns), then,
//! once the rows are in, constraints, indexes, views, triggers, owners and
//! grants, row-level security and its policies, comments. verchain's own
//! `_verchain_history` is left out.
//!
//! What a snapshot does not cover (functions, domains and other types) is
//! left as it is by a restore. A schema holding what a snapshot cannot
//! re-create as it was (a partitioned, foreign, inheriting or materialized
//! table), or an object the restore's drops would break (one outside the
//! drops that depends on a table, view, sequence or enum type they drop),
//! is refused, rather than half kept (see `refuse.rs`).
//!
//! Names in the definitions are qualified: they are read with
//! `search_path` set to `pg_catalog` alone.

mod comments;
mod policies;
mod refuse;

use postgres::Transaction;

use super::error::PgError;
use super::history::TABLE as HISTORY;
use super::sql::{literal, qualified, quote};

/// A schema's definitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Schema {
    pub tables: Vec<Table>,
    /// SQL run before the rows are loaded: types, sequences, tables.
    pub pre_data: Vec<Statement>,
    /// SQL run after: sequence values and owners, constraints, indexes,
    /// views, triggers, table owners and grants, row-level security and
    /// policies, comments.
    pub post_data: Vec<Statement>,
}

/// One table whose rows a snapshot keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub name: String,
    /// The columns `COPY` reads and writes (every column but generated
    /// ones), in order.
    pub columns: Vec<String>,
    /// The primary key's columns, if any.
    pub key: Vec<String>,
}

/// One statement, and the object it belongs to (a table, view, type or
/// sequence), for the dry run's schema diff.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Statement {
    pub object: String,
    pub sql: String,
}

impl Schema {
    /// The statements of `object`, pre-data then post-data.
    pub fn of(&self, object: &str) -> Vec<String> {
        (self.pre_data.iter().chain(&self.post_data))
            .filter(|s| s.object == object)
            .map(|s| s.sql.clone())
            .collect()
    }

    /// Every object named, sorted.
    pub fn objects(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.pre_data.iter().chain(&self.post_data))
            .map(|s| s.object.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Reads the definitions of `schema`, inside `tx`.
pub(crate) fn read(tx: &mut Transaction<'_>, schema: &str) -> Result<Schema, PgError> {
    with_catalog_path(tx, schema, |reader| reader.schema())
}

/// Refuses `schema` where a snapshot of it could not be put back as it
/// was (see `refuse.rs`): what the snapshot stage checks before anything
/// is changed.
pub(crate) fn refuse_what_cannot_be_kept(
    tx: &mut Transaction<'_>,
    schema: &str,
) -> Result<(), PgError> {
    with_catalog_path(tx, schema, |mut reader| reader.refuse_what_cannot_be_kept())
}

/// Runs `read` with `search_path` set to `pg_catalog` alone, so that the
/// server names every object with its schema, then sets it back.
fn with_catalog_path<T>(
    tx: &mut Transaction<'_>,
    schema: &str,
    read: impl FnOnce(Reader<'_, '_>) -> Result<T, PgError>,
) -> Result<T, PgError> {
    let saved: String = tx
        .query_one("SELECT current_setting('search_path')", &[])
        .map_err(PgError::sql("read `search_path`"))?
        .get(0);
    tx.batch_execute("SELECT set_config('search_path', 'pg_catalog', true)")
        .map_err(PgError::sql("set `search_path`"))?;
    let read = read(Reader { tx, schema });
    let put_back = tx
        .execute("SELECT set_config('search_path', $1, true)", &[&saved])
        .map_err(PgError::sql("set `search_path` back"));
    let read = read?;
    put_back?;
    Ok(read)
}

struct Reader<'a, 't> {
    tx: &'a mut Transaction<'t>,
    schema: &'a str,
}

impl Reader<'_, '_> {
    fn query(&mut self, what: &str, sql: &str) -> Result<Vec<postgres::Row>, PgError> {
        self.tx
            .query(sql, &[&self.schema, &HISTORY])
            .map_err(PgError::sql(format!(
                "read the {what} of schema `{}`",
                self.schema
            )))
    }

    fn schema(mut self) -> Result<Schema, PgError> {
        let mut out = Schema::default();
        self.enums(&mut out)?;
        self.sequences(&mut out)?;
        self.tables(&mut out)?;
        self.constraints(&mut out)?;
        self.indexes(&mut out)?;
        self.views(&mut out)?;
        self.triggers(&mut out)?;
        self.grants(&mut out)?;
        self.row_security(&mut out)?;
        self.policies(&mut out)?;
        self.comments(&mut out)?;
        Ok(out)
    }

    fn q(&self, name: &str) -> String {
        qualified(self.schema, name)
    }

    fn enums(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "enum types",
            "SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) \
             FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = $1 AND t.typname <> $2 GROUP BY t.typname ORDER BY 1",
        )?;
        for row in rows {
            let (name, labels): (String, Vec<String>) = (row.get(0), row.get(1));
            let labels: Vec<String> = labels.iter().map(|l| literal(l)).collect();
            out.pre_data.push(Statement {
                object: name.clone(),
                sql: format!(
                    "CREATE TYPE {} AS ENUM ({});",
                    self.q(&name),
                    labels.join(", ")
                ),
            });
        }
        Ok(())
    }

    fn sequences(&mut self, out: &mut Schema) -> Result<(), PgError> {
        // Identity sequences come with their columns; the history's is
        // verchain's.
        let rows = self.query(
            "sequences",
            "SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
             s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
             (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid \
              WHERE d.objid = c.oid AND d.deptype = 'a' AND d.classid = 'pg_class'::regclass), \
             (SELECT a.attname::text FROM pg_depend d JOIN pg_attribute a \
              ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
              WHERE d.objid = c.oid AND d.deptype = 'a' AND d.classid = 'pg_class'::regclass) \
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND NOT EXISTS (SELECT 1 FROM pg_depend d \
               WHERE d.objid = c.oid AND d.deptype = 'i' AND d.classid = 'pg_class'::regclass) \
             ORDER BY 1",
        )?;
        for row in rows {
            let name: String = row.get(0);
            let owner: Option<String> = row.get(8);
            if owner.as_deref() == Some(HISTORY) {
                continue;
            }
            let (start, increment, min, max, cache): (i64, i64, i64, i64, i64) =
                (row.get(2), row.get(3), row.get(4), row.get(5), row.get(6));
            let data_type: String = row.get(1);
            let cycle = if row.get::<_, bool>(7) { " CYCLE" } else { "" };
            let object = owner.clone().unwrap_or_else(|| name.clone());
            out.pre_data.push(Statement {
                object: object.clone(),
                sql: format!(
                    "CREATE SEQUENCE {} AS {data_type} START {start} INCREMENT {increment} \
                     MINVALUE {min} MAXVALUE {max} CACHE {cache}{cycle};",
                    self.q(&name)
                ),
            });
            let value = self
                .tx
                .query_one(
                    &format!("SELECT last_value, is_called FROM {}", self.q(&name)),
                    &[],
                )
                .map_err(PgError::sql(format!("read sequence `{name}`")))?;
            let (last, called): (i64, bool) = (value.get(0), value.get(1));
            out.post_data.push(Statement {
                object: object.clone(),
                sql: format!(
                    "SELECT pg_catalog.setval({}, {last}, {called});",
                    literal(&self.q(&name))
                ),
            });
            if let (Some(table), Some(column)) = (owner, row.get::<_, Option<String>>(9)) {
                out.post_data.push(Statement {
                    object,
                    sql: format!(
                        "ALTER SEQUENCE {} OWNED BY {}.{};",
                        self.q(&name),
                        self.q(&table),
                        quote(&column)
                    ),
                });
            }
        }
        Ok(())
    }

    fn tables(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let tables = self.query(
            "tables",
            "SELECT c.oid::int8, c.relname, c.relpersistence::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind = 'r' ORDER BY 2",
        )?;
        for row in tables {
            let (oid, name, persistence): (i64, String, String) =
                (row.get(0), row.get(1), row.get(2));
            let columns = self
                .tx
                .query(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                     pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
                     a.attgenerated::text, \
                     CASE WHEN a.attcollation <> t.typcollation THEN \
                       (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) \
                        FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace \
                        WHERE co.oid = a.attcollation) END \
                     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                     WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped \
                     ORDER BY a.attnum",
                    &[&oid],
                )
                .map_err(PgError::sql(format!("read the columns of `{name}`")))?;
            let mut lines = Vec::new();
            let mut copied = Vec::new();
            let mut identities = Vec::new();
            for c in &columns {
                let column: String = c.get(0);
                let mut line = format!("    {} {}", quote(&column), c.get::<_, String>(1));
                if let Some(collation) = c.get::<_, Option<String>>(6) {
                    line.push_str(&format!(" COLLATE {collation}"));
                }
                let default: Option<String> = c.get(3);
                match (
                    c.get::<_, String>(5).as_str(),
                    c.get::<_, String>(4).as_str(),
                ) {
                    ("s", _) => line.push_str(&format!(
                        " GENERATED ALWAYS AS ({}) STORED",
                        default.clone().unwrap_or_default()
                    )),
                    (_, "a") => line.push_str(" GENERATED ALWAYS AS IDENTITY"),
                    (_, "d") => line.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
                    _ => {
                        if let Some(default) = &default {
                            line.push_str(&format!(" DEFAULT {default}"));
                        }
                    }
                }
                if c.get::<_, bool>(2) {
                    line.push_str(" NOT NULL");
                }
                lines.push(line);
                if c.get::<_, String>(5) != "s" {
                    copied.push(column.clone());
                }
                if !c.get::<_, String>(4).is_empty() {
                    identities.push(column);
                }
            }
            let unlogged = if persistence == "u" { "UNLOGGED " } else { "" };
            out.pre_data.push(Statement {
                object: name.clone(),
                sql: format!(
                    "CREATE {unlogged}TABLE {} (\n{}\n);",
                    self.q(&name),
                    lines.join(",\n")
                ),
            });
            for column in identities {
                let (last, called) = self.identity_value(&name, &column)?;
                out.post_data.push(Statement {
                    object: name.clone(),
                    sql: format!(
                        "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence({}, {}), \
                         {last}, {called});",
                        literal(&self.q(&name)),
                        literal(&column)
                    ),
                });
            }
            let key = self
                .tx
                .query(
                    "SELECT a.attname::text FROM pg_index x \
                     JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) ON true \
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
                     WHERE x.indrelid = $1::int8::oid AND x.indisprimary ORDER BY k.n",
                    &[&oid],
                )
                .map_err(PgError::sql(format!("read the primary key of `{name}`")))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            out.tables.push(Table {
                name,
                columns: copied,
                key,
            });
        }
        Ok(())
    }

    /// The value of the sequence behind an identity column.
    fn identity_value(&mut self, table: &str, column: &str) -> Result<(i64, bool), PgError> {
        let sequence: Option<String> = self
            .tx
            .query_one(
                "SELECT pg_get_serial_sequence($1, $2)",
                &[&self.q(table), &column],
            )
            .map_err(PgError::sql(format!(
                "find the sequence of `{table}`.`{column}`"
            )))?
            .get(0);
        let Some(sequence) = sequence else {
            return Ok((1, false));
        };
        let row = self
            .tx
            .query_one(
                &format!("SELECT last_value, is_called FROM {sequence}"),
                &[],
            )
            .map_err(PgError::sql(format!("read sequence {sequence}")))?;
        Ok((row.get(0), row.get(1)))
    }

    fn constraints(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "constraints",
            "SELECT c.relname, con.conname::text, pg_get_constraintdef(con.oid) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND con.contype IN ('p', 'u', 'c', 'f', 'x') \
             AND con.conislocal ORDER BY con.contype = 'f', 1, 2",
        )?;
        for row in rows {
            let (table, name, def): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            out.post_data.push(Statement {
                object: table.clone(),
                sql: format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {def};",
                    self.q(&table),
                    quote(&name)
                ),
            });
        }
        Ok(())
    }

    fn indexes(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "indexes",
            "SELECT t.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = $1 AND t.relname <> $2 AND NOT EXISTS (SELECT 1 \
               FROM pg_constraint c WHERE c.conindid = x.indexrelid \
               AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY i.relname",
        )?;
        for row in rows {
            out.post_data.push(Statement {
                object: row.get(0),
                sql: format!("{};", row.get::<_, String>(1)),
            });
        }
        Ok(())
    }

    fn views(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "views",
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind = 'v' ORDER BY c.oid",
        )?;
        for row in rows {
            let (name, def): (String, String) = (row.get(0), row.get(1));
            let def = def.trim().trim_end_matches(';');
            out.post_data.push(Statement {
                object: name.clone(),
                sql: format!("CREATE VIEW {} AS\n{def};", self.q(&name)),
            });
        }
        Ok(())
    }

    fn triggers(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "triggers",
            "SELECT c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND NOT t.tgisinternal \
             ORDER BY 1, t.tgname",
        )?;
        for row in rows {
            out.post_data.push(Statement {
                object: row.get(0),
                sql: format!("{};", row.get::<_, String>(1)),
            });
        }
        Ok(())
    }

    /// Owners and grants of tables, views and sequences.
    fn grants(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "owners and grants",
            "SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner)::text, \
             coalesce((SELECT array_agg(format('GRANT %s ON %s TO %s%s;', a.privilege_type, \
               '%TABLE%', CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
               ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
               ORDER BY a.grantee, a.privilege_type) \
               FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner), '{}') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind IN ('r', 'v', 'S') \
             ORDER BY 1",
        )?;
        for row in rows {
            let (name, kind, owner, grants): (String, String, String, Vec<String>) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let (what, object) = match kind.as_str() {
                "v" => ("VIEW", name.clone()),
                "S" => ("SEQUENCE", name.clone()),
                _ => ("TABLE", name.clone()),
            };
            out.post_data.push(Statement {
                object: object.clone(),
                sql: format!("ALTER {what} {} OWNER TO {};", self.q(&name), quote(&owner)),
            });
            let on = match kind.as_str() {
                "S" => format!("SEQUENCE {}", self.q(&name)),
                _ => format!("TABLE {}", self.q(&name)),
            };
            for grant in grants {
                out.post_data.push(Statement {
                    object: object.clone(),
                    sql: grant.replace("%TABLE%", &on),
                });
            }
        }
        Ok(())
    }
}
