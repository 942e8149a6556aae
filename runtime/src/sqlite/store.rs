//! `SqliteStore`: one SQLite database file, and where verchain keeps its
//! own files beside it.

use std::fs;
use std::io::Read;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use rusqlite::{Connection, OpenFlags};

use super::error::SqliteError;
use super::snapshot::folders_resolved;
use crate::run::STATE_DIR;
use crate::run::{ErrorKind, io};

/// An SQLite database migrated by a chain declared with
/// `#[chain(record = verchain::sqlite::Sql, …)]`.
///
/// Its version is `PRAGMA user_version` (0, SQLite's default, stands for
/// the chain's base version); its history is the table
/// `_verchain_history` in the database itself, written in the same
/// transaction as the steps.
///
/// verchain keeps its other files in the `.verchain/` folder beside the
/// database, named after the database's file so that several databases can
/// share a folder: for `data/agent.db`, the lock `data/.verchain/agent.db.lock`
/// and the snapshots in `data/.verchain/snapshots/agent.db/`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: Utf8PathBuf,
}

impl crate::run::store::sealed::Sealed for SqliteStore {}

/// The first 16 bytes of every SQLite database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

impl SqliteStore {
    /// The database at `path`, a file that must exist: verchain never
    /// creates a database.
    pub fn new(path: impl Into<Utf8PathBuf>) -> Self {
        SqliteStore { path: path.into() }
    }

    /// The database file.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// The database's file name, which names verchain's files for it.
    pub(crate) fn file_name(&self) -> &str {
        self.path.file_name().unwrap_or("database")
    }

    /// The folder beside the database where verchain keeps its files.
    pub fn state_dir(&self) -> Utf8PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_str().is_empty() => dir.join(STATE_DIR),
            _ => Utf8PathBuf::from(STATE_DIR),
        }
    }

    /// The lock file, `.verchain/<file>.lock`.
    pub(crate) fn lock_path(&self) -> Utf8PathBuf {
        self.state_dir().join(format!("{}.lock", self.file_name()))
    }

    /// The snapshot folder, `.verchain/snapshots/<file>/`.
    pub fn snapshot_dir(&self) -> Utf8PathBuf {
        self.state_dir().join("snapshots").join(self.file_name())
    }

    /// Where a restore assembles the database it puts back,
    /// `.verchain/<file>.restore`.
    pub(crate) fn scratch_path(&self) -> Utf8PathBuf {
        self.state_dir()
            .join(format!("{}.restore", self.file_name()))
    }

    /// Opens the database, after checking that the file exists and is an
    /// SQLite database. `wait` is how long a statement waits for another
    /// connection's lock. The file is opened with `NOFOLLOW` (its folders
    /// resolved first): one swapped for a link after the check is refused,
    /// not followed.
    pub(crate) fn open(&self, read_only: bool, wait: Duration) -> Result<Connection, ErrorKind> {
        self.check_header()?;
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let resolved = folders_resolved(&self.path).map_err(io("open database", &self.path))?;
        let conn = Connection::open_with_flags(literal(&resolved), flags).map_err(|cause| {
            SqliteError::Sql {
                what: format!("open {}", self.path),
                cause,
            }
        })?;
        conn.busy_timeout(wait)
            .and_then(|()| conn.execute_batch("PRAGMA foreign_keys = OFF"))
            .map_err(SqliteError::sql(format!(
                "set up the connection to {}",
                self.path
            )))?;
        // Reading the schema is the first access to the file's pages.
        match read_schema(&conn) {
            // A transaction a crash interrupted, which only a writer can roll
            // back: a reader reports it (see `hot_journal`) and reads no more.
            Err(cause) if read_only && is_hot_journal(&cause) => return Ok(conn),
            read => read,
        }
        .map_err(|cause| match cause.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => SqliteError::NotADatabase {
                path: self.path.clone(),
                reason: cause.to_string(),
            },
            _ => SqliteError::Sql {
                what: format!("read the schema of {}", self.path),
                cause,
            },
        })?;
        Ok(conn)
    }

    /// Whether the database has a hot journal: a transaction a crash
    /// interrupted, which SQLite rolls back when a writer next opens it.
    pub(crate) fn hot_journal(conn: &Connection) -> bool {
        read_schema(conn).is_err_and(|cause| is_hot_journal(&cause))
    }

    /// Refuses a missing file, a folder, or a file that does not start
    /// like an SQLite database (an empty file is an empty database).
    pub(crate) fn check_header(&self) -> Result<(), ErrorKind> {
        let meta = fs::symlink_metadata(&self.path).map_err(io("open database", &self.path))?;
        // Through a link, the lock and the snapshots would be kept beside
        // the link, and a run given the database's own path would not see
        // them.
        if meta.is_symlink() {
            let target = fs::read_link(&self.path)
                .map(|t| format!(" (`{}`)", t.display()))
                .unwrap_or_default();
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                reason: format!(
                    "it is a symbolic link; verchain does not follow links: give the \
                     database's own path{target}"
                ),
            }
            .into());
        }
        if !meta.is_file() {
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                reason: "it is not a file".to_owned(),
            }
            .into());
        }
        let mut start = Vec::with_capacity(16);
        fs::File::open(&self.path)
            .and_then(|f| f.take(16).read_to_end(&mut start))
            .map_err(io("read", &self.path))?;
        if !start.is_empty() && start.as_slice() != HEADER {
            return Err(SqliteError::NotADatabase {
                path: self.path.clone(),
                reason: format!(
                    "it does not start with `SQLite format 3` (it starts with {:?})",
                    String::from_utf8_lossy(&start)
                ),
            }
            .into());
        }
        Ok(())
    }
}

/// The database's version: `PRAGMA user_version`, with 0 read as `base`.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, SqliteError> {
    conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))
        .map_err(SqliteError::sql("read `PRAGMA user_version`"))
}

/// Reads the schema's size: the first access to the database's pages.
fn read_schema(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM main.sqlite_schema", [], |r| r.get(0))
}

/// Whether `cause` is SQLite refusing a read-only connection a database
/// whose hot journal must be rolled back first.
fn is_hot_journal(cause: &rusqlite::Error) -> bool {
    cause
        .sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK)
}

/// `path` as SQLite must be given it to open that very file: a name that
/// starts with `file:` would be read as a URI, naming another file.
pub(crate) fn literal(path: &Utf8Path) -> Utf8PathBuf {
    if path.as_str().starts_with("file:") {
        Utf8Path::new(".").join(path)
    } else {
        path.to_owned()
    }
}
