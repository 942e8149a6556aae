//! Reading a log file for its pass: in chunks of whole lines, each about
//! a mebibyte, hashed as they are read (the hash and the tail say later
//! whether the file changed under the run); the first line, when it is a
//! header, is taken out of the first chunk and becomes the new header.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;

use super::fingerprint::Hashing;
use super::first_line::{BOM, read_header};
use super::output::Pool;
use super::stream::{CHUNK, Job};
use super::worker::{Chunk, Done, header_bytes, split_ending};
use crate::run::{Counts, ErrorKind, io};

/// Where a file's bytes come from: the file itself, hashed as they are
/// read, or its zstd frames.
enum Source<'a> {
    Plain(&'a mut Hashing<io::Take<File>>),
    Compressed(
        zstd::stream::read::Decoder<'static, io::BufReader<&'a mut Hashing<io::Take<File>>>>,
    ),
}

impl Source<'_> {
    /// Reads up to `want` more bytes onto `buf`; returns how many (fewer
    /// only at the end of the file).
    fn read_more(&mut self, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
        buf.reserve(want);
        match self {
            // Straight from the file, which reads into the buffer's spare
            // room without clearing it first (a reader of our own would
            // have every byte zeroed before each read), then hashed.
            Source::Plain(hashing) => {
                let start = buf.len();
                let n = (&mut hashing.inner).take(want as u64).read_to_end(buf)?;
                hashing.seen(&buf[start..]);
                Ok(n)
            }
            Source::Compressed(decoder) => decoder.take(want as u64).read_to_end(buf),
        }
    }
}

/// The diff hunk of a header the run adds, changes or removes (`old`, the
/// first line as read when it is a header; `new`, the header written, with
/// its line break), if it does any of these.
fn header_hunk(old: Option<&str>, new: Option<&[u8]>) -> Option<String> {
    let new = new.map(|bytes| {
        let (text, _) = split_ending(bytes);
        String::from_utf8_lossy(text).into_owned()
    });
    match (old, new.as_deref()) {
        (Some(old), Some(new)) if old == new => None,
        (Some(old), Some(new)) => Some(format!("@@ -1 +1 @@\n-{old}\n+{new}\n")),
        (None, Some(new)) => Some(format!("@@ -0,0 +1 @@\n+{new}\n")),
        (Some(old), None) => Some(format!("@@ -1 +0,0 @@\n-{old}\n")),
        (None, None) => None,
    }
}

/// Takes what comes before the records out of a file's first chunk: a
/// byte order mark, which stays at the start of the new file, and the
/// first line when it is a header. Returns the first place of the new
/// file: the mark and the header at the target version (with its diff
/// hunk); `chunk` keeps the records.
pub(crate) fn first_chunk(job: &Job<'_>, chunk: &mut Chunk) -> Result<Done, ErrorKind> {
    // A byte order mark (as some editors write) stays at the start of the
    // new file, before its header.
    let bom = chunk.bytes.starts_with(BOM);
    if bom {
        chunk.bytes.drain(..BOM.len());
        chunk.offset += BOM.len() as u64;
    }
    // The first line: the header, or the first record.
    let end = memchr::memchr(b'\n', &chunk.bytes).map_or(chunk.bytes.len(), |i| i + 1);
    let (text, ending) = split_ending(&chunk.bytes[..end]);
    let header = if end == 0 {
        None
    } else {
        read_header(job.file, text, job.version_key)?
    };
    let is_header = header.is_some();
    let header = header_bytes(job, header, if end == 0 { b"\n" } else { ending })?;
    let hunks = if job.diff_limit > 0 {
        let old = is_header.then(|| String::from_utf8_lossy(text));
        header_hunk(old.as_deref(), header.as_deref())
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let mut out = if bom { BOM.to_vec() } else { Vec::new() };
    out.extend(header.unwrap_or_default());
    if is_header {
        chunk.bytes.drain(..end);
        chunk.first_line = 2;
        chunk.offset += end as u64;
    }
    Ok(Done {
        seq: 0,
        out,
        per_step: vec![Counts::default(); job.moves.len()],
        hunks,
        ..Done::default()
    })
}

/// Reads the file in chunks of whole lines for the workers; the first
/// line, when it is a header, is taken out of the first chunk and becomes
/// the new header.
pub(super) fn read_chunks(
    job: &Job<'_>,
    hashing: &mut Hashing<io::Take<File>>,
    work: &SyncSender<Chunk>,
    done: &SyncSender<Done>,
    inputs: &Pool,
    stop: &AtomicBool,
) -> Result<(), ErrorKind> {
    let path = &job.file.path;
    let read_err = |e| io("read", path)(e);
    let mut reader = match job.file.compressed {
        true => {
            Source::Compressed(zstd::stream::read::Decoder::new(&mut *hashing).map_err(read_err)?)
        }
        false => Source::Plain(&mut *hashing),
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0u64;
    let mut line = 1u64;
    let mut offset = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut bytes = inputs.take(CHUNK + (CHUNK >> 3));
        bytes.append(&mut carry);
        let mut eof = false;
        let mut searched = 0;
        // Whole lines only: a chunk ends at a newline (or the file's end),
        // however long its last line is.
        let cut = loop {
            if bytes.len() < CHUNK {
                let want = CHUNK - bytes.len();
                eof = reader.read_more(&mut bytes, want).map_err(read_err)? < want;
            }
            if eof {
                break bytes.len();
            }
            match memchr::memrchr(b'\n', &bytes[searched..]) {
                Some(i) => break searched + i + 1,
                None => {
                    searched = bytes.len();
                    eof = reader.read_more(&mut bytes, CHUNK).map_err(read_err)? < CHUNK;
                    if eof {
                        break bytes.len();
                    }
                }
            }
        };
        carry.extend_from_slice(&bytes[cut..]);
        bytes.truncate(cut);
        let mut chunk = Chunk {
            seq,
            first_line: line,
            offset,
            bytes,
        };
        if seq == 0 {
            let _ = done.send(first_chunk(job, &mut chunk)?);
        }
        line = chunk.first_line + memchr::memchr_iter(b'\n', &chunk.bytes).count() as u64;
        offset = chunk.offset + chunk.bytes.len() as u64;
        if seq == 0 {
            // The header's `Done` took the first place.
            seq = 1;
        }
        if !chunk.bytes.is_empty() {
            chunk.seq = seq;
            seq += 1;
            if work.send(chunk).is_err() {
                return Ok(());
            }
        }
        if eof && carry.is_empty() {
            break;
        }
    }
    drop(reader);
    // A compressed file may hold bytes after its last frame: read them too,
    // so the hash covers the whole file.
    io::copy(hashing, &mut io::sink()).map_err(read_err)?;
    Ok(())
}
