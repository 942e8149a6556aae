//! Snapshots of a PostgreSQL schema, in the archive format every store
//! uses (`tar.zst`, a BLAKE3 manifest first; see [`crate::snapshot`]):
//!
//! - `pre-data.sql`: the enum types, sequences and tables, as SQL;
//! - `data/0001.copy`, …: each table's rows, as `COPY … TO STDOUT (FORMAT
//!   binary)` wrote them;
//! - `post-data.sql`: sequence values, constraints, indexes, views,
//!   triggers, owners and grants, row-level security and policies,
//!   comments;
//! - `tables.json`: which file holds which table's rows, with its columns.
//!
//! Everything is read inside the run's transaction (`REPEATABLE READ`), so
//! the snapshot is the state the steps start from, whatever the
//! application writes meanwhile. The files are written to a hidden folder
//! in the snapshot folder, archived, then removed: a snapshot needs the
//! room of the rows twice while it is taken (once raw, once compressed).

use std::fs;
use std::io::{self, Write};

use camino::{Utf8Path, Utf8PathBuf};
use postgres::Transaction;
use serde::{Deserialize, Serialize};

use super::ddl::{self, Schema};
use super::error::PgError;
use super::sql::qualified;
use crate::run::{ErrorKind, io};
use crate::snapshot::SnapshotInfo;

/// The SQL run before the rows are loaded.
pub(crate) const PRE_DATA: &str = "pre-data.sql";
/// The SQL run after.
pub(crate) const POST_DATA: &str = "post-data.sql";
/// The list of tables and their files.
pub(crate) const TABLES: &str = "tables.json";

/// What `tables.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contents {
    /// The schema the snapshot is of.
    pub schema: String,
    /// The server's version, as `SHOW server_version` says it.
    pub server_version: String,
    /// Each table, in the order its rows are loaded.
    pub tables: Vec<TableFile>,
}

/// One table's rows in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableFile {
    pub table: String,
    /// The columns, in the order of the file's fields.
    pub columns: Vec<String>,
    /// The file, relative to the archive's root.
    pub file: String,
}

/// Snapshots `schema` as `tx` sees it into a new archive in `dir`, for a
/// run of `chain` from version `from` to `to`.
pub(crate) fn create(
    tx: &mut Transaction<'_>,
    schema: &str,
    dir: &Utf8Path,
    chain: &str,
    run_id: &str,
    from: u32,
    to: u32,
) -> Result<SnapshotInfo, ErrorKind> {
    ddl::refuse_what_cannot_be_kept(tx, schema)?;
    let definitions = ddl::read(tx, schema)?;
    crate::fsio::create_dir_all(dir).map_err(io("create", dir))?;
    let staging = staging_dir(dir)?;
    let result = (|| {
        let files = write_files(tx, schema, &definitions, &staging)?;
        Ok(crate::snapshot::create(
            &staging, &files, dir, chain, run_id, from, to,
        )?)
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}

/// A new hidden folder in `dir` to write a snapshot's files in.
fn staging_dir(dir: &Utf8Path) -> Result<Utf8PathBuf, ErrorKind> {
    for n in 0u32.. {
        let path = dir.join(format!(".staging-{}-{n}", std::process::id()));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("create", &path)(e)),
        }
    }
    Err(io("create", dir)(io::Error::other("no free name")))
}

/// Writes the snapshot's files under `root`; returns their paths.
fn write_files(
    tx: &mut Transaction<'_>,
    schema: &str,
    definitions: &Schema,
    root: &Utf8Path,
) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), ErrorKind> {
        let path = root.join(name);
        fs::write(&path, text).map_err(io("write", &path))?;
        files.push(Utf8PathBuf::from(name));
        Ok(())
    };
    write(PRE_DATA, sql_text(&definitions.pre_data))?;
    write(POST_DATA, sql_text(&definitions.post_data))?;
    let server_version: String = tx
        .query_one("SHOW server_version", &[])
        .map_err(PgError::sql("read the server's version"))?
        .get(0);
    let mut contents = Contents {
        schema: schema.to_owned(),
        server_version,
        tables: Vec::new(),
    };
    let data = root.join("data");
    fs::create_dir(&data).map_err(io("create", &data))?;
    let mut copies = Vec::new();
    for (i, table) in definitions.tables.iter().enumerate() {
        let file = format!("data/{:04}.copy", i + 1);
        let path = root.join(&file);
        let sql = format!(
            "COPY {}{} TO STDOUT (FORMAT binary)",
            qualified(schema, &table.name),
            column_list(&table.columns)
        );
        let reader = tx
            .copy_out(&sql)
            .map_err(PgError::sql(format!("copy the rows of `{}`", table.name)))?;
        let out = crate::fsio::create(&path).map_err(io("create", &path))?;
        write_copy(reader, out).map_err(io("write", &path))?;
        contents.tables.push(TableFile {
            table: table.name.clone(),
            columns: table.columns.clone(),
            file: file.clone(),
        });
        copies.push(Utf8PathBuf::from(file));
    }
    let listing = serde_json::to_string_pretty(&contents).map_err(|e| ErrorKind::Damaged {
        path: root.join(TABLES),
        line: 0,
        message: e.to_string(),
    })?;
    write(TABLES, listing)?;
    files.extend(copies);
    Ok(files)
}

/// Writes what `COPY … TO STDOUT` sends to `out`, as the server sends it:
/// each row's message is appended whole to a large buffer. (Reading it
/// through `io::copy` cost twice the time of the `COPY` itself.)
fn write_copy(mut reader: impl io::BufRead, out: fs::File) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    loop {
        let message = reader.fill_buf()?;
        let n = message.len();
        if n == 0 {
            break;
        }
        out.write_all(message)?;
        reader.consume(n);
    }
    out.flush()
}

/// ` (a, b)`, the columns `COPY` names; none for a table without columns.
pub(crate) fn column_list(columns: &[String]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = columns.iter().map(|c| super::sql::quote(c)).collect();
    format!(" ({})", quoted.join(", "))
}

/// Statements, one a paragraph.
fn sql_text(statements: &[ddl::Statement]) -> String {
    statements
        .iter()
        .map(|s| format!("{}\n\n", s.sql))
        .collect()
}
