//! SQLite databases for tests: built from SQL in a temporary folder, and
//! dumped as text (schema and every row) to compare them or to keep as
//! golden files.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use verchain::sqlite::rusqlite::types::ValueRef;
use verchain::sqlite::rusqlite::{Connection, OpenFlags};

/// A database file `name` in a new temporary folder, built by `sql`.
pub fn create(sql: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let conn = Connection::open(&path).expect("create database");
    conn.execute_batch(sql).expect("build database");
    drop(conn);
    (dir, path)
}

/// The database's logical content as text: `PRAGMA user_version`, then
/// every schema object (its type, name and definition; not where its pages
/// are), then every table's rows by rowid. SQLite's internal tables and
/// verchain's `_verchain_history` are left out.
pub fn dump(path: &Path) -> String {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open database");
    let mut out = String::new();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    writeln!(out, "-- PRAGMA user_version = {version}").unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name <> '_verchain_history' ORDER BY type DESC, name",
        )
        .expect("read schema");
    let objects: Vec<(String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("read schema")
        .collect::<Result<_, _>>()
        .expect("read schema");
    for (kind, name, sql) in &objects {
        writeln!(out, "\n-- {kind} {name}").unwrap();
        if let Some(sql) = sql {
            writeln!(out, "{sql};").unwrap();
        }
    }
    for (kind, name, _) in &objects {
        if kind != "table" {
            continue;
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let without_rowid = conn
            .prepare(&format!("SELECT rowid FROM {quoted} LIMIT 0"))
            .is_err();
        let sql = if without_rowid {
            format!("SELECT * FROM {quoted} ORDER BY 1")
        } else {
            format!("SELECT rowid, * FROM {quoted} ORDER BY rowid")
        };
        let mut stmt = conn.prepare(&sql).expect("read rows");
        let width = stmt.column_count();
        let mut names: Vec<String> = stmt
            .column_names()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if !without_rowid {
            names[0] = "rowid".to_owned();
        }
        writeln!(out, "\n-- rows of {name}: {}", names.join(" | ")).unwrap();
        let mut rows = stmt.query([]).expect("read rows");
        while let Some(row) = rows.next().expect("read row") {
            let values: Vec<String> = (0..width)
                .map(|i| render(row.get_ref(i).expect("value")))
                .collect();
            writeln!(out, "{}", values.join(" | ")).unwrap();
        }
    }
    out
}

fn render(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
        ValueRef::Blob(b) => format!(
            "X'{}'",
            b.iter().map(|x| format!("{x:02X}")).collect::<String>()
        ),
    }
}

/// `PRAGMA integrity_check` of the database: `ok`, or what is wrong.
pub fn integrity(path: &Path) -> String {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open database");
    let lines: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("integrity_check");
    lines.join("\n")
}

/// The golden file `fixtures/<rel>` as text; with `VERCHAIN_BLESS=1`, it is
/// first replaced by `text` (to accept new output; read the diff before
/// committing).
pub fn golden(rel: &str, text: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel);
    if std::env::var_os("VERCHAIN_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, text).expect("bless golden file");
    }
    fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with VERCHAIN_BLESS=1 to create it",
            path.display()
        )
    })
}
