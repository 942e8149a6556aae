//! The example chains and their demo stores: working copies of
//! `fixtures/<chain>/v1` under `target/verchain-demo/` (for the SQLite
//! chain, a database built from `fixtures/agentdb/v1.sql`; for the
//! PostgreSQL chain, a database on a server of the demo's own, see
//! `demo_postgres.rs`), so trying the command line never touches tracked
//! files.

use std::fs;
use std::path::{Path, PathBuf};

use agentdb_example::AgentDb;
use anyhow::{Context, Result};
use audit_example::Audit;
use camino::Utf8PathBuf;
use config_example::Config;
use forms_example::Forms;
use notes_example::Notes;
use verchain::cli::ChainEntry;

use crate::demo_postgres::{self, DemoServer};

/// The example chains' names, which are also their fixture folders.
const CHAINS: [&str; 3] = ["notes", "config", "audit"];

/// Names another folder for the demo stores.
const DEMO_DIR_ENV: &str = "VERCHAIN_DEMO_DIR";

/// The demo database's file name, in `target/verchain-demo/agentdb/`.
const DATABASE: &str = "agent.db";

/// The example chains, each with its demo store as the default store; the
/// PostgreSQL chain where `postgres` has its database.
pub fn chains(postgres: Option<&Postgres>) -> Result<Vec<Box<dyn ChainEntry>>> {
    let mut chains = vec![
        verchain::cli::chain::<Notes>(demo_store("notes")?),
        verchain::cli::chain::<Config>(demo_store("config")?),
        verchain::cli::sqlite_chain::<AgentDb>(demo_store("agentdb")?.join(DATABASE)),
        verchain::cli::log_chain::<Audit>(demo_store("audit")?.join("audit.jsonl")),
    ];
    // Only the demo's own database keeps its snapshots in the demo's
    // folder, which `demo reset` removes; any other (`--store`,
    // VERCHAIN_DEMO_POSTGRES_URL) keeps them where the library does, in
    // `.verchain/postgres/` under the current folder.
    match postgres {
        Some(Postgres::Server(server)) if server.is_own() => {
            let state = demo_store("forms")?;
            chains.push(verchain::cli::postgres_chain_with::<Forms>(
                server.url.clone(),
                move |store| store.state_under(state.clone()),
            ));
        }
        Some(Postgres::Server(server)) => {
            chains.push(verchain::cli::postgres_chain::<Forms>(server.url.clone()));
        }
        Some(Postgres::Given) => {
            chains.push(verchain::cli::postgres_chain::<Forms>(
                "postgres://given-by-store",
            ));
        }
        None => {}
    }
    Ok(chains)
}

/// What the PostgreSQL chain runs on in this command.
pub enum Postgres {
    /// The demo's database, its server started for the command.
    Server(DemoServer),
    /// The database `--store` names.
    Given,
}

/// The PostgreSQL chain's database for the command with `args`: none when
/// it names another chain (`--chain`), the one `--store` names, or the
/// demo's, its server started for the command, where one can be had.
pub fn postgres(args: &[String]) -> Option<Postgres> {
    let value = |flag: &str| -> Option<String> {
        let prefix = format!("{flag}=");
        args.iter()
            .enumerate()
            .find_map(|(i, a)| match a.strip_prefix(&prefix) {
                Some(value) => Some(value.to_owned()),
                None if a == flag => args.get(i + 1).cloned(),
                None => None,
            })
    };
    if let Some(chain) = value("--chain")
        && !chain.eq_ignore_ascii_case("forms")
    {
        return None;
    }
    if value("--chain").is_some() && value("--store").is_some() {
        return Some(Postgres::Given);
    }
    demo_postgres::start(&demo_root().join("forms")).map(Postgres::Server)
}

/// Creates the demo stores that do not exist yet.
///
/// Several commands may start at once (tests run the command line in
/// parallel), so each store is built under a private name and then
/// published with a call that fails if another process got there first;
/// the loser discards its copy. No process ever sees a half-built store.
pub fn ensure() -> Result<()> {
    let root = demo_root();
    for name in CHAINS {
        let copy = root.join(name);
        if !copy.exists() {
            let building = building(&root, name)?;
            copy_dir(&fixtures().join(name).join("v1"), building.path())?;
            if publish_dir(building.path(), &copy)? {
                eprintln!("created {} from fixtures/{name}/v1", copy.display());
            }
        }
    }
    let database = root.join("agentdb").join(DATABASE);
    if !database.exists() {
        let folder = root.join("agentdb");
        fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let building = building(&folder, DATABASE)?;
        let scratch = building.path().join(DATABASE);
        let conn = verchain::sqlite::rusqlite::Connection::open(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        conn.execute_batch(agentdb_example::V1_SQL)
            .with_context(|| {
                format!(
                    "building {} from fixtures/agentdb/v1.sql",
                    scratch.display()
                )
            })?;
        drop(conn);
        // A hard link, unlike a rename, never replaces a file already there.
        match fs::hard_link(&scratch, &database) {
            Ok(()) => eprintln!(
                "created {} from fixtures/agentdb/v1.sql",
                database.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", database.display()));
            }
        }
    }
    Ok(())
}

/// A private folder under `parent` to build a store in, removed when dropped.
fn building(parent: &Path, name: &str) -> Result<tempfile::TempDir> {
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(&format!(".{name}.building."))
        .tempdir_in(parent)
        .with_context(|| format!("creating a folder in {}", parent.display()))
}

/// Renames the built folder to `to`; false when another process published
/// it first (a rename never replaces a folder that has entries).
fn publish_dir(built: &Path, to: &Path) -> Result<bool> {
    match fs::rename(built, to) {
        Ok(()) => Ok(true),
        Err(_) if to.is_dir() => Ok(false),
        Err(e) => Err(e).with_context(|| format!("creating {}", to.display())),
    }
}

/// `cargo xtask demo reset`: the demo stores anew from the fixtures.
pub fn reset() -> Result<()> {
    let root = demo_root();
    demo_postgres::stop(&root.join("forms"));
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    ensure()
}

fn demo_store(name: &str) -> Result<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(demo_root().join(name))
        .map_err(|p| anyhow::anyhow!("{} is not UTF-8", p.display()))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `target/verchain-demo/`, or the folder `VERCHAIN_DEMO_DIR` names (so
/// tests can start from no demo stores without disturbing each other).
fn demo_root() -> PathBuf {
    std::env::var_os(DEMO_DIR_ENV).map_or_else(
        || workspace_root().join("target/verchain-demo"),
        PathBuf::from,
    )
}

fn fixtures() -> PathBuf {
    workspace_root().join("fixtures")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
