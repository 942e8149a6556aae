//! Where one file's pass writes: the new file, flushed to disk by a thread
//! of its own as it grows, and the buffers that go round between the reader,
//! the workers and the writer.

use std::fs::{self, File};
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, sync_channel};

use camino::Utf8PathBuf;

use super::stream::Job;
use crate::fsio::{self, point};
use crate::run::{ErrorKind, io};

/// How much the writer writes before it asks the disk to catch up, so the
/// final fsync has little left to do.
const SYNC_EVERY: u64 = 32 << 20;

/// Where the output goes: the new file (zstd-compressed for a `.zst` file),
/// or nowhere in a dry run. Every write and the final fsync pass a fault
/// point; the flusher's early flushes do not, as they run on a thread of
/// their own and only bring forward what the final fsync does.
pub(crate) enum Output {
    None,
    Plain {
        file: File,
        path: Utf8PathBuf,
        unsynced: u64,
        flusher: Flusher,
    },
    Zstd {
        encoder: zstd::stream::write::Encoder<'static, fsio::PointedWriter<File>>,
        path: Utf8PathBuf,
    },
}

/// A thread that asks the disk to write out what the writer has written so
/// far, while the writer goes on: the final fsync then has little left.
pub(crate) struct Flusher {
    ask: Option<SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Flusher {
    fn start(file: &File) -> io::Result<Flusher> {
        let file = file.try_clone()?;
        let (ask, asked) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("verchain-log-flush".to_owned())
            .spawn(move || {
                for () in asked {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Flusher {
            ask: Some(ask),
            thread: Some(thread),
        })
    }

    /// Asks for a flush, unless one is still going on.
    fn ask(&self) {
        if let Some(ask) = &self.ask {
            let _ = ask.try_send(());
        }
    }

    fn stop(&mut self) -> io::Result<()> {
        self.ask = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the flushing thread panicked")),
            None => Ok(()),
        }
    }
}

impl Output {
    pub(crate) fn open(job: &Job<'_>) -> Result<Output, ErrorKind> {
        let Some(path) = &job.output else {
            return Ok(Output::None);
        };
        let file = point("create", path)
            .and_then(|()| fsio::create(path))
            .map_err(io("create", path))?;
        // The file it replaces gives it its owner (when running as root)
        // first, since a change of owner clears the set-id bits, then its
        // permission bits.
        let like = &job.file.path;
        let meta = fs::metadata(like).map_err(io("inspect", like))?;
        let owner = crate::snapshot::FileMeta::of(&meta);
        point("set owner of", path)
            .and_then(|()| fsio::give_owner(&file, owner.uid, owner.gid))
            .map_err(io("set owner of", path))?;
        file.set_permissions(meta.permissions())
            .map_err(io("set permissions of", path))?;
        Ok(if job.file.compressed {
            Output::Zstd {
                encoder: zstd::stream::write::Encoder::new(fsio::PointedWriter::new(file, path), 3)
                    .map_err(io("compress", path))?,
                path: path.clone(),
            }
        } else {
            let flusher = Flusher::start(&file).map_err(io("write", path))?;
            Output::Plain {
                file,
                path: path.clone(),
                unsynced: 0,
                flusher,
            }
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::None => Ok(()),
            Output::Plain {
                file,
                path,
                unsynced,
                flusher,
            } => {
                fsio::write_all(file, "write", path, bytes)?;
                *unsynced += bytes.len() as u64;
                if *unsynced >= SYNC_EVERY {
                    flusher.ask();
                    *unsynced = 0;
                }
                Ok(())
            }
            // The compressed bytes pass the fault points, on their way to
            // the file.
            Output::Zstd { encoder, .. } => encoder.write_all(bytes),
        }
    }

    /// Flushes and fsyncs the file.
    pub(crate) fn finish(self) -> io::Result<()> {
        match self {
            Output::None => Ok(()),
            Output::Plain {
                file,
                path,
                mut flusher,
                ..
            } => {
                flusher.stop()?;
                point("fsync", &path)?;
                file.sync_all()
            }
            Output::Zstd { encoder, path } => {
                let file = encoder.finish()?.inner;
                point("fsync", &path)?;
                file.sync_all()
            }
        }
    }
}

/// Buffers to reuse, so memory does not churn (or creep) chunk after chunk.
pub(crate) struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl Pool {
    pub(crate) fn new(keep: usize) -> Pool {
        Pool {
            free: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self
            .free
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    pub(crate) fn give(&self, buf: Vec<u8>) {
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.keep
        {
            free.push(buf);
        }
    }
}
