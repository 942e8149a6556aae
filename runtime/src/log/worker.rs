//! What happens to the lines of one chunk of a file: each is parsed, run
//! through the steps, checked and written to the chunk's output. Chunks are
//! worked on in parallel and put back in order by the writer.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Map, Value};

use super::error::LogError;
use super::header::LogHeader;
use super::record::LogRecord;
use super::stream::{Header, Job, Move};
use crate::BoxError;
use crate::run::{Counts, ErrorKind, ValidationFailure};

/// Consecutive whole lines of a file.
pub(crate) struct Chunk {
    /// Its place among the file's chunks.
    pub seq: u64,
    /// The number of its first line, 1-based.
    pub first_line: u64,
    /// The offset of its first byte in the (uncompressed) file.
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// What became of one chunk.
#[derive(Default)]
pub(crate) struct Done {
    pub seq: u64,
    pub out: Vec<u8>,
    pub records: u64,
    pub changed: u64,
    pub per_step: Vec<Counts>,
    /// Diff hunks of the first changed lines (at most the diff limit).
    pub hunks: Vec<String>,
    pub failures: Vec<ValidationFailure>,
    pub failure_total: u64,
    /// Malformed lines, with their endings, in order.
    pub quarantined: Vec<u8>,
    pub quarantined_count: u64,
    /// The first error, which ends the run.
    pub error: Option<ErrorKind>,
    /// The input buffer, to be reused.
    pub spare: Vec<u8>,
    /// How many bytes of the file the chunk held.
    pub read: usize,
}

/// A line's text and its ending (`\n`, `\r\n` or none).
pub(crate) fn split_ending(line: &[u8]) -> (&[u8], &'static [u8]) {
    if let Some(text) = line.strip_suffix(b"\r\n") {
        (text, b"\r\n")
    } else if let Some(text) = line.strip_suffix(b"\n") {
        (text, b"\n")
    } else {
        (line, b"")
    }
}

/// Works on chunks; holds the record it reuses from line to line.
pub(crate) struct Worker<'j, 'a> {
    job: &'j Job<'a>,
    record: LogRecord,
    line: Vec<u8>,
}

impl<'j, 'a> Worker<'j, 'a> {
    pub fn new(job: &'j Job<'a>) -> Self {
        Worker {
            job,
            record: LogRecord::default(),
            line: Vec::with_capacity(4096),
        }
    }

    /// Works on every line of `chunk`, stopping at the first error.
    pub fn chunk(&mut self, chunk: Chunk, out: Vec<u8>) -> Done {
        let mut done = Done {
            seq: chunk.seq,
            read: chunk.bytes.len(),
            out,
            per_step: vec![Counts::default(); self.job.moves.len()],
            ..Done::default()
        };
        let mut line_no = chunk.first_line;
        let mut offset = chunk.offset;
        let mut rest = chunk.bytes.as_slice();
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let (line, tail) = rest.split_at(end);
            rest = tail;
            if let Err(e) = self.line(line, line_no, offset, &mut done) {
                done.error = Some(e);
                break;
            }
            line_no += 1;
            offset += line.len() as u64;
        }
        done.spare = chunk.bytes;
        done
    }

    fn line(
        &mut self,
        line: &[u8],
        line_no: u64,
        offset: u64,
        done: &mut Done,
    ) -> Result<(), ErrorKind> {
        let (text, ending) = split_ending(line);
        if text.iter().all(u8::is_ascii_whitespace) {
            // A blank line is not a record; it stays as it is.
            done.out.extend_from_slice(line);
            return Ok(());
        }
        let mut bytes = std::mem::take(&mut self.line);
        bytes.clear();
        bytes.extend_from_slice(text);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let message = format!("not UTF-8 ({})", e.utf8_error());
                self.line = e.into_bytes();
                return self.malformed(line, line_no, offset, message, done);
            }
        };
        if let Err(e) = self.record.reset(text, line_no) {
            self.line = self.record.take_text().into_bytes();
            return self.malformed(line, line_no, offset, within_line(&e), done);
        }
        let result = self.steps(line_no, offset, ending, done);
        self.line = self.record.take_text().into_bytes();
        result
    }

    fn steps(
        &mut self,
        line: u64,
        offset: u64,
        ending: &[u8],
        done: &mut Done,
    ) -> Result<(), ErrorKind> {
        let job = self.job;
        let record = &mut self.record;
        done.records += 1;
        for (i, m) in job.moves.iter().enumerate() {
            let counts = &mut done.per_step[i];
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
                fail(job, done, Some(m.meta.id), m.to, line, offset, &e);
            }
        }
        if let Some(Err(e)) = (job.schema)(record) {
            fail(job, done, None, job.target, line, offset, &e);
        }
        let mark = done.out.len();
        record.write_to(&mut done.out);
        if record.is_changed() && done.out[mark..] != *record.original().as_bytes() {
            done.changed += 1;
            if done.hunks.len() < job.diff_limit {
                done.hunks.push(format!(
                    "@@ -{line} +{line} @@\n-{}\n+{}\n",
                    record.original(),
                    String::from_utf8_lossy(&done.out[mark..])
                ));
            }
        }
        done.out.extend_from_slice(ending);
        Ok(())
    }

    /// A line that is not a record: fails the run, or goes to quarantine.
    fn malformed(
        &mut self,
        line: &[u8],
        line_no: u64,
        offset: u64,
        message: String,
        done: &mut Done,
    ) -> Result<(), ErrorKind> {
        let job = self.job;
        if job.quarantine.is_none() {
            return Err(LogError::Malformed {
                path: job.file.path.clone(),
                line: line_no,
                offset,
                message,
            }
            .into());
        }
        done.quarantined_count += 1;
        done.quarantined.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            done.quarantined.push(b'\n');
        }
        Ok(())
    }
}

/// serde_json's message with its position given as a column of the line
/// (serde_json counts lines from the start of the text it was given: the
/// line itself, which the caller names).
fn within_line(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} at column {}", e.column()),
        None => text,
    }
}

fn fail(
    job: &Job<'_>,
    done: &mut Done,
    step: Option<&'static str>,
    version: u32,
    line: u64,
    offset: u64,
    e: &BoxError,
) {
    done.failure_total += 1;
    if done.failures.len() < crate::run::FAILURES_LISTED {
        done.failures.push(ValidationFailure {
            path: job.file.path.clone(),
            step,
            version,
            message: format!("line {line} (byte {offset}): {e}"),
        });
    }
}

/// The header the file has at the target version: its old header (or a new
/// one) after the header steps, with the version key set, and its ending.
/// `None` for a header left with only the version at the version a file
/// without a header has: it is not written.
pub(crate) fn header_bytes(
    job: &Job<'_>,
    found: Option<Header>,
    ending: &'static [u8],
) -> Result<Option<Vec<u8>>, ErrorKind> {
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
        return Ok(None);
    }
    let mut out = Vec::new();
    match &mut line {
        Some(line) => {
            line.set("_meta", Value::Object(fields));
            line.write_to(&mut out);
        }
        None => {
            let mut meta = Map::new();
            meta.insert("_meta".to_owned(), Value::Object(fields));
            let _ = serde_json::to_writer(&mut out, &Value::Object(meta));
        }
    }
    out.extend_from_slice(if ending.is_empty() { b"\n" } else { ending });
    Ok(Some(out))
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
        Ok(cause) => LogError::Step {
            step: m.meta.id,
            from: m.from,
            to: m.to,
            path,
            line,
            offset,
            cause,
        },
        Err(panic) => LogError::StepPanicked {
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
