//! What a run saw of a log file when it read it (size, modification time,
//! BLAKE3, last bytes), to notice, before it commits, a file that an
//! application appended to or rewrote in the meantime.

use std::fs::{self, File};
use std::io::{self, Read};
use std::time::SystemTime;

use camino::Utf8Path;

use crate::run::{ErrorKind, io};

/// How many bytes of a file's end are kept to notice a rewrite.
pub(crate) const TAIL: usize = 4096;

/// The file as the run read it, to notice a change before the commit. The
/// commit journal keeps it, its tail aside, so that a recovery that
/// finishes a crashed commit checks it too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    #[serde(with = "crate::fsio::mtime")]
    pub modified: Option<SystemTime>,
    pub blake3: String,
    /// The last bytes (none where read back from a journal).
    #[serde(skip)]
    pub tail: Vec<u8>,
}

impl Fingerprint {
    /// How the file differs now from when it was read, if it does.
    pub(crate) fn changed(&self, path: &Utf8Path) -> Result<Option<String>, ErrorKind> {
        let meta = fs::metadata(path).map_err(io("inspect", path))?;
        if meta.len() != self.size {
            let how = if meta.len() > self.size {
                "grew"
            } else {
                "shrank"
            };
            return Ok(Some(format!(
                "{how} from {} to {} bytes",
                self.size,
                meta.len()
            )));
        }
        if meta.modified().ok() != self.modified {
            return Ok(Some(
                "it was written to (its modification time changed)".to_owned(),
            ));
        }
        let tail_known = !self.tail.is_empty() || self.size == 0;
        if tail_known && tail_of(path, self.size)? != self.tail {
            return Ok(Some("its last bytes changed".to_owned()));
        }
        Ok(None)
    }
}

impl Fingerprint {
    /// Whether the file at `path` holds the bytes the run read (by their
    /// BLAKE3).
    pub(crate) fn same_bytes(&self, path: &Utf8Path) -> bool {
        hash_file(path).is_ok_and(|now| now.blake3 == self.blake3)
    }
}

/// The last [`TAIL`] bytes of the file's first `size` bytes.
pub(crate) fn tail_of(path: &Utf8Path, size: u64) -> Result<Vec<u8>, ErrorKind> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path).map_err(io("open", path))?;
    let start = size.saturating_sub(TAIL as u64);
    file.seek(SeekFrom::Start(start))
        .map_err(io("read", path))?;
    let mut tail = Vec::with_capacity(TAIL);
    file.take(size - start)
        .read_to_end(&mut tail)
        .map_err(io("read", path))?;
    Ok(tail)
}

/// Reads the file, hashing the bytes on disk and keeping their tail.
pub(crate) struct Hashing<R> {
    pub inner: R,
    pub hasher: blake3::Hasher,
    pub tail: Vec<u8>,
}

impl<R> Hashing<R> {
    /// Takes in `bytes`, the next ones read from `inner` (by this reader
    /// or, where it is faster, straight from `inner`).
    pub fn seen(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.hasher.update(bytes);
        if n >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[n - TAIL..]);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > TAIL {
                self.tail.drain(..self.tail.len() - TAIL);
            }
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen(&buf[..n]);
        Ok(n)
    }
}

/// The file as it is now: size, modification time, BLAKE3 and tail.
pub(crate) fn hash_file(path: &Utf8Path) -> Result<Fingerprint, ErrorKind> {
    let meta = fs::metadata(path).map_err(io("inspect", path))?;
    let size = meta.len();
    let file = File::open(path).map_err(io("open", path))?;
    let mut hashing = Hashing {
        inner: file.take(size),
        hasher: blake3::Hasher::new(),
        tail: Vec::with_capacity(TAIL * 2),
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(io("read", path))?;
    Ok(Fingerprint {
        size,
        modified: meta.modified().ok(),
        blake3: hashing.hasher.finalize().to_hex().to_string(),
        tail: hashing.tail,
    })
}
