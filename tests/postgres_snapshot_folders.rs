//! Where a PostgreSQL store's snapshots go, against a real server (and a
//! second one the test starts): the same database on two servers has a
//! folder each, so pruning one leaves the other's rollback; a snapshot an
//! earlier release took in the folder named by database and schema alone
//! is still found by the rollback.

use forms_example::{Forms, V1_SQL};
use verchain::postgres::PostgresStore;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::postgres_db::{create, dump};

/// The `forms` chain's v1 as database `name` at `url`'s server, built.
fn build(url: &str) {
    verchain_tests::postgres_db::connect(url)
        .batch_execute(V1_SQL)
        .unwrap();
}

#[test]
fn the_same_database_on_two_servers_keeps_its_snapshots_apart() {
    use verchain_tests::postgres_server::{Cluster, shared};
    let Some(first) = shared() else {
        return;
    };
    if first.cluster().is_none() {
        return; // a server of the user's own: no second one to start
    }
    let second = Cluster::start_in(None).unwrap();
    let state = tempfile::tempdir().unwrap();
    let root = camino::Utf8Path::from_path(state.path()).unwrap();
    let here = first.database("twin");
    build(&here);
    let there = {
        let admin = second.url("postgres");
        verchain_tests::postgres_db::connect(&admin)
            .batch_execute("CREATE DATABASE twin")
            .unwrap();
        let url = second.url("twin");
        build(&url);
        url
    };
    let open = |url: &str| PostgresStore::new(url).unwrap().state_under(root);
    let (a, b) = (open(&here), open(&there));
    assert_ne!(a.snapshot_dir(), b.snapshot_dir());
    let before = dump(&here, "public");
    verchain::migrate::<Forms>(&a, &RunOptions::default()).unwrap();
    verchain::migrate::<Forms>(&b, &RunOptions::default()).unwrap();
    // Pruning the other server's snapshots leaves this one's rollback.
    let pruned = verchain::prune_snapshots::<Forms>(&b, 0).unwrap();
    assert_eq!(pruned.len(), 1);
    assert_eq!(verchain::snapshots(&a).unwrap().len(), 1);
    verchain::rollback::<Forms>(&a, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(dump(&here, "public"), before);
}

#[test]
fn a_snapshot_taken_in_the_folder_named_without_the_server_still_rolls_back() {
    let Some(url) = create("former_folder", V1_SQL) else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let root = camino::Utf8Path::from_path(state.path()).unwrap();
    let store = PostgresStore::new(&url).unwrap().state_under(root);
    let before = dump(&url, "public");
    verchain::migrate::<Forms>(&store, &RunOptions::default()).unwrap();
    // As an earlier release left it: `.verchain/postgres/<database>.<schema>/`.
    let now = store.snapshot_dir();
    let former = root.join(".verchain/postgres/former_folder.public/snapshots");
    std::fs::create_dir_all(former.parent().unwrap()).unwrap();
    std::fs::rename(&now, &former).unwrap();
    verchain::rollback::<Forms>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(dump(&url, "public"), before);
}
