//! The PostgreSQL helpers against a real server (the test binary's
//! throw-away cluster): walks in batches with their progress, the
//! scenario helpers, a table rebuilt, and `jsonb` documents migrated by the
//! same `Document` steps as a folder. Every bad row is named by its table,
//! key and column, and a helper that fails leaves the transaction usable.

use std::sync::{Arc, Mutex};

use camino::Utf8Path;
use forms_example::{Forms, Responses, V1_SQL};
use verchain::folder::FolderStore;
use verchain::postgres::postgres::{Client, Transaction};
use verchain::postgres::{
    Batches, PgError, PostgresStore, TableError, add_column, add_json_default, batched_update,
    migrate_documents, promote_json, rebuild_table,
};
use verchain::{BoxError, Chain, Event, Observer, RunOptions, migration};
use verchain_tests::options::to;
use verchain_tests::postgres_db::{connect, create};

/// A table of 2,500 items: `n` is its id, checked below 5,000; `doc` a
/// `jsonb` object.
const ITEMS: &str = "CREATE TABLE items (id bigint PRIMARY KEY, code text NOT NULL, \
    n int NOT NULL CHECK (n < 5000), doc jsonb); \
    INSERT INTO items SELECT i, 'c' || (i % 7), i, jsonb_build_object('k', i) \
    FROM generate_series(1, 2500) i;";

fn store(url: &str, dir: &tempfile::TempDir) -> PostgresStore {
    PostgresStore::new(url)
        .unwrap()
        .snapshots_in(Utf8Path::from_path(dir.path()).unwrap())
}

/// Runs `work` in a transaction on `client` and rolls it back.
fn in_transaction<T>(client: &mut Client, work: impl FnOnce(&mut Transaction<'_>) -> T) -> T {
    let mut tx = client.transaction().unwrap();
    let out = work(&mut tx);
    tx.rollback().unwrap();
    out
}

/// Items doubled, in batches of 1,000.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 2, name = "items")]
pub struct Items;

/// Doubles every item's `n`, a thousand rows a statement.
#[migration(chain = Items, from = 1, to = 2)]
fn double(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    batched_update(tx, Batches::of("items").size(1000), "n = n * 2")?;
    Ok(())
}

#[test]
fn a_walk_in_batches_reports_its_progress_and_names_the_row_it_cannot_update() {
    let Some(url) = create("batches", ITEMS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = RunOptions {
        observer: Some(Observer::new(move |event| {
            if let Event::BatchProgress {
                step,
                table,
                done,
                total,
            } = event
            {
                sink.lock()
                    .unwrap()
                    .push((*step, table.clone(), *done, *total));
            }
        })),
        ..RunOptions::default()
    };
    // Item 2,500 doubled is past the check: the run fails and names it.
    let error = verchain::migrate::<Items>(&store(&url, &dir), &options).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("step `double` (v1 → v2) failed on")
            && message.contains("table `items`, row id = 2500: new row for relation \"items\" violates check constraint"),
        "{message}"
    );
    assert!(error.store_unchanged());
    let sum: i64 = connect(&url)
        .query_one("SELECT sum(n)::int8 FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(sum, 2500 * 2501 / 2, "the run rolled back");
    let progress: Vec<usize> = seen.lock().unwrap().iter().map(|p| p.2).collect();
    assert_eq!(progress, [0, 1000, 2000], "the last batch failed");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(step, table, _, total)| *step == "double" && table == "items" && *total == 2500)
    );

    // Within the check, every batch is done and the last one says so.
    connect(&url)
        .batch_execute("UPDATE items SET n = 1 WHERE id > 2400")
        .unwrap();
    seen.lock().unwrap().clear();
    verchain::migrate::<Items>(&store(&url, &dir), &options).unwrap();
    let progress: Vec<usize> = seen.lock().unwrap().iter().map(|p| p.2).collect();
    assert_eq!(progress, [0, 1000, 2000, 2500]);
    let max: i32 = connect(&url)
        .query_one("SELECT max(n) FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(max, 4800);
}

#[test]
fn a_walk_needs_a_key_that_is_unique_and_never_null() {
    let Some(url) = create(
        "keys",
        &format!("{ITEMS} CREATE TABLE loose (a int, b int); INSERT INTO loose VALUES (1, 1);"),
    ) else {
        return;
    };
    let mut client = connect(&url);
    in_transaction(&mut client, |tx| {
        let no_key = batched_update(tx, "loose", "b = 2").unwrap_err();
        assert!(
            no_key
                .to_string()
                .contains("table `loose` cannot be used: it has no single-column primary key"),
            "{no_key}"
        );
        let not_unique = batched_update(tx, Batches::of("items").key("code"), "n = 1").unwrap_err();
        assert!(
            not_unique.to_string().contains(
                "key of table `items.code` cannot be used: no unique index holds it alone"
            ),
            "{not_unique}"
        );
        let nullable = batched_update(tx, Batches::of("items").key("doc"), "n = 1").unwrap_err();
        assert!(
            nullable.to_string().contains("it may be NULL"),
            "{nullable}"
        );
        let missing = batched_update(tx, "nothing", "n = 1").unwrap_err();
        assert!(
            matches!(missing, PgError::Table(TableError::NoSuchTable { ref table, .. }) if table == "nothing"),
            "{missing}"
        );
        // A walk over some rows, by the primary key, in odd batch sizes.
        let updated = batched_update(
            tx,
            Batches::of("items").size(333).only("n % 2 = 0"),
            "n = 0",
        )
        .unwrap();
        assert_eq!(updated, 1250);
        let zeros: i64 = tx
            .query_one("SELECT count(*) FROM items WHERE n = 0", &[])
            .unwrap()
            .get(0);
        assert_eq!(zeros, 1250);
    });
}

#[test]
fn jsonb_helpers_name_the_row_and_column_they_cannot_handle_and_undo_their_work() {
    let Some(url) = create("json_helpers", ITEMS) else {
        return;
    };
    let mut client = connect(&url);
    in_transaction(&mut client, |tx| {
        tx.batch_execute("UPDATE items SET doc = NULL WHERE id = 1700")
            .unwrap();
        let null = add_json_default(tx, "items", "doc", "seen", false).unwrap_err();
        assert_eq!(
            null.to_string(),
            "table `items`, row id = 1700, column `doc`: is NULL, expected a JSON object"
        );
        // Of two such rows, the first by key is named (900 before 1700,
        // though not as text).
        tx.batch_execute("UPDATE items SET doc = '[1]' WHERE id IN (900, 1700)")
            .unwrap();
        let array = add_json_default(tx, "items", "doc", "seen", false).unwrap_err();
        assert_eq!(
            array.to_string(),
            "table `items`, row id = 900, column `doc`: holds a JSON array, expected a JSON object"
        );
        tx.batch_execute("UPDATE items SET doc = jsonb_build_object('k', id) WHERE id = 900")
            .unwrap();
        tx.batch_execute(r#"UPDATE items SET doc = '{"k": "abc", "seen": true}' WHERE id = 1700"#)
            .unwrap();
        // The transaction goes on after a helper's failure.
        assert_eq!(
            add_json_default(tx, "items", "doc", "seen", false).unwrap(),
            2499
        );
        let seen: bool = tx
            .query_one(
                "SELECT (doc ->> 'seen')::bool FROM items WHERE id = 1700",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(seen, "a key present is left alone");

        // `"abc"` is no integer: the row is named, and nothing stays done.
        let bad = promote_json(tx, "items", "doc", "k", "k", "int").unwrap_err();
        assert!(
            bad.to_string().starts_with(
                "table `items`, row id = 1700, column `k`: invalid input syntax for type integer: \"abc\""
            ),
            "{bad}"
        );
        let columns: i64 = tx
            .query_one(
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_name = 'items' AND column_name = 'k'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(columns, 0, "the column added is taken back");
        tx.batch_execute(r#"UPDATE items SET doc = '{"k": "1700"}' WHERE id = 1700"#)
            .unwrap();
        assert_eq!(
            promote_json(tx, "items", "doc", "k", "k", "int").unwrap(),
            2500
        );
        let (sum, left): (i64, i64) = tx
            .query_one(
                "SELECT sum(k)::int8, count(*) FILTER (WHERE doc ? 'k') FROM items",
                &[],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!((sum, left), (2500 * 2501 / 2, 0));
        let exists = add_column(tx, "items", "k", "int").unwrap_err();
        assert_eq!(exists.to_string(), "table `items` already has a column `k`");
        let bad_decl = add_column(tx, "items", "m", "int NOT NULL").unwrap_err();
        assert!(
            bad_decl
                .to_string()
                .starts_with("table `items`, column `m`: cannot add the column as `int NOT NULL`"),
            "{bad_decl}"
        );
        assert_eq!(
            add_column(tx, "items", "m", "int NOT NULL DEFAULT 0").unwrap(),
            2500
        );
    });
}

#[test]
fn a_rebuilt_table_keeps_its_rows_indexes_triggers_references_and_sequence() {
    let sql = "CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL, weight jsonb);
        CREATE INDEX tags_by_name ON tags (name);
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$;
        CREATE TRIGGER tags_lower BEFORE INSERT ON tags FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE TABLE posts (id serial PRIMARY KEY, tag_id int REFERENCES tags (id));
        INSERT INTO tags (name, weight) SELECT 'T' || i, jsonb_build_object('w', i)
            FROM generate_series(1, 30) i;
        INSERT INTO tags (name, weight) VALUES ('plain', NULL);
        INSERT INTO posts (tag_id) VALUES (3), (31);";
    let Some(url) = create("rebuild", sql) else {
        return;
    };
    let mut client = connect(&url);
    let definition = "CREATE TABLE tags (id serial PRIMARY KEY, weight int NOT NULL, \
                      name text NOT NULL UNIQUE)";
    let computed = [("weight", "coalesce((weight ->> 'w')::int, 1)")];
    let mut tx = client.transaction().unwrap();
    assert_eq!(
        rebuild_table(&mut tx, "tags", definition, &computed).unwrap(),
        31
    );
    tx.commit().unwrap();
    let rows: Vec<(i32, i32, String)> = client
        .query("SELECT id, weight, name FROM tags ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows[2], (3, 3, "t3".to_owned()));
    assert_eq!(rows[30], (31, 1, "plain".to_owned()));
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'tags' ORDER BY ordinal_position",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns, ["id", "weight", "name"]);
    // The next id follows the old ones; the trigger lowers the name.
    let (id, name): (i32, String) = client
        .query_one(
            "INSERT INTO tags (weight, name) VALUES (1, 'NEW') RETURNING id, name",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!((id, name.as_str()), (32, "new"));
    let index: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'tags_by_name'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(index, 1);
    let refused = client.batch_execute("INSERT INTO posts (tag_id) VALUES (99)");
    assert!(refused.is_err(), "the foreign key of posts is back");
    let leftover: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_verchain\\_old\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftover, 0);

    // A row the new table refuses is named (31 weighs 1, as 1 does); a
    // table views read is refused.
    in_transaction(&mut client, |tx| {
        let definition = "CREATE TABLE tags (id serial PRIMARY KEY, weight int NOT NULL UNIQUE, \
                          name text NOT NULL UNIQUE)";
        let duplicate = rebuild_table(tx, "tags", definition, &[]).unwrap_err();
        assert!(
            duplicate.to_string().starts_with(
                "table `tags`, row id = 31: cannot be copied into the rebuilt table: duplicate key"
            ),
            "{duplicate}"
        );
        tx.batch_execute("CREATE VIEW heavy AS SELECT * FROM tags WHERE weight > 10")
            .unwrap();
        let viewed = rebuild_table(tx, "tags", definition, &[]).unwrap_err();
        assert!(
            viewed.to_string().contains("views read it (heavy)"),
            "{viewed}"
        );
    });
}

#[test]
fn documents_in_jsonb_take_the_steps_a_folder_takes_and_bad_ones_are_named() {
    let Some(url) = create("documents", V1_SQL) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let forms = store(&url, &dir);
    verchain::migrate::<Forms>(&forms, &to(4)).unwrap();
    let mut client = connect(&url);
    let v4: Vec<(i64, serde_json::Value)> = client
        .query("SELECT id, responses FROM submissions ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    // The same answers, exported one file each, migrated as a folder.
    let folder = tempfile::tempdir().unwrap();
    for (id, responses) in &v4 {
        std::fs::write(
            folder.path().join(format!("{id}.json")),
            responses.to_string(),
        )
        .unwrap();
    }
    let exported = FolderStore::new(Utf8Path::from_path(folder.path()).unwrap());
    verchain::migrate::<Responses>(&exported, &RunOptions::default()).unwrap();

    // In a run, a document that fails the schema of v2 is a validation
    // failure of the run, named as `table[key=value].column`.
    client
        .batch_execute("UPDATE submissions SET responses = responses - 'created_at' WHERE id = 5")
        .unwrap();
    let dry = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let report = verchain::migrate::<Forms>(&forms, &dry).unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].path, "submissions[id=5].responses");
    assert!(
        report.failures[0].message.contains("created_at"),
        "{:?}",
        report.failures
    );
    let refused = verchain::migrate::<Forms>(&forms, &RunOptions::default()).unwrap_err();
    assert_eq!(refused.stage, verchain::Stage::Validate);
    client
        .execute(
            "UPDATE submissions SET responses = $1 WHERE id = 5",
            &[&v4[4].1],
        )
        .unwrap();

    // A dry run of the step lists the rows it changes, in batches.
    let report = verchain::migrate::<Forms>(
        &forms,
        &RunOptions {
            dry_run: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.plan.len(), 1);
    assert_eq!(report.counts.changed, 5);
    verchain::migrate::<Forms>(&forms, &RunOptions::default()).unwrap();
    for (id, _) in &v4 {
        let row: serde_json::Value = client
            .query_one("SELECT responses FROM submissions WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        let file = std::fs::read_to_string(folder.path().join(format!("{id}.json"))).unwrap();
        let file: serde_json::Value = serde_json::from_str(&file).unwrap();
        assert_eq!(row, file, "submission {id}");
        assert_eq!(row["schema_version"], 2);
    }

    // Called again, documents at v2 are left as they are.
    in_transaction(&mut client, |tx| {
        let counts = migrate_documents::<Responses>(tx, "submissions", "responses", 2).unwrap();
        assert_eq!((counts.changed, counts.unchanged), (0, 5));
        // A document newer than the step's version, and one a step
        // refuses, are named by table, key, column, step and versions.
        tx.batch_execute(
            r#"UPDATE submissions SET responses = '{"schema_version": 1, "note": "a", "comment": "b"}' WHERE id = 4"#,
        )
        .unwrap();
        let refused =
            migrate_documents::<Responses>(tx, "submissions", "responses", 2).unwrap_err();
        assert!(
            refused.to_string().starts_with(
                "step `comment_and_channel` (v1 → v2) failed on submissions[id=4].responses: \
                 cannot rename `note` to `comment`"
            ),
            "{refused}"
        );
        let past = migrate_documents::<Responses>(tx, "submissions", "responses", 1).unwrap_err();
        assert!(
            past.to_string().starts_with(
                "table `submissions`, row id = 1, column `responses`: is at version 2 of chain \
                 `responses`, past v1"
            ),
            "{past}"
        );
        // Outside a run, a document that fails the schema fails the call.
        tx.batch_execute(r#"UPDATE submissions SET responses = '{"note": "a"}' WHERE id = 4"#)
            .unwrap();
        let invalid =
            migrate_documents::<Responses>(tx, "submissions", "responses", 2).unwrap_err();
        assert!(
            invalid
                .to_string()
                .contains("submissions[id=4].responses: does not match the schema of v2"),
            "{invalid}"
        );
    });
}

#[test]
fn documents_are_walked_in_the_order_of_their_key_not_of_its_text() {
    let Some(url) = create("documents_many", V1_SQL) else {
        return;
    };
    let mut client = connect(&url);
    // Ids 6 to 1,005: in the order of their text, 1,000 comes before 2.
    client
        .batch_execute(
            "INSERT INTO submissions (form_id, submitted_at, responses) \
             SELECT 1, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', \
             jsonb_build_object('score', i) FROM generate_series(1, 1000) AS i",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    verchain::migrate::<Forms>(&store(&url, &dir), &to(4)).unwrap();
    in_transaction(&mut client, |tx| {
        let counts = migrate_documents::<Responses>(
            tx,
            Batches::of("submissions").size(100),
            "responses",
            2,
        )
        .unwrap();
        assert_eq!((counts.changed, counts.unchanged), (1005, 0));
        let left: i64 = tx
            .query_one(
                "SELECT count(*) FROM submissions WHERE NOT responses ? 'schema_version'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
    });
}
