//! One log file (a rotated file from an archive, a log copied from an old
//! machine) brought to the current version in memory, through the log
//! store's own streaming pass: its first chunk (the header, at the target
//! version) and a worker's pass over the records, run on one buffer.

use camino::Utf8PathBuf;
use serde::de::DeserializeOwned;

use super::LoadError;
use crate::Chain;
use crate::chain::checked_steps;
use crate::log::LogRecord;
use crate::log::chunks;
use crate::log::store::LogFile;
use crate::log::stream::{self, Chunk, Job, Worker};
use crate::run::detect::in_range;
use crate::run::{ChainInfo, ErrorKind, plan};

/// A log file brought to its chain's current version in memory: what
/// [`Chain::load_log`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedLog {
    chain: &'static str,
    read_at: u32,
    current: u32,
    bytes: Vec<u8>,
}

impl LoadedLog {
    /// The version the file was at when it was read (its header's, or the
    /// chain's base for a file without one).
    pub fn read_at(&self) -> u32 {
        self.read_at
    }

    /// Whether it was older than the current version.
    pub fn upgraded(&self) -> bool {
        self.read_at != self.current
    }

    /// The file at the current version, as a run of its store would write
    /// it: the header at the current version, then each record (records a
    /// step did not change keep their bytes).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Every record (the header and blank lines left out) as the type `T`,
    /// in order. An error names the line.
    pub fn records_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, LoadError> {
        let text = String::from_utf8_lossy(&self.bytes);
        let damaged = |line: usize, message: String| {
            LoadError::refused(
                self.chain,
                ErrorKind::Damaged {
                    path: Utf8PathBuf::from(UNNAMED),
                    line,
                    message,
                },
            )
        };
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            if line.trim().is_empty() {
                continue;
            }
            if i == 0 {
                let first = LogRecord::parse(line).map_err(|e| damaged(1, e.to_string()))?;
                if first.get("_meta").is_some() {
                    continue;
                }
            }
            let record = serde_json::from_str(line).map_err(|e| damaged(i + 1, e.to_string()))?;
            records.push(record);
        }
        Ok(records)
    }
}

/// What a log read from bytes is called in messages.
const UNNAMED: &str = "log.jsonl";

/// `bytes`, one log file (uncompressed), brought to chain `C`'s current
/// version in memory (see [`Chain::load_log`]). A file without a header
/// is at the chain's base version.
pub fn load_log<C: Chain<Record = LogRecord>>(bytes: &[u8]) -> Result<LoadedLog, LoadError> {
    let name = C::NAME;
    let refused = |kind: ErrorKind| LoadError::refused(name, kind);
    let steps = checked_steps::<C>().map_err(|e| refused(e.into()))?;
    let chain = ChainInfo::of::<C>();
    let file = LogFile {
        path: Utf8PathBuf::from(UNNAMED),
        name: UNNAMED.to_owned(),
        compressed: false,
    };
    let first_line = match memchr::memchr(b'\n', bytes) {
        Some(end) => &bytes[..=end],
        None => bytes,
    };
    let read_at = stream::version_on(&file, first_line, chain.version_key, chain.base)
        .and_then(|v| in_range(&chain, &file.path, v))
        .map_err(refused)?;
    let current = chain.current;
    let mut loaded = LoadedLog {
        chain: name,
        read_at,
        current,
        bytes: bytes.to_vec(),
    };
    // A run leaves a current file as it is, byte for byte.
    if read_at == current {
        return Ok(loaded);
    }
    let moves = plan::up(&steps, read_at, current);
    let schema = |record: &LogRecord| (chain.check_schema)(current, record);
    let job = Job {
        file: &file,
        target: current,
        moves: &moves,
        version_key: chain.version_key,
        unversioned: chain.base,
        schema: &schema,
        quarantine: None,
        write_quarantine: false,
        output: None,
        diff_limit: 0,
        progress: None,
    };
    let mut chunk = Chunk {
        seq: 0,
        first_line: 1,
        offset: 0,
        bytes: bytes.to_vec(),
    };
    let mut out = chunks::first_chunk(&job, &mut chunk).map_err(refused)?.out;
    let done = Worker::new(&job).chunk(chunk, Vec::new());
    if let Some(kind) = done.error {
        return Err(refused(kind));
    }
    if let Some(failure) = done.failures.into_iter().next() {
        return Err(LoadError::Invalid {
            chain: name,
            failure,
        });
    }
    out.extend_from_slice(&done.out);
    loaded.bytes = out;
    Ok(loaded)
}
