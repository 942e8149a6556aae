//! One document brought to the current version in memory, and what the
//! folder store's staging does to each document with the same functions:
//! a step and its `verify` ([`apply_step`]), then the version key and the
//! target's schema ([`after_steps`]), then the writer that edits the
//! document's own text (`format::render`).

use std::fs;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::DeserializeOwned;

use super::LoadError;
use crate::chain::Step;
use crate::chain::checked_steps;
use crate::folder::Format;
use crate::format::{self, Parsed};
use crate::run::detect::in_range;
use crate::run::plan::{self, Move};
use crate::run::{ChainInfo, ErrorKind, ValidationFailure, call_step};
use crate::{Chain, Document, fsio};

/// Runs one step on `doc`, then the step's `verify`; returns the failure
/// of `verify`, if any. A step's error or panic is an error that names the
/// step, both versions and the document.
pub(crate) fn apply_step(
    m: &Move<'_, Document>,
    doc: &mut Document,
) -> Result<Option<ValidationFailure>, ErrorKind> {
    let at = doc.path().to_owned();
    call_step(m.meta.id, m.from, m.to, &at, || (m.body)(doc))?;
    Ok(m.verify.and_then(|verify| {
        verify(doc).err().map(|e| ValidationFailure {
            path: doc.path().to_owned(),
            step: Some(m.meta.id),
            version: m.to,
            message: e.to_string(),
        })
    }))
}

/// Sets `doc`'s version key to `target` and checks it against the
/// target's schema; returns the failure, if any.
pub(crate) fn after_steps(
    doc: &mut Document,
    chain: &ChainInfo<Document>,
    target: u32,
) -> Option<ValidationFailure> {
    doc.set(chain.version_key, target);
    match (chain.check_schema)(target, doc) {
        Some(Err(e)) => Some(ValidationFailure {
            path: doc.path().to_owned(),
            step: None,
            version: target,
            message: e.to_string(),
        }),
        _ => None,
    }
}

/// Why a document cannot be brought forward in memory.
pub(crate) enum InMemory {
    /// A step failed or panicked; the error names the step, both versions
    /// and the document.
    Refused(ErrorKind),
    /// A step moves, removes or creates documents, which only a run of a
    /// folder can do.
    NeedsStore {
        step: &'static str,
        from: u32,
        to: u32,
        /// `removes the document`, `creates documents`.
        what: &'static str,
    },
}

/// Brings `doc` from `read_at` to `target` in memory, as a run of a folder
/// brings each of its documents: every step of `steps` on the way and its
/// `verify` ([`apply_step`]), then the version key and the target's schema
/// ([`after_steps`]). Returns the first validation failure, if any; a step
/// that removes or creates documents is refused, and one that moves the
/// document moves it (its path).
pub(crate) fn upgrade(
    doc: &mut Document,
    chain: &ChainInfo<Document>,
    steps: &[Step<Document>],
    read_at: u32,
    target: u32,
) -> Result<Option<ValidationFailure>, InMemory> {
    for m in &plan::up(steps, read_at, target) {
        if let Some(failure) = apply_step(m, doc).map_err(InMemory::Refused)? {
            return Ok(Some(failure));
        }
        let what = if doc.is_removed() {
            Some("removes the document")
        } else if !doc.settle().is_empty() {
            Some("creates documents")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(InMemory::NeedsStore {
                step: m.meta.id,
                from: m.from,
                to: m.to,
                what,
            });
        }
    }
    Ok(after_steps(doc, chain, target))
}

/// A document brought to its chain's current version in memory: what
/// [`Chain::load`] gives.
pub struct Loaded {
    chain: ChainInfo<Document>,
    document: Document,
    parsed: Parsed,
    read_at: u32,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("chain", &self.chain.name)
            .field("read_at", &self.read_at)
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// The document at the current version.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The document, to change before [`Loaded::save`].
    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.document
    }

    /// The document, owned.
    pub fn into_document(self) -> Document {
        self.document
    }

    /// The version the document was at when it was read.
    pub fn read_at(&self) -> u32 {
        self.read_at
    }

    /// Whether it was older than the current version.
    pub fn upgraded(&self) -> bool {
        self.read_at != self.chain.current
    }

    /// The document at the current version as a run of its store would
    /// write it: its own text, edited where the steps changed it (the very
    /// bytes read, for a document already current).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The document (at the current version) as the type `T`.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, LoadError> {
        self.document.to_typed().map_err(|source| LoadError::Typed {
            chain: self.chain.name,
            source,
        })
    }

    /// Writes the document, with what the application changed since it was
    /// loaded, to `path` at the current version: the text it was read from,
    /// edited where it differs, checked against the current version's
    /// schema, written to a temporary file beside `path`, fsynced and
    /// renamed over it. The store's history and stamp are not touched (see
    /// the module's documentation).
    pub fn save(&self, path: impl AsRef<Utf8Path>) -> Result<(), LoadError> {
        let path = path.as_ref();
        let bytes = self.render()?;
        fsio::write_atomic(path, &bytes).map_err(|cause| LoadError::Io {
            op: "write",
            path: path.to_owned(),
            cause,
        })
    }

    /// The bytes [`Loaded::save`] writes.
    pub fn render(&self) -> Result<Vec<u8>, LoadError> {
        let name = self.chain.name;
        let mut doc = self.document.clone();
        if let Some(failure) = after_steps(&mut doc, &self.chain, self.chain.current) {
            return Err(LoadError::Invalid {
                chain: name,
                failure,
            });
        }
        written(&self.parsed, &doc).map_err(|kind| LoadError::refused(name, kind))
    }
}

/// `doc` written over the text `parsed` was read from, as a run of a
/// folder store writes it (in canonical form where a step moved it to a
/// file of another format).
fn written(parsed: &Parsed, doc: &Document) -> Result<Vec<u8>, ErrorKind> {
    match Format::from_path(doc.path()) {
        Some(format) if format != parsed.format() => Ok(format::render_new(format, doc)?),
        _ => Ok(format::render(parsed, doc)?),
    }
}

/// The name a document read from bytes goes by in messages and in what
/// steps see of its path.
fn unnamed(format: Format) -> Utf8PathBuf {
    let extension = match format {
        Format::Json => "json",
        Format::Toml => "toml",
        Format::Yaml => "yaml",
        _ => "md",
    };
    Utf8PathBuf::from(format!("document.{extension}"))
}

/// `bytes`, a document in `format`, brought to chain `C`'s current version
/// in memory (see [`Chain::load`]).
pub fn load_document<C: Chain<Record = Document>>(
    bytes: &[u8],
    format: Format,
) -> Result<Loaded, LoadError> {
    load_named::<C>(&unnamed(format), format, bytes)
}

/// The document at `path`, its format known from its extension, brought
/// to chain `C`'s current version in memory (see [`Chain::load_file`]).
pub fn load_file<C: Chain<Record = Document>>(path: &Utf8Path) -> Result<Loaded, LoadError> {
    let bytes = fs::read(path).map_err(|cause| LoadError::Io {
        op: "read",
        path: path.to_owned(),
        cause,
    })?;
    let format = Format::from_path(path).ok_or_else(|| {
        let unknown = format::FormatError::UnknownFormat {
            path: path.to_owned(),
        };
        LoadError::refused(C::NAME, unknown)
    })?;
    load_named::<C>(path, format, &bytes)
}

fn load_named<C: Chain<Record = Document>>(
    path: &Utf8Path,
    format: Format,
    bytes: &[u8],
) -> Result<Loaded, LoadError> {
    let name = C::NAME;
    let refused = |kind: ErrorKind| LoadError::refused(name, kind);
    let steps = checked_steps::<C>().map_err(|e| refused(e.into()))?;
    let chain = ChainInfo::of::<C>();
    let (mut doc, parsed) = format::parse_as(format, path, bytes).map_err(|e| refused(e.into()))?;
    let read_at = crate::folder::version_of(&chain, &doc, None)
        .and_then(|v| in_range(&chain, path, v))
        .map_err(refused)?;
    let current = chain.current;
    if read_at == current {
        // A run leaves a current document as it is, byte for byte.
        return Ok(Loaded {
            bytes: parsed.original(),
            chain,
            document: doc,
            parsed,
            read_at,
        });
    }
    match upgrade(&mut doc, &chain, &steps, read_at, current) {
        Ok(None) => {}
        Ok(Some(failure)) => {
            return Err(LoadError::Invalid {
                chain: name,
                failure,
            });
        }
        Err(InMemory::Refused(kind)) => return Err(refused(kind)),
        Err(InMemory::NeedsStore {
            step,
            from,
            to,
            what,
        }) => {
            return Err(LoadError::NeedsStore {
                chain: name,
                path: path.to_owned(),
                step,
                from,
                to,
                what,
            });
        }
    }
    let bytes = written(&parsed, &doc).map_err(refused)?;
    Ok(Loaded {
        chain,
        document: doc,
        parsed,
        read_at,
        bytes,
    })
}
