//! What a PostgreSQL snapshot keeps, and what it refuses before anything
//! changes, against a real server: row-level security, policies and
//! comments come back with a rollback exactly as `pg_dump` sees them; an
//! inheriting table, or an object the rollback's drops would break (a
//! view or foreign key in another schema, a composite type over an enum),
//! is refused at the snapshot, naming it, where the run would otherwise
//! commit a change no rollback could undo.

use forms_example::{Forms, V1_SQL};
use verchain::postgres::PostgresStore;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::postgres_db::{create, dump, pg_dump_schema};

/// A new database `name` at the `forms` chain's v1 with `extra` run after,
/// and its store (snapshots in `dir`).
fn forms_with(name: &str, extra: &str, dir: &tempfile::TempDir) -> Option<(String, PostgresStore)> {
    let url = create(name, &format!("{V1_SQL}\n{extra}"))?;
    let store = PostgresStore::new(&url)
        .unwrap()
        .snapshots_in(camino::Utf8Path::from_path(dir.path()).unwrap());
    Some((url, store))
}

#[test]
fn a_rollback_puts_back_row_security_policies_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms_with(
        "kept_security",
        "ALTER TABLE forms ENABLE ROW LEVEL SECURITY; \
         ALTER TABLE submissions ENABLE ROW LEVEL SECURITY; \
         ALTER TABLE submissions FORCE ROW LEVEL SECURITY; \
         CREATE POLICY p ON forms USING (true); \
         CREATE POLICY \"Own rows\" ON submissions AS RESTRICTIVE FOR UPDATE TO PUBLIC \
           USING (user_id > 0) WITH CHECK (user_id IS NOT NULL); \
         COMMENT ON TABLE users IS 'the users'; \
         COMMENT ON COLUMN users.email IS 'where we write, it''s unique'; \
         COMMENT ON VIEW open_forms IS 'what can be filled in'; \
         COMMENT ON INDEX submissions_by_form IS 'by form'; \
         COMMENT ON CONSTRAINT users_email_key ON users IS 'one account an address'; \
         COMMENT ON POLICY p ON forms IS 'everyone'; \
         COMMENT ON TYPE form_status IS 'where a form is'; \
         COMMENT ON SEQUENCE forms_id_seq IS 'form ids'",
        &dir,
    ) else {
        return;
    };
    let before = pg_dump_schema(&url, "public");
    for kept in [
        "ENABLE ROW LEVEL SECURITY",
        "FORCE ROW LEVEL SECURITY",
        "CREATE POLICY p",
        "AS RESTRICTIVE",
        "COMMENT ON TABLE public.users",
        "COMMENT ON COLUMN public.users.email",
        "COMMENT ON POLICY p",
    ] {
        assert!(before.contains(kept), "{kept}: {before}");
    }
    let rows = dump(&url, "public");
    verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap();
    assert_ne!(pg_dump_schema(&url, "public"), before);
    verchain::rollback::<Forms>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(pg_dump_schema(&url, "public"), before);
    assert_eq!(dump(&url, "public"), rows);
}

#[test]
fn an_inheriting_table_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms_with(
        "inherits",
        "CREATE TABLE parent_t (id int, note text); \
         CREATE TABLE child_t (extra int) INHERITS (parent_t);",
        &dir,
    ) else {
        return;
    };
    let before = pg_dump_schema(&url, "public");
    let error = verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`child_t`"), "{message}");
    assert!(message.contains("INHERITS"), "{message}");
    assert!(error.store_unchanged(), "{message}");
    assert_eq!(pg_dump_schema(&url, "public"), before);
    assert!(verchain::history(&store).unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn what_a_rollback_could_never_drop_around_is_refused_at_the_snapshot() {
    for (name, extra, dependent, object) in [
        (
            "dep_view",
            "CREATE SCHEMA reporting; \
             CREATE VIEW reporting.user_count AS SELECT count(*) AS n FROM public.users;",
            "view reporting.user_count",
            "table public.users",
        ),
        (
            "dep_key",
            "CREATE SCHEMA reporting; \
             CREATE TABLE reporting.audit (user_id bigint REFERENCES public.users (id));",
            "constraint audit_user_id_fkey on table reporting.audit",
            "table public.users",
        ),
        (
            "dep_type",
            "CREATE TYPE status_pair AS (was form_status, now form_status);",
            "composite type public.status_pair",
            "type public.form_status",
        ),
        (
            "dep_child",
            "CREATE SCHEMA archive; \
             CREATE TABLE archive.old_users (gone_at timestamptz) INHERITS (public.users);",
            "`users`",
            "INHERITS",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let Some((url, store)) = forms_with(name, extra, &dir) else {
            return;
        };
        let before = pg_dump_schema(&url, "public");
        let error = verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(dependent), "{name}: {message}");
        assert!(message.contains(object), "{name}: {message}");
        assert!(error.store_unchanged(), "{name}: {message}");
        assert_eq!(pg_dump_schema(&url, "public"), before, "{name}");
        assert!(verchain::history(&store).unwrap().is_empty(), "{name}");
    }
}
