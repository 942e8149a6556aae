//! A log file's first line: its header, if it has one, and the version it
//! says.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::error::LogError;
use super::record::LogRecord;
use super::store::LogFile;
use super::worker::split_ending;
use crate::run::{ErrorKind, io};

/// The read buffer.
pub(crate) const READ_BUFFER: usize = 1 << 20;

/// The UTF-8 byte order mark, which a log may start with.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a file's first line and tells its version: its header's, or
/// `unversioned`.
pub(crate) fn detect(
    file: &LogFile,
    version_key: &'static str,
    unversioned: u32,
) -> Result<u32, ErrorKind> {
    version_on(file, &first_line(file)?, version_key, unversioned)
}

/// Whether a file's first line is a header; `None` for an empty file.
pub(crate) fn has_header(file: &LogFile, version_key: &str) -> Result<Option<bool>, ErrorKind> {
    let line = first_line(file)?;
    let (text, _) = split_ending(&line);
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if text.is_empty() && line.len() <= BOM.len() {
        return Ok(None);
    }
    Ok(Some(read_header(file, text, version_key)?.is_some()))
}

/// A file's first line, with its ending (empty for an empty file).
fn first_line(file: &LogFile) -> Result<Vec<u8>, ErrorKind> {
    let raw = File::open(&file.path).map_err(io("open", &file.path))?;
    let mut reader = open_lines(raw, file.compressed).map_err(io("read", &file.path))?;
    let mut line = Vec::new();
    reader
        .read_until(b'\n', &mut line)
        .map_err(io("read", &file.path))?;
    Ok(line)
}

/// The version a file whose first line is `line` is at: its header's, or
/// `unversioned`.
pub(crate) fn version_on(
    file: &LogFile,
    line: &[u8],
    version_key: &'static str,
    unversioned: u32,
) -> Result<u32, ErrorKind> {
    let (text, _) = split_ending(line);
    let text = text.strip_prefix(BOM).unwrap_or(text);
    match read_header(file, text, version_key)? {
        Some((_, meta)) => Ok(meta
            .get(version_key)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(unversioned)),
        None => Ok(unversioned),
    }
}

pub(crate) fn open_lines<'r, R: Read + 'r>(
    raw: R,
    compressed: bool,
) -> io::Result<Box<dyn BufRead + 'r>> {
    Ok(if compressed {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::new(raw)?,
        ))
    } else {
        Box::new(BufReader::with_capacity(READ_BUFFER, raw))
    })
}

/// A header: its line as a record, and its `_meta` fields.
pub(crate) type Header = (LogRecord, Map<String, Value>);

/// The header on `text` (a file's first line), if it is one.
pub(crate) fn read_header(
    file: &LogFile,
    text: &[u8],
    version_key: &str,
) -> Result<Option<Header>, ErrorKind> {
    let bad = |message: String| LogError::BadHeader {
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
