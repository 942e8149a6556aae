//! verchain migrates an application's persistent state from one schema
//! version to the next along a chain of steps that the compiler checks: a
//! gap, a fork, a skipped version or a step past the chain's current version
//! does not compile.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use verchain::{Chain, Document, migration};
//!
//! /// The notes of a notes app.
//! #[derive(Chain)]
//! #[chain(base = 1, current = 3)]
//! pub struct Notes;
//!
//! /// Adds `status`, `draft` where missing.
//! #[migration(chain = Notes, from = 1, to = 2)]
//! fn add_status(doc: &mut Document) -> Result<(), verchain::BoxError> {
//!     doc.set_default("status", "draft");
//!     Ok(())
//! }
//!
//! #[derive(Deserialize)]
//! struct NoteV2 { tags: String }
//! #[derive(Serialize)]
//! struct NoteV3 { tags: Vec<String> }
//!
//! /// Splits the comma-separated `tags` into a list.
//! #[migration(chain = Notes, from = 2, to = 3)]
//! fn split_tags(note: NoteV2) -> NoteV3 {
//!     NoteV3 { tags: note.tags.split(',').map(|t| t.trim().to_owned()).collect() }
//! }
//!
//! let steps = Notes::steps();
//! assert_eq!(steps.iter().map(|s| s.id()).collect::<Vec<_>>(), ["add_status", "split_tags"]);
//! assert_eq!(steps[0].description(), "Adds `status`, `draft` where missing.");
//!
//! let fields = serde_json::json!({ "title": "Groceries", "tags": "food, weekly" });
//! let serde_json::Value::Object(fields) = fields else { unreachable!() };
//! let mut note = Document::new("groceries.md", fields);
//! for step in &steps {
//!     (step.up())(&mut note)?;
//! }
//! assert_eq!(note.get("tags"), Some(&serde_json::json!(["food", "weekly"])));
//! assert_eq!(note.get_str("status"), Some("draft"));
//! # Ok::<(), verchain::BoxError>(())
//! ```

extern crate self as verchain;

pub mod chain;
#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod contain;
mod document;
mod error;
mod fault;
pub mod folder;
mod format;
mod fsio;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod load;
pub mod log;
#[cfg(feature = "postgres")]
pub mod postgres;
#[doc(hidden)]
pub mod private;
#[cfg(any(feature = "cli", feature = "postgres"))]
mod redact;
pub mod run;
pub mod snapshot;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod table_diff;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod table_error;

pub use chain::Chain;
pub use document::Document;
pub use error::FieldExists;
pub use run::{
    AuditEvent, ErrorKind, Event, Observer, Report, RollbackTo, RunError, RunOptions, Stage,
    Startup, Status, Store, history, migrate, migrate_step, prune_snapshots, recover, rollback,
    run_startup, run_startup_with, snapshots, stamp, status, verify,
};
pub use verchain_macros::{Chain, migration};

#[doc(hidden)]
pub use private as __private;

/// The error a step function returns: any error type converts into it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The README's examples, compiled and run as doc tests (two of them need
/// the `sqlite` and `postgres` features).
#[cfg(all(doctest, feature = "sqlite", feature = "postgres"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
