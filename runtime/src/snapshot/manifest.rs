//! An archive's manifest: read as a stream from its first entry (never
//! more than [`manifest_limit`] of the archive's size) and checked before
//! any file is read: its format, fields, paths, hashes and attributes.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, BufRead, Read};

use camino::Utf8Path;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::read::{Decoder, corrupt};
use super::{
    FORMAT, FileMeta, MANIFEST_NAME, MANIFEST_RATIO, MAX_MANIFEST, Manifest, ManifestEntry,
    SnapshotError, manifest_limit, path,
};
use crate::clock::Instant;

/// Reads the manifest from the first entry of an archive of
/// `archive_size` bytes and checks it.
pub(super) fn manifest_entry(
    archive: &Utf8Path,
    archive_size: u64,
    first: Option<io::Result<tar::Entry<'_, Decoder>>>,
) -> Result<Manifest, SnapshotError> {
    let invalid = |reason: String| SnapshotError::InvalidManifest {
        archive: archive.to_owned(),
        reason,
    };
    let entry = match first {
        None => return Err(invalid("the archive is empty".into())),
        Some(entry) => entry.map_err(|e| corrupt(archive, e))?,
    };
    let name = entry.path_bytes();
    if &*name != MANIFEST_NAME.as_bytes() {
        return Err(invalid(format!(
            "the first entry is {}, not {MANIFEST_NAME}",
            String::from_utf8_lossy(&name)
        )));
    }
    if entry.header().entry_type() != tar::EntryType::Regular {
        return Err(invalid(format!("{MANIFEST_NAME} is not a regular file")));
    }
    let size = entry.size();
    let limit = manifest_limit(archive_size);
    if size > limit {
        return Err(invalid(format!(
            "{MANIFEST_NAME} is {size} bytes, more than the limit of {limit} for an archive of \
             {archive_size} bytes ({MAX_MANIFEST}, or {MANIFEST_RATIO} times the archive's size)"
        )));
    }
    let mut counted = Counted {
        inner: entry.take(size),
        read: 0,
        failed: None,
    };
    let parsed = parse_from(archive, io::BufReader::with_capacity(1 << 16, &mut counted));
    if let Some(e) = counted.failed.take() {
        return Err(corrupt(archive, e));
    }
    // A manifest refused before its end may be so because it is cut short:
    // that is said first. What is left is at most `size` bytes.
    if parsed.is_err() || counted.read < size {
        io::copy(&mut counted, &mut io::sink()).map_err(|e| corrupt(archive, e))?;
    }
    if counted.read != size {
        return Err(corrupt(
            archive,
            io::Error::new(io::ErrorKind::UnexpectedEof, "the manifest is cut short"),
        ));
    }
    parsed
}

/// A reader that counts the bytes read through it and keeps its first
/// error.
struct Counted<R> {
    inner: R,
    read: u64,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failed.get_or_insert(e);
                Err(io::Error::new(kind, "reading the manifest failed"))
            }
        }
    }
}

/// Reads a manifest's JSON and checks it: its format, fields, paths and
/// hashes.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_manifest(archive: &Utf8Path, bytes: &[u8]) -> Result<Manifest, SnapshotError> {
    parse_from(archive, bytes)
}

/// Reads a manifest's JSON from `reader`, as a stream, and checks it.
fn parse_from(archive: &Utf8Path, mut reader: impl BufRead) -> Result<Manifest, SnapshotError> {
    let invalid = |reason: String| SnapshotError::InvalidManifest {
        archive: archive.to_owned(),
        reason,
    };
    if first_byte(&mut reader).map_err(|e| corrupt(archive, e))? != Some(b'{') {
        // Refused, unless it is not JSON at all: serde says where.
        let mut de = serde_json::Deserializer::from_reader(reader);
        de::Deserialize::deserialize(&mut de)
            .and_then(|IgnoredAny| de.end())
            .map_err(|e| invalid(e.to_string()))?;
        return Err(invalid("not a JSON object".into()));
    }
    // The format is checked as soon as it is read (verchain writes it
    // first), so that a newer format reads as "unknown format", not as a
    // confusing field error. The manifest is read straight into a
    // `Manifest`: memory stays near the size of what it lists.
    let mut unknown_format = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = de::Deserializer::deserialize_map(
        &mut de,
        Fields {
            unknown_format: &mut unknown_format,
        },
    )
    .and_then(|fields| de.end().map(|()| fields));
    if let Some(format) = unknown_format {
        return Err(SnapshotError::UnknownFormat {
            archive: archive.to_owned(),
            format,
            known: FORMAT,
        });
    }
    let manifest = read
        .map_err(|e| invalid(e.to_string()))?
        .map_err(|reason| invalid(reason.into()))?;
    if Instant::parse_rfc3339(&manifest.created).is_none() {
        return Err(invalid(format!(
            "`created` is not an RFC 3339 UTC time: {:?}",
            manifest.created
        )));
    }
    let mut paths = HashSet::with_capacity(manifest.files.len());
    for file in &manifest.files {
        if let Some(reason) = path::problem(&file.path) {
            return Err(SnapshotError::UnsafePath {
                archive: archive.to_owned(),
                entry: file.path.clone(),
                reason: format!("in the manifest: {reason}"),
            });
        }
        if file.blake3.len() != 64
            || !file
                .blake3
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(format!(
                "entry {}: `blake3` is not 64 lowercase hex digits",
                file.path
            )));
        }
        if !paths.insert(file.path.as_str()) {
            return Err(invalid(format!("entry {} is listed twice", file.path)));
        }
        if let Some(problem) = file.meta.as_ref().and_then(FileMeta::problem) {
            return Err(invalid(format!("entry {}: {problem}", file.path)));
        }
    }
    // A path cannot be both a file and a folder of another file.
    for file in &manifest.files {
        let mut rest = file.path.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            if paths.contains(parent) {
                return Err(invalid(format!(
                    "entry {parent} is a file but also a folder of entry {}",
                    file.path
                )));
            }
            rest = parent;
        }
    }
    Ok(manifest)
}

/// The first byte that is not JSON white space, left unread.
fn first_byte(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let byte = buf[at];
                reader.consume(at);
                return Ok(Some(byte));
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Reads a manifest's fields in the order they come, stopping at an
/// unknown format (which it keeps in `unknown_format`).
struct Fields<'a> {
    unknown_format: &'a mut Option<String>,
}

/// A manifest's field names, as [`Manifest`] has them.
const FIELDS: &[&str] = &[
    "format",
    "chain",
    "run_id",
    "from_version",
    "to_version",
    "created",
    "files",
];

impl<'de> Visitor<'de> for Fields<'_> {
    /// The manifest, or why it is missing a field.
    type Value = Result<Manifest, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(E::duplicate_field(name)),
                None => Ok(()),
            }
        }
        let mut format = None;
        let mut chain = None;
        let mut run_id = None;
        let mut from_version = None;
        let mut to_version = None;
        let mut created = None;
        let mut files: Option<Vec<ManifestEntry>> = None;
        let mut unknown = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => {
                    let value: serde_json::Value = map.next_value()?;
                    let known = value.as_u64().filter(|f| super::reads_format(*f));
                    let Some(known) = known.and_then(|f| u32::try_from(f).ok()) else {
                        *self.unknown_format = Some(value.to_string());
                        return Err(de::Error::custom("unknown format"));
                    };
                    once(&mut format, known, "format")?;
                }
                "chain" => once(&mut chain, map.next_value()?, "chain")?,
                "run_id" => once(&mut run_id, map.next_value()?, "run_id")?,
                "from_version" => once(&mut from_version, map.next_value()?, "from_version")?,
                "to_version" => once(&mut to_version, map.next_value()?, "to_version")?,
                "created" => once(&mut created, map.next_value()?, "created")?,
                "files" => once(&mut files, map.next_value()?, "files")?,
                _ => {
                    // Refused once the format is known to be one of ours.
                    map.next_value::<IgnoredAny>()?;
                    unknown.get_or_insert(key);
                }
            }
        }
        let Some(format) = format else {
            return Ok(Err("no `format` field"));
        };
        if let Some(key) = unknown {
            return Err(de::Error::unknown_field(&key, FIELDS));
        }
        let missing = de::Error::missing_field;
        Ok(Ok(Manifest {
            format,
            chain: chain.ok_or_else(|| missing("chain"))?,
            run_id: run_id.flatten(),
            from_version: from_version.ok_or_else(|| missing("from_version"))?,
            to_version: to_version.ok_or_else(|| missing("to_version"))?,
            created: created.ok_or_else(|| missing("created"))?,
            files: files.ok_or_else(|| missing("files"))?,
        }))
    }
}
