//! A folder's commit: the staged files to move into place and the
//! documents to remove, written to the commit journal before the first
//! one moves, then the stamp. Every operation can be repeated safely, so a
//! crash in the middle is finished by the next run.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::FolderStore;
use super::store::Stamp;
use super::work::Seen;
use crate::contain::is_plain;
use crate::fsio;
use crate::run::journal::{self, Operations};
use crate::run::{ErrorKind, STATE_DIR, io};

/// A folder's commit journal, `.verchain/journal.json`.
pub type Journal = journal::Journal<Commit>;

/// What a folder's commit does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    /// The chain, as the stamp names it.
    #[serde(default)]
    pub chain: String,
    /// The store's stamped version once committed (`None`: no stamp, as
    /// before the first run).
    pub version: Option<u32>,
    /// The folder the staged files are in, relative to the store.
    pub staging: Utf8PathBuf,
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// Whether this is the journal a run just wrote, none of whose
    /// operations can have been done yet (a journal read back from disk
    /// never is: its operations are checked one by one).
    #[serde(skip)]
    pub fresh: bool,
    /// Whether the commit checks, as it replaces or removes each document,
    /// that it is still the one the run read (`was` of each operation): a
    /// run's commit does, and so does the recovery that finishes it, before
    /// it moves anything (a journal written before `was` was kept has
    /// none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checked: bool,
}

/// One file operation of a commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Move the staged file (relative to staging) over `path` (relative to
    /// the store). `blake3` is the staged content's hash: when the staged
    /// file is gone, the write was done only if `path` has that content.
    Write {
        path: Utf8PathBuf,
        #[serde(with = "hex")]
        blake3: blake3::Hash,
        /// The document the run read at `path` (`None`: none was there),
        /// which a checked commit replaces only if it is still there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        was: Option<Seen>,
    },
    /// Remove `path` (relative to the store).
    Remove {
        path: Utf8PathBuf,
        /// The document the run read at `path`, which a checked commit
        /// removes only if it is still there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        was: Option<Seen>,
    },
}

impl Operations for Commit {
    type Store = FolderStore;
    const WHAT: &'static str = "store";

    /// A journal only ever names plain paths inside the store, and staging
    /// under `.verchain/staging/`: anything else was not written by
    /// verchain.
    fn refuse(&self) -> Option<String> {
        let staging_ok = self.staging.parent() == Some(Utf8Path::new(".verchain/staging"))
            && (self.staging.file_name()).is_some_and(|n| !n.starts_with('.'));
        if !staging_ok {
            return Some(format!(
                "staging folder `{}` is not verchain's",
                self.staging
            ));
        }
        self.ops.iter().find_map(|op| {
            let (Op::Write { path, .. } | Op::Remove { path, .. }) = op;
            (!is_plain(path) || path.starts_with(STATE_DIR))
                .then(|| format!("operation on `{path}`, outside the store's documents"))
        })
    }

    /// Checks, before recovery moves anything, that every write can be
    /// finished: its staged file has the content the journal names, or
    /// (done before the crash) the document has. A recovery that would
    /// stop halfway is refused before it starts.
    fn check(&self, store: &FolderStore) -> Result<(), ErrorKind> {
        let root = store.root();
        self.contained(root)?;
        let staging = root.join(&self.staging);
        for op in &self.ops {
            if let Op::Write { path, blake3, .. } = op {
                if holds(&root.join(path), blake3)? == Some(true) {
                    continue;
                }
                match holds(&staging.join(path), blake3)? {
                    Some(true) => {}
                    Some(false) => return Err(ErrorKind::StagedFileDamaged { path: path.clone() }),
                    None => return Err(ErrorKind::StagedFileLost { path: path.clone() }),
                }
            }
        }
        // What the crashed commit had still to replace or remove must be
        // what the run read, and so must what it did replace or remove (now
        // kept aside): an edit saved since is never overwritten, nor
        // cleaned away with the staging folder.
        if self.checked && !self.fresh {
            for op in &self.ops {
                let target = root.join(op.path());
                let found = fs::symlink_metadata(&target)
                    .is_ok()
                    .then_some(target.as_path());
                let (Op::Write { was, .. } | Op::Remove { was, .. }) = op;
                let (pending, kept) = match op {
                    Op::Write { blake3, .. } => (
                        holds(&target, blake3)? != Some(true),
                        vec![self.aside(store, op.path()), staging.join(op.path())],
                    ),
                    Op::Remove { .. } => (found.is_some(), vec![self.aside(store, op.path())]),
                };
                if pending && (matches!(op, Op::Write { .. }) || was.is_some()) {
                    still_read(op.path(), found, *was)?;
                } else if !pending && was.is_some() {
                    let kept = kept
                        .into_iter()
                        .find(|kept| fs::symlink_metadata(kept).is_ok_and(|m| m.is_file()));
                    if let Some(kept) = kept {
                        still_read(op.path(), Some(&kept), *was).map_err(|e| match e {
                            ErrorKind::ChangedDuringRun { path, what, .. } => {
                                ErrorKind::ChangedDuringRun {
                                    path,
                                    what,
                                    kept: Some(kept),
                                }
                            }
                            other => other,
                        })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether no operation has been performed yet: every staged file is
    /// still staged and no document has its staged content, and every file
    /// to remove is still there. A file that cannot be read counts as
    /// touched.
    fn untouched(&self, store: &FolderStore) -> bool {
        let root = store.root();
        let staging = root.join(&self.staging);
        self.ops.iter().all(|op| match op {
            Op::Write { path, blake3, .. } => {
                fs::symlink_metadata(staging.join(path)).is_ok()
                    && matches!(holds(&root.join(path), blake3), Ok(Some(false) | None))
            }
            Op::Remove { path, .. } => root.join(path).exists(),
        })
    }

    /// Performs every operation, calling `tick` after each; repeating it
    /// after a crash is safe: a write whose document has the staged content
    /// was done, a removal of a missing file was done. What a write replaces
    /// is kept where its staged file was (the two change places in one
    /// step), or, where the file system cannot do that, as a hard link
    /// under the staging folder's `.orig/`; what a removal removes is moved
    /// there; for [`Operations::undo`].
    fn apply(&self, store: &FolderStore, tick: &mut dyn FnMut()) -> Result<(), ErrorKind> {
        let root = store.root();
        let staging = root.join(&self.staging);
        let mut dirs = BTreeSet::new();
        self.keep_aside(store, Utf8Path::new(STAMP_ASIDE))?;
        for op in &self.ops {
            match op {
                Op::Write { path, blake3, was } => {
                    let from = staging.join(path);
                    let to = root.join(path);
                    let parent = to.parent().unwrap_or(root).to_owned();
                    if !dirs.contains(&parent) {
                        fsio::create_dir_all_owned(&parent).map_err(io("create", &parent))?;
                    }
                    let done = !self.fresh && holds(&to, blake3)? == Some(true);
                    if !done {
                        let replaced = self.write(store, path, &from, &to)?;
                        self.check_replaced(path, replaced.as_deref(), *was)?;
                    }
                    dirs.insert(parent);
                }
                Op::Remove { path, was } => {
                    let target = root.join(path);
                    fsio::point("remove", &target).map_err(io("remove", &target))?;
                    if fs::symlink_metadata(&target).is_ok() {
                        let aside = self.aside(store, path);
                        if let Some(parent) = aside.parent() {
                            fsio::create_dir_all(parent).map_err(io("create", parent))?;
                        }
                        fs::rename(&target, &aside).map_err(io("remove", &target))?;
                        self.check_replaced(path, Some(&aside), *was)?;
                    }
                    dirs.insert(target.parent().unwrap_or(root).to_owned());
                }
            }
            tick();
        }
        fsio::sync_dirs(root, dirs.iter().map(Utf8PathBuf::as_path)).map_err(io("sync", root))
    }

    /// Puts back, newest first, every document a write replaced or created
    /// and every document a removal removed, then the stamp.
    fn undo(&self, store: &FolderStore) -> Result<(), ErrorKind> {
        let root = store.root();
        for op in self.ops.iter().rev() {
            let target = root.join(op.path());
            let done = match op {
                // What is not a regular file was never written.
                Op::Write { blake3, .. } => {
                    fs::symlink_metadata(&target).is_ok_and(|m| m.is_file())
                        && holds(&target, blake3)? == Some(true)
                }
                Op::Remove { .. } => fs::symlink_metadata(&target).is_err(),
            };
            if done {
                self.put_back(store, op.path(), &target)?;
            }
        }
        let stamp = store.stamp_path();
        self.put_back(store, Utf8Path::new(STAMP_ASIDE), &stamp)?;
        let mut dirs: BTreeSet<Utf8PathBuf> = (self.ops.iter())
            .map(|op| root.join(op.path()).parent().unwrap_or(root).to_owned())
            .collect();
        dirs.insert(store.state_dir());
        fsio::sync_dirs(root, dirs.iter().map(Utf8PathBuf::as_path)).map_err(io("sync", root))
    }

    fn clean(&self, store: &FolderStore) {
        store.remove_staging(&self.staging);
    }

    /// Writes the stamp (or removes it, for a store back to no stamp) and
    /// clears the staging folder.
    fn done(&self, store: &FolderStore, _: Option<&str>) -> Result<(), ErrorKind> {
        let stamp_path = store.stamp_path();
        match self.version {
            Some(version) => {
                let stamp = Stamp {
                    chain: self.chain.clone(),
                    version,
                };
                let text = serde_json::to_string(&stamp).map_err(|e| ErrorKind::Damaged {
                    path: stamp_path.clone(),
                    line: 0,
                    message: e.to_string(),
                })?;
                fsio::write_atomic(&stamp_path, text.as_bytes())
                    .map_err(io("write", &stamp_path))?;
            }
            None => match fsio::point("remove", &stamp_path)
                .and_then(|()| fs::remove_file(&stamp_path))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &stamp_path)(e)),
            },
        }
        store.remove_staging(&self.staging);
        Ok(())
    }
}

/// Refuses to go on when `file` (where the document at `path` is now, if
/// anywhere) is not the document the run read there (`was`).
fn still_read(
    path: &Utf8Path,
    file: Option<&Utf8Path>,
    was: Option<Seen>,
) -> Result<(), ErrorKind> {
    let what = match (file, was) {
        (None, None) => return Ok(()),
        (Some(_), None) => "a file was saved where the run creates a document".to_owned(),
        (None, Some(_)) => "it was removed".to_owned(),
        (Some(file), Some(was)) => {
            let now = fs::symlink_metadata(file).map_err(io("inspect", file))?;
            match was.changed(&now) {
                None => return Ok(()),
                Some(what) => what,
            }
        }
    };
    Err(ErrorKind::ChangedDuringRun {
        path: path.to_owned(),
        what,
        kept: None,
    })
}

/// What the stamp is kept aside as, under the staging folder's `.orig/`
/// (never a document's name: documents do not start with a dot).
const STAMP_ASIDE: &str = ".stamp.json";

/// Whether `file` has the content whose BLAKE3 is `blake3`; `None` if there
/// is no such file. A file that cannot be read (or is not a regular file)
/// is an error, never taken for damage.
fn holds(file: &Utf8Path, blake3: &blake3::Hash) -> Result<Option<bool>, ErrorKind> {
    let blake3 = blake3.to_hex();
    crate::contain::blake3_of(file)
        .map(|found| found.map(|found| found == blake3.as_str()))
        .map_err(io("read", file))
}

/// A BLAKE3 as the journal writes it: 64 lowercase hex digits (kept in
/// memory as its 32 bytes).
mod hex {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(hash: &blake3::Hash, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(hash.to_hex().as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<blake3::Hash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(input)?;
        blake3::Hash::from_hex(text.as_bytes())
            .map_err(|e| de::Error::custom(format!("`blake3` {text:?}: {e}")))
    }
}

impl Op {
    /// Says what a write must find at its path (see [`Op::Write`]'s `was`).
    pub(super) fn expect(&mut self, seen: Option<Seen>) {
        if let Op::Write { was, .. } = self {
            *was = seen;
        }
    }

    /// The document the operation writes or removes.
    pub(super) fn path(&self) -> &Utf8Path {
        let (Op::Write { path, .. } | Op::Remove { path, .. }) = self;
        path
    }
}

impl Commit {
    /// Moves the staged file `from` over the document `to` (`path` in the
    /// store), keeping the document it replaces: where they change places
    /// in one step, at `from`; elsewhere as a hard link under `.orig/`
    /// first.
    /// Returns where the file it replaced is now, if there was one.
    fn write(
        &self,
        store: &FolderStore,
        path: &Utf8Path,
        from: &Utf8Path,
        to: &Utf8Path,
    ) -> Result<Option<Utf8PathBuf>, ErrorKind> {
        fsio::point("commit", to).map_err(io("commit", to))?;
        // A folder is never exchanged for a file: the write fails, as a
        // rename over it does.
        if fs::symlink_metadata(to).is_ok_and(|m| m.is_dir()) {
            return Err(io("commit", to)(io::Error::from(
                io::ErrorKind::IsADirectory,
            )));
        }
        match fsio::exchange(from, to) {
            Ok(fsio::Exchanged::Swapped) => return Ok(Some(from.to_owned())),
            Ok(fsio::Exchanged::Moved) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ErrorKind::StagedFileLost {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() != io::ErrorKind::Unsupported => return Err(io("commit", to)(e)),
            Err(_) => {}
        }
        self.keep_aside(store, path)?;
        fs::rename(from, to).map_err(io("commit", to))?;
        let aside = self.aside(store, path);
        Ok(fs::symlink_metadata(&aside).is_ok().then_some(aside))
    }

    /// In a checked commit, refuses to go on when what a write replaced, or
    /// a removal moved aside (`replaced`, where it is now), is not the
    /// document the run read at `path` (`was`): an edit saved since, which
    /// the undo puts back.
    fn check_replaced(
        &self,
        path: &Utf8Path,
        replaced: Option<&Utf8Path>,
        was: Option<Seen>,
    ) -> Result<(), ErrorKind> {
        if !(self.fresh && self.checked) {
            return Ok(());
        }
        still_read(path, replaced, was)
    }

    /// Where what the commit replaces at `path` is kept aside.
    fn aside(&self, store: &FolderStore, path: &Utf8Path) -> Utf8PathBuf {
        store.root().join(&self.staging).join(".orig").join(path)
    }

    /// Keeps the file at `path` (the stamp for [`STAMP_ASIDE`]) aside as a
    /// hard link, once, if it is there; it costs no copy and survives the
    /// rename over it.
    fn keep_aside(&self, store: &FolderStore, path: &Utf8Path) -> Result<(), ErrorKind> {
        let target = match path.as_str() {
            STAMP_ASIDE => store.stamp_path(),
            _ => store.root().join(path),
        };
        let aside = self.aside(store, path);
        if aside.exists() || !target.exists() {
            return Ok(());
        }
        if let Some(parent) = aside.parent() {
            fsio::create_dir_all(parent).map_err(io("create", parent))?;
        }
        fsio::point("link", &aside)
            .and_then(|()| fs::hard_link(&target, &aside))
            .map_err(io("keep aside", &target))
    }

    /// Puts what was kept aside for `path` back at `target`: the hard link
    /// or removed file under `.orig/`, or the document a write exchanged
    /// with its staged file; where nothing was kept (the commit created
    /// it), removes `target`.
    fn put_back(
        &self,
        store: &FolderStore,
        path: &Utf8Path,
        target: &Utf8Path,
    ) -> Result<(), ErrorKind> {
        let aside = self.aside(store, path);
        let exchanged = store.root().join(&self.staging).join(path);
        let kept = if fs::symlink_metadata(&aside).is_ok() {
            Some(aside)
        } else if path.as_str() != STAMP_ASIDE && fs::symlink_metadata(&exchanged).is_ok() {
            Some(exchanged)
        } else {
            None
        };
        let put = match kept {
            Some(kept) => fsio::point("put back", target).and_then(|()| fs::rename(&kept, target)),
            None => match fsio::point("remove", target).and_then(|()| fs::remove_file(target)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        put.map_err(io("put back", target))
    }

    /// Checks that every path the journal names stays inside the store at
    /// `root`: no folder on the way to a document, or to a staged file (the
    /// staging folder included), is a symbolic link or a file.
    fn contained(&self, root: &Utf8Path) -> Result<(), ErrorKind> {
        for op in &self.ops {
            let (path, staged) = match op {
                Op::Write { path, .. } => (path, Some(self.staging.join(path))),
                Op::Remove { path, .. } => (path, None),
            };
            let found = crate::contain::link_on_way(root, path)
                .or_else(|| crate::contain::link_on_way(root, staged.as_deref()?));
            if let Some((path, reason)) = found {
                return Err(ErrorKind::BadPath {
                    path,
                    reason: format!("named by the commit journal: {reason}"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const VALID: &str = r#"{"run_id":"r1","version":2,"snapshot":"s1",
        "staging":".verchain/staging/r1",
        "ops":[{"op":"write","path":"notes/a.md","blake3":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},{"op":"remove","path":"b.md"}],
        "history":["{}"]}"#;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A damaged or hostile journal is refused with an error naming it,
        /// never a panic; one that is accepted names only plain paths of
        /// documents, verchain's own staging folder and a snapshot by a
        /// plain name.
        #[test]
        fn a_damaged_journal_is_refused_or_names_only_the_stores_documents(
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(
                    b"\"/.\\:{}[],0aZ\xff ".to_vec()
                ), 0..3u8),
                0..8,
            ),
            random in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        ) {
            let mut bytes = random.unwrap_or_else(|| VALID.as_bytes().to_vec());
            for (at, byte, how) in edits {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, byte),
                }
            }
            let dir = tempfile::tempdir().unwrap();
            let path = Utf8Path::from_path(dir.path()).unwrap().join("journal.json");
            fs::write(&path, &bytes).unwrap();
            match Journal::read_at(&path) {
                Ok(Some(journal)) => {
                    prop_assert!(journal.ops.staging.starts_with(".verchain/staging"));
                    if let Some(id) = &journal.snapshot {
                        prop_assert!(crate::contain::snapshot_id_problem(id).is_none(), "{}", id);
                    }
                    for op in &journal.ops.ops {
                        let (Op::Write { path, .. } | Op::Remove { path, .. }) = op;
                        prop_assert!(is_plain(path), "{}", path);
                        prop_assert!(!path.starts_with(".verchain"), "{}", path);
                    }
                }
                Ok(None) => prop_assert!(false, "the journal exists"),
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(message.contains("journal.json"), "{}", message);
                }
            }
        }
    }
}
