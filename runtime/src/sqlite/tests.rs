//! The helpers on small in-memory databases: what each changes, what it
//! leaves alone, and the row it names when it cannot go on.

use rusqlite::Connection;

use super::*;

/// A database as a run sees it: foreign key enforcement off (the bundled
/// SQLite turns it on by default).
fn db(sql: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(sql).unwrap();
    conn
}

fn texts(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

const ROUTERS: &str = r#"
    CREATE TABLE routers (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, config TEXT NOT NULL);
    INSERT INTO routers VALUES (1, 'a', '{"region": "eu", "x": 1}');
    INSERT INTO routers VALUES (2, 'b', '{"timeout_ms": 5}');
    INSERT INTO routers VALUES (3, 'c', '{"timeout_ms": null}');
"#;

#[test]
fn add_json_default_sets_only_missing_keys() {
    let mut conn = db(ROUTERS);
    let tx = conn.transaction().unwrap();
    let n = add_json_default(&tx, "ROUTERS", "config", "timeout_ms", 30_000).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        texts(&tx, "SELECT config FROM routers ORDER BY id"),
        [
            r#"{"region":"eu","x":1,"timeout_ms":30000}"#,
            r#"{"timeout_ms": 5}"#,
            r#"{"timeout_ms": null}"#
        ]
    );
    // A JSON value as the default, not a string holding JSON.
    add_json_default(&tx, "routers", "config", "tags", serde_json::json!(["a"])).unwrap();
    let tags: String = tx
        .query_row(
            "SELECT json_type(config, '$.tags') FROM routers WHERE id = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tags, "array");
}

#[test]
fn a_row_without_a_json_object_is_named_and_nothing_changes() {
    for (bad, expected) in [
        (
            "'{not json'",
            "row rowid = 9, column `config`: is not valid JSON: \"{not json\"",
        ),
        (
            "'[1, 2]'",
            "row rowid = 9, column `config`: holds a JSON array, expected a JSON object",
        ),
        (
            "NULL",
            "row rowid = 9, column `config`: is NULL, expected a JSON object",
        ),
        // JSON5, which SQLite's other JSON functions would read.
        (
            "'{a: 1}'",
            "row rowid = 9, column `config`: is not valid JSON: \"{a: 1}\"",
        ),
        (
            "CAST('{\"a\": 1}' AS BLOB)",
            "row rowid = 9, column `config`: holds a BLOB, expected a JSON object as text (the \
             helper writes text, which would change the value's storage class)",
        ),
        // Not UTF-8, so not text either.
        (
            "x'FF00FE'",
            "row rowid = 9, column `config`: holds a BLOB, expected a JSON object as text (the \
             helper writes text, which would change the value's storage class)",
        ),
        (
            "5",
            "row rowid = 9, column `config`: holds a JSON integer, expected a JSON object",
        ),
    ] {
        let mut conn = db(&ROUTERS.replace("NOT NULL);", ");"));
        conn.execute_batch(&format!("INSERT INTO routers VALUES (9, 'z', {bad})"))
            .unwrap();
        let tx = conn.transaction().unwrap();
        let before = texts(&tx, "SELECT config FROM routers WHERE id < 9 ORDER BY id");
        let err = add_json_default(&tx, "routers", "config", "k", 1).unwrap_err();
        assert_eq!(err.to_string(), format!("table `routers`, {expected}"));
        let err = promote_json(&tx, "routers", "config", "region", "region", "TEXT").unwrap_err();
        assert_eq!(err.to_string(), format!("table `routers`, {expected}"));
        assert_eq!(
            texts(&tx, "SELECT config FROM routers WHERE id < 9 ORDER BY id"),
            before
        );
        assert_eq!(
            sql::columns(&tx, "routers").unwrap().len(),
            3,
            "no column added"
        );
    }
}

#[test]
fn a_json_object_after_white_space_is_one() {
    let mut conn = db(ROUTERS);
    conn.execute_batch("INSERT INTO routers VALUES (9, 'z', ' \n{\"a\": 1}')")
        .unwrap();
    let tx = conn.transaction().unwrap();
    assert_eq!(
        add_json_default(&tx, "routers", "config", "a", 2).unwrap(),
        3
    );
    assert_eq!(
        texts(&tx, "SELECT config FROM routers WHERE id = 9"),
        [" \n{\"a\": 1}"]
    );
}

#[test]
fn add_column_gives_every_row_the_default_and_refuses_a_duplicate() {
    let mut conn = db(ROUTERS);
    let tx = conn.transaction().unwrap();
    assert_eq!(
        add_column(&tx, "routers", "weight", "INTEGER NOT NULL DEFAULT 1").unwrap(),
        3
    );
    assert_eq!(
        texts(&tx, "SELECT CAST(weight AS TEXT) FROM routers"),
        ["1", "1", "1"]
    );
    let schema: String = tx
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'routers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        schema.ends_with(", weight INTEGER NOT NULL DEFAULT 1)"),
        "{schema}"
    );
    let err = add_column(&tx, "routers", "WEIGHT", "INTEGER").unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `routers` already has a column `weight`"
    );
    let err = add_column(&tx, "routers", "status", "TEXT NOT NULL").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "table `routers`, column `status`: cannot add the column as `TEXT NOT NULL`"
        ),
        "{err}"
    );
    // A keyword is quoted in the definition.
    add_column(&tx, "routers", "order", "INTEGER").unwrap();
    assert_eq!(
        add_column(&tx, "nope", "a", "TEXT")
            .unwrap_err()
            .to_string(),
        "no table `nope` in the database"
    );
}

#[test]
fn promote_json_moves_the_key_into_the_column() {
    let mut conn = db(ROUTERS);
    let tx = conn.transaction().unwrap();
    let n = promote_json(
        &tx,
        "routers",
        "config",
        "region",
        "region",
        "TEXT NOT NULL DEFAULT 'global'",
    )
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        texts(
            &tx,
            "SELECT region || ' ' || config FROM routers ORDER BY id"
        ),
        [
            r#"eu {"x":1}"#,
            r#"global {"timeout_ms": 5}"#,
            r#"global {"timeout_ms": null}"#
        ]
    );
}

#[test]
fn promote_json_names_the_row_whose_value_the_column_refuses() {
    let mut conn = db(ROUTERS);
    conn.execute_batch(r#"INSERT INTO routers VALUES (7, 'n', '{"region": null}')"#)
        .unwrap();
    let tx = conn.transaction().unwrap();
    let err = promote_json(
        &tx,
        "routers",
        "config",
        "region",
        "region",
        "TEXT NOT NULL DEFAULT 'global'",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `routers`, row rowid = 7, column `region`: NOT NULL constraint failed: routers.region"
    );
    // The column added before the failure is gone again, the JSON untouched.
    assert!(sql::find(&sql::columns(&tx, "routers").unwrap(), "region").is_none());
    assert_eq!(
        texts(&tx, "SELECT config FROM routers WHERE id = 1"),
        [r#"{"region": "eu", "x": 1}"#]
    );
}

const TREE: &str = r#"
    CREATE TABLE routers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, config TEXT NOT NULL);
    CREATE TABLE planners (id INTEGER PRIMARY KEY, router_id INTEGER NOT NULL REFERENCES routers(id));
    CREATE INDEX routers_by_name ON routers(name);
    CREATE TRIGGER routers_named AFTER UPDATE OF name ON routers BEGIN SELECT 1; END;
    CREATE VIEW router_names AS SELECT name FROM routers;
    INSERT INTO routers VALUES (1, 'a', '{"weight": 3}'), (5, 'b', '{}');
    DELETE FROM routers WHERE id = 5;
    INSERT INTO routers VALUES (2, 'b', '{}');
    INSERT INTO planners VALUES (10, 1), (11, 2);
"#;

#[test]
fn rebuild_table_keeps_rows_references_indexes_triggers_and_the_definition_as_written() {
    let mut conn = db(TREE);
    let tx = conn.transaction().unwrap();
    let definition = "CREATE TABLE routers (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  name TEXT NOT NULL,\n  config TEXT NOT NULL,\n  weight INTEGER NOT NULL CHECK (weight > 0)\n)";
    let n = rebuild_table(
        &tx,
        "routers",
        definition,
        &[("weight", "coalesce(json_extract(config, '$.weight'), 1)")],
    )
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        texts(&tx, "SELECT id || name || weight FROM routers ORDER BY id"),
        ["1a3", "2b1"]
    );
    assert_eq!(
        texts(&tx, "SELECT sql FROM sqlite_schema WHERE name = 'routers'"),
        [definition]
    );
    assert_eq!(
        texts(
            &tx,
            "SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger', 'view') ORDER BY name"
        ),
        ["router_names", "routers_by_name", "routers_named"]
    );
    assert_eq!(
        texts(&tx, "SELECT sql FROM sqlite_schema WHERE name = 'planners'"),
        [
            "CREATE TABLE planners (id INTEGER PRIMARY KEY, router_id INTEGER NOT NULL REFERENCES routers(id))"
        ]
    );
    assert_eq!(
        texts(&tx, "SELECT name FROM router_names ORDER BY name"),
        ["a", "b"]
    );
    let seq: i64 = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'routers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seq, 5, "the AUTOINCREMENT counter is kept");
    let fk: i64 = tx
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}

#[test]
fn rebuild_table_keeps_rowids_of_tables_without_an_integer_key() {
    let mut conn =
        db("CREATE TABLE t (name TEXT); INSERT INTO t (rowid, name) VALUES (4, 'x'), (9, 'y');");
    let tx = conn.transaction().unwrap();
    rebuild_table(
        &tx,
        "t",
        "CREATE TABLE t (name TEXT, n INTEGER DEFAULT 7)",
        &[],
    )
    .unwrap();
    assert_eq!(
        texts(&tx, "SELECT rowid || name || n FROM t ORDER BY rowid"),
        ["4x7", "9y7"]
    );
}

#[test]
fn a_row_the_rebuilt_table_refuses_is_named_and_the_table_stays_as_it_was() {
    let mut conn = db(TREE);
    conn.execute_batch(r#"INSERT INTO routers VALUES (3, 'c', '{"weight": 0}')"#)
        .unwrap();
    let tx = conn.transaction().unwrap();
    let before = texts(&tx, "SELECT sql FROM sqlite_schema ORDER BY name");
    let err = rebuild_table(
        &tx,
        "routers",
        "CREATE TABLE routers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, config TEXT NOT NULL, weight INTEGER NOT NULL CHECK (weight > 0))",
        &[("weight", "coalesce(json_extract(config, '$.weight'), 1)")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `routers`, row rowid = 3: cannot be copied into the rebuilt table: CHECK constraint failed: weight > 0"
    );
    assert_eq!(
        texts(&tx, "SELECT sql FROM sqlite_schema ORDER BY name"),
        before
    );
    assert_eq!(
        texts(&tx, "SELECT name FROM routers ORDER BY id"),
        ["a", "b", "c"]
    );
}

#[test]
fn rebuild_table_refuses_what_it_cannot_do_safely() {
    let mut conn = db(TREE);
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let tx = conn.transaction().unwrap();
    let err = rebuild_table(
        &tx,
        "routers",
        "CREATE TABLE routers (id INTEGER PRIMARY KEY)",
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("foreign key enforcement is on"),
        "{err}"
    );
    let err = rebuild_table(&tx, "routers", "DROP TABLE routers", &[]).unwrap_err();
    assert!(
        err.to_string().contains("must be a `CREATE TABLE`"),
        "{err}"
    );
}

#[test]
fn keys_that_cannot_be_json_paths_are_refused() {
    let mut conn = db(ROUTERS);
    let tx = conn.transaction().unwrap();
    let err = add_json_default(&tx, "routers", "config", "a\"b", 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("JSON key `a\"b` cannot be used"),
        "{err}"
    );
    let err = add_json_default(&tx, "routers", "nope", "a", 1).unwrap_err();
    assert_eq!(err.to_string(), "table `routers` has no column `nope`");
}
