//! Properties of runs over arbitrary SQLite databases (NULLs, unicode,
//! large blobs, JSON objects, foreign keys): migrate then roll back, by
//! restoring the snapshot or with `down` steps, gives back the same
//! logical content (every row and `sqlite_schema`) and a database that
//! passes `integrity_check`; a dry run leaves every byte.

use std::fs;
use std::path::Path;

use camino::Utf8Path;
use proptest::prelude::*;
use verchain::sqlite::rusqlite::types::Value;
use verchain::sqlite::rusqlite::{Connection, Transaction, params_from_iter};
use verchain::sqlite::{SqliteStore, add_json_default, rebuild_table};
use verchain::{BoxError, Chain, RollbackTo, RunOptions, migration};
use verchain_tests::sqlite_db::{dump, integrity};

const ITEMS_V1: &str = "CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    label TEXT,
    data BLOB,
    score REAL,
    meta TEXT NOT NULL
)";

const ITEMS_V2: &str = "CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    label TEXT,
    data BLOB,
    score REAL,
    meta TEXT NOT NULL,
    flag INTEGER NOT NULL DEFAULT 0
)";

const ITEMS_V3: &str = "CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    label TEXT,
    data BLOB,
    score REAL,
    meta TEXT NOT NULL,
    flag INTEGER NOT NULL DEFAULT 0,
    label_chars INTEGER
)";

/// Rebuilds, reversible, then a JSON default, which is not.
#[derive(Chain)]
#[chain(record = verchain::sqlite::Sql, base = 1, current = 4, name = "items")]
pub struct Items;

/// Adds `flag`, by rebuilding `items`.
#[migration(chain = Items, from = 1, to = 2, down = unflag)]
fn flag(tx: &Transaction) -> Result<(), BoxError> {
    rebuild_table(tx, "items", ITEMS_V2, &[])?;
    Ok(())
}

fn unflag(tx: &Transaction) -> Result<(), BoxError> {
    rebuild_table(tx, "items", ITEMS_V1, &[])?;
    Ok(())
}

/// Adds `label_chars`, computed from `label`.
#[migration(chain = Items, from = 2, to = 3, down = uncount)]
fn count_chars(tx: &Transaction) -> Result<(), BoxError> {
    rebuild_table(tx, "items", ITEMS_V3, &[("label_chars", "length(label)")])?;
    Ok(())
}

fn uncount(tx: &Transaction) -> Result<(), BoxError> {
    rebuild_table(tx, "items", ITEMS_V2, &[])?;
    Ok(())
}

/// Sets `seen` in every item's `meta` where missing.
#[migration(chain = Items, from = 3, to = 4)]
fn mark_seen(tx: &Transaction) -> Result<(), BoxError> {
    add_json_default(tx, "items", "meta", "seen", false)?;
    Ok(())
}

#[derive(Debug, Clone)]
struct Item {
    label: Option<String>,
    data: Option<Vec<u8>>,
    score: Option<f64>,
    meta: String,
    tags: Vec<String>,
}

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i32>().prop_map(serde_json::Value::from),
        "[a-z éü日本🎉\"\\\\]{0,8}".prop_map(serde_json::Value::from),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        proptest::option::of("[a-zA-Z0-9 éü日本🎉'\"\n-]{0,24}"),
        proptest::option::of(prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            // A large blob, several pages long.
            (any::<u8>(), 20_000usize..70_000).prop_map(|(b, n)| vec![b; n]),
        ]),
        proptest::option::of(prop_oneof![
            any::<f64>().prop_filter("not NaN", |f| !f.is_nan())
        ]),
        prop::collection::btree_map("[a-z]{1,5}|seen", json_scalar(), 0..4),
        prop::collection::vec("[a-z日本]{1,6}", 0..3),
    )
        .prop_map(|(label, data, score, meta, tags)| Item {
            label,
            data,
            score,
            meta: serde_json::to_string(&meta).expect("json"),
            tags,
        })
}

/// A database with `items` and `tags` (each tag references an item), and
/// an index and a trigger on `items` that rebuilds must carry over.
fn build(items: &[Item], wal: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("items.db");
    let mut conn = Connection::open(&path).expect("create");
    if wal {
        conn.execute_batch("PRAGMA journal_mode = WAL")
            .expect("wal");
    }
    conn.execute_batch(&format!(
        "PRAGMA user_version = 1;
         {ITEMS_V1};
         CREATE INDEX items_by_label ON items(label);
         CREATE TRIGGER items_meta_is_json BEFORE UPDATE OF meta ON items
         WHEN json_valid(NEW.meta) = 0 BEGIN SELECT RAISE(ABORT, 'meta must be JSON'); END;
         CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT NOT NULL);"
    ))
    .expect("schema");
    let tx = conn.transaction().expect("tx");
    for (i, item) in items.iter().enumerate() {
        let id = i64::try_from(i).expect("id") * 3 + 1;
        tx.execute(
            "INSERT INTO items VALUES (?1, ?2, ?3, ?4, ?5)",
            params_from_iter([
                Value::Integer(id),
                item.label.clone().map_or(Value::Null, Value::Text),
                item.data.clone().map_or(Value::Null, Value::Blob),
                item.score.map_or(Value::Null, Value::Real),
                Value::Text(item.meta.clone()),
            ]),
        )
        .expect("insert item");
        for tag in &item.tags {
            tx.execute("INSERT INTO tags VALUES (?1, ?2)", (id, tag))
                .expect("insert tag");
        }
    }
    tx.commit().expect("commit");
    (dir, path)
}

fn store(path: &Path) -> SqliteStore {
    SqliteStore::new(Utf8Path::from_path(path).expect("utf-8 path"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn migrate_then_restore_gives_back_the_same_content(
        items in prop::collection::vec(item(), 0..12),
        wal in any::<bool>(),
    ) {
        let (_dir, path) = build(&items, wal);
        let original = dump(&path);
        let s = store(&path);
        let report = verchain::migrate::<Items>(&s, &RunOptions::default()).unwrap();
        prop_assert_eq!(report.plan.len(), 3);
        prop_assert!(dump(&path).contains("label_chars INTEGER"));
        verchain::rollback::<Items>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
        prop_assert_eq!(dump(&path), original);
        prop_assert_eq!(integrity(&path), "ok");
    }

    #[test]
    fn migrate_then_down_steps_give_back_the_same_content(
        items in prop::collection::vec(item(), 0..12),
    ) {
        let (_dir, path) = build(&items, false);
        let original = dump(&path);
        let s = store(&path);
        let options = RunOptions { target: Some(3), ..RunOptions::default() };
        verchain::migrate::<Items>(&s, &options).unwrap();
        prop_assert_ne!(dump(&path), original.clone());
        let back = verchain::rollback::<Items>(&s, &RollbackTo::Version(1), &RunOptions::default())
            .unwrap();
        prop_assert_eq!(
            back.plan.iter().map(|p| p.id).collect::<Vec<_>>(),
            ["count_chars", "flag"]
        );
        prop_assert_eq!(dump(&path), original);
        prop_assert_eq!(integrity(&path), "ok");
    }

    #[test]
    fn a_dry_run_leaves_every_byte(items in prop::collection::vec(item(), 0..12)) {
        let (_dir, path) = build(&items, false);
        let bytes = fs::read(&path).unwrap();
        let report = verchain::migrate::<Items>(&store(&path), &RunOptions {
            dry_run: true,
            ..RunOptions::default()
        })
        .unwrap();
        let tags: usize = items.iter().map(|i| i.tags.len()).sum();
        prop_assert_eq!(report.counts.unchanged, tags);
        prop_assert_eq!(report.counts.changed, items.len(), "every item gains columns");
        prop_assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}
