//! What a snapshot refuses, before anything is changed: a schema holding
//! an object it cannot re-create as it was, or one the restore could never
//! put back because something it does not drop depends on what it drops.

use super::Reader;
use crate::postgres::error::PgError;

impl Reader<'_, '_> {
    pub(super) fn refuse_what_cannot_be_kept(&mut self) -> Result<(), PgError> {
        self.refuse_kinds()?;
        self.refuse_inheritance()?;
        self.refuse_dependents()
    }

    /// Partitioned, foreign and materialized tables, and partitions.
    fn refuse_kinds(&mut self) -> Result<(), PgError> {
        let rows = self.query(
            "tables",
            "SELECT c.relname, c.relkind::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 \
             AND (c.relkind IN ('p', 'f', 'm') OR c.relispartition) ORDER BY 1",
        )?;
        if let Some(row) = rows.first() {
            let (name, kind): (String, String) = (row.get(0), row.get(1));
            let kind = match kind.as_str() {
                "p" => "a partitioned table",
                "f" => "a foreign table",
                "m" => "a materialized view",
                _ => "a partition",
            };
            return Err(PgError::Unsnapshottable {
                schema: self.schema.to_owned(),
                object: name,
                kind,
            });
        }
        Ok(())
    }

    /// A table of the schema that inherits from another table, or that
    /// another table inherits from: a restore re-creates each table on its
    /// own, and would leave the rows of one in the other.
    fn refuse_inheritance(&mut self) -> Result<(), PgError> {
        let rows = self.query(
            "inheritance",
            "SELECT c.relname, p.relname, c.relnamespace = n.oid FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent, \
             pg_namespace n WHERE n.nspname = $1 \
             AND (c.relnamespace = n.oid OR p.relnamespace = n.oid) \
             AND c.relname <> $2 AND NOT c.relispartition ORDER BY 3 DESC, 1, 2",
        )?;
        if let Some(row) = rows.first() {
            let (child, parent, here): (String, String, bool) =
                (row.get(0), row.get(1), row.get(2));
            let (object, kind) = match here {
                true => (child, "an inheriting table (INHERITS)"),
                false => (
                    parent,
                    "a table inherited by another schema's table (INHERITS)",
                ),
            };
            return Err(PgError::Unsnapshottable {
                schema: self.schema.to_owned(),
                object,
                kind,
            });
        }
        Ok(())
    }

    /// An object the restore does not drop (in another schema, or a
    /// function, domain or composite type of this one) that depends on a
    /// table, view, sequence or enum type it drops: `DROP` would fail, so
    /// the snapshot could never be put back.
    fn refuse_dependents(&mut self) -> Result<(), PgError> {
        let rows = self.query(
            "dependent objects",
            "WITH dropped(cls, oid) AS ( \
               SELECT 'pg_class'::regclass, c.oid FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind IN ('r', 'v', 'S') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend o JOIN pg_class h ON h.oid = o.refobjid \
                 WHERE o.objid = c.oid AND o.deptype IN ('a', 'i') AND h.relname = $2 \
                 AND h.relnamespace = n.oid) \
               UNION ALL SELECT 'pg_type'::regclass, c.reltype FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind IN ('r', 'v') \
               UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t \
               JOIN pg_namespace n ON n.oid = t.typnamespace \
               WHERE n.nspname = $1 AND t.typname <> $2 AND t.typtype = 'e' \
               UNION ALL SELECT 'pg_type'::regclass, t.typarray FROM pg_type t \
               JOIN pg_namespace n ON n.oid = t.typnamespace \
               WHERE n.nspname = $1 AND t.typname <> $2 AND t.typtype = 'e') \
             SELECT pg_describe_object(d.classid, d.objid, d.objsubid), \
               pg_describe_object(d.refclassid, d.refobjid, 0) \
             FROM pg_depend d JOIN dropped x ON x.cls = d.refclassid AND x.oid = d.refobjid \
             WHERE d.deptype IN ('n', 'a') \
             AND NOT EXISTS (SELECT 1 FROM dropped y WHERE y.cls = d.classid AND y.oid = d.objid) \
             AND NOT EXISTS (SELECT 1 FROM dropped y WHERE y.cls = 'pg_class'::regclass \
               AND y.oid = CASE d.classid \
                 WHEN 'pg_rewrite'::regclass THEN \
                   (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid) \
                 WHEN 'pg_constraint'::regclass THEN \
                   (SELECT c.conrelid FROM pg_constraint c WHERE c.oid = d.objid) \
                 WHEN 'pg_attrdef'::regclass THEN \
                   (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid) \
                 WHEN 'pg_trigger'::regclass THEN \
                   (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = d.objid) \
                 WHEN 'pg_policy'::regclass THEN \
                   (SELECT p.polrelid FROM pg_policy p WHERE p.oid = d.objid) \
                 WHEN 'pg_class'::regclass THEN coalesce( \
                   (SELECT x.indrelid FROM pg_index x WHERE x.indexrelid = d.objid), d.objid) \
                 END) \
             ORDER BY 1, 2 LIMIT 1",
        )?;
        if let Some(row) = rows.first() {
            return Err(PgError::DependedOn {
                schema: self.schema.to_owned(),
                dependent: row.get(0),
                object: row.get(1),
            });
        }
        Ok(())
    }
}
