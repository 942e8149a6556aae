//! The demo's PostgreSQL server, for the `forms` chain: a cluster of its
//! own in `target/verchain-demo/forms/cluster/` (made with `initdb` on
//! first use, listening only on a Unix socket there), started for the
//! command and stopped when it ends; or the database that
//! `VERCHAIN_DEMO_POSTGRES_URL` names. Commands that use it take turns
//! (a lock file beside the cluster). Where no server can be had, the demo
//! goes on without the chain and says in one line how to include it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use verchain::postgres::postgres::{Client, NoTls};

#[allow(dead_code)]
#[path = "../../tests/src/postgres_server.rs"]
pub(crate) mod server;

/// Leaves the chain out of the demo, without a word.
const OFF_ENV: &str = "VERCHAIN_DEMO_POSTGRES";
/// A database of the user's own for the demo.
const URL_ENV: &str = "VERCHAIN_DEMO_POSTGRES_URL";

/// The demo's database, while a command uses it: stops the demo's server
/// when dropped.
pub struct DemoServer {
    pub url: String,
    cluster: Option<server::Cluster>,
    _turn: Option<File>,
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let _ = cluster.stop();
        }
    }
}

/// The demo's database at `folder` (`target/verchain-demo/forms`), its
/// server started and the chain's v1 loaded on first use; `None`, after a
/// line on stderr saying how to include it, where none can be had.
pub fn start(folder: &Path) -> Option<DemoServer> {
    if std::env::var(OFF_ENV).is_ok_and(|v| v == "off") {
        return None;
    }
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.is_empty()
    {
        return Some(DemoServer {
            url,
            cluster: None,
            _turn: None,
        });
    }
    match own(folder) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!(
                "note: the PostgreSQL chain `forms` is left out: {e:#}; install PostgreSQL \
                 (Debian: apt-get install postgresql) or set {URL_ENV}=postgres://… to include it"
            );
            None
        }
    }
}

/// The demo's own cluster, made and loaded on first use, started.
fn own(folder: &Path) -> Result<DemoServer> {
    fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let turn_path = folder.join("cluster.lock");
    let turn =
        File::create(&turn_path).with_context(|| format!("creating {}", turn_path.display()))?;
    turn.lock()
        .with_context(|| format!("locking {}", turn_path.display()))?;
    let root = cluster_dir(folder);
    let fresh = !root.join("data").join("PG_VERSION").exists();
    if fresh && root.exists() {
        // A cluster whose `initdb` did not finish.
        fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    let cluster = match fresh {
        true => server::Cluster::create_at(&root),
        false => server::Cluster::reopen(&root),
    }
    .map_err(anyhow::Error::msg)?;
    if !cluster.running() {
        cluster.start().map_err(anyhow::Error::msg)?;
    }
    let url = cluster.url("forms");
    let server = DemoServer {
        url,
        cluster: Some(cluster),
        _turn: Some(turn),
    };
    let mut admin = connect(&server.cluster_url("postgres"))?;
    let exists: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'forms')",
            &[],
        )?
        .get(0);
    if !exists {
        admin.batch_execute("CREATE DATABASE forms")?;
        connect(&server.url)?
            .batch_execute(forms_example::V1_SQL)
            .context("building the demo database from fixtures/forms/v1.sql")?;
        eprintln!("created the PostgreSQL database `forms` from fixtures/forms/v1.sql");
    }
    Ok(server)
}

impl DemoServer {
    /// Whether this is the demo's own server (not one
    /// `VERCHAIN_DEMO_POSTGRES_URL` names).
    pub fn is_own(&self) -> bool {
        self.cluster.is_some()
    }

    fn cluster_url(&self, db: &str) -> String {
        self.cluster
            .as_ref()
            .map_or_else(|| self.url.clone(), |c| c.url(db))
    }
}

fn connect(url: &str) -> Result<Client> {
    Client::connect(url, NoTls).with_context(|| format!("connecting to {url}"))
}

fn cluster_dir(folder: &Path) -> PathBuf {
    folder.join("cluster")
}

/// Stops the demo's server in `folder`, if it runs (before the demo's
/// folder is removed).
pub fn stop(folder: &Path) {
    let root = cluster_dir(folder);
    if let Ok(cluster) = server::Cluster::reopen(&root)
        && root.join("data").exists()
        && cluster.running()
    {
        let _ = cluster.stop();
    }
}
