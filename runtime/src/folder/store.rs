//! The folder's side of the run protocol ([`Store`] for [`FolderStore`]):
//! its lock and state in `.verchain/`, reading each document's version, and
//! the staged state a run prepares. Staging is in `stage.rs`, the commit in
//! `commit.rs`, a snapshot restore in `restore.rs`.

use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::journal::{Journal, Op};
use super::work::Seen;
use super::{FolderError, FolderStore, FormatError, FrontMatter, FrontMatterPolicy};
use crate::Document;
use crate::format::{self, Parsed};
use crate::run::Verified;
use crate::run::io;
use crate::run::store::{
    Failed, Purpose, Restoring, SnapshotEntry, SnapshotFormat, Staging, StampState, Store, Taken,
    Undo, Version, Work,
};
use crate::run::{
    ChainInfo, ErrorKind, HistoryRecord, Run, RunOptions, STATE_DIR, ValidationFailure,
};
use crate::snapshot::{self, Manifest, SnapshotError, Streamed};

/// What a run prepared: staged files under `.verchain/staging/<run id>/`,
/// the documents to remove, and the stamp the commit writes.
pub struct Staged {
    /// The staging folder, relative to the store.
    pub(super) staging: Utf8PathBuf,
    /// Every staged file, each once, as the journal's [`Op::Write`] (its
    /// path and the BLAKE3 of its content); sorted by path once staging is
    /// done. The journal's operations are these, then the removals.
    pub(super) writes: Vec<Op>,
    /// The documents the commit removes, with what each was when the run
    /// read it (see [`Staged::checked`]).
    pub(super) removes: Vec<(Utf8PathBuf, Option<Seen>)>,
    /// Whether the commit checks that each document it replaces or removes
    /// is still the one the run read: a run's does; a restore's puts back
    /// what a snapshot holds, whatever is there.
    pub(super) checked: bool,
    /// The store's stamp once committed (`None`: no stamp).
    pub(super) stamp: Option<u32>,
    /// The store's stamp before the run.
    pub(super) stamp_before: Option<u32>,
    /// The snapshot of the documents the commit changes, written as staging
    /// read them.
    pub(super) archive: Option<Streamed>,
    /// Folders a restore removes once committed, when it left them empty:
    /// those the runs it undoes added, each before the folders in it.
    pub(super) remove_folders: Vec<Utf8PathBuf>,
}

impl Staged {
    pub(super) fn new(run_id: &str, stamp_before: Option<u32>) -> Self {
        Staged {
            staging: Utf8PathBuf::from(STATE_DIR).join("staging").join(run_id),
            writes: Vec::new(),
            removes: Vec::new(),
            stamp: stamp_before,
            stamp_before,
            archive: None,
            remove_folders: Vec::new(),
            checked: false,
        }
    }

    /// Whether the commit would change nothing: no document, no stamp.
    pub(super) fn changes_nothing(&self) -> bool {
        self.writes.is_empty() && self.removes.is_empty() && self.stamp == self.stamp_before
    }
}

/// The store's stamp: its version after the last commit.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub chain: String,
    pub version: u32,
}

impl crate::run::store::sealed::Sealed for FolderStore {}

impl Store for FolderStore {
    type Record = Document;
    type Item = Utf8PathBuf;
    type Session = ();
    type Staged<'s> = Staged;
    type Journal = Journal;

    const KIND: &'static str = "folder";

    fn location(&self) -> &Utf8Path {
        self.root()
    }

    fn open(&self, _: Purpose, _: &RunOptions) -> Result<(), ErrorKind> {
        let meta = fs::metadata(self.root()).map_err(io("open store", self.root()))?;
        if !meta.is_dir() {
            return Err(ErrorKind::BadPath {
                path: self.root().to_owned(),
                reason: "the store must be a folder".to_owned(),
            });
        }
        Ok(())
    }

    fn state_dir(&self) -> Utf8PathBuf {
        FolderStore::state_dir(self)
    }

    /// The staging folder, and temporary files of the state folder.
    fn leftovers(&self, _: &mut ()) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        let staging = self.staging_root();
        let mut found: Vec<Utf8PathBuf> = staging.exists().then_some(staging).into_iter().collect();
        found.extend(crate::fsio::temps_in(&self.state_dir()));
        Ok(found)
    }

    fn stamp(&self, _: &mut (), _: &ChainInfo<Document>) -> Result<Option<u32>, ErrorKind> {
        let path = self.stamp_path();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Stamp>(&text)
                .map(|s| Some(s.version))
                .map_err(|e| ErrorKind::Damaged {
                    path,
                    line: e.line(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", path)(e)),
        }
    }

    fn items(&self, _: &mut ()) -> Result<Vec<Utf8PathBuf>, ErrorKind> {
        self.scan()
    }

    fn stamp_state(
        &self,
        session: &mut (),
        chain: &ChainInfo<Document>,
    ) -> Result<StampState, ErrorKind> {
        self.folder_stamp_state(session, chain)
    }

    /// The stamp file, written with the history's line through the commit
    /// journal; no document changes.
    fn begin_stamp<'s>(
        &'s self,
        _: &'s mut (),
        run: &Run<'_, Document>,
        version: u32,
    ) -> Result<Staged, ErrorKind> {
        Ok(Staged {
            stamp: Some(version),
            ..Staged::new(run.id(), None)
        })
    }

    fn version_of(
        &self,
        _: &mut (),
        chain: &ChainInfo<Document>,
        path: &Utf8PathBuf,
        stamp: Option<u32>,
    ) -> Result<Version, ErrorKind> {
        let (doc, parsed) = match self.read(path) {
            Err(ErrorKind::Format(FormatError::FrontMatterNotRecognised {
                line, reason, ..
            })) if self.front_matter_policy() == FrontMatterPolicy::Skip => {
                let reason = format!("line {line}: front matter not recognised: {reason}");
                return Ok(Version::Skipped(reason));
            }
            read => read?,
        };
        if parsed.front_matter() == Some(FrontMatter::None) {
            match self.front_matter_policy() {
                FrontMatterPolicy::Refuse => {
                    return Err(ErrorKind::store(FolderError::NoFrontMatter {
                        path: path.clone(),
                    }));
                }
                FrontMatterPolicy::Skip => {
                    return Ok(Version::Skipped("no front matter".to_owned()));
                }
                FrontMatterPolicy::Add => {}
            }
        }
        version_of(chain, &doc, stamp).map(Version::At)
    }

    fn begin<'s>(
        &'s self,
        _: &'s mut (),
        run: &Run<'_, Document>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staged, ErrorKind> {
        Ok(Staged {
            checked: true,
            ..Staged::new(run.id(), work.stamp)
        })
    }

    fn stage(
        &self,
        staged: &mut Staged,
        run: &Run<'_, Document>,
        work: &Work<'_, '_, Self>,
    ) -> Result<Staging, ErrorKind> {
        super::stage::stage(self, staged, run, work)
    }

    fn snapshot(
        &self,
        staged: &mut Staged,
        run: &Run<'_, Document>,
        from: u32,
        to: u32,
    ) -> Result<Option<Taken>, ErrorKind> {
        // Nothing to write but the stamp: no snapshot is needed.
        if staged.writes.is_empty() && staged.removes.is_empty() {
            return Ok(None);
        }
        // Staging wrote the snapshot as it read the documents; a run that
        // takes none has none.
        let Some(archive) = staged.archive.take() else {
            return Ok(None);
        };
        run.snapshot_started(archive.len());
        let dir = self.snapshot_dir();
        let placed = archive.finish(self.root(), &dir, run.chain.name, run.id(), from, to)?;
        Ok(Some(Taken {
            id: placed.id,
            files: placed.files,
        }))
    }

    fn commit(
        &self,
        staged: Staged,
        run: &Run<'_, Document>,
        records: &[HistoryRecord],
        snapshot: Option<&str>,
    ) -> Result<(), Failed> {
        super::commit::commit(self, staged, run, records, snapshot)
    }

    fn discard(&self, staged: Staged, _: &str) {
        self.remove_staging(&staged.staging);
    }

    fn stage_restore<'s>(
        &'s self,
        _: &'s mut (),
        run: &Run<'_, Document>,
        snapshot: &SnapshotEntry,
        undo: &Undo,
    ) -> Result<(Staged, Restoring), ErrorKind> {
        super::restore::stage(self, run, snapshot, undo)
    }

    fn check(
        &self,
        _: &mut (),
        run: &Run<'_, Document>,
        path: &Utf8PathBuf,
        version: u32,
    ) -> Result<Verified, ErrorKind> {
        let (doc, _) = self.read(path)?;
        let failures = match (run.chain.check_schema)(version, &doc) {
            Some(Err(e)) => vec![ValidationFailure {
                path: path.clone(),
                step: None,
                version,
                message: e.to_string(),
            }],
            _ => Vec::new(),
        };
        Ok(Verified::of(1, failures))
    }

    fn snapshots(&self) -> &'static dyn SnapshotFormat {
        &Archives
    }

    fn manual_restore(&self, snapshot: &Utf8Path) -> String {
        format!(
            "run `tar --zstd -xf {snapshot} -C {} --exclude MANIFEST.json` and remove the files \
             the runs it undoes created (`created_paths` in {})",
            self.root(),
            self.history_path()
        )
    }
}

impl FolderStore {
    /// The document at `path` (relative to the root), as read.
    pub(super) fn read(&self, path: &Utf8Path) -> Result<(Document, Parsed), ErrorKind> {
        let full = self.root().join(path);
        let bytes = fs::read(&full).map_err(io("read", &full))?;
        Ok(format::parse(path, &bytes)?)
    }
}

/// The version `doc` says it is at; one that says none is at the store's
/// `stamp`, or the chain's base.
pub(crate) fn version_of(
    chain: &ChainInfo<Document>,
    doc: &Document,
    stamp: Option<u32>,
) -> Result<u32, ErrorKind> {
    match doc.get(chain.version_key) {
        None => Ok(stamp.unwrap_or(chain.base)),
        Some(value) => value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| ErrorKind::BadVersion {
                path: doc.path().to_owned(),
                key: chain.version_key,
                value: value.to_string(),
            }),
    }
}

/// Snapshots as `<id>.tar.zst` archives, the manifest first: a folder's, and a
/// PostgreSQL schema's.
pub(crate) struct Archives;

impl SnapshotFormat for Archives {
    fn id_of<'n>(&self, name: &'n str, is_dir: bool) -> Option<&'n str> {
        name.strip_suffix(snapshot::SUFFIX)
            .filter(|id| !is_dir && !id.is_empty())
    }

    fn path_of(&self, dir: &Utf8Path, id: &str) -> Utf8PathBuf {
        snapshot::path_of(dir, id)
    }

    fn manifest(&self, path: &Utf8Path) -> Result<Manifest, SnapshotError> {
        snapshot::read_manifest(path)
    }

    fn size(&self, path: &Utf8Path) -> u64 {
        fs::symlink_metadata(path).map_or(0, |m| m.len())
    }

    fn remove(&self, path: &Utf8Path) -> io::Result<()> {
        fs::remove_file(path)
    }
}
