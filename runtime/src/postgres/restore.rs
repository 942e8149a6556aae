//! Rolling a PostgreSQL schema back to a snapshot, in one transaction.
//!
//! The archive is verified against its manifest and extracted to a hidden
//! folder beside it; then, in one transaction: the schema as it is now is
//! snapshotted (so the restore can itself be undone), its tables, views,
//! sequences and enum types are dropped (never the history, which keeps
//! every run and records the restore), `pre-data.sql` runs, each table's
//! rows are loaded with `COPY … FROM STDIN (FORMAT binary)`, and
//! `post-data.sql` runs. The report's diff compares the schema before and
//! after inside that transaction; a dry run then rolls it back. What a
//! drop would break (a foreign key from another schema) is refused when a
//! snapshot is taken (`ddl/refuse.rs`), the one the restore takes first
//! included, so the restore fails before it changes anything.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use postgres::Transaction;

use super::diff;
use super::error::PgError;
use super::history::TABLE as HISTORY;
use super::record::Pg;
use super::snapshot::{self, Contents, POST_DATA, PRE_DATA, TABLES};
use super::sql::qualified;
use super::store::{PostgresStore, Session};
use super::tx;
use crate::run::store::{Failed, Restoring, SnapshotEntry, Taken};
use crate::run::{ErrorKind, HistoryRecord, Run, io};

/// A restore done inside its transaction, not yet committed.
pub struct Staged<'s> {
    tx: Transaction<'s>,
    /// The snapshot of the schema from before the restore (a real run).
    before: Option<String>,
}

/// Verifies snapshot `entry` and restores it inside a transaction.
pub(super) fn stage<'s>(
    store: &PostgresStore,
    session: &'s mut Session,
    run: &Run<'_, Pg>,
    entry: &SnapshotEntry,
) -> Result<(Staged<'s>, Restoring), ErrorKind> {
    let manifest = crate::snapshot::verify(&entry.path)?;
    let scratch = scratch_dir(&store.snapshot_dir())?;
    let result = stage_from(store, session, run, entry, &scratch, manifest.from_version);
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// Extracts snapshot `entry` into `scratch` and restores it inside a
/// transaction; `to` is the version it was taken at.
fn stage_from<'s>(
    store: &PostgresStore,
    session: &'s mut Session,
    run: &Run<'_, Pg>,
    entry: &SnapshotEntry,
    scratch: &Utf8Path,
    to: u32,
) -> Result<(Staged<'s>, Restoring), ErrorKind> {
    let dir = store.snapshot_dir();
    {
        crate::snapshot::extract(&entry.path, scratch)?;
        let contents = read_contents(scratch, &entry.path)?;
        if contents.schema != store.schema_name() {
            return Err(PgError::SnapshotDamaged {
                path: entry.path.clone(),
                reason: format!(
                    "it is a snapshot of schema `{}`, not of `{}`",
                    contents.schema,
                    store.schema_name()
                ),
            }
            .into());
        }
        let client = session.client()?;
        let version = super::history::version(client, store.schema_name())?;
        let mut tx = tx::begin(store, client)?;
        let samples = run.options.diff_limit;
        let now = diff::capture(&mut tx, store.schema_name(), samples)?;
        let before = if run.dry_run() {
            None
        } else {
            run.snapshot_started(1);
            let from = version.unwrap_or(run.chain.base);
            let info = snapshot::create(
                &mut tx,
                store.schema_name(),
                &dir,
                run.chain.name,
                run.id(),
                from,
                to,
            )?;
            Some(info.id)
        };
        let put_back = (|| {
            drop_objects(&mut tx, store.schema_name())?;
            load(&mut tx, scratch, &contents)
        })();
        if let Err(e) = put_back {
            if let Some(id) = &before {
                remove_snapshot(store, id);
            }
            return Err(e);
        }
        let then = diff::after(&mut tx, store.schema_name(), samples, &now)?;
        let (changes, counts) = diff::changes(&now, &then, samples > 0);
        let restoring = Restoring {
            from: version.or(Some(run.chain.base)),
            to,
            records: 1,
            counts,
            changes,
        };
        Ok((Staged { tx, before }, restoring))
    }
}

impl Staged<'_> {
    /// The snapshot of the schema from before the restore.
    pub(super) fn before(&self) -> Option<Taken> {
        self.before.clone().map(|id| Taken { id, files: 1 })
    }

    /// Records the restore in the history and commits.
    pub(super) fn commit(
        self,
        store: &PostgresStore,
        records: &[HistoryRecord],
    ) -> Result<(), Failed> {
        tx::commit(store, self.tx, records)
    }

    /// Rolls the restore back; returns the snapshot taken before it, now
    /// of no use.
    pub(super) fn discard(self) -> Option<String> {
        drop(self.tx);
        self.before
    }
}

/// A new hidden folder beside the snapshots to extract one into.
fn scratch_dir(dir: &Utf8Path) -> Result<Utf8PathBuf, ErrorKind> {
    crate::fsio::create_dir_all(dir).map_err(io("create", dir))?;
    for n in 0u32.. {
        let path = dir.join(format!(".restore-{}-{n}", std::process::id()));
        if !path.exists() {
            return Ok(path);
        }
    }
    Err(io("create", dir)(io::Error::other("no free name")))
}

fn read_contents(scratch: &Utf8Path, archive: &Utf8Path) -> Result<Contents, ErrorKind> {
    let path = scratch.join(TABLES);
    let text = fs::read_to_string(&path).map_err(|e| PgError::SnapshotDamaged {
        path: archive.to_owned(),
        reason: format!("it has no readable `{TABLES}`: {e}"),
    })?;
    let contents: Contents = serde_json::from_str(&text).map_err(|e| PgError::SnapshotDamaged {
        path: archive.to_owned(),
        reason: format!("`{TABLES}` line {}: {e}", e.line()),
    })?;
    for table in &contents.tables {
        let plain = table.file.starts_with("data/")
            && !table.file.contains("..")
            && scratch.join(&table.file).is_file();
        if !plain {
            return Err(PgError::SnapshotDamaged {
                path: archive.to_owned(),
                reason: format!("`{TABLES}` names `{}`, which it does not hold", table.file),
            }
            .into());
        }
    }
    Ok(contents)
}

/// Drops what a snapshot re-creates: the schema's views, tables (but the
/// history), sequences and enum types.
fn drop_objects(tx: &mut Transaction<'_>, schema: &str) -> Result<(), ErrorKind> {
    let names = |tx: &mut Transaction<'_>, sql: &str| -> Result<Vec<String>, PgError> {
        Ok(tx
            .query(sql, &[&schema, &HISTORY])
            .map_err(PgError::sql(format!(
                "list the objects of schema `{schema}`"
            )))?
            .iter()
            .map(|r| qualified(schema, r.get::<_, &str>(0)))
            .collect())
    };
    let relations = |kind: &str| {
        format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname <> $2 AND c.relkind = '{kind}' \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid \
               WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND t.relname = $2 \
               AND t.relnamespace = n.oid)"
        )
    };
    let views = names(tx, &relations("v"))?;
    let tables = names(tx, &relations("r"))?;
    for (what, list) in [("VIEW", views), ("TABLE", tables)] {
        if !list.is_empty() {
            tx.batch_execute(&format!("DROP {what} {}", list.join(", ")))
                .map_err(PgError::sql(format!(
                    "drop the {what}s of schema `{schema}`"
                )))?;
        }
    }
    // Sequences a table owned went with it.
    let sequences = names(tx, &relations("S"))?;
    if !sequences.is_empty() {
        tx.batch_execute(&format!("DROP SEQUENCE {}", sequences.join(", ")))
            .map_err(PgError::sql(format!(
                "drop the sequences of schema `{schema}`"
            )))?;
    }
    let types = names(
        tx,
        "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = $1 AND t.typtype = 'e' AND t.typname <> $2",
    )?;
    if !types.is_empty() {
        tx.batch_execute(&format!("DROP TYPE {}", types.join(", ")))
            .map_err(PgError::sql(format!(
                "drop the enum types of schema `{schema}`"
            )))?;
    }
    Ok(())
}

/// Runs the snapshot's SQL and loads its rows.
fn load(
    tx: &mut Transaction<'_>,
    scratch: &Utf8Path,
    contents: &Contents,
) -> Result<(), ErrorKind> {
    let sql = |name: &str| {
        let path = scratch.join(name);
        fs::read_to_string(&path).map_err(io("read", path))
    };
    tx.batch_execute("SELECT set_config('search_path', 'pg_catalog', true)")
        .map_err(PgError::sql("set `search_path`"))?;
    tx.batch_execute(&sql(PRE_DATA)?)
        .map_err(PgError::sql(format!("run the snapshot's {PRE_DATA}")))?;
    for table in &contents.tables {
        let copy = format!(
            "COPY {}{} FROM STDIN (FORMAT binary)",
            qualified(&contents.schema, &table.table),
            snapshot::column_list(&table.columns)
        );
        let what = || format!("load the rows of `{}`", table.table);
        let path = scratch.join(&table.file);
        let mut file = fs::File::open(&path).map_err(io("read", &path))?;
        let mut writer = tx.copy_in(&copy).map_err(PgError::sql(what()))?;
        io::copy(&mut file, &mut writer).map_err(io("read", &path))?;
        writer.finish().map_err(PgError::sql(what()))?;
    }
    tx.batch_execute(&sql(POST_DATA)?)
        .map_err(PgError::sql(format!("run the snapshot's {POST_DATA}")))?;
    Ok(())
}

fn remove_snapshot(store: &PostgresStore, id: &str) {
    if let Ok(entry) = crate::run::snapshot::entry(store, id) {
        let _ = crate::run::snapshot::remove(store, &entry);
    }
}
