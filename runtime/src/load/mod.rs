//! Upgrade on read: one old document (or one log file) brought to its
//! chain's current version in memory, through the same steps, checks and
//! writer as a run of its store, writing nothing; and saved, when the
//! application next writes it, at the current version in one atomic write.
//!
//! What a store's run does to each document and what [`Chain::load`](crate::Chain::load) does
//! to one are the same functions (`document.rs`, shared with the folder
//! store's staging; the log's streaming pass, run on one buffer), so that
//! `load` gives exactly the bytes a run of the store would write.
//!
//! A saved document is not a run: the store's history records nothing and
//! its stamp does not change. The document says its version (its version
//! key, or its header), so the next run of the store finds it current and
//! leaves it as it is, and `status` counts it at the current version. Save
//! only where no run holds the store's lock (after `run_startup`): a run
//! that commits after a save would write the document as it staged it.

mod document;
mod log;

use std::io;

use camino::Utf8PathBuf;
use thiserror::Error;

#[cfg(feature = "postgres")]
pub(crate) use document::{InMemory, upgrade};
pub use document::{Loaded, load_document, load_file};
pub(crate) use document::{after_steps, apply_step};
pub use log::{LoadedLog, load_log};

use crate::error::DocumentError;
use crate::run::{ErrorKind, ValidationFailure};

/// Why a document could not be loaded or saved. Every message names the
/// chain and the document, and, where a version or a step is the cause,
/// them too.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The document cannot be read, is at a version the chain does not have
    /// (newer than this program, or older than its base), or a step failed
    /// on it; the message names the versions and the step.
    #[error("chain `{chain}`: {kind}")]
    Refused {
        /// The chain.
        chain: &'static str,
        /// What went wrong, as a run of the store would say it.
        kind: Box<ErrorKind>,
    },
    /// The document does not pass a step's `verify` or the current
    /// version's schema.
    #[error("chain `{chain}`: {failure}")]
    Invalid {
        /// The chain.
        chain: &'static str,
        /// Which check, at which version, and why.
        failure: ValidationFailure,
    },
    /// A step moves, removes or creates documents: what a run of the store
    /// does, and reading one document in memory cannot.
    #[error(
        "chain `{chain}`: step `{step}` (v{from} → v{to}) {what} on {path}, which only a run of \
         the store can do; migrate the store instead"
    )]
    NeedsStore {
        /// The chain.
        chain: &'static str,
        /// The document.
        path: Utf8PathBuf,
        /// The step.
        step: &'static str,
        /// The version it reads.
        from: u32,
        /// The version it writes.
        to: u32,
        /// `removes the document`, `creates documents`, `moves the document`.
        what: &'static str,
    },
    /// The document at the current version is not the type asked for.
    #[error("chain `{chain}`: {source}")]
    Typed {
        /// The chain.
        chain: &'static str,
        /// The type's error, naming the document and the field.
        #[source]
        source: DocumentError,
    },
    /// The file could not be read or written.
    #[error("cannot {op} {path}: {cause}")]
    Io {
        /// `read`, `write`.
        op: &'static str,
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        cause: io::Error,
    },
}

impl LoadError {
    fn refused(chain: &'static str, kind: impl Into<ErrorKind>) -> Self {
        LoadError::Refused {
            chain,
            kind: Box::new(kind.into()),
        }
    }
}
