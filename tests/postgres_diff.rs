//! The report of a PostgreSQL run against a real server: rows matched by
//! key and compared on the server, whatever the shape of the table (an
//! integer key, a key of several columns, no key at all, a key whose type
//! changes, a table dropped or created), and the first rows that differ,
//! in the order of their keys.

use verchain::postgres::PostgresStore;
use verchain::postgres::postgres::Transaction;
use verchain::{BoxError, Chain, RunOptions, migration};
use verchain_tests::postgres_db::{connect, create, dump};

const V1: &str = "
CREATE TABLE keyed (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO keyed SELECT i, 'row ' || i FROM generate_series(1, 30) AS i;
CREATE TABLE pairs (a int, b text, PRIMARY KEY (a, b));
INSERT INTO pairs VALUES (1, 'x'), (1, 'y'), (2, 'x');
CREATE TABLE bag (x int);
INSERT INTO bag VALUES (1), (1), (2);
CREATE TABLE gone (id int PRIMARY KEY);
INSERT INTO gone VALUES (1), (2), (3);
CREATE TABLE widened (id int4 PRIMARY KEY, v text);
INSERT INTO widened VALUES (1, 'a'), (2, 'b');
CREATE TABLE renumbered (id int PRIMARY KEY);
INSERT INTO renumbered SELECT generate_series(1, 20);
";

#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 2, name = "shapes")]
struct Shapes;

/// Changes every kind of table in a known way.
#[migration(chain = Shapes, from = 1, to = 2)]
fn reshape(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute(
        "UPDATE keyed SET v = 'changed' WHERE id IN (3, 9, 10);
         UPDATE keyed SET v = v WHERE id = 4;
         DELETE FROM keyed WHERE id IN (20, 21);
         INSERT INTO keyed VALUES (31, 'new'), (32, 'new'), (33, 'new'), (34, 'new');
         DELETE FROM pairs WHERE a = 1 AND b = 'y';
         INSERT INTO pairs VALUES (3, 'z');
         DELETE FROM bag WHERE ctid = (SELECT min(ctid) FROM bag WHERE x = 1);
         DROP TABLE gone;
         CREATE TABLE fresh (id int PRIMARY KEY);
         INSERT INTO fresh VALUES (1), (2);
         ALTER TABLE widened ALTER COLUMN id TYPE int8;
         ALTER TABLE renumbered ALTER COLUMN id TYPE numeric;",
    )?;
    Ok(())
}

fn store(name: &str, dir: &tempfile::TempDir) -> Option<(String, PostgresStore)> {
    let url = create(name, V1)?;
    let store = PostgresStore::new(&url)
        .unwrap()
        .snapshots_in(camino::Utf8Path::from_path(dir.path()).unwrap());
    Some((url, store))
}

/// The diff of `table` in a report.
fn diff_of<'a>(report: &'a verchain::Report, table: &str) -> &'a str {
    let change = (report.changes.iter())
        .find(|c| c.path == table)
        .unwrap_or_else(|| panic!("no change to `{table}` in {:?}", report.changes));
    change.diff.as_deref().unwrap_or("")
}

#[test]
fn rows_are_matched_by_key_or_content_and_counted_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = store("diff_shapes", &dir) else {
        return;
    };
    let before = dump(&url, "public");
    let dry = RunOptions {
        dry_run: true,
        diff_limit: 12,
        ..RunOptions::default()
    };
    let report = verchain::migrate::<Shapes>(&store, &dry).unwrap();
    assert_eq!(dump(&url, "public"), before, "a dry run changes nothing");

    let summary = |table: &str| diff_of(&report, table).lines().next().unwrap().to_owned();
    // keyed: 3 rows changed (one set to the value it had is unchanged),
    // 2 removed, 4 added.
    assert_eq!(
        summary("keyed"),
        "# table `keyed`: 30 rows before, 32 after; 3 changed, 25 unchanged, 4 added, 2 removed"
    );
    assert_eq!(
        summary("pairs"),
        "# table `pairs`: 3 rows before, 3 after; 0 changed, 2 unchanged, 1 added, 1 removed"
    );
    // Without a key, equal rows are matched one for one.
    assert_eq!(
        summary("bag"),
        "# table `bag`: 3 rows before, 2 after; 0 changed, 2 unchanged, 0 added, 1 removed"
    );
    assert_eq!(
        summary("gone"),
        "# table `gone`: 3 rows before, 0 after; 0 changed, 0 unchanged, 0 added, 3 removed"
    );
    assert_eq!(
        summary("fresh"),
        "# table `fresh`: 0 rows before, 2 after; 0 changed, 0 unchanged, 2 added, 0 removed"
    );
    // A key that widens still matches its rows; their bytes changed.
    assert_eq!(
        summary("widened"),
        "# table `widened`: 2 rows before, 2 after; 2 changed, 0 unchanged, 0 added, 0 removed"
    );
    // A key that turns from a number into another kind still matches its
    // rows by their text; the first rows by key are not the same rows on
    // both sides then, so none are shown.
    assert_eq!(
        summary("renumbered"),
        "# table `renumbered`: 20 rows before, 20 after; 20 changed, 0 unchanged, 0 added, 0 removed"
    );
    let renumbered = diff_of(&report, "renumbered");
    assert!(renumbered.contains("numeric"), "{renumbered}");
    assert!(!renumbered.contains("row ["), "{renumbered}");
    let c = report.counts;
    assert_eq!(
        (c.changed, c.unchanged, c.created, c.removed),
        (3 + 2 + 20, 25 + 2 + 2, 4 + 1 + 2, 2 + 1 + 1 + 3)
    );

    // The first rows by key that differ, in the keys' order: 9 before 10.
    let keyed = diff_of(&report, "keyed");
    let at = |text: &str| {
        keyed
            .find(text)
            .unwrap_or_else(|| panic!("no `{text}` in {keyed}"))
    };
    assert!(at("-row [3]: ") < at("-row [9]: "), "{keyed}");
    assert!(at("-row [9]: ") < at("-row [10]: "), "{keyed}");
    assert!(
        keyed.contains("+row [10]: {\"id\":10,\"v\":\"changed\"}"),
        "{keyed}"
    );
    assert!(
        !keyed.contains("row [4]:"),
        "an unchanged row is not shown: {keyed}"
    );
    // Rows past the last one read on a side are not shown as removed.
    assert!(!keyed.contains("row [20]:"), "{keyed}");
    let pairs = diff_of(&report, "pairs");
    assert!(pairs.contains("-row [1, \"y\"]: "), "{pairs}");
    assert!(pairs.contains("+row [3, \"z\"]: "), "{pairs}");

    // The real run reports the same counts, and the transaction's
    // temporary tables go with it.
    let real = verchain::migrate::<Shapes>(&store, &RunOptions::default()).unwrap();
    let r = real.counts;
    assert_eq!(
        (r.changed, r.unchanged, r.created, r.removed),
        (c.changed, c.unchanged, c.created, c.removed)
    );
    let kept: i64 = connect(&url)
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_verchain\\_rows\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(kept, 0);
}

#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 2, name = "discarding")]
struct Discarding;

/// Changes a row, then drops the session's temporary tables.
#[migration(chain = Discarding, from = 1, to = 2)]
fn discard_temp(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute("UPDATE keyed SET v = 'changed' WHERE id = 1; DISCARD TEMP;")?;
    Ok(())
}

#[test]
fn a_step_that_drops_the_runs_temporary_tables_fails_the_diff_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = store("diff_discard", &dir) else {
        return;
    };
    let before = dump(&url, "public");
    let err = verchain::migrate::<Discarding>(&store, &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("DISCARD TEMP"), "{message}");
    assert!(message.contains("--no-diff"), "{message}");
    assert!(
        message.contains("`bag`") || message.contains("`keyed`"),
        "{message}"
    );
    assert_eq!(dump(&url, "public"), before, "the run changed nothing");

    // Without the diff, nothing is compared and the run commits.
    let no_diff = RunOptions {
        diff_limit: 0,
        ..RunOptions::default()
    };
    let report = verchain::migrate::<Discarding>(&store, &no_diff).unwrap();
    assert_eq!(report.target, 2);
    let v: String = connect(&url)
        .query_one("SELECT v FROM keyed WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, "changed");
}
