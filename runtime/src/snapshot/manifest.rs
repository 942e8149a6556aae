//! An archive's manifest: read from its first entry (never more than
//! [`MAX_MANIFEST`] bytes) and checked before any file is read: its format,
//! fields, paths, hashes and attributes.

use std::collections::HashSet;
use std::io::{self, Read};

use camino::Utf8Path;

use super::read::{Decoder, corrupt};
use super::{FORMAT, FileMeta, MANIFEST_NAME, MAX_MANIFEST, Manifest, SnapshotError, path};
use crate::clock::Instant;

/// Reads the manifest from the archive's first entry and checks it.
pub(super) fn manifest_entry(
    archive: &Utf8Path,
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
    if size > MAX_MANIFEST {
        return Err(invalid(format!(
            "{MANIFEST_NAME} is {size} bytes, more than the limit of {MAX_MANIFEST}"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .take(MAX_MANIFEST)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(archive, e))?;
    if bytes.len() as u64 != size {
        return Err(corrupt(
            archive,
            io::Error::new(io::ErrorKind::UnexpectedEof, "the manifest is cut short"),
        ));
    }
    parse_manifest(archive, &bytes)
}

/// Reads a manifest's JSON and checks it: its format, fields, paths and
/// hashes.
pub(crate) fn parse_manifest(archive: &Utf8Path, bytes: &[u8]) -> Result<Manifest, SnapshotError> {
    let invalid = |reason: String| SnapshotError::InvalidManifest {
        archive: archive.to_owned(),
        reason,
    };
    // The format is checked before the fields, so that a newer format reads
    // as "unknown format", not as a confusing field error. Only the format
    // is kept from that first pass (the rest is skipped unstored), and the
    // second reads straight into a `Manifest`: memory stays near the
    // manifest's own size.
    #[derive(serde::Deserialize)]
    struct FormatOnly {
        format: Option<serde_json::Value>,
    }
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        // Refused, unless it is not JSON at all: serde says where.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| invalid(e.to_string()))?;
        return Err(invalid("not a JSON object".into()));
    }
    let first: FormatOnly = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    match first.format {
        None => return Err(invalid("no `format` field".into())),
        Some(format) if !format.as_u64().is_some_and(super::reads_format) => {
            return Err(SnapshotError::UnknownFormat {
                archive: archive.to_owned(),
                format: format.to_string(),
                known: FORMAT,
            });
        }
        Some(_) => {}
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
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
