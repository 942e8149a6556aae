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
    LEVEL, check_manifest_size, create_dir, entry_path, file_header, place, regular_header,
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
    /// The manifest's list of files, as JSON, written as they come (beside
    /// the body, `.list` added to its name): memory does not grow with the
    /// number of files.
    list_path: Utf8PathBuf,
    list: BufWriter<PointedWriter<File>>,
    /// How many bytes of JSON the list has.
    list_bytes: u64,
    /// How many files the snapshot holds so far.
    count: usize,
    /// The last file's path: the next must come after it.
    last: Option<String>,
}

/// A snapshot [`Streamed::finish`] placed.
pub(crate) struct Placed {
    /// Its id.
    pub id: String,
    /// How many files it holds.
    pub files: usize,
}

/// Creates a new file at `path`, readable by its owner alone.
fn create_new(path: &Utf8Path) -> Result<PointedWriter<File>, SnapshotError> {
    let create_error = |e| SnapshotError::io("create", path, e);
    crate::fsio::point("create", path).map_err(create_error)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(create_error)?;
    Ok(PointedWriter::new(file, path))
}

impl Streamed {
    /// Starts a snapshot whose body is written to `body_path` (a new file,
    /// which [`Streamed::finish`] removes, with the list of files beside
    /// it; a caller that gives up removes them with the folder they are
    /// in).
    pub(crate) fn new(body_path: &Utf8Path) -> Result<Self, SnapshotError> {
        let pointed = create_new(body_path)?;
        let write_error = |e| SnapshotError::io("write", body_path, e);
        let mut encoder = zstd::Encoder::new(BufWriter::with_capacity(1 << 16, pointed), LEVEL)
            .map_err(write_error)?;
        encoder.include_checksum(true).map_err(write_error)?;
        let list_path = Utf8PathBuf::from(format!("{body_path}.list"));
        let list = BufWriter::with_capacity(1 << 16, create_new(&list_path)?);
        Ok(Streamed {
            body_path: body_path.to_owned(),
            body: tar::Builder::new(encoder),
            list_path,
            list,
            list_bytes: 0,
            count: 0,
            last: None,
        })
    }

    /// How many files the snapshot holds so far.
    pub(crate) fn len(&self) -> usize {
        self.count
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
        if let Some(last) = &self.last
            && Utf8Path::new(last) >= path
        {
            return Err(SnapshotError::InvalidSource {
                path: entry,
                reason: format!("comes after {last} (listed twice, or out of order)"),
            });
        }
        let path = entry;
        let mut header = file_header(bytes.len() as u64, &meta);
        self.body
            .append_data(&mut header, &path, bytes)
            .map_err(|e| SnapshotError::io("write", &self.body_path, e))?;
        let entry = ManifestEntry {
            path,
            size: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
            meta: Some(meta),
        };
        let mut json = if self.count == 0 {
            Vec::with_capacity(256)
        } else {
            vec![b',']
        };
        serde_json::to_writer(&mut json, &entry)
            .map_err(|e| SnapshotError::io("write", &self.list_path, e.into()))?;
        self.list
            .write_all(&json)
            .map_err(|e| SnapshotError::io("write", &self.list_path, e))?;
        self.list_bytes += json.len() as u64;
        self.count += 1;
        self.last = Some(entry.path);
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
            list_path,
            list,
            list_bytes,
            count,
            last: _,
        } = self;
        let write_error = |e| SnapshotError::io("write", &body_path, e);
        let encoder = body.into_inner().map_err(write_error)?;
        let mut buffered = encoder.finish().map_err(write_error)?;
        buffered.flush().map_err(write_error)?;
        drop(buffered);
        list.into_inner()
            .map_err(|e| SnapshotError::io("write", &list_path, e.into_error()))?;

        let now = Instant::from_system(SystemTime::now());
        let manifest = Manifest {
            format: FORMAT,
            chain: chain.to_owned(),
            run_id: Some(run_id.to_owned()),
            from_version,
            to_version,
            created: now.rfc3339(),
            files: Vec::new(),
        };
        // The manifest's fields, then the list of files in its place.
        let mut head = serde_json::to_vec(&manifest)
            .map_err(|e| SnapshotError::io("write", &list_path, e.into()))?;
        if !head.ends_with(b"[]}") {
            return Err(SnapshotError::io(
                "write",
                &list_path,
                io::Error::other("the manifest does not end with its list of files"),
            ));
        }
        head.truncate(head.len() - 2);
        let json = Json {
            size: head.len() as u64 + list_bytes + 2,
            head,
            list_path: &list_path,
        };
        create_dir(dir)?;
        let base = format!("{}_pre_v{from_version}_to_v{to_version}", now.file_stamp());
        let (temp_path, temp) = temp_file(dir, &base)?;
        let written = write_frames(&json, &body_path, temp, &temp_path, now)
            .and_then(|()| check_manifest_size(root, count, json.size, &temp_path))
            .and_then(|()| place(dir, &base, &temp_path));
        let _ = fs::remove_file(&body_path);
        let _ = fs::remove_file(&list_path);
        match written {
            Ok((id, _)) => Ok(Placed { id, files: count }),
            Err(e) => {
                let _ = fs::remove_file(&temp_path);
                Err(e)
            }
        }
    }
}

/// A manifest's JSON: its fields up to the list of files (`head`, ending
/// in `[`), the list in the file at `list_path`, and `]}`; `size` bytes in
/// all.
struct Json<'a> {
    head: Vec<u8>,
    list_path: &'a Utf8Path,
    size: u64,
}

/// The manifest's frame, then the body's, into `temp`, which is synced.
fn write_frames(
    json: &Json<'_>,
    body_path: &Utf8Path,
    temp: File,
    temp_path: &Utf8Path,
    now: Instant,
) -> Result<(), SnapshotError> {
    let write_error = |e| SnapshotError::io("write", temp_path, e);
    let pointed = PointedWriter::new(temp, temp_path);
    let mut encoder = zstd::Encoder::new(pointed, LEVEL).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    let mut header = regular_header(json.size, 0o600, now.unix_secs());
    header
        .set_path(MANIFEST_NAME)
        .and_then(|()| {
            header.set_cksum();
            encoder.write_all(header.as_bytes())
        })
        .map_err(write_error)?;
    encoder.write_all(&json.head).map_err(write_error)?;
    let mut list =
        File::open(json.list_path).map_err(|e| SnapshotError::io("read", json.list_path, e))?;
    let copied = io::copy(&mut list, &mut encoder).map_err(write_error)?;
    encoder.write_all(b"]}").map_err(write_error)?;
    let written = json.head.len() as u64 + copied + 2;
    if written != json.size {
        return Err(write_error(io::Error::other(format!(
            "the manifest came out {written} bytes long, not the {} counted",
            json.size
        ))));
    }
    let padding = usize::try_from((512 - json.size % 512) % 512).unwrap_or(0);
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
