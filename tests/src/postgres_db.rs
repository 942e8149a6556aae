//! PostgreSQL databases for tests: a new database on the shared server,
//! built from SQL, and dumped as text (definitions and every row) to
//! compare them or to keep as golden files.

use std::fmt::Write;

use verchain::postgres::postgres::{Client, NoTls};

use crate::postgres_server;

/// A new database `name` on the test binary's server, built by `sql`;
/// `None` where the binary has no server (it said why).
pub fn create(name: &str, sql: &str) -> Option<String> {
    let server = postgres_server::shared()?;
    let url = server.database(name);
    connect(&url)
        .batch_execute(sql)
        .unwrap_or_else(|e| panic!("cannot build database {name}: {e}"));
    Some(url)
}

/// A connection to `url`.
pub fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// The logical content of schema `schema` as text: each enum type, table
/// (columns, defaults, constraints), index and view, each sequence's
/// value, then every table's rows by primary key, as JSON. verchain's
/// `_verchain_history` is left out; times are in UTC.
pub fn dump(url: &str, schema: &str) -> String {
    let mut client = connect(url);
    client
        .batch_execute("SET TimeZone = 'UTC'; SET search_path = pg_catalog")
        .expect("set up the dump");
    let mut out = String::new();
    let rows = |client: &mut Client, sql: &str| {
        client
            .query(sql, &[&schema])
            .unwrap_or_else(|e| panic!("dump: {e}: {sql}"))
    };
    for row in rows(
        &mut client,
        "SELECT t.typname::text, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) \
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid \
         JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 \
         GROUP BY 1 ORDER BY 1",
    ) {
        writeln!(
            out,
            "-- enum {}: {}",
            row.get::<_, String>(0),
            row.get::<_, String>(1)
        )
        .unwrap();
    }
    let tables: Vec<String> = rows(
        &mut client,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname <> '_verchain_history' ORDER BY 1",
    )
    .iter()
    .map(|r| r.get(0))
    .collect();
    for table in &tables {
        writeln!(out, "\n-- table {table}").unwrap();
        let qualified = format!("\"{schema}\".\"{table}\"");
        for row in client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                 coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d \
                 ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&qualified],
            )
            .expect("columns")
        {
            let (name, ty, not_null, default, identity): (String, String, bool, String, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            let mut line = format!("  {name} {ty}");
            if not_null {
                line.push_str(" NOT NULL");
            }
            if !default.is_empty() {
                line.push_str(&format!(" DEFAULT {default}"));
            }
            if !identity.is_empty() {
                line.push_str(&format!(" IDENTITY {identity}"));
            }
            writeln!(out, "{line}").unwrap();
        }
        for row in client
            .query(
                "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid = $1::text::regclass AND contype <> 'n' ORDER BY 1",
                &[&qualified],
            )
            .expect("constraints")
        {
            writeln!(
                out,
                "  constraint {}: {}",
                row.get::<_, String>(0),
                row.get::<_, String>(1)
            )
            .unwrap();
        }
        for row in client
            .query(
                "SELECT pg_get_indexdef(indexrelid) || CASE WHEN indisvalid THEN '' \
                 ELSE ' -- INVALID' END FROM pg_index WHERE indrelid = $1::text::regclass \
                 ORDER BY 1",
                &[&qualified],
            )
            .expect("indexes")
        {
            writeln!(out, "  {}", row.get::<_, String>(0)).unwrap();
        }
    }
    for row in rows(
        &mut client,
        "SELECT c.relname::text, pg_get_viewdef(c.oid) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1",
    ) {
        writeln!(
            out,
            "\n-- view {}\n{}",
            row.get::<_, String>(0),
            row.get::<_, String>(1).trim()
        )
        .unwrap();
    }
    for row in rows(
        &mut client,
        "SELECT s.sequencename::text, coalesce(s.last_value, 0) FROM pg_sequences s \
         WHERE s.schemaname = $1 AND s.sequencename NOT LIKE '\\_verchain%' ORDER BY 1",
    ) {
        writeln!(
            out,
            "\n-- sequence {} at {}",
            row.get::<_, String>(0),
            row.get::<_, i64>(1)
        )
        .unwrap();
    }
    for table in &tables {
        writeln!(out, "\n-- rows of {table}").unwrap();
        for row in client
            .query(
                &format!("SELECT row_to_json(t)::text FROM \"{schema}\".\"{table}\" t ORDER BY 1"),
                &[],
            )
            .expect("rows")
        {
            writeln!(out, "{}", row.get::<_, String>(0)).unwrap();
        }
    }
    out
}

/// A new database `name` at the `forms` chain's v1, described to a runner
/// process: a temporary folder holding the file `url` (the database's URL;
/// its path is what the runner gets) and, once taken, `snapshots/`.
pub fn forms_for_runner(name: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let url = create(name, forms_example::V1_SQL)?;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("url");
    std::fs::write(&file, &url).expect("write the URL");
    Some((dir, file))
}

/// The URL in a runner's `url` file.
pub fn url_in(file: &std::path::Path) -> String {
    std::fs::read_to_string(file)
        .expect("the URL file")
        .trim()
        .to_owned()
}

/// The `forms` chain's store whose URL is in a runner's `url` file, with
/// its snapshots beside it.
pub fn store_in(file: &std::path::Path) -> verchain::postgres::PostgresStore {
    let snapshots = file.with_file_name("snapshots");
    verchain::postgres::PostgresStore::new(&url_in(file))
        .expect("a URL")
        .snapshots_in(snapshots.to_str().expect("a UTF-8 path"))
}

/// `pg_dump --schema-only` of schema `schema` at `url`, verchain's
/// `_verchain_history` left out: every definition the server would put
/// back, row-level security, policies and comments included.
pub fn pg_dump_schema(url: &str, schema: &str) -> String {
    let bin = crate::postgres_server::bin_dir().expect("pg_dump beside initdb");
    let out = std::process::Command::new(bin.join("pg_dump"))
        .args(["--schema-only", "--no-sync", "--schema", schema])
        .arg(format!("--exclude-table={schema}._verchain_history*"))
        .arg(format!("--dbname={url}"))
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Less the lines a dump opens and ends with that hold a random key.
    String::from_utf8(out.stdout)
        .expect("UTF-8 from pg_dump")
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(|l| format!("{l}\n"))
        .collect()
}
