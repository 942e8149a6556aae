//! What a snapshot refuses, before anything is changed: a schema holding
//! an object it cannot re-create as it was.

use super::Reader;
use crate::postgres::error::PgError;

impl Reader<'_, '_> {
    pub(super) fn refuse_what_cannot_be_kept(&mut self) -> Result<(), PgError> {
        self.refuse_kinds()?;
        self.refuse_inheritance()
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
}
