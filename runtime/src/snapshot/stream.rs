//! Writing a snapshot while a run reads its files: each file goes into the
//! archive with the very bytes the run read, so nothing is read twice and
//! nothing can change between the hash and the copy. The files' entries are
//! compressed as they come into a body file (one zstd frame); when the run
//! is ready to commit, [`Streamed::finish`] writes the manifest as a zstd
//! frame of its own, then the body after it, into the archive's temporary
//! file, which is synced and linked into place as [`create`](super::create)
//! does. A zstd reader (verchain's, `zstd -d`, `tar --zstd`) reads
//! consecutive frames as one stream, so the archive is the same tar as one
//! [`create`](super::create) writes: the manifest first, then the files in
//! its order.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

use camino::{Utf8Path, Utf8PathBuf};

use super::write::{
    Counted, LEVEL, create_dir, entry_path, file_header, manifest_size, place, regular_header,
    temp_file,
};
use super::{FORMAT, FileMeta, MANIFEST_NAME, Manifest, ManifestEntry, SnapshotError};
use crate::clock::Instant;
use crate::fsio::PointedWriter;

type Body = tar::Builder<zstd::Encoder<'static, BufWriter<PointedWriter<File>>>>;

/// A snapshot being written as a run reads its files.
pub(crate) struct Streamed {
    body_path: Utf8PathBuf,
    body: Body,
    files: Vec<ManifestEntry>,
}

/// A snapshot [`Streamed::finish`] placed.
pub(crate) struct Placed {
    /// Its id.
    pub id: String,
    /// How many files it holds.
    pub files: usize,
}

impl Streamed {
    /// Starts a snapshot whose body is written to `body_path` (a new file,
    /// which [`Streamed::finish`] removes; a caller that gives up removes
    /// it with the folder it is in).
    pub(crate) fn new(body_path: &Utf8Path) -> Result<Self, SnapshotError> {
        let create_error = |e| SnapshotError::io("create", body_path, e);
        crate::fsio::point("create", body_path).map_err(create_error)?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(body_path).map_err(create_error)?;
        let write_error = |e| SnapshotError::io("write", body_path, e);
        let pointed = PointedWriter::new(file, body_path);
        let mut encoder = zstd::Encoder::new(BufWriter::with_capacity(1 << 16, pointed), LEVEL)
            .map_err(write_error)?;
        encoder.include_checksum(true).map_err(write_error)?;
        Ok(Streamed {
            body_path: body_path.to_owned(),
            body: tar::Builder::new(encoder),
            files: Vec::new(),
        })
    }

    /// Makes room for `more` files to come, so that the list of them grows
    /// once.
    pub(crate) fn reserve(&mut self, more: usize) {
        self.files.reserve_exact(more);
    }

    /// How many files the snapshot holds so far.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Adds the file at `path` (relative to the store's root), whose content
    /// is `bytes` and whose attributes are `meta`. Files come in the order of
    /// their paths, each once.
    pub(crate) fn add(
        &mut self,
        path: &Utf8Path,
        bytes: &[u8],
        meta: FileMeta,
    ) -> Result<(), SnapshotError> {
        let entry = entry_path(path)?;
        if let Some(last) = self.files.last()
            && Utf8Path::new(&last.path) >= path
        {
            return Err(SnapshotError::InvalidSource {
                path: entry,
                reason: format!("comes after {} (listed twice, or out of order)", last.path),
            });
        }
        let path = entry;
        let mut header = file_header(bytes.len() as u64, &meta);
        self.body
            .append_data(&mut header, &path, bytes)
            .map_err(|e| SnapshotError::io("write", &self.body_path, e))?;
        self.files.push(ManifestEntry {
            path,
            size: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
            meta: Some(meta),
        });
        Ok(())
    }

    /// Writes the snapshot of chain `chain`'s run from `from_version` to
    /// `to_version` (run `run_id`) into `dir`, named as [`create`](super::create) names
    /// it, synced; `root` is the store, as errors name it.
    pub(crate) fn finish(
        self,
        root: &Utf8Path,
        dir: &Utf8Path,
        chain: &str,
        run_id: &str,
        from_version: u32,
        to_version: u32,
    ) -> Result<Placed, SnapshotError> {
        let Streamed {
            body_path,
            body,
            files,
        } = self;
        let write_error = |e| SnapshotError::io("write", &body_path, e);
        let encoder = body.into_inner().map_err(write_error)?;
        let mut buffered = encoder.finish().map_err(write_error)?;
        buffered.flush().map_err(write_error)?;
        drop(buffered);

        let now = Instant::from_system(SystemTime::now());
        let manifest = Manifest {
            format: FORMAT,
            chain: chain.to_owned(),
            run_id: Some(run_id.to_owned()),
            from_version,
            to_version,
            created: now.rfc3339(),
            files,
        };
        // The manifest is written as it is serialised, never held as JSON.
        let size = manifest_size(root, &manifest)?;
        let count = manifest.files.len();
        create_dir(dir)?;
        let base = format!("{}_pre_v{from_version}_to_v{to_version}", now.file_stamp());
        let (temp_path, temp) = temp_file(dir, &base)?;
        let written = write_frames(&manifest, size, &body_path, temp, &temp_path, now)
            .and_then(|()| place(dir, &base, &temp_path));
        let _ = fs::remove_file(&body_path);
        match written {
            Ok((id, _)) => Ok(Placed { id, files: count }),
            Err(e) => {
                let _ = fs::remove_file(&temp_path);
                Err(e)
            }
        }
    }
}

/// The manifest's frame (its JSON `size` bytes long), then the body's, into
/// `temp`, which is synced.
fn write_frames(
    manifest: &Manifest,
    size: u64,
    body_path: &Utf8Path,
    temp: File,
    temp_path: &Utf8Path,
    now: Instant,
) -> Result<(), SnapshotError> {
    let write_error = |e| SnapshotError::io("write", temp_path, e);
    let pointed = PointedWriter::new(temp, temp_path);
    let mut encoder = zstd::Encoder::new(pointed, LEVEL).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    let mut header = regular_header(size, 0o600, now.unix_secs());
    header
        .set_path(MANIFEST_NAME)
        .and_then(|()| {
            header.set_cksum();
            encoder.write_all(header.as_bytes())
        })
        .map_err(write_error)?;
    let mut json = Counted::new(BufWriter::with_capacity(1 << 16, encoder));
    serde_json::to_writer(&mut json, manifest).map_err(|e| write_error(e.into()))?;
    if json.bytes != size {
        return Err(write_error(io::Error::other(format!(
            "the manifest came out {} bytes long, not the {size} counted",
            json.bytes
        ))));
    }
    let mut encoder = json
        .inner
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    let padding = usize::try_from((512 - size % 512) % 512).unwrap_or(0);
    encoder
        .write_all(&[0; 512][..padding])
        .map_err(write_error)?;
    let mut temp = encoder.finish().map_err(write_error)?.inner;
    let mut body = File::open(body_path).map_err(|e| SnapshotError::io("read", body_path, e))?;
    crate::fsio::point("copy", temp_path)
        .and_then(|()| io::copy(&mut body, &mut temp))
        .map_err(write_error)?;
    crate::fsio::point("sync", temp_path)
        .and_then(|()| temp.sync_all())
        .map_err(|e| SnapshotError::io("sync", temp_path, e))
}
