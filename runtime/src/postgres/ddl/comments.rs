//! Comments on what a snapshot re-creates: tables, views, sequences,
//! indexes and their columns, constraints, triggers, policies and enum
//! types.

use super::{Reader, Schema, Statement};
use crate::postgres::error::PgError;
use crate::postgres::sql::{literal, quote};

impl Reader<'_, '_> {
    pub(super) fn comments(&mut self, out: &mut Schema) -> Result<(), PgError> {
        // Each comment with the object it belongs to (for the diff), what
        // `COMMENT ON` calls its kind, and its name as `COMMENT ON` takes
        // it, less the qualified table or type that the code adds.
        let rows = self.query(
            "comments",
            "SELECT c.relname, CASE WHEN d.objsubid <> 0 THEN 'COLUMN' \
               ELSE CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' \
               WHEN 'i' THEN 'INDEX' ELSE 'TABLE' END END, \
               CASE WHEN d.objsubid <> 0 THEN (SELECT a.attname::text FROM pg_attribute a \
                 WHERE a.attrelid = c.oid AND a.attnum = d.objsubid) END, \
               NULL::text, d.description, coalesce(t.relname, c.relname) \
             FROM pg_description d JOIN pg_class c ON c.oid = d.objoid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = x.indrelid \
             WHERE d.classoid = 'pg_class'::regclass AND n.nspname = $1 \
             AND coalesce(t.relname, c.relname) <> $2 AND c.relkind IN ('r', 'v', 'S', 'i') \
             UNION ALL SELECT c.relname, 'CONSTRAINT', con.conname::text, NULL, d.description, \
               c.relname FROM pg_description d JOIN pg_constraint con ON con.oid = d.objoid \
             JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE d.classoid = 'pg_constraint'::regclass AND n.nspname = $1 AND c.relname <> $2 \
             UNION ALL SELECT c.relname, 'TRIGGER', tg.tgname::text, NULL, d.description, \
               c.relname FROM pg_description d JOIN pg_trigger tg ON tg.oid = d.objoid \
             JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE d.classoid = 'pg_trigger'::regclass AND n.nspname = $1 AND c.relname <> $2 \
             UNION ALL SELECT c.relname, 'POLICY', p.polname::text, NULL, d.description, \
               c.relname FROM pg_description d JOIN pg_policy p ON p.oid = d.objoid \
             JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE d.classoid = 'pg_policy'::regclass AND n.nspname = $1 AND c.relname <> $2 \
             UNION ALL SELECT t.typname, 'TYPE', NULL, NULL, d.description, t.typname \
             FROM pg_description d JOIN pg_type t ON t.oid = d.objoid \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE d.classoid = 'pg_type'::regclass AND n.nspname = $1 AND t.typname <> $2 \
             AND t.typtype = 'e' ORDER BY 6, 2, 3",
        )?;
        for row in rows {
            let (name, kind, part, text, object): (String, String, Option<String>, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(4), row.get(5));
            let target = match (kind.as_str(), part) {
                ("COLUMN", Some(column)) => format!("{}.{}", self.q(&name), quote(&column)),
                ("CONSTRAINT" | "TRIGGER" | "POLICY", Some(part)) => {
                    format!("{} ON {}", quote(&part), self.q(&name))
                }
                _ => self.q(&name),
            };
            out.post_data.push(Statement {
                object,
                sql: format!("COMMENT ON {kind} {target} IS {};", literal(&text)),
            });
        }
        Ok(())
    }
}
