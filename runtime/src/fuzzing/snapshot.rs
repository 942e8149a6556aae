//! Snapshots: any bytes as a manifest, and as an archive to verify and
//! extract.

use std::collections::{BTreeMap, HashSet};
use std::fs;

use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

use super::{Violation, ensure, scratch, setup};
use crate::snapshot::{self, FORMAT, OLDEST_FORMAT, SnapshotError};

/// Reads the bytes as the JSON of an archive's `MANIFEST.json`.
///
/// What must hold: an error names the archive; an accepted manifest is of
/// a known format, lists distinct plain relative paths none of which is a
/// folder of another, each with a BLAKE3 of 64 lowercase hex digits and
/// attributes that can be put back, and reads back the same once written
/// again.
pub fn snapshot_manifest(data: &[u8]) -> Result<(), Violation> {
    let archive = Utf8Path::new("fuzz.tar.zst");
    let manifest = match snapshot::parse_manifest(archive, data) {
        Ok(manifest) => manifest,
        Err(error) => {
            let message = error.to_string();
            ensure!(
                message.contains(archive.as_str()),
                "the error does not name the archive: {message}"
            );
            return Ok(());
        }
    };
    ensure!(
        (OLDEST_FORMAT..=FORMAT).contains(&manifest.format),
        "accepted format {}",
        manifest.format
    );
    for file in &manifest.files {
        if let Some(meta) = &file.meta {
            ensure!(
                meta.mode <= 0o777 && meta.mtime_nsec < 1_000_000_000,
                "accepted the attributes {meta:?}"
            );
        }
    }
    let paths: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    ensure!(
        paths.len() == manifest.files.len(),
        "accepted a path listed twice"
    );
    for file in &manifest.files {
        let path = file.path.as_str();
        ensure!(inside(path), "accepted the path {path:?}");
        let mut folder = Utf8Path::new(path).parent();
        while let Some(up) = folder.filter(|f| !f.as_str().is_empty()) {
            ensure!(
                !paths.contains(up.as_str()),
                "accepted {up:?} as a file and as the folder of {path:?}"
            );
            folder = up.parent();
        }
        ensure!(
            file.blake3.len() == 64
                && file
                    .blake3
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "accepted the BLAKE3 {:?}",
            file.blake3
        );
    }
    let json = serde_json::to_vec(&manifest)
        .map_err(|e| Violation::new(format!("an accepted manifest is not written: {e}")))?;
    match snapshot::parse_manifest(archive, &json) {
        Ok(back) => ensure!(
            back == manifest,
            "a manifest written again reads back otherwise"
        ),
        Err(error) => {
            return Err(Violation::new(format!(
                "a manifest written again is refused: {error}"
            )));
        }
    }
    Ok(())
}

/// Reads the bytes as a snapshot archive, verifies it and extracts it into
/// an empty folder.
///
/// The first byte says what the rest is: even, the archive file itself;
/// odd, the tar stream inside it, whose header checksums are set right and
/// which is then compressed, so that the fuzzer's changes reach the tar
/// entries and the manifest.
///
/// What must hold: `verify` and `extract` refuse the same archives (an
/// `extract` may also fail on a file it cannot create) and accept them with
/// the same manifest; errors name the archive or the file concerned;
/// nothing is written outside the destination, which holds only folders
/// and regular files (no hard links, no set-id or sticky bits); after a
/// successful `extract` it holds exactly the manifest's files, each of its
/// size and BLAKE3, and with the permission bits and modification time its
/// manifest entry records.
pub fn snapshot_archive(data: &[u8]) -> Result<(), Violation> {
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(());
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut tar = rest.to_vec();
        fix_checksums(&mut tar);
        zstd::encode_all(tar.as_slice(), 1).map_err(|e| setup("compress the archive", e))?
    };
    let (_dir, root) = scratch()?;
    let archive = root.join("fuzz.tar.zst");
    fs::write(&archive, &bytes).map_err(|e| setup("write the archive", e))?;
    let sandbox = root.join("sandbox");
    fs::create_dir(&sandbox).map_err(|e| setup("create the sandbox", e))?;
    let dest = sandbox.join("dest");

    let verified = snapshot::verify(&archive);
    let extracted = snapshot::extract(&archive, &dest);
    for error in [verified.as_ref().err(), extracted.as_ref().err()]
        .into_iter()
        .flatten()
    {
        let message = error.to_string();
        ensure!(
            message.contains(archive.as_str()) || message.contains(dest.as_str()),
            "the error names neither the archive nor the destination: {message}"
        );
    }
    let files = contents(&root, &archive, &sandbox, &dest)?;
    match (&verified, &extracted) {
        (Ok(verified), Ok(extracted)) => {
            ensure!(
                verified == extracted,
                "verify and extract read other manifests"
            );
            let expected: BTreeMap<&str, (u64, &str)> = extracted
                .files
                .iter()
                .map(|f| (f.path.as_str(), (f.size, f.blake3.as_str())))
                .collect();
            let found: BTreeMap<&str, (u64, &str)> = files
                .iter()
                .map(|(path, (size, hash))| (path.as_str(), (*size, hash.as_str())))
                .collect();
            ensure!(
                expected == found,
                "extracted {found:?}, the manifest lists {expected:?}"
            );
            for file in &extracted.files {
                if let Some(meta) = &file.meta {
                    let path = dest.join(&file.path);
                    let now = fs::symlink_metadata(&path)
                        .map(|m| snapshot::FileMeta::of(&m))
                        .map_err(|e| setup("inspect an extracted file", e))?;
                    ensure!(
                        (now.mode, now.mtime, now.mtime_nsec)
                            == (meta.mode, meta.mtime, meta.mtime_nsec),
                        "{path} was given {now:?}, the manifest says {meta:?}"
                    );
                }
            }
        }
        (Ok(_), Err(SnapshotError::Io { .. })) | (Err(_), Err(_)) => {}
        (Ok(_), Err(error)) => {
            return Err(Violation::new(format!(
                "verify accepts what extract refuses: {error}"
            )));
        }
        (Err(error), Ok(_)) => {
            return Err(Violation::new(format!(
                "extract accepts what verify refuses: {error}"
            )));
        }
    }
    ensure!(
        fs::read(&archive).is_ok_and(|now| now == bytes),
        "the archive changed"
    );
    Ok(())
}

/// Sets the checksum of every tar header in `tar`, following the entries'
/// sizes from one header to the next, until the end or a block that is not
/// a header.
fn fix_checksums(tar: &mut [u8]) {
    let mut at = 0usize;
    while let Some(block) = at.checked_add(512).and_then(|end| tar.get_mut(at..end)) {
        if block.iter().all(|&b| b == 0) {
            return;
        }
        let mut header = tar::Header::new_old();
        header.as_mut_bytes().copy_from_slice(block);
        header.set_cksum();
        block.copy_from_slice(header.as_bytes());
        let Ok(size) = header.entry_size() else {
            return;
        };
        let padded = size.div_ceil(512).saturating_mul(512);
        match usize::try_from(padded)
            .ok()
            .and_then(|p| at.checked_add(512)?.checked_add(p))
        {
            Some(next) => at = next,
            None => return,
        }
    }
}

/// Checks that the scratch folder holds only the archive and the sandbox,
/// the sandbox only the destination (if anything), and the destination
/// only folders and regular files; returns those files' sizes and BLAKE3s
/// by `/` separated path.
fn contents(
    root: &Utf8Path,
    archive: &Utf8Path,
    sandbox: &Utf8Path,
    dest: &Utf8Path,
) -> Result<BTreeMap<String, (u64, String)>, Violation> {
    let names = |dir: &Utf8Path| -> Result<Vec<Utf8PathBuf>, Violation> {
        let mut names = Vec::new();
        for entry in dir
            .read_dir_utf8()
            .map_err(|e| setup("list the scratch folder", e))?
        {
            names.push(
                entry
                    .map_err(|e| setup("list the scratch folder", e))?
                    .into_path(),
            );
        }
        Ok(names)
    };
    for path in names(root)? {
        ensure!(
            path == archive || path == sandbox,
            "{path} was written outside the destination"
        );
    }
    for path in names(sandbox)? {
        ensure!(path == dest, "{path} was written outside the destination");
    }
    let mut files = BTreeMap::new();
    if fs::symlink_metadata(dest).is_err() {
        return Ok(files);
    }
    ensure!(
        fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()),
        "the destination is not a folder"
    );
    let mut folders = vec![dest.to_owned()];
    while let Some(folder) = folders.pop() {
        for path in names(&folder)? {
            let meta = fs::symlink_metadata(&path).map_err(|e| setup("inspect a file", e))?;
            if meta.is_dir() {
                folders.push(path);
                continue;
            }
            ensure!(meta.is_file(), "{path} is neither a file nor a folder");
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                ensure!(meta.nlink() == 1, "{path} is a hard link");
                ensure!(
                    meta.mode() & 0o7000 == 0,
                    "{path} has mode {:o}",
                    meta.mode()
                );
            }
            let relative = path
                .strip_prefix(dest)
                .map_err(|_| Violation::new(format!("{path} is outside the destination")))?;
            ensure!(
                inside(relative.as_str()),
                "{path} is not a plain path in the destination"
            );
            let bytes = fs::read(&path).map_err(|e| setup("read an extracted file", e))?;
            files.insert(
                relative.as_str().to_owned(),
                (meta.len(), snapshot::blake3_hex(&bytes)),
            );
        }
    }
    Ok(files)
}

/// A non-empty relative path of plain names, `/` separated.
fn inside(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| !part.is_empty())
        && Utf8Path::new(path)
            .components()
            .all(|c| matches!(c, Utf8Component::Normal(_)))
}
