//! Row-level security: whether each table enables (and forces) it, and
//! its policies, as `pg_policies` shows them.

use super::{Reader, Schema, Statement};
use crate::postgres::error::PgError;
use crate::postgres::sql::quote;

impl Reader<'_, '_> {
    pub(super) fn row_security(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "row-level security",
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind = 'r' \
             AND (c.relrowsecurity OR c.relforcerowsecurity) ORDER BY 1",
        )?;
        for row in rows {
            let (name, enabled, forced): (String, bool, bool) =
                (row.get(0), row.get(1), row.get(2));
            for (on, what) in [(enabled, "ENABLE"), (forced, "FORCE")] {
                if on {
                    out.post_data.push(Statement {
                        object: name.clone(),
                        sql: format!("ALTER TABLE {} {what} ROW LEVEL SECURITY;", self.q(&name)),
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) fn policies(&mut self, out: &mut Schema) -> Result<(), PgError> {
        let rows = self.query(
            "policies",
            "SELECT tablename::text, policyname::text, permissive, roles::text[], cmd, qual, \
             with_check FROM pg_policies WHERE schemaname = $1 AND tablename <> $2 \
             ORDER BY 1, 2",
        )?;
        for row in rows {
            let (table, name, permissive, roles, command): (
                String,
                String,
                String,
                Vec<String>,
                String,
            ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            let (using, check): (Option<String>, Option<String>) = (row.get(5), row.get(6));
            let roles: Vec<String> = roles
                .iter()
                .map(|r| match r.as_str() {
                    "public" => "PUBLIC".to_owned(),
                    r => quote(r),
                })
                .collect();
            let mut sql = format!(
                "CREATE POLICY {} ON {} AS {permissive} FOR {command} TO {}",
                quote(&name),
                self.q(&table),
                roles.join(", ")
            );
            if let Some(using) = using {
                sql.push_str(&format!(" USING ({using})"));
            }
            if let Some(check) = check {
                sql.push_str(&format!(" WITH CHECK ({check})"));
            }
            sql.push(';');
            out.post_data.push(Statement { object: table, sql });
        }
        Ok(())
    }
}
