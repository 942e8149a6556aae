//! The part of staging that needs no one else: one document read, run
//! through the plan, checked and rendered. Worker threads do it for many
//! documents at once ([`in_order`]); the staging thread takes their
//! results in the documents' order, so a run decides, counts, reports and
//! fails exactly as if it had gone through them one by one.

use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, sync_channel};

use camino::{Utf8Path, Utf8PathBuf};

use super::{FolderStore, FrontMatterPolicy};
use crate::run::plan::Move;
use crate::run::{Counts, ErrorKind, Run, ValidationFailure, io};
use crate::snapshot::FileMeta;
use crate::{Document, format, load};

/// How many results one worker may have waiting for the staging thread.
const AHEAD: usize = 32;

/// A document's file as read: its bytes and its attributes.
pub(super) struct Read {
    pub bytes: Vec<u8>,
    /// What a snapshot keeps of its attributes.
    pub meta: FileMeta,
    /// Its permission bits, set-id and sticky bits included: what the file
    /// that replaces it gets.
    pub mode: u32,
    /// What the commit checks it still is before replacing or removing it.
    pub seen: Seen,
}

/// What a document's file was when the run read it: its size, modification
/// time and inode. The commit replaces or removes a document only if it
/// still is that file, so that an edit saved after the run read it is
/// never lost. The commit journal keeps it, so that a recovery that
/// finishes a crashed commit checks it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    size: u64,
    #[serde(with = "crate::fsio::mtime")]
    modified: Option<std::time::SystemTime>,
    inode: u64,
    /// How many names (hard links) the file has: a run replaces or removes
    /// one, and the others would keep the old content.
    pub(super) links: u64,
}

impl Seen {
    /// What `meta` (a file's metadata) says the file is.
    pub(crate) fn of(meta: &std::fs::Metadata) -> Seen {
        #[cfg(unix)]
        let (inode, links) = {
            use std::os::unix::fs::MetadataExt;
            (meta.ino(), meta.nlink())
        };
        #[cfg(not(unix))]
        let (inode, links) = (0, 1);
        Seen {
            size: meta.len(),
            modified: meta.modified().ok(),
            inode,
            links,
        }
    }

    /// How the file `now` differs from this one, in words, if it does.
    pub(crate) fn changed(&self, now: &std::fs::Metadata) -> Option<String> {
        let now = Seen::of(now);
        if now.inode != self.inode {
            Some("it was replaced by another file".to_owned())
        } else if now.size != self.size {
            Some(format!(
                "its size went from {} to {} bytes",
                self.size, now.size
            ))
        } else if now.modified != self.modified {
            Some("it was written to (its modification time changed)".to_owned())
        } else {
            None
        }
    }
}

/// Reads the document at `path` (relative to the store's root): a regular
/// file, never through a link.
pub(super) fn read(store: &FolderStore, path: &Utf8Path) -> Result<Read, ErrorKind> {
    use std::io::Read as _;
    let full = store.root().join(path);
    let (mut file, meta) =
        crate::contain::open_regular_with_meta(&full).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => ErrorKind::BadPath {
                path: path.to_owned(),
                reason: e.to_string(),
            },
            _ => io("read", &full)(e),
        })?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    file.read_to_end(&mut bytes).map_err(io("read", &full))?;
    Ok(Read {
        bytes,
        mode: mode_of(&meta),
        meta: FileMeta::of(&meta),
        seen: Seen::of(&meta),
    })
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().readonly() {
        0o444
    } else {
        0o666
    }
}

/// What a worker made of one document, in the order the staging thread
/// must take it.
pub(super) enum Piece {
    /// The document is at the target already, or (an operator's override)
    /// at a version no step of the run leaves: it stays as it is.
    Stays { version: u32 },
    /// A step's `verify`, or the target's schema, refused a document.
    Failure(ValidationFailure),
    /// A document to write: the original (perhaps moved) or one a step
    /// created.
    Write(Rendered),
    /// A step removed the original.
    Removed,
    /// What ends the run.
    Error(ErrorKind),
}

/// One document the plan has run on, rendered.
pub(super) struct Rendered {
    /// Where it goes, relative to the store.
    pub path: Utf8PathBuf,
    /// Whether it is the document that was read (or a document a step
    /// created).
    pub is_original: bool,
    /// Whether it is the document that was read, at the path it was read
    /// from.
    pub same_place: bool,
    /// Its bytes, or why it cannot be written.
    pub bytes: Result<Vec<u8>, ErrorKind>,
}

/// Everything a worker did for one document.
pub(super) struct Worked {
    /// The file as read, when it was.
    pub read: Option<Read>,
    /// What each step of the plan did to it and the documents it created.
    pub per_step: Vec<Counts>,
    pub pieces: Vec<Piece>,
}

/// What a worker needs to know of the run.
pub(super) struct Job<'a, 'o> {
    pub store: &'a FolderStore,
    pub run: &'a Run<'o, Document>,
    pub plan: &'a [Move<'a, Document>],
    pub target: u32,
}

impl Job<'_, '_> {
    /// Runs the plan on the document at `path`, at `version`; `read` says
    /// whether to read a document the plan does not run on (for the
    /// snapshot).
    pub(super) fn document(&self, path: &Utf8Path, version: u32, read_anyway: bool) -> Worked {
        let mut worked = Worked {
            read: None,
            per_step: Vec::new(),
            pieces: Vec::new(),
        };
        let start = self.plan.iter().position(|m| m.from == version);
        let stays = version == self.target || (start.is_none() && self.run.info.operator_override);
        let Some(start) = start.filter(|_| !stays) else {
            if stays {
                worked.pieces.push(Piece::Stays { version });
                if read_anyway {
                    match read(self.store, path) {
                        Ok(read) => worked.read = Some(read),
                        Err(e) => worked.pieces.push(Piece::Error(e)),
                    }
                }
            } else {
                worked.pieces.push(Piece::Error(ErrorKind::BadPath {
                    path: path.to_owned(),
                    reason: format!(
                        "is at version {version}, which no step of this run leaves (target {})",
                        self.target
                    ),
                }));
            }
            return worked;
        };
        let read = match read(self.store, path) {
            Ok(read) => read,
            Err(e) => {
                worked.pieces.push(Piece::Error(e));
                return worked;
            }
        };
        worked.per_step = vec![Counts::default(); self.plan.len()];
        if let Err(e) = self.run_plan(path, &read.bytes, start, &mut worked) {
            worked.pieces.push(Piece::Error(e));
        }
        worked.read = Some(read);
        worked
    }

    /// Every step from `start` on the document read from `bytes`, and on
    /// the documents the steps create.
    fn run_plan(
        &self,
        path: &Utf8Path,
        bytes: &[u8],
        start: usize,
        worked: &mut Worked,
    ) -> Result<(), ErrorKind> {
        let (doc, parsed) = format::parse(path, bytes)?;
        let mut work = vec![(doc, start, true)];
        while let Some((mut doc, start, is_original)) = work.pop() {
            let mut removed = false;
            for (i, m) in self.plan.iter().enumerate().skip(start) {
                let before = doc.clone();
                if let Some(failure) = load::apply_step(m, &mut doc)? {
                    worked.pieces.push(Piece::Failure(failure));
                }
                // Documents the step created go on, whatever it did to this one.
                let removed_now = doc.is_removed();
                let moved = doc.moved_to().is_some();
                let children = doc.settle();
                let next = (self.plan.iter())
                    .position(|n| n.from == m.to)
                    .unwrap_or(self.plan.len());
                let counts = &mut worked.per_step[i];
                for child in children {
                    counts.created += 1;
                    work.push((child, next, false));
                }
                if removed_now {
                    counts.removed += 1;
                    removed = true;
                    break;
                }
                if moved {
                    counts.created += 1;
                    counts.removed += 1;
                } else if doc == before {
                    counts.unchanged += 1;
                } else {
                    counts.changed += 1;
                }
            }
            if removed {
                if is_original {
                    worked.pieces.push(Piece::Removed);
                }
                continue;
            }
            let from = self.plan.get(start).map_or(self.target, |m| m.from);
            self.render(doc, path, (is_original, from), &parsed, worked);
        }
        Ok(())
    }

    /// Checks a document the plan has run on against the target's schema
    /// and renders it.
    fn render(
        &self,
        mut doc: Document,
        path: &Utf8Path,
        (is_original, from): (bool, u32),
        parsed: &format::Parsed,
        worked: &mut Worked,
    ) {
        let written_back = |cause| ErrorKind::WrittenBack {
            from,
            to: self.target,
            cause,
        };
        if let Some(failure) = load::after_steps(&mut doc, &self.run.chain, self.target) {
            worked.pieces.push(Piece::Failure(failure));
        }
        let new_path = doc.path().to_owned();
        let same_place = is_original && new_path == path;
        let bytes = match self.store.format_of(&new_path) {
            None => Err(ErrorKind::BadPath {
                path: new_path.clone(),
                reason: "has no document format this store reads".to_owned(),
            }),
            // The original's layout carries over, moved or not, unless the
            // format changes.
            Some(format) if is_original && format == parsed.format() => {
                match self.store.front_matter_policy() {
                    FrontMatterPolicy::Add => format::render_adding_front_matter(parsed, &doc),
                    _ => format::render(parsed, &doc),
                }
                .map_err(written_back)
            }
            Some(format) => format::render_new(format, &doc).map_err(written_back),
        };
        worked.pieces.push(Piece::Write(Rendered {
            path: new_path,
            is_original,
            same_place,
            bytes,
        }));
    }
}

/// How many threads work on documents beside the staging thread.
pub(super) fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8))
}

/// Runs `work(i)` for each `i` below `count` on `threads` threads, and
/// hands each result to `take` on the calling thread, in the order of `i`.
/// Stops at the first `Break` of `take`, and returns it. A worker is at
/// most [`AHEAD`] results ahead of `take`: memory does not grow with
/// `count`.
pub(super) fn in_order<T: Send, B>(
    count: usize,
    threads: usize,
    work: impl Fn(usize) -> T + Sync,
    mut take: impl FnMut(usize, T) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let threads = threads.max(1);
    std::thread::scope(|scope| {
        let work = &work;
        let receivers: Vec<Receiver<T>> = (0..threads)
            .map(|k| {
                let (send, receive) = sync_channel(AHEAD);
                scope.spawn(move || {
                    for i in (k..count).step_by(threads) {
                        // The staging thread stopped: so do we.
                        if send.send(work(i)).is_err() {
                            break;
                        }
                    }
                });
                receive
            })
            .collect();
        for i in 0..count {
            let Ok(result) = receivers[i % threads].recv() else {
                // A worker ended early: it panicked, and the scope says so.
                break;
            };
            take(i, result)?;
        }
        ControlFlow::Continue(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_a_break_stops_the_workers() {
        for threads in 1..4 {
            let mut seen = Vec::new();
            let flow = in_order(
                1000,
                threads,
                |i| i * 2,
                |i, doubled| {
                    assert_eq!(doubled, i * 2);
                    seen.push(i);
                    ControlFlow::<()>::Continue(())
                },
            );
            assert_eq!(flow, ControlFlow::Continue(()));
            assert_eq!(seen, (0..1000).collect::<Vec<_>>());
            let stopped = in_order(
                100_000,
                threads,
                |i| i,
                |i, _| {
                    if i == 10 {
                        ControlFlow::Break(i)
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            assert_eq!(stopped, ControlFlow::Break(10));
        }
    }
}
