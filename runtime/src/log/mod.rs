//! Logs: [`LogStore`], an append-only log of JSON records, one a line,
//! with its rotated files, migrated in one streaming pass per file; its
//! records ([`LogRecord`], [`LogHeader`]) and its errors ([`LogError`]).
//! A log runs the same protocol as every store, through
//! [`verchain::migrate`](crate::migrate) and the other calls of the crate
//! root.
//!
//! ```
//! use verchain::log::{LogHeader, LogRecord, LogStore};
//! use verchain::{Chain, RunOptions, migrate, migration};
//!
//! /// An audit log.
//! #[derive(Chain)]
//! #[chain(current = 3, record = LogRecord)]
//! pub struct Audit;
//!
//! /// Names the log in its header.
//! #[migration(chain = Audit, from = 1, to = 2)]
//! fn add_header(mut header: LogHeader) -> LogHeader {
//!     header.set_default("log", "audit");
//!     header
//! }
//!
//! /// Renames `actor` to `user`; `severity` defaults to `info`.
//! #[migration(chain = Audit, from = 2, to = 3)]
//! fn rename_actor(entry: &mut LogRecord) -> Result<(), verchain::FieldExists> {
//!     entry.rename("actor", "user")?;
//!     entry.set_default("severity", "info");
//!     Ok(())
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = camino::Utf8Path::from_path(dir.path()).unwrap().join("audit.jsonl");
//! std::fs::write(&path, "{\"actor\":\"ana\",\"action\":\"login\"}\n")?;
//! let report = migrate::<Audit>(&LogStore::new(&path), &RunOptions::default())?;
//! assert_eq!(report.counts.changed, 1);
//! assert_eq!(
//!     std::fs::read_to_string(&path)?,
//!     "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n\
//!      {\"user\":\"ana\",\"action\":\"login\",\"severity\":\"info\"}\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod chunks;
mod commit;
mod de;
mod error;
mod fingerprint;
mod first_line;
mod header;
pub(crate) mod journal;
mod output;
pub(crate) mod parse;
mod record;
mod restore;
mod run;
mod scan;
mod snapshot;
mod stamp;
mod step;
pub(crate) mod store;
pub(crate) mod stream;
mod typed;
mod worker;

use std::fs;

pub use error::LogError;
pub use header::LogHeader;
pub use record::LogRecord;
pub use step::{LogBody, LogVerify};
pub use store::LogStore;

use crate::run::{ErrorKind, io};

impl From<LogError> for ErrorKind {
    fn from(error: LogError) -> Self {
        ErrorKind::store(error)
    }
}

/// Quarantine files a run wrote (malformed lines moved out of the log),
/// oldest run first.
pub fn quarantined(store: &LogStore) -> Result<Vec<camino::Utf8PathBuf>, ErrorKind> {
    store.check_name()?;
    let dir = store.quarantine_dir();
    let mut out = Vec::new();
    let runs = match fs::read_dir(&dir) {
        Ok(runs) => runs,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("read folder", &dir)(e)),
    };
    let mut runs: Vec<_> = runs.filter_map(Result::ok).map(|e| e.path()).collect();
    runs.sort();
    for run in runs {
        let Ok(run) = camino::Utf8PathBuf::from_path_buf(run) else {
            continue;
        };
        let mut files: Vec<_> = fs::read_dir(&run)
            .map_err(io("read folder", &run))?
            .filter_map(Result::ok)
            .filter_map(|e| camino::Utf8PathBuf::from_path_buf(e.path()).ok())
            .collect();
        files.sort();
        out.extend(files);
    }
    Ok(out)
}
