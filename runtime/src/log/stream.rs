//! One file's streaming pass: read chunks of lines, run the steps on each
//! line, check it, write it. Memory stays flat whatever the file's size: a
//! few chunks of about a megabyte each are in flight at any time.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use camino::Utf8PathBuf;

use super::chunks::read_chunks;
pub(crate) use super::fingerprint::{Fingerprint, hash_file};
use super::fingerprint::{Hashing, TAIL};
pub(crate) use super::first_line::{Header, detect, has_header, version_on};
use super::output::{Output, Pool};
use super::record::LogRecord;
use super::store::LogFile;
use super::worker::Done;
pub(crate) use super::worker::{Chunk, Worker};
use crate::BoxError;
use crate::fsio;
use crate::run::{Counts, ErrorKind, Event, Observer, Stage, ValidationFailure, io};

/// How many bytes of whole lines make a chunk.
pub(super) const CHUNK: usize = 1 << 20;

/// One step as a run applies it to a file, up or down.
pub(crate) type Move<'a> = crate::run::plan::Move<'a, LogRecord>;

/// Checks a record against the target version's schema type, if the chain
/// declares one.
pub(crate) type SchemaCheck<'a> = &'a (dyn Fn(&LogRecord) -> Option<Result<(), BoxError>> + Sync);

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
    /// Where bytes done are counted, for the observer.
    pub progress: Option<&'a Progress<'a>>,
}

/// Bytes of the run's files done so far, told to the observer as
/// `progress` events (about two hundred over the run, not one a chunk).
pub(crate) struct Progress<'o> {
    observer: &'o Observer,
    done: AtomicUsize,
    total: usize,
    every: usize,
}

impl<'o> Progress<'o> {
    pub(crate) fn new(observer: &'o Observer, total: usize) -> Self {
        Progress {
            observer,
            done: AtomicUsize::new(0),
            total,
            every: (total / 200).max(1),
        }
    }

    /// `n` more bytes done.
    pub(crate) fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.done.fetch_add(n, Ordering::Relaxed);
        let done = before + n;
        if done / self.every != before / self.every || done >= self.total {
            self.observer.emit(&Event::Progress {
                stage: Stage::Stage,
                done: done.min(self.total),
                total: self.total,
            });
        }
    }
}

/// What one file's pass did.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    pub seen: Option<Fingerprint>,
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
    /// Bytes of the file told to the observer so far.
    pub counted: usize,
}

/// The value, or `None` with the error kept in `slot` (the first one wins).
fn keep_first<T>(slot: &mut Option<ErrorKind>, result: Result<T, ErrorKind>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            slot.get_or_insert(e);
            None
        }
    }
}

/// Puts the workers' chunks back in order, writes them, and adds up what
/// they did; stops writing at the first error.
struct Collector<'j, 'a> {
    job: &'j Job<'a>,
    outcome: Pass,
    output: Output,
    quarantine: Option<io::BufWriter<fsio::PointedWriter<File>>>,
    error: Option<ErrorKind>,
}

impl Collector<'_, '_> {
    fn take(&mut self, out: &[u8], done: Done) -> Result<(), ErrorKind> {
        let job = self.job;
        let out_path = || job.output.clone().unwrap_or_default();
        if !done.quarantined.is_empty() && job.write_quarantine {
            let qpath = job.quarantine.clone().unwrap_or_default();
            if self.quarantine.is_none() {
                if let Some(parent) = qpath.parent() {
                    fsio::create_dir_all(parent).map_err(io("create", parent))?;
                }
                let file = fsio::point("create", &qpath)
                    .and_then(|()| fsio::create(&qpath))
                    .map_err(io("create", &qpath))?;
                self.quarantine = Some(io::BufWriter::new(fsio::PointedWriter::new(file, &qpath)));
            }
            if let Some(q) = &mut self.quarantine {
                q.write_all(&done.quarantined)
                    .map_err(io("write", &qpath))?;
            }
        }
        self.output
            .write(out)
            .map_err(|e| io("write", out_path())(e))?;
        let o = &mut self.outcome;
        if let Some(progress) = job.progress
            && !job.file.compressed
        {
            progress.add(done.read);
            o.counted += done.read;
        }
        o.written += out.len() as u64;
        o.records += done.records;
        o.changed += done.changed;
        o.quarantined += done.quarantined_count;
        for (total, c) in o.per_step.iter_mut().zip(&done.per_step) {
            total.changed += c.changed;
            total.unchanged += c.unchanged;
        }
        for hunk in done.hunks {
            if o.diffs < job.diff_limit {
                o.diffs += 1;
                o.diff.push_str(&hunk);
            }
        }
        o.failure_total += done.failure_total;
        let room = crate::run::FAILURES_LISTED.saturating_sub(o.failures.len());
        o.failures.extend(done.failures.into_iter().take(room));
        if let Some(e) = done.error {
            return Err(e);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Pass, ErrorKind> {
        let job = self.job;
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(mut q) = self.quarantine.take() {
            let qpath = job.quarantine.clone().unwrap_or_default();
            q.flush().map_err(io("write", &qpath))?;
            fsio::point("fsync", &qpath)
                .and_then(|()| q.get_ref().inner.sync_all())
                .map_err(io("sync", &qpath))?;
        }
        let path = job.output.clone().unwrap_or_default();
        self.output.finish().map_err(io("write", path))?;
        Ok(self.outcome)
    }
}

/// How many threads work on chunks.
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
}

/// Migrates (or, without an output, checks) one file: the calling thread
/// reads it into chunks of whole lines, workers run the steps on the chunks
/// in parallel, and a writer thread puts them back in order, writes and
/// fsyncs the new file.
pub(crate) fn run(job: &Job<'_>) -> Result<Pass, ErrorKind> {
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
    let output = Output::open(job)?;
    let workers = workers();
    let stop = AtomicBool::new(false);
    let (work_tx, work_rx) = sync_channel::<Chunk>(workers);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = sync_channel::<Done>(workers * 2);
    // Buffers go round: the reader fills input buffers, workers empty them
    // and fill output buffers, the writer empties those.
    let inputs = Pool::new(workers * 3 + 2);
    let outputs = Pool::new(workers * 3 + 2);
    let result = std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (work_rx, stop, inputs, outputs) = (&work_rx, &stop, &inputs, &outputs);
            scope.spawn(move || {
                let mut worker = Worker::new(job);
                loop {
                    let chunk = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok(chunk) = chunk else { break };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    let out = outputs.take(chunk.bytes.len() + (chunk.bytes.len() >> 2));
                    let mut done = worker.chunk(chunk, out);
                    inputs.give(std::mem::take(&mut done.spare));
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        let collector = {
            let (stop, outputs) = (&stop, &outputs);
            scope.spawn(move || {
                let mut collector = Collector {
                    job,
                    outcome: Pass {
                        per_step: vec![Counts::default(); job.moves.len()],
                        ..Pass::default()
                    },
                    output,
                    quarantine: None,
                    error: None,
                };
                let mut waiting: BTreeMap<u64, Done> = BTreeMap::new();
                let mut next = 0u64;
                for done in done_rx {
                    waiting.insert(done.seq, done);
                    while let Some(mut done) = waiting.remove(&next) {
                        next += 1;
                        if collector.error.is_some() {
                            continue;
                        }
                        let out = std::mem::take(&mut done.out);
                        let taken = collector.take(&out, done);
                        outputs.give(out);
                        if keep_first(&mut collector.error, taken).is_none() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                if !waiting.is_empty() && collector.error.is_none() {
                    collector.error = Some(io("write", &job.file.path)(io::Error::other(
                        "a chunk of the file went missing between the reader and the writer",
                    )));
                }
                collector.finish()
            })
        };
        let read = read_chunks(job, &mut hashing, &work_tx, &done_tx, &inputs, &stop);
        drop(work_tx);
        drop(done_tx);
        let collected = collector
            .join()
            .unwrap_or_else(|_| Err(io("write", path)(io::Error::other("the writer panicked"))));
        // An error of the run's own (a step's, a bad line) comes first: the
        // reader stopped because of it.
        match (collected, read) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(outcome), Ok(())) => Ok(outcome),
        }
    });
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(output) = &job.output {
                let _ = fs::remove_file(output);
            }
            return Err(e);
        }
    };
    if let Some(progress) = job.progress {
        // The header, and compressed files, are counted whole at the end.
        progress.add((size as usize).saturating_sub(outcome.counted));
    }
    outcome.seen = Some(Fingerprint {
        size,
        modified,
        blake3: hashing.hasher.finalize().to_hex().to_string(),
        tail: hashing.tail,
    });
    Ok(outcome)
}
