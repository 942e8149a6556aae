//! The example chains and their demo stores: working copies of
//! `fixtures/<chain>/v1` under `target/verchain-demo/` (for the SQLite
//! chain, a database built from `fixtures/agentdb/v1.sql`), so trying the
//! command line never touches tracked files.

use std::fs;
use std::path::{Path, PathBuf};

use agentdb_example::AgentDb;
use anyhow::{Context, Result};
use audit_example::Audit;
use camino::Utf8PathBuf;
use config_example::Config;
use notes_example::Notes;
use verchain::cli::ChainEntry;

/// The example chains' names, which are also their fixture folders.
const CHAINS: [&str; 3] = ["notes", "config", "audit"];

/// The demo database's file name, in `target/verchain-demo/agentdb/`.
const DATABASE: &str = "agent.db";

/// The example chains, each with its demo store as the default store.
pub fn chains() -> Result<Vec<Box<dyn ChainEntry>>> {
    Ok(vec![
        verchain::cli::chain::<Notes>(demo_store("notes")?),
        verchain::cli::chain::<Config>(demo_store("config")?),
        verchain::cli::sqlite_chain::<AgentDb>(demo_store("agentdb")?.join(DATABASE)),
        verchain::cli::jsonl_chain::<Audit>(demo_store("audit")?.join("audit.jsonl")),
    ])
}

/// Creates the demo stores that do not exist yet.
pub fn ensure() -> Result<()> {
    for name in CHAINS {
        let copy = demo_root().join(name);
        if !copy.exists() {
            copy_dir(&fixtures().join(name).join("v1"), &copy)?;
            eprintln!("created {} from fixtures/{name}/v1", copy.display());
        }
    }
    let database = demo_root().join("agentdb").join(DATABASE);
    if !database.exists() {
        fs::create_dir_all(database.parent().unwrap_or(&demo_root()))?;
        let conn = verchain::sqlite::rusqlite::Connection::open(&database)
            .with_context(|| format!("creating {}", database.display()))?;
        conn.execute_batch(agentdb_example::V1_SQL)
            .with_context(|| {
                format!(
                    "building {} from fixtures/agentdb/v1.sql",
                    database.display()
                )
            })?;
        eprintln!(
            "created {} from fixtures/agentdb/v1.sql",
            database.display()
        );
    }
    Ok(())
}

/// `cargo xtask demo reset`: the demo stores anew from the fixtures.
pub fn reset(args: &[String]) -> Result<()> {
    anyhow::ensure!(
        args == ["reset"],
        "usage: cargo xtask demo reset (recreates target/verchain-demo/ from fixtures/)"
    );
    let root = demo_root();
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

fn demo_root() -> PathBuf {
    workspace_root().join("target/verchain-demo")
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
