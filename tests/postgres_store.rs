//! The PostgreSQL store against a real server (a throw-away cluster the
//! test binary starts; see `verchain_tests::postgres_server`): the
//! `forms` chain migrated version by version to its golden dumps, dry
//! runs, snapshots and rollbacks, a run split around a step outside the
//! transaction, and every way a run can fail leaving the schema as it was.

use forms_example::{Forms, V1_SQL};
use verchain::postgres::postgres::{Client, Transaction};
use verchain::postgres::{PgError, PostgresStore};
use verchain::run::Outcome;
use verchain::{BoxError, Chain, ErrorKind, RollbackTo, RunOptions, Startup, migration};
use verchain_tests::postgres_db::{connect, create, dump};
use verchain_tests::sqlite_db::golden;

/// A new database `name` at the `forms` chain's v1, and its store (with
/// snapshots in `dir`); `None` where the binary has no server.
fn forms(name: &str, dir: &tempfile::TempDir) -> Option<(String, PostgresStore)> {
    let url = create(name, V1_SQL)?;
    let store = PostgresStore::new(&url)
        .unwrap()
        .snapshots_in(camino::Utf8Path::from_path(dir.path()).unwrap());
    Some((url, store))
}

fn to(version: u32) -> RunOptions {
    RunOptions {
        target: Some(version),
        ..RunOptions::default()
    }
}

#[test]
fn each_version_is_its_golden_dump_and_the_history_says_how_it_got_there() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("golden", &dir) else {
        return;
    };
    assert_eq!(
        dump(&url, "public"),
        golden("forms/v1.golden", &dump(&url, "public"))
    );
    for version in 2..=5 {
        let report = verchain::migrate::<Forms>(&store, &to(version)).unwrap();
        assert_eq!(report.target, version);
        let now = dump(&url, "public");
        assert_eq!(
            now,
            golden(&format!("forms/v{version}.golden"), &now),
            "v{version}"
        );
    }
    let history = verchain::history(&store).unwrap();
    let applied: Vec<(&str, Outcome)> = history
        .iter()
        .map(|r| (r.step.as_deref().unwrap_or("-"), r.outcome))
        .collect();
    assert_eq!(
        applied,
        [
            ("add_created_at_to_responses", Outcome::Applied),
            ("promote_contact_email", Outcome::Applied),
            ("index_contact_email", Outcome::Started),
            ("index_contact_email", Outcome::Applied),
            ("responses_to_v2", Outcome::Applied),
        ]
    );
    assert!(history.iter().all(|r| {
        r.checksum
            .as_deref()
            .is_some_and(|c| c.starts_with("v1:blake3:"))
    }));
    assert_eq!(
        history[0].counts.changed, 4,
        "four submissions had no created_at"
    );
    let status = verchain::status::<Forms>(&store).unwrap();
    assert_eq!(status.stamp, Some(5));
    assert!(status.pending.is_empty());
    assert!(matches!(
        verchain::run_startup::<Forms>(&store).unwrap(),
        Startup::UpToDate { version: 5 }
    ));
}

#[test]
fn a_dry_run_runs_the_steps_reports_tables_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("dry_run", &dir) else {
        return;
    };
    let before = dump(&url, "public");
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let report = verchain::migrate::<Forms>(&store, &options).unwrap();
    assert_eq!(dump(&url, "public"), before);
    assert!(verchain::history(&store).unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no snapshot"
    );
    // The plan shows the step that runs alone, which a dry run cannot run.
    let alone: Vec<(&str, bool)> = report.plan.iter().map(|s| (s.id, s.transaction)).collect();
    assert_eq!(
        alone,
        [
            ("add_created_at_to_responses", true),
            ("promote_contact_email", true),
            ("index_contact_email", false),
            ("responses_to_v2", true)
        ]
    );
    // Every submission gains a column; users and forms are as they were.
    assert_eq!(report.counts.changed, 5, "{:?}", report.counts);
    assert_eq!(report.counts.unchanged, 6);
    let tables: Vec<&str> = report.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(tables, ["submissions"]);
    let diff = report.changes[0].diff.as_deref().unwrap();
    assert!(
        diff.contains("# table `submissions`: 5 rows before, 5 after; 5 changed"),
        "{diff}"
    );
    assert!(diff.contains("+    \"contact_email\" text"), "{diff}");
    assert!(
        diff.contains("\"contact_email\":\"grace@example.org\""),
        "{diff}"
    );
    // What each step locked, as the server said inside the transaction:
    // the step that adds a column holds ACCESS EXCLUSIVE on its table
    // until the transaction ends; the updates before it, ROW EXCLUSIVE.
    let locks: Vec<(&str, &str, &str, &str)> = report
        .locks
        .iter()
        .map(|l| (l.step, l.table.as_str(), l.mode.as_str(), l.blocks))
        .collect();
    assert_eq!(
        locks,
        [
            (
                "add_created_at_to_responses",
                "submissions",
                "ROW EXCLUSIVE",
                "index builds and schema changes; reads and writes of other rows go on"
            ),
            // Its rows' foreign keys lock the rows they reference.
            (
                "promote_contact_email",
                "forms",
                "ROW SHARE",
                "schema changes and EXCLUSIVE locks; reads and writes go on"
            ),
            (
                "promote_contact_email",
                "submissions",
                "ACCESS EXCLUSIVE",
                "reads and writes"
            ),
            (
                "promote_contact_email",
                "users",
                "ROW SHARE",
                "schema changes and EXCLUSIVE locks; reads and writes go on"
            ),
        ]
    );
    assert!(report.locks[0].held >= report.locks[2].held);
    assert!(
        report.locks[2]
            .to_string()
            .starts_with("holds ACCESS EXCLUSIVE on `submissions` for "),
        "{}",
        report.locks[2]
    );
}

#[test]
fn a_rollback_restores_the_schema_exactly_and_can_itself_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("rollback", &dir) else {
        return;
    };
    let v1 = dump(&url, "public");
    let report = verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap();
    let snapshot = report.snapshot.expect("a snapshot before the run");
    assert!(dir.path().join(format!("{snapshot}.tar.zst")).is_file());
    let current = dump(&url, "public");
    // The application wrote meanwhile: the rollback puts v1 back as it was.
    connect(&url)
        .batch_execute("INSERT INTO users (email, name) VALUES ('new@example.org', 'New')")
        .unwrap();
    let undone =
        verchain::rollback::<Forms>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(dump(&url, "public"), v1);
    assert_eq!(undone.target, 1);
    let history = verchain::history(&store).unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.outcome, last.from, last.to),
        (Outcome::RolledBack, 5, 1)
    );
    assert_eq!(verchain::status::<Forms>(&store).unwrap().stamp, Some(1));
    // The schema as it was before the restore is a snapshot too.
    let before_restore = undone_snapshot(&last.description);
    verchain::rollback::<Forms>(
        &store,
        &RollbackTo::Snapshot(before_restore),
        &RunOptions::default(),
    )
    .unwrap();
    let back = dump(&url, "public");
    assert!(back.contains("new@example.org"), "{back}");
    assert_eq!(
        without_line(&back, "new@example.org").replace("users_id_seq at 4", "users_id_seq at 3"),
        current
    );
}

/// The snapshot a restore's history line names as the one before it.
fn undone_snapshot(description: &str) -> String {
    let (_, after) = description
        .split_once("is in snapshot ")
        .expect(description);
    after.trim().to_owned()
}

fn without_line(text: &str, containing: &str) -> String {
    text.lines()
        .filter(|l| !l.contains(containing))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A chain whose second step fails, or whose check fails, as a test asks.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 3, name = "broken")]
pub struct Broken;

/// Adds a table, which a failure later must take back.
#[migration(chain = Broken, from = 1, to = 2)]
fn add_table(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute("CREATE TABLE added (id int); UPDATE users SET name = upper(name)")?;
    Ok(())
}

/// Fails when the database says so.
#[migration(chain = Broken, from = 2, to = 3, verify = users_are_named)]
fn fail_when_told(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    let told: String = tx
        .query_one("SELECT current_setting('verchain.test')", &[])?
        .get(0);
    match told.as_str() {
        "fail" => Err("the step failed as told".into()),
        "sql" => {
            tx.batch_execute("SELECT * FROM no_such_table")?;
            Ok(())
        }
        _ => {
            tx.batch_execute("UPDATE users SET name = '' WHERE id = 1")?;
            Ok(())
        }
    }
}

/// Every user has a name.
fn users_are_named(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    let blank: i64 = tx
        .query_one("SELECT count(*) FROM users WHERE name = ''", &[])?
        .get(0);
    match blank {
        0 => Ok(()),
        n => Err(format!("{n} users have no name").into()),
    }
}

#[test]
fn a_failed_step_or_check_rolls_everything_back_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("failed_step", &dir) else {
        return;
    };
    let before = dump(&url, "public");
    for (told, said) in [
        (
            "fail",
            "step `fail_when_told` (v2 → v3) failed on postgres://",
        ),
        ("sql", "relation \"no_such_table\" does not exist"),
        (
            "check",
            "`verify` of step `fail_when_told` failed at v3: 1 users have no name",
        ),
    ] {
        connect(&url)
            .batch_execute(&format!(
                "ALTER DATABASE failed_step SET verchain.test = '{told}'"
            ))
            .unwrap();
        let error = verchain::migrate::<Broken>(&store, &RunOptions::default()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(said), "{told}: {message}");
        assert!(error.store_unchanged(), "{told}: {message}");
        assert_eq!(dump(&url, "public"), before, "{told}");
        assert!(verchain::history(&store).unwrap().is_empty(), "{told}");
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".tar.zst")
                })
                .count(),
            0,
            "{told}: the run's snapshot is removed"
        );
    }
}

/// A chain with a step outside the transaction between two inside it.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 4, name = "split")]
pub struct Split;

/// Adds a column.
#[migration(chain = Split, from = 1, to = 2)]
fn add_nickname(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute("ALTER TABLE users ADD COLUMN nickname text")?;
    Ok(())
}

/// Indexes it concurrently, failing once when a marker table exists.
#[migration(chain = Split, from = 2, to = 3, transaction = false)]
fn index_nickname(client: &mut Client) -> Result<(), BoxError> {
    let marked: bool = client
        .query_one("SELECT to_regclass('fail_once') IS NOT NULL", &[])?
        .get(0);
    if marked {
        client.batch_execute("DROP TABLE fail_once")?;
        return Err("the build failed as told".into());
    }
    client.batch_execute("DROP INDEX CONCURRENTLY IF EXISTS users_by_nickname")?;
    client.batch_execute("CREATE INDEX CONCURRENTLY users_by_nickname ON users (nickname)")?;
    Ok(())
}

/// Fills it.
#[migration(chain = Split, from = 3, to = 4)]
fn fill_nickname(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute("UPDATE users SET nickname = split_part(name, ' ', 1)")?;
    Ok(())
}

#[test]
fn a_run_split_around_a_step_outside_the_transaction_says_how_far_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("split", &dir) else {
        return;
    };
    connect(&url)
        .batch_execute("CREATE TABLE fail_once ()")
        .unwrap();
    let error = verchain::migrate::<Split>(&store, &RunOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("its first parts committed (add_nickname), leaving the store at v2"),
        "{message}"
    );
    assert!(message.contains("the build failed as told"), "{message}");
    assert!(!error.store_unchanged());
    let status = verchain::status::<Forms>(&store).unwrap();
    assert_eq!(status.stamp, Some(2));
    let last = status.last_run.unwrap();
    assert_eq!(last.outcome, Outcome::Started);
    assert_eq!(last.steps, ["add_nickname", "index_nickname"]);
    // The next run goes on from v2: the step alone, then the rest.
    let report = verchain::migrate::<Split>(&store, &RunOptions::default()).unwrap();
    assert_eq!(report.store_version, Some(2));
    let now = dump(&url, "public");
    assert!(now.contains("CREATE INDEX users_by_nickname"), "{now}");
    assert!(now.contains("\"nickname\":\"Ada\""), "{now}");
    let snapshots: Vec<_> = verchain::history(&store)
        .unwrap()
        .iter()
        .filter(|r| r.run_id == report.run_id)
        .map(|r| (r.step.clone().unwrap(), r.outcome, r.snapshot.clone()))
        .collect();
    let taken = report.snapshot.clone();
    assert!(taken.is_some());
    assert_eq!(
        snapshots,
        [
            ("index_nickname".to_owned(), Outcome::Started, None),
            ("index_nickname".to_owned(), Outcome::Applied, taken.clone()),
            ("fill_nickname".to_owned(), Outcome::Applied, taken),
        ]
    );
}

#[test]
fn a_lock_held_elsewhere_times_out_naming_its_holder_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("locked", &dir) else {
        return;
    };
    let before = dump(&url, "public");
    let (namespace, key) = store.lock_key("forms");
    let mut holder = connect(&url);
    holder
        .batch_execute("SET application_name = 'deploy of forms on web-3'")
        .unwrap();
    holder
        .execute("SELECT pg_advisory_lock($1, $2)", &[&namespace, &key])
        .unwrap();
    let options = RunOptions {
        wait: std::time::Duration::from_millis(300),
        ..RunOptions::default()
    };
    let started = std::time::Instant::now();
    let error = verchain::migrate::<Forms>(&store, &options).unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let ErrorKind::Locked { owner, .. } = &*error.kind else {
        panic!("{error}")
    };
    assert!(owner.contains("`deploy of forms on web-3`"), "{owner}");
    assert!(owner.contains("server process"), "{owner}");
    assert_eq!(dump(&url, "public"), before);
    drop(holder);
    verchain::migrate::<Forms>(&store, &options).expect("free once the holder is gone");
}

#[test]
fn a_refused_connection_and_a_wrong_password_are_clear_errors() {
    let Some(server) = verchain_tests::postgres_server::shared() else {
        return;
    };
    let nowhere = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@{}/forms",
        verchain_tests::postgres_server::percent_encode(nowhere.path().to_str().unwrap())
    );
    let store = PostgresStore::new(&url).unwrap();
    let error = verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("cannot connect to postgres://postgres@"),
        "{message}"
    );
    assert!(error.kind.store_error::<PgError>().is_some(), "{message}");
    assert!(error.store_unchanged());
    let Some(cluster) = server.cluster() else {
        return;
    };
    let url = server.database("wrong_password");
    connect(&url)
        .batch_execute(
            "DROP ROLE IF EXISTS verchain_password; \
             CREATE ROLE verchain_password LOGIN PASSWORD 'right'",
        )
        .unwrap();
    let wrong = cluster
        .url("wrong_password")
        .replace("postgres@", "verchain_password:wrong@");
    let error = verchain::status::<Forms>(&PostgresStore::new(&wrong).unwrap()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(
        !message.contains(":wrong@"),
        "the password is never said: {message}"
    );
}

#[test]
fn without_a_snapshot_the_history_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_url, store)) = forms("no_snapshot", &dir) else {
        return;
    };
    let options = RunOptions {
        no_snapshot: true,
        ..RunOptions::default()
    };
    let report = verchain::migrate::<Forms>(&store, &options).unwrap();
    assert_eq!(report.snapshot, None);
    assert!(!dir.path().exists() || std::fs::read_dir(dir.path()).unwrap().count() == 0);
    let history = verchain::history(&store).unwrap();
    assert!(
        history
            .iter()
            .all(|r| r.description.starts_with("RUN WITH --no-snapshot"))
    );
    assert!(
        verchain::status::<Forms>(&store)
            .unwrap()
            .last_run
            .unwrap()
            .no_snapshot
    );
}

#[test]
fn a_schema_other_than_public_is_migrated_and_its_steps_find_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!("CREATE SCHEMA app; SET search_path = app; {V1_SQL}");
    let Some(url) = create("other_schema", &sql) else {
        return;
    };
    let store = PostgresStore::new(&url)
        .unwrap()
        .schema("app")
        .snapshots_in(camino::Utf8Path::from_path(dir.path()).unwrap());
    verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap();
    let v5 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/forms/v5.golden"
    ))
    .unwrap();
    assert_eq!(dump(&url, "app"), v5.replace("public.", "app."));
    verchain::rollback::<Forms>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/forms/v1.golden"
    ))
    .unwrap();
    assert_eq!(dump(&url, "app"), v1.replace("public.", "app."));
}

/// A chain whose one step says it needs no backup.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 2, name = "light")]
pub struct Light;

/// Adds a table of its own.
#[migration(chain = Light, from = 1, to = 2, backup_required = false)]
fn add_light_table(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    tx.batch_execute("CREATE TABLE light (id int)")?;
    Ok(())
}

#[test]
fn a_plan_whose_every_step_needs_no_backup_takes_no_snapshot_as_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let Some((url, store)) = forms("light", &dir) else {
        return;
    };
    let report = verchain::migrate::<Light>(&store, &RunOptions::default()).unwrap();
    assert!(report.skips_snapshot);
    assert_eq!(report.snapshot, None);
    assert!(verchain::snapshots(&store).unwrap().is_empty());
    let mut client = connect(&url);
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'light'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "the step committed");
    let history = verchain::history(&store).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].snapshot, None);
    assert_eq!(history[0].outcome, Outcome::Applied);
}
