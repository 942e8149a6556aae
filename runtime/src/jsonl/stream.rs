//! One file's streaming pass: read a line, run the steps on it, check it,
//! write it. Memory stays flat whatever the file's size: one line, a few
//! output buffers on their way to a writer thread, and the read buffer.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value};

use super::error::JsonlError;
use super::record::{LogHeader, LogRecord};
use super::step::{LogBody, LogVerify};
use super::store::LogFile;
use crate::run::{Counts, ErrorKind, ValidationFailure, io};
use crate::{BoxError, StepMeta};

/// How much output is gathered before it goes to the writer thread.
const CHUNK: usize = 1 << 20;
/// Output buffers in flight to the writer thread.
const IN_FLIGHT: usize = 4;
/// The read buffer.
const READ_BUFFER: usize = 1 << 20;
/// How much the writer writes before it asks the disk to catch up, so the
/// final fsync has little left to do.
const SYNC_EVERY: u64 = 64 << 20;
/// How many bytes of a file's end are kept to notice a rewrite.
pub(crate) const TAIL: usize = 4096;
/// How many validation failures a report lists (all are counted).
pub(crate) const FAILURES_LISTED: usize = 100;

/// One step as a run applies it to a file, up or down.
pub(crate) struct Move<'a> {
    pub meta: &'a StepMeta,
    pub from: u32,
    pub to: u32,
    pub body: &'a LogBody,
    pub verify: Option<&'a LogVerify>,
}

/// Checks a record against the target version's schema type, if the chain
/// declares one.
pub(crate) type SchemaCheck<'a> = &'a dyn Fn(&LogRecord) -> Option<Result<(), BoxError>>;

/// What to do to one file.
pub(crate) struct Job<'a> {
    pub file: &'a LogFile,
    pub target: u32,
    /// The steps from `version` to `target`.
    pub moves: &'a [Move<'a>],
    pub version_key: &'static str,
    /// The version of a file without a header.
    pub unversioned: u32,
    pub schema: SchemaCheck<'a>,
    /// Where malformed lines go; `None`: a malformed line fails the run.
    pub quarantine: Option<Utf8PathBuf>,
    /// Whether to write quarantined lines (not in a dry run).
    pub write_quarantine: bool,
    /// The new file; `None` in a dry run.
    pub output: Option<Utf8PathBuf>,
    /// How many changed records get a diff.
    pub diff_limit: usize,
}

/// The file as the run read it, to notice a change before the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub blake3: String,
    pub tail: Vec<u8>,
}

impl Seen {
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
        if tail_of(path, self.size)? != self.tail {
            return Ok(Some("its last bytes changed".to_owned()));
        }
        Ok(None)
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

/// What one file's pass did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub seen: Option<Seen>,
    /// Records read (the header and blank lines are not records).
    pub records: u64,
    /// Records whose bytes changed.
    pub changed: u64,
    pub quarantined: u64,
    /// Per move: records the step changed or left alone.
    pub per_step: Vec<Counts>,
    /// A diff of the first changed lines.
    pub diff: String,
    pub diffs: usize,
    pub failures: Vec<ValidationFailure>,
    pub failure_total: u64,
    /// Bytes written (uncompressed).
    pub written: u64,
}

/// Reads a file's first line and tells its version: its header's, or
/// `unversioned`.
pub(crate) fn detect(
    file: &LogFile,
    version_key: &'static str,
    unversioned: u32,
) -> Result<u32, ErrorKind> {
    let raw = File::open(&file.path).map_err(io("open", &file.path))?;
    let mut reader = open_lines(raw, file.compressed).map_err(io("read", &file.path))?;
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .map_err(io("read", &file.path))?;
    let (text, _) = split_ending(&line);
    match read_header(file, text, version_key)? {
        Some((_, meta)) => Ok(meta
            .get(version_key)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(unversioned)),
        None => Ok(unversioned),
    }
}

fn open_lines<'r, R: Read + 'r>(raw: R, compressed: bool) -> io::Result<Box<dyn BufRead + 'r>> {
    Ok(if compressed {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::new(raw)?,
        ))
    } else {
        Box::new(BufReader::with_capacity(READ_BUFFER, raw))
    })
}

/// A line's text and its ending (`\n`, `\r\n` or none).
fn split_ending(line: &[u8]) -> (&[u8], &'static [u8]) {
    if let Some(text) = line.strip_suffix(b"\r\n") {
        (text, b"\r\n")
    } else if let Some(text) = line.strip_suffix(b"\n") {
        (text, b"\n")
    } else {
        (line, b"")
    }
}

/// A header: its line as a record, and its `_meta` fields.
type Header = (LogRecord, Map<String, Value>);

/// The header on `text` (a file's first line), if it is one.
fn read_header(
    file: &LogFile,
    text: &[u8],
    version_key: &str,
) -> Result<Option<Header>, ErrorKind> {
    let bad = |message: String| JsonlError::BadHeader {
        path: file.path.clone(),
        message,
    };
    let looks_like_header = memchr::memmem::find(text, b"\"_meta\"").is_some();
    let parsed = std::str::from_utf8(text)
        .map_err(|e| e.to_string())
        .and_then(|t| LogRecord::parse(t).map_err(|e| e.to_string()));
    let record = match parsed {
        Ok(record) => record,
        Err(message) if looks_like_header => {
            return Err(bad(format!(
                "the first line names `_meta` but is not JSON: {message}"
            ))
            .into());
        }
        Err(_) => return Ok(None),
    };
    match record.get("_meta") {
        None => Ok(None),
        Some(Value::Object(meta)) => {
            if let Some(value) = meta.get(version_key)
                && value.as_u64().is_none_or(|v| u32::try_from(v).is_err())
            {
                return Err(bad(format!(
                    "`_meta.{version_key}` is {value}, not a version number"
                ))
                .into());
            }
            Ok(Some((record, meta)))
        }
        Some(other) => Err(bad(format!("`_meta` is {other}, not an object")).into()),
    }
}

/// Reads the file, hashing the bytes on disk and keeping their tail.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    tail: Vec<u8>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bytes = &buf[..n];
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
        Ok(n)
    }
}

/// Where the output goes: a writer thread, or nowhere (a dry run).
struct Sink {
    tx: Option<SyncSender<Vec<u8>>>,
    back: Option<Receiver<Vec<u8>>>,
    writer: Option<JoinHandle<io::Result<u64>>>,
    path: Option<Utf8PathBuf>,
    written: u64,
}

impl Sink {
    fn open(path: Option<&Utf8Path>, compressed: bool, like: &Utf8Path) -> Result<Sink, ErrorKind> {
        let Some(path) = path else {
            return Ok(Sink {
                tx: None,
                back: None,
                writer: None,
                path: None,
                written: 0,
            });
        };
        let file = File::create(path).map_err(io("create", path))?;
        let permissions = fs::metadata(like)
            .map_err(io("inspect", like))?
            .permissions();
        file.set_permissions(permissions)
            .map_err(io("set permissions of", path))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (back_tx, back) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let writer = std::thread::Builder::new()
            .name("verchain-jsonl-writer".to_owned())
            .spawn(move || write_all(file, compressed, &rx, &back_tx))
            .map_err(io("start a writer for", path))?;
        Ok(Sink {
            tx: Some(tx),
            back: Some(back),
            writer: Some(writer),
            path: Some(path.to_owned()),
            written: 0,
        })
    }

    /// Hands `buf` to the writer and gives back an empty buffer.
    fn send(&mut self, buf: &mut Vec<u8>) -> Result<(), ErrorKind> {
        self.written += buf.len() as u64;
        let Some(tx) = &self.tx else {
            buf.clear();
            return Ok(());
        };
        let spare = self
            .back
            .as_ref()
            .and_then(|b| b.try_recv().ok())
            .unwrap_or_else(|| Vec::with_capacity(CHUNK + (CHUNK >> 2)));
        let full = std::mem::replace(buf, spare);
        if tx.send(full).is_err() {
            // The writer stopped: its error says why.
            return self.finish().map(drop);
        }
        Ok(())
    }

    /// Waits for the writer to write, flush and fsync everything.
    fn finish(&mut self) -> Result<u64, ErrorKind> {
        self.tx = None;
        let Some(writer) = self.writer.take() else {
            return Ok(self.written);
        };
        let path = self.path.clone().unwrap_or_default();
        match writer.join() {
            Ok(Ok(_)) => Ok(self.written),
            Ok(Err(e)) => Err(io("write", path)(e)),
            Err(_) => Err(io("write", path)(io::Error::other(
                "the writer thread panicked",
            ))),
        }
    }
}

fn write_all(
    file: File,
    compressed: bool,
    rx: &Receiver<Vec<u8>>,
    back: &SyncSender<Vec<u8>>,
) -> io::Result<u64> {
    let mut written = 0u64;
    let mut unsynced = 0u64;
    if compressed {
        let mut encoder = zstd::stream::write::Encoder::new(file, 3)?;
        for mut buf in rx {
            encoder.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
            let _ = back.try_send(buf);
        }
        let file = encoder.finish()?;
        file.sync_all()?;
    } else {
        let mut file = file;
        for mut buf in rx {
            file.write_all(&buf)?;
            written += buf.len() as u64;
            unsynced += buf.len() as u64;
            buf.clear();
            let _ = back.try_send(buf);
            if unsynced >= SYNC_EVERY {
                file.sync_data()?;
                unsynced = 0;
            }
        }
        file.sync_all()?;
    }
    Ok(written)
}

/// The state of one pass.
struct Pass<'j, 'a> {
    job: &'j Job<'a>,
    out: Vec<u8>,
    outcome: Outcome,
    quarantine: Option<io::BufWriter<File>>,
}

/// Migrates (or, without an output, checks) one file.
pub(crate) fn run(job: &Job<'_>) -> Result<Outcome, ErrorKind> {
    let path = &job.file.path;
    let meta = fs::metadata(path).map_err(io("inspect", path))?;
    let size = meta.len();
    let modified = meta.modified().ok();
    let raw = File::open(path).map_err(io("open", path))?;
    let mut hashing = Hashing {
        inner: raw.take(size),
        hasher: blake3::Hasher::new(),
        tail: Vec::with_capacity(TAIL * 2),
    };
    let mut sink = Sink::open(job.output.as_deref(), job.file.compressed, path)?;
    let mut pass = Pass {
        job,
        out: Vec::with_capacity(CHUNK + (CHUNK >> 2)),
        outcome: Outcome {
            per_step: vec![Counts::default(); job.moves.len()],
            ..Outcome::default()
        },
        quarantine: None,
    };
    let result = (|| {
        let mut reader = open_lines(&mut hashing, job.file.compressed).map_err(io("read", path))?;
        pass.lines(&mut *reader, &mut sink)?;
        drop(reader);
        // A compressed file may hold bytes after its last frame: read them
        // too, so the hash covers the whole file.
        io::copy(&mut hashing, &mut io::sink()).map_err(io("read", path))?;
        if !pass.out.is_empty() {
            sink.send(&mut pass.out)?;
        }
        if let Some(mut q) = pass.quarantine.take() {
            let qpath = job.quarantine.clone().unwrap_or_default();
            q.flush().map_err(io("write", &qpath))?;
            q.get_ref().sync_all().map_err(io("sync", &qpath))?;
        }
        sink.finish()
    })();
    let written = match result {
        Ok(written) => written,
        Err(e) => {
            let _ = sink.finish();
            if let Some(output) = &job.output {
                let _ = fs::remove_file(output);
            }
            return Err(e);
        }
    };
    let mut outcome = pass.outcome;
    outcome.written = written;
    outcome.seen = Some(Seen {
        size,
        modified,
        blake3: hashing.hasher.finalize().to_hex().to_string(),
        tail: hashing.tail,
    });
    Ok(outcome)
}

impl Pass<'_, '_> {
    fn lines(&mut self, reader: &mut dyn BufRead, sink: &mut Sink) -> Result<(), ErrorKind> {
        let job = self.job;
        let path = &job.file.path;
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut record = LogRecord::default();
        let mut line_no = 0u64;
        let mut offset = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(io("read", path))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let start = offset;
            offset += n as u64;
            let (text, ending) = split_ending(&buf);
            let text_len = text.len();
            if line_no == 1 {
                let header = read_header(job.file, text, job.version_key)?;
                let is_header = header.is_some();
                self.write_header(header, ending)?;
                if is_header {
                    continue;
                }
            }
            if buf[..text_len].iter().all(u8::is_ascii_whitespace) {
                // A blank line is not a record; it stays as it is.
                self.out.extend_from_slice(&buf);
            } else {
                buf.truncate(text_len);
                buf = self.record(
                    std::mem::take(&mut buf),
                    ending,
                    line_no,
                    start,
                    &mut record,
                )?;
            }
            if self.out.len() >= CHUNK {
                sink.send(&mut self.out)?;
            }
        }
        if line_no == 0 {
            self.write_header(None, b"\n")?;
        }
        Ok(())
    }

    /// Writes the header the file has at the target version: its old header
    /// (or a new one) after the header steps, with the version key set.
    /// A header left with only the version, at the version a file without a
    /// header has, is not written.
    fn write_header(
        &mut self,
        found: Option<Header>,
        ending: &'static [u8],
    ) -> Result<(), ErrorKind> {
        let job = self.job;
        let (mut line, fields) = match found {
            Some((line, fields)) => (Some(line), fields),
            None => (None, Map::new()),
        };
        let mut header = LogHeader::new(fields);
        for m in job.moves {
            if !m.body.is_header_step() {
                continue;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| m.body.apply_header(header.clone())));
            header = match outcome {
                Ok(Ok(header)) => header,
                Ok(Err(cause)) => return Err(step_error(job, m, 1, 0, Ok(cause))),
                Err(panic) => return Err(step_error(job, m, 1, 0, Err(panic))),
            };
        }
        let mut fields = header.into_fields();
        match fields.get_mut(job.version_key) {
            Some(value) => *value = Value::from(job.target),
            None => {
                fields.shift_insert(0, job.version_key.to_owned(), Value::from(job.target));
            }
        }
        let bare = fields.len() == 1
            && job.target == job.unversioned
            && line.as_ref().is_none_or(|l| l.keys().count() == 1);
        if bare {
            return Ok(());
        }
        let ending: &[u8] = if ending.is_empty() { b"\n" } else { ending };
        match &mut line {
            Some(line) => {
                line.set("_meta", Value::Object(fields));
                line.write_to(&mut self.out);
            }
            None => {
                let mut meta = Map::new();
                meta.insert("_meta".to_owned(), Value::Object(fields));
                let _ = serde_json::to_writer(&mut self.out, &Value::Object(meta));
            }
        }
        self.out.extend_from_slice(ending);
        Ok(())
    }

    /// One record line: parse, run the steps, check, write. Returns the
    /// line's buffer for the next line.
    fn record(
        &mut self,
        bytes: Vec<u8>,
        ending: &'static [u8],
        line: u64,
        offset: u64,
        record: &mut LogRecord,
    ) -> Result<Vec<u8>, ErrorKind> {
        let job = self.job;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let message = format!("not UTF-8 ({})", e.utf8_error());
                let bytes = e.into_bytes();
                self.malformed(&bytes, ending, line, offset, message)?;
                return Ok(bytes);
            }
        };
        if let Err(e) = record.reset(text, line) {
            let bytes = record.take_text().into_bytes();
            self.malformed(&bytes, ending, line, offset, e.to_string())?;
            return Ok(bytes);
        }
        self.outcome.records += 1;
        for (i, m) in job.moves.iter().enumerate() {
            let counts = &mut self.outcome.per_step[i];
            if m.body.is_header_step() {
                counts.unchanged += 1;
                continue;
            }
            let edits = record.edits();
            match catch_unwind(AssertUnwindSafe(|| m.body.apply(record))) {
                Ok(Ok(())) => {}
                Ok(Err(cause)) => return Err(step_error(job, m, line, offset, Ok(cause))),
                Err(panic) => return Err(step_error(job, m, line, offset, Err(panic))),
            }
            if record.edits() == edits {
                counts.unchanged += 1;
            } else {
                counts.changed += 1;
            }
            if let Some(verify) = m.verify
                && let Err(e) = verify(record)
            {
                self.fail(Some(m.meta.id), m.to, line, offset, e);
            }
        }
        if let Some(Err(e)) = (job.schema)(record) {
            self.fail(None, job.target, line, offset, e);
        }
        let mark = self.out.len();
        record.write_to(&mut self.out);
        let changed = record.is_changed() && self.out[mark..] != *record_text(record);
        if changed {
            self.outcome.changed += 1;
            if self.outcome.diffs < job.diff_limit {
                self.outcome.diffs += 1;
                let new = String::from_utf8_lossy(&self.out[mark..]).into_owned();
                let old = record_text(record);
                self.outcome.diff.push_str(&format!(
                    "@@ -{line} +{line} @@\n-{}\n+{new}\n",
                    String::from_utf8_lossy(old)
                ));
            }
        }
        self.out.extend_from_slice(ending);
        Ok(record.take_text().into_bytes())
    }

    /// A line that is not a record: fails the run, or goes to quarantine.
    fn malformed(
        &mut self,
        bytes: &[u8],
        ending: &[u8],
        line: u64,
        offset: u64,
        message: String,
    ) -> Result<(), ErrorKind> {
        let job = self.job;
        let Some(qpath) = &job.quarantine else {
            return Err(JsonlError::Malformed {
                path: job.file.path.clone(),
                line,
                offset,
                message,
            }
            .into());
        };
        self.outcome.quarantined += 1;
        if !job.write_quarantine {
            return Ok(());
        }
        if self.quarantine.is_none() {
            if let Some(parent) = qpath.parent() {
                fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            let file = File::create(qpath).map_err(io("create", qpath))?;
            self.quarantine = Some(io::BufWriter::new(file));
        }
        if let Some(q) = &mut self.quarantine {
            let ending: &[u8] = if ending.is_empty() { b"\n" } else { ending };
            q.write_all(bytes)
                .and_then(|()| q.write_all(ending))
                .map_err(io("write", qpath))?;
        }
        Ok(())
    }

    fn fail(
        &mut self,
        step: Option<&'static str>,
        version: u32,
        line: u64,
        offset: u64,
        e: BoxError,
    ) {
        self.outcome.failure_total += 1;
        if self.outcome.failures.len() < FAILURES_LISTED {
            self.outcome.failures.push(ValidationFailure {
                path: self.job.file.path.clone(),
                step,
                version,
                message: format!("line {line} (byte {offset}): {e}"),
            });
        }
    }
}

fn record_text(record: &LogRecord) -> &[u8] {
    record.original().as_bytes()
}

fn step_error(
    job: &Job<'_>,
    m: &Move<'_>,
    line: u64,
    offset: u64,
    outcome: Result<BoxError, Box<dyn std::any::Any + Send>>,
) -> ErrorKind {
    let path = job.file.path.clone();
    match outcome {
        Ok(cause) => JsonlError::Step {
            step: m.meta.id,
            from: m.from,
            to: m.to,
            path,
            line,
            offset,
            cause,
        },
        Err(panic) => JsonlError::StepPanicked {
            step: m.meta.id,
            from: m.from,
            to: m.to,
            path,
            line,
            offset,
            message: panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned()),
        },
    }
    .into()
}

/// The file as it is now: size, modification time, BLAKE3 and tail.
pub(crate) fn hash_file(path: &Utf8Path) -> Result<Seen, ErrorKind> {
    let meta = fs::metadata(path).map_err(io("inspect", path))?;
    let size = meta.len();
    let file = File::open(path).map_err(io("open", path))?;
    let mut hashing = Hashing {
        inner: file.take(size),
        hasher: blake3::Hasher::new(),
        tail: Vec::with_capacity(TAIL * 2),
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(io("read", path))?;
    Ok(Seen {
        size,
        modified: meta.modified().ok(),
        blake3: hashing.hasher.finalize().to_hex().to_string(),
        tail: hashing.tail,
    })
}
