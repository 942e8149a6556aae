//! Tests of snapshots: round trips, the folder, and hand-built hostile
//! archives.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};
use proptest::prelude::*;
use tempfile::TempDir;

use super::{
    FORMAT, MANIFEST_NAME, Manifest, ManifestEntry, SnapshotError, SnapshotInfo, create, extract,
    verify,
};
use crate::run::ErrorKind;

type Files = BTreeMap<String, Vec<u8>>;

/// The archives in `dir`, newest first, as a folder store lists them.
fn list(dir: &Utf8Path) -> Result<Vec<SnapshotInfo>, SnapshotError> {
    crate::run::snapshot::list(dir, &crate::folder::Archives).map_err(|e| match e {
        ErrorKind::Snapshot(e) => e,
        other => panic!("{other}"),
    })
}

/// Removes all but the newest `keep` archives in `dir`.
fn prune(dir: &Utf8Path, keep: usize) -> Result<Vec<SnapshotInfo>, ErrorKind> {
    crate::run::snapshot::prune(dir, &crate::folder::Archives, keep)
}

fn temp() -> (TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

/// Writes `files` under `root`.
fn write_store(root: &Utf8Path, files: &Files) {
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

/// Every file under `root`, by `/` separated relative path; fails on
/// anything but files and folders.
fn read_tree(root: &Utf8Path) -> Files {
    fn walk(root: &Utf8Path, dir: &Utf8Path, out: &mut Files) {
        for entry in dir.read_dir_utf8().unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, entry.path(), out);
            } else {
                assert!(kind.is_file(), "{} is not a file", entry.path());
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .as_str()
                    .replace('\\', "/");
                out.insert(rel, fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = Files::new();
    walk(root, root, &mut out);
    out
}

fn paths(files: &Files) -> Vec<Utf8PathBuf> {
    files.keys().map(Utf8PathBuf::from).collect()
}

/// Incompressible bytes, so a large file stays large in the archive.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 56) as u8
        })
        .collect()
}

fn sample_store() -> Files {
    let mut files = Files::new();
    files.insert("notes/a.md".into(), b"---\ntitle: A\n---\nbody\n".to_vec());
    files.insert(
        "notes/2026/deep/b.json".into(),
        br#"{"schema_version": 1}"#.to_vec(),
    );
    files.insert("empty.txt".into(), Vec::new());
    files.insert(
        "ünïcødé/日本語 ノート.md".into(),
        "こんにちは\r\n".as_bytes().to_vec(),
    );
    files.insert(
        format!("{}/long-name.md", "very-long-folder-name".repeat(6)),
        b"long path".to_vec(),
    );
    files.insert("big.bin".into(), noise(5 * 1024 * 1024, 7));
    files
}

#[test]
fn create_verify_extract_gives_the_same_bytes() {
    let (_keep, tmp) = temp();
    let root = tmp.join("store");
    let files = sample_store();
    write_store(&root, &files);
    let dir = root.join(".verchain/snapshots");

    let info = create(&root, &paths(&files), &dir, "Notes", "r1", 1, 3).unwrap();

    let id = info.id.as_bytes();
    assert_eq!(
        id.len(),
        "2026-11-23T14-05-09_pre_v1_to_v3".len(),
        "{}",
        info.id
    );
    assert!(info.id.ends_with("_pre_v1_to_v3"), "{}", info.id);
    assert!(id[..19].iter().enumerate().all(|(i, &b)| match i {
        4 | 7 | 13 | 16 => b == b'-',
        10 => b == b'T',
        _ => b.is_ascii_digit(),
    }));
    assert_eq!(info.path, dir.join(format!("{}.tar.zst", info.id)));
    assert_eq!(info.size, fs::metadata(&info.path).unwrap().len());
    assert_eq!(info.manifest.format, FORMAT);
    assert_eq!(info.manifest.chain, "Notes");
    assert_eq!(
        (info.manifest.from_version, info.manifest.to_version),
        (1, 3)
    );
    let listed: Vec<_> = info.manifest.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(listed, files.keys().cloned().collect::<Vec<_>>());
    let big = info
        .manifest
        .files
        .iter()
        .find(|f| f.path == "big.bin")
        .unwrap();
    assert_eq!(big.size, 5 * 1024 * 1024);
    assert_eq!(
        big.blake3,
        blake3::hash(&files["big.bin"]).to_hex().as_str()
    );

    assert_eq!(verify(&info.path).unwrap(), info.manifest);
    let dest = tmp.join("staging/restore");
    assert_eq!(extract(&info.path, &dest).unwrap(), info.manifest);
    assert_eq!(read_tree(&dest), files);
    // Only the store and the staging folder exist beside each other.
    assert_eq!(read_tree(&tmp.join("staging")).len(), files.len());
}

#[test]
fn the_manifest_is_the_first_entry_and_files_follow_in_order() {
    let (_keep, tmp) = temp();
    let files = sample_store();
    write_store(&tmp, &files);
    let info = create(
        &tmp,
        &paths(&files),
        &tmp.join("snaps"),
        "Notes",
        "r1",
        2,
        3,
    )
    .unwrap();
    let decoder = zstd::Decoder::new(fs::File::open(&info.path).unwrap()).unwrap();
    let mut archive = tar::Archive::new(decoder);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        assert_eq!(entry.header().entry_type(), tar::EntryType::Regular);
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        if names.is_empty() {
            let mut json = String::new();
            entry.read_to_string(&mut json).unwrap();
            assert_eq!(
                serde_json::from_str::<Manifest>(&json).unwrap(),
                info.manifest
            );
        }
        names.push(name);
    }
    let mut expected = vec![MANIFEST_NAME.to_owned()];
    expected.extend(files.keys().cloned());
    assert_eq!(names, expected);
}

#[cfg(unix)]
#[test]
fn archive_is_0600_and_a_new_folder_0700() {
    use std::os::unix::fs::PermissionsExt;
    let (_keep, tmp) = temp();
    fs::write(tmp.join("a.md"), "a").unwrap();
    let dir = tmp.join(".verchain/snapshots");
    let info = create(&tmp, &["a.md".into()], &dir, "Notes", "r1", 1, 2).unwrap();
    let mode = |p: &Utf8Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&info.path), 0o600);
    assert_eq!(mode(&dir), 0o700);
    // Nothing but the archive is left in the folder.
    let names: Vec<_> = dir
        .read_dir_utf8()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_owned())
        .collect();
    assert_eq!(names, [format!("{}.tar.zst", info.id)]);
}

#[cfg(unix)]
#[test]
fn extract_gives_files_their_permission_bits_back() {
    use std::os::unix::fs::PermissionsExt;
    let (_keep, tmp) = temp();
    let root = tmp.join("store");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(root.join("ro.md"), "read only").unwrap();
    fs::set_permissions(root.join("ro.md"), fs::Permissions::from_mode(0o400)).unwrap();
    let info = create(
        &root,
        &["run.sh".into(), "ro.md".into()],
        &tmp.join("s"),
        "Notes",
        "r1",
        1,
        2,
    )
    .unwrap();
    let dest = tmp.join("dest");
    extract(&info.path, &dest).unwrap();
    let mode = |p: Utf8PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dest.join("run.sh")), 0o700);
    assert_eq!(mode(dest.join("ro.md")), 0o400);
}

#[test]
fn a_snapshot_is_an_independent_copy() {
    let (_keep, tmp) = temp();
    let root = tmp.join("store");
    let mut files = Files::new();
    files.insert("notes/a.md".into(), b"before".to_vec());
    write_store(&root, &files);
    let info = create(
        &root,
        &paths(&files),
        &tmp.join("snaps"),
        "Notes",
        "r1",
        1,
        2,
    )
    .unwrap();
    fs::write(root.join("notes/a.md"), "after, and longer").unwrap();
    fs::remove_dir_all(root.join("notes")).unwrap();
    verify(&info.path).unwrap();
    let dest = tmp.join("dest");
    extract(&info.path, &dest).unwrap();
    assert_eq!(read_tree(&dest), files);
}

#[test]
fn an_empty_file_list_makes_a_valid_snapshot() {
    let (_keep, tmp) = temp();
    let info = create(&tmp, &[], &tmp.join("snaps"), "Notes", "r1", 1, 2).unwrap();
    assert!(verify(&info.path).unwrap().files.is_empty());
    extract(&info.path, &tmp.join("dest")).unwrap();
    assert!(read_tree(&tmp.join("dest")).is_empty());
}

#[test]
fn a_taken_name_gets_a_counter_and_is_never_overwritten() {
    let (_keep, tmp) = temp();
    let base = "2026-11-23T14-05-09_pre_v1_to_v3";
    fs::write(tmp.join(format!("{base}.tar.zst")), "first").unwrap();
    fs::write(tmp.join(format!("{base}-2.tar.zst")), "second").unwrap();
    fs::write(tmp.join(".temp"), "third").unwrap();
    let (id, path) = super::write::place(&tmp, base, &tmp.join(".temp")).unwrap();
    assert_eq!(id, format!("{base}-3"));
    assert_eq!(path, tmp.join(format!("{base}-3.tar.zst")));
    assert_eq!(fs::read_to_string(&path).unwrap(), "third");
    assert_eq!(
        fs::read_to_string(tmp.join(format!("{base}.tar.zst"))).unwrap(),
        "first"
    );
    assert_eq!(
        fs::read_to_string(tmp.join(format!("{base}-2.tar.zst"))).unwrap(),
        "second"
    );
    assert!(!tmp.join(".temp").exists());
}

#[test]
fn two_snapshots_in_a_row_both_exist() {
    let (_keep, tmp) = temp();
    fs::write(tmp.join("a.md"), "a").unwrap();
    let dir = tmp.join("snaps");
    let first = create(&tmp, &["a.md".into()], &dir, "Notes", "r1", 1, 2).unwrap();
    let second = create(&tmp, &["a.md".into()], &dir, "Notes", "r1", 1, 2).unwrap();
    assert_ne!(first.path, second.path);
    verify(&first.path).unwrap();
    verify(&second.path).unwrap();
    assert_eq!(
        list(&dir)
            .unwrap()
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>(),
        [&second.id, &first.id]
    );
}

#[test]
fn create_refuses_paths_it_cannot_store_and_what_is_not_a_file() {
    let (_keep, tmp) = temp();
    fs::create_dir(tmp.join("folder")).unwrap();
    fs::write(tmp.join("a.md"), "a").unwrap();
    let dir = tmp.join("snaps");
    for bad in ["../x", "/etc/passwd", "./a.md"] {
        let err = create(&tmp, &[bad.into()], &dir, "Notes", "r1", 1, 2).unwrap_err();
        assert!(
            matches!(err, SnapshotError::InvalidSource { .. }),
            "{bad}: {err}"
        );
        assert_eq!(
            err.to_string(),
            format!("cannot snapshot {bad}: not a plain path relative to the store's root")
        );
    }
    let err = create(&tmp, &["folder".into()], &dir, "Notes", "r1", 1, 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot snapshot {}: it is a folder, not a regular file; verchain reads only regular \
             files",
            tmp.join("folder")
        )
    );
    let err = create(
        &tmp,
        &["a.md".into(), "a.md".into()],
        &dir,
        "Notes",
        "r1",
        1,
        2,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "cannot snapshot a.md: listed twice");
    let err = create(&tmp, &["missing.md".into()], &dir, "Notes", "r1", 1, 2).unwrap_err();
    assert!(matches!(err, SnapshotError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(tmp.join("missing.md").as_str()),
        "{err}"
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(tmp.join("a.md"), tmp.join("link.md")).unwrap();
        let err = create(&tmp, &["link.md".into()], &dir, "Notes", "r1", 1, 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("link.md: it is a symbolic link, not a regular file"),
            "{err}"
        );
    }
    // Nothing was written for the failed snapshots.
    assert!(list(&dir).unwrap().is_empty());
    assert!(!dir.exists() || dir.read_dir().unwrap().next().is_none());
}

#[test]
fn list_is_newest_first_and_prune_keeps_the_newest() {
    let (_keep, tmp) = temp();
    let dir = tmp.join("snaps");
    assert!(
        list(&dir).unwrap().is_empty(),
        "a missing folder holds no snapshots"
    );
    fs::write(tmp.join("a.md"), "a").unwrap();
    let made: Vec<_> = (1..=3)
        .map(|v| create(&tmp, &["a.md".into()], &dir, "Notes", "r1", v, v + 1).unwrap())
        .collect();
    // Not snapshots: a hidden temporary file and some other file.
    fs::write(
        dir.join(".2026-01-01T00-00-00_pre_v1_to_v2.1.0.partial"),
        "partial",
    )
    .unwrap();
    fs::write(dir.join("README.txt"), "hello").unwrap();

    let listed = list(&dir).unwrap();
    let versions: Vec<_> = listed.iter().map(|s| s.manifest.from_version).collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(listed[0], made[2]);

    let removed = prune(&dir, 1).unwrap();
    assert_eq!(
        removed
            .iter()
            .map(|s| s.manifest.from_version)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    assert!(!made[0].path.exists() && !made[1].path.exists() && made[2].path.exists());
    assert_eq!(list(&dir).unwrap(), [made[2].clone()]);
    assert!(prune(&dir, 1).unwrap().is_empty());
    assert!(dir.join("README.txt").exists());
    assert_eq!(prune(&dir, 0).unwrap(), [made[2].clone()]);
    assert!(list(&dir).unwrap().is_empty());
}

#[test]
fn list_sorts_by_creation_time_not_by_name() {
    let (_keep, tmp) = temp();
    // Names that sort the other way round from their creation times.
    for (name, created) in [
        ("a", "2026-11-23T14:05:09.000002Z"),
        ("b", "2026-11-23T14:05:09.000001Z"),
    ] {
        let manifest = manifest_of(&[], created);
        write_archive(&tmp.join(format!("{name}.tar.zst")), &json(&manifest), &[]);
    }
    let ids: Vec<_> = list(&tmp).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn unreadable_archives_are_reported_never_skipped_silently() {
    let (_keep, tmp) = temp();
    let dir = tmp.join("snaps");
    fs::write(tmp.join("a.md"), "a").unwrap();
    let good = create(&tmp, &["a.md".into()], &dir, "Notes", "r1", 1, 2).unwrap();
    let bad = dir.join("2020-01-01T00-00-00_pre_v1_to_v2.tar.zst");
    fs::write(&bad, b"not an archive").unwrap();

    let err = list(&dir).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Unreadable { count: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(bad.as_str()), "{err}");

    let (readable, unreadable) =
        crate::run::snapshot::scan(&dir, &crate::folder::Archives).unwrap();
    assert_eq!(readable, std::slice::from_ref(&good));
    assert_eq!(unreadable.len(), 1);
    assert!(
        matches!(&unreadable[0], SnapshotError::Corrupt { archive, .. } if *archive == bad),
        "{}",
        unreadable[0]
    );

    // Prune never removes what it cannot read.
    assert!(prune(&dir, 0).unwrap() == [good]);
    assert!(bad.exists());
}

// ---------------------------------------------------------------------------
// Hand-built archives.

/// A manifest for `files` (path, content).
fn manifest_of(files: &[(&str, &[u8])], created: &str) -> Manifest {
    Manifest {
        format: FORMAT,
        chain: "Notes".into(),
        run_id: None,
        from_version: 1,
        to_version: 2,
        created: created.into(),
        files: files
            .iter()
            .map(|(path, content)| ManifestEntry {
                path: (*path).into(),
                size: content.len() as u64,
                blake3: blake3::hash(content).to_hex().to_string(),
                meta: None,
            })
            .collect(),
    }
}

fn json(manifest: &Manifest) -> Vec<u8> {
    serde_json::to_vec(manifest).unwrap()
}

/// One raw tar entry: the name bytes go into the header unchecked.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
    link: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind: tar::EntryType::Regular,
        data,
        link: b"",
    }
}

fn raw_header(entry: &Raw<'_>) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let gnu = header.as_gnu_mut().unwrap();
    gnu.name[..entry.name.len()].copy_from_slice(entry.name);
    gnu.linkname[..entry.link.len()].copy_from_slice(entry.link);
    header.set_entry_type(entry.kind);
    header.set_size(entry.data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

/// The uncompressed tar of a manifest (raw JSON) and then `entries`.
fn tar_bytes(manifest: &[u8], entries: &[Raw<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&raw_header(&file(MANIFEST_NAME, manifest)), manifest)
        .unwrap();
    for entry in entries {
        tar.append(&raw_header(entry), entry.data).unwrap();
    }
    tar.into_inner().unwrap()
}

fn write_archive(path: &Utf8Path, manifest: &[u8], entries: &[Raw<'_>]) {
    fs::write(
        path,
        zstd::encode_all(tar_bytes(manifest, entries).as_slice(), 3).unwrap(),
    )
    .unwrap();
}

const CREATED: &str = "2026-11-23T14:05:09.000000Z";

/// Checks that `verify` and `extract` both refuse the archive with the same
/// error, and that `extract` wrote nothing outside its destination. Returns
/// the error.
fn refused(archive_bytes: &[u8]) -> SnapshotError {
    let (_keep, tmp) = temp();
    let archive = tmp.join("snaps/x.tar.zst");
    fs::create_dir(tmp.join("snaps")).unwrap();
    fs::write(&archive, archive_bytes).unwrap();
    let dest = tmp.join("work/dest");
    let verified = verify(&archive).unwrap_err();
    let extracted = extract(&archive, &dest).unwrap_err();
    assert_eq!(verified.to_string(), extracted.to_string());
    assert!(
        verified
            .to_string()
            .starts_with(&format!("snapshot {archive}: ")),
        "{verified}"
    );
    // Outside `dest`: only the archive and the folders holding it and dest.
    let mut outside = read_tree(&tmp);
    outside.retain(|path, _| !path.starts_with("work/dest/"));
    assert_eq!(outside.keys().collect::<Vec<_>>(), ["snaps/x.tar.zst"]);
    let work: Vec<_> = tmp
        .join("work")
        .read_dir_utf8()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_owned())
        .collect();
    assert_eq!(work, ["dest"]);
    verified
}

fn refused_entries(manifest: &Manifest, entries: &[Raw<'_>]) -> SnapshotError {
    refused(&zstd::encode_all(tar_bytes(&json(manifest), entries).as_slice(), 3).unwrap())
}

#[test]
fn a_hand_built_sound_archive_passes() {
    // The control for the hostile cases below: the same builder, no attack.
    let (_keep, tmp) = temp();
    let archive = tmp.join("x.tar.zst");
    let manifest = manifest_of(&[("a.md", b"a"), ("b/c.md", b"c")], CREATED);
    write_archive(
        &archive,
        &json(&manifest),
        &[file("a.md", b"a"), file("b/c.md", b"c")],
    );
    assert_eq!(verify(&archive).unwrap(), manifest);
    extract(&archive, &tmp.join("dest")).unwrap();
    assert_eq!(read_tree(&tmp.join("dest")).len(), 2);
}

#[test]
fn a_tampered_archive_is_refused() {
    let (_keep, tmp) = temp();
    let root = tmp.join("store");
    let files = sample_store();
    write_store(&root, &files);
    let info = create(
        &root,
        &paths(&files),
        &tmp.join("snaps"),
        "Notes",
        "r1",
        1,
        3,
    )
    .unwrap();

    // Re-write the archive with one byte of notes/a.md changed.
    let decoder = zstd::Decoder::new(fs::File::open(&info.path).unwrap()).unwrap();
    let mut original = tar::Archive::new(decoder);
    let mut tampered = tar::Builder::new(Vec::new());
    for entry in original.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let path = entry.path().unwrap().into_owned();
        if path.to_str() == Some("notes/a.md") {
            data[0] ^= 1;
        }
        let mut header = entry.header().clone();
        tampered
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
    }
    let tampered = zstd::encode_all(tampered.into_inner().unwrap().as_slice(), 3).unwrap();

    let err = refused(&tampered);
    let expected = blake3::hash(&files["notes/a.md"]).to_hex();
    assert!(
        matches!(&err, SnapshotError::HashMismatch { entry, .. } if entry == "notes/a.md"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            ": entry notes/a.md: BLAKE3 mismatch (expected {expected}, found "
        )),
        "{message}"
    );
}

#[test]
fn hostile_paths_are_refused() {
    let manifest = manifest_of(&[("ok.md", b"ok")], CREATED);
    for (name, reason) in [
        ("../evil", "`..` component"),
        ("a/../../evil", "`..` component"),
        ("/etc/x", "absolute path"),
        ("a//b", "empty component"),
    ] {
        let err = refused_entries(&manifest, &[file(name, b"evil")]);
        assert!(
            matches!(&err, SnapshotError::UnsafePath { entry, .. } if entry == name),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with(&format!("entry {name}: unsafe path ({reason})")),
            "{err}"
        );
    }
    // The same paths in the manifest are refused before any entry is read.
    let manifest = manifest_of(&[("../evil", b"evil")], CREATED);
    let err = refused_entries(&manifest, &[file("../evil", b"evil")]);
    assert!(
        err.to_string()
            .ends_with("entry ../evil: unsafe path (in the manifest: `..` component)"),
        "{err}"
    );
    // Not UTF-8.
    let raw = Raw {
        name: b"bad\xff.md",
        kind: tar::EntryType::Regular,
        data: b"x",
        link: b"",
    };
    let err = refused_entries(&manifest_of(&[], CREATED), &[raw]);
    assert!(
        err.to_string().ends_with("unsafe path (not UTF-8)"),
        "{err}"
    );
}

#[test]
fn links_devices_and_folders_are_refused() {
    let manifest = manifest_of(&[("link", b"")], CREATED);
    for (kind, link, word) in [
        (tar::EntryType::Symlink, &b"/etc/passwd"[..], "symlink"),
        (tar::EntryType::Link, b"MANIFEST.json", "hard link"),
        (tar::EntryType::Char, b"", "character device"),
        (tar::EntryType::Block, b"", "block device"),
        (tar::EntryType::Fifo, b"", "fifo"),
        (tar::EntryType::Directory, b"", "folder"),
    ] {
        let err = refused_entries(
            &manifest,
            &[Raw {
                name: b"link",
                kind,
                data: b"",
                link,
            }],
        );
        assert!(
            matches!(err, SnapshotError::NotARegularFile { .. }),
            "{err}"
        );
        assert!(
            err.to_string().ends_with(&format!(
                "entry link: {word} entries are not allowed, only regular files"
            )),
            "{err}"
        );
    }
}

#[test]
fn entries_must_match_the_manifest_exactly() {
    let a = file("a.md", b"a");
    let b = file("b.md", b"b");
    let both = manifest_of(&[("a.md", b"a"), ("b.md", b"b")], CREATED);
    let only_a = manifest_of(&[("a.md", b"a")], CREATED);

    let err = refused_entries(&only_a, &[file("a.md", b"a"), file("extra.md", b"x")]);
    assert!(
        err.to_string()
            .ends_with("entry extra.md: not listed in the manifest"),
        "{err}"
    );

    let err = refused_entries(&both, &[file("a.md", b"a")]);
    assert!(
        err.to_string()
            .ends_with("entry b.md: listed in the manifest but missing from the archive"),
        "{err}"
    );

    let err = refused_entries(&both, &[file("a.md", b"a"), file("a.md", b"a"), b]);
    assert!(
        err.to_string()
            .ends_with("entry a.md: appears more than once"),
        "{err}"
    );

    let err = refused_entries(&both, &[file("b.md", b"b"), a]);
    assert!(
        err.to_string()
            .ends_with("entry b.md: out of manifest order (expected a.md)"),
        "{err}"
    );

    let err = refused_entries(&only_a, &[file("a.md", b"ab")]);
    assert!(
        err.to_string()
            .ends_with("entry a.md: size mismatch (expected 1 bytes, found 2)"),
        "{err}"
    );

    let err = refused_entries(&only_a, &[file("a.md", b"b")]);
    assert!(matches!(err, SnapshotError::HashMismatch { .. }), "{err}");
}

#[test]
fn bad_manifests_are_refused() {
    let entries = [file("a.md", b"a")];
    let mut future = serde_json::to_value(manifest_of(&[("a.md", b"a")], CREATED)).unwrap();
    future["format"] = 3.into();
    future["something_new"] = true.into();
    let err = refused(
        &zstd::encode_all(
            tar_bytes(&serde_json::to_vec(&future).unwrap(), &entries).as_slice(),
            3,
        )
        .unwrap(),
    );
    assert!(
        err.to_string()
            .ends_with("unknown manifest format 3 (this verchain reads formats up to 2)"),
        "{err}"
    );

    let cases: [(&[u8], &str); 4] = [
        (b"{", "invalid manifest: EOF while parsing"),
        (b"[]", "invalid manifest: not a JSON object"),
        (
            br#"{"chain": "Notes"}"#,
            "invalid manifest: no `format` field",
        ),
        (
            br#"{"format": 1}"#,
            "invalid manifest: missing field `chain`",
        ),
    ];
    for (json, message) in cases {
        let err = refused(&zstd::encode_all(tar_bytes(json, &[]).as_slice(), 3).unwrap());
        assert!(err.to_string().contains(message), "{err}");
    }

    let mut manifest = manifest_of(&[("a.md", b"a")], "yesterday");
    let err = refused_entries(&manifest, &entries);
    assert!(
        err.to_string()
            .contains("`created` is not an RFC 3339 UTC time"),
        "{err}"
    );
    manifest = manifest_of(&[("a.md", b"a"), ("a.md", b"a")], CREATED);
    let err = refused_entries(&manifest, &entries);
    assert!(
        err.to_string()
            .ends_with("invalid manifest: entry a.md is listed twice"),
        "{err}"
    );
    manifest = manifest_of(&[("a", b"a"), ("a/b.md", b"b")], CREATED);
    let err = refused_entries(&manifest, &entries);
    assert!(
        err.to_string()
            .ends_with("entry a is a file but also a folder of entry a/b.md"),
        "{err}"
    );
    manifest = manifest_of(&[("a.md", b"a")], CREATED);
    manifest.files[0].blake3 = "zz".into();
    let err = refused_entries(&manifest, &entries);
    assert!(
        err.to_string()
            .ends_with("entry a.md: `blake3` is not 64 lowercase hex digits"),
        "{err}"
    );

    // The first entry must be the manifest.
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&raw_header(&file("a.md", b"a")), &b"a"[..])
        .unwrap();
    let err = refused(&zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap());
    assert!(
        err.to_string()
            .ends_with("invalid manifest: the first entry is a.md, not MANIFEST.json"),
        "{err}"
    );
    let err = refused(&zstd::encode_all(&[0u8; 1024][..], 3).unwrap());
    assert!(
        err.to_string()
            .ends_with("invalid manifest: the archive is empty"),
        "{err}"
    );
}

#[test]
fn truncated_corrupt_and_padded_archives_are_refused() {
    let (_keep, tmp) = temp();
    let files = sample_store();
    write_store(&tmp, &files);
    let info = create(
        &tmp,
        &paths(&files),
        &tmp.join("snaps"),
        "Notes",
        "r1",
        1,
        3,
    )
    .unwrap();
    let bytes = fs::read(&info.path).unwrap();
    for cut in [bytes.len() - 1, bytes.len() - 20, bytes.len() / 2, 100, 4] {
        let err = refused(&bytes[..cut]);
        assert!(
            matches!(err, SnapshotError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
    }
    // One flipped bit in the compressed stream.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let err = refused(&flipped);
    assert!(
        matches!(
            err,
            SnapshotError::Corrupt { .. } | SnapshotError::HashMismatch { .. }
        ),
        "flipped: {err}"
    );
    let err = refused(b"");
    assert!(
        matches!(
            err,
            SnapshotError::Corrupt { .. } | SnapshotError::InvalidManifest { .. }
        ),
        "{err}"
    );
    let err = refused(&noise(10_000, 3));
    assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
    // Garbage after the zstd frame.
    let mut appended = bytes.clone();
    appended.extend_from_slice(b"garbage");
    assert!(matches!(refused(&appended), SnapshotError::Corrupt { .. }));
    // Data after the end of the tar archive, inside the compressed stream.
    let manifest = manifest_of(&[("a.md", b"a")], CREATED);
    let mut tar = tar_bytes(&json(&manifest), &[file("a.md", b"a")]);
    tar.extend_from_slice(&[0; 1024]);
    tar.extend_from_slice(b"hidden");
    let err = refused(&zstd::encode_all(tar.as_slice(), 3).unwrap());
    assert!(
        err.to_string()
            .ends_with("unexpected data after the end of the archive"),
        "{err}"
    );
}

#[test]
fn extract_needs_an_empty_or_new_destination() {
    let (_keep, tmp) = temp();
    fs::write(tmp.join("a.md"), "a").unwrap();
    let info = create(
        &tmp,
        &["a.md".into()],
        &tmp.join("snaps"),
        "Notes",
        "r1",
        1,
        2,
    )
    .unwrap();
    let busy = tmp.join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("x"), "x").unwrap();
    let err = extract(&info.path, &busy).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot extract into {busy}: it is not empty")
    );
    let err = extract(&info.path, &tmp.join("a.md")).unwrap_err();
    assert!(err.to_string().ends_with("it is not a folder"), "{err}");
    #[cfg(unix)]
    {
        let empty = tmp.join("empty");
        fs::create_dir(&empty).unwrap();
        std::os::unix::fs::symlink(&empty, tmp.join("link")).unwrap();
        let err = extract(&info.path, &tmp.join("link")).unwrap_err();
        assert!(err.to_string().ends_with("it is a symlink"), "{err}");
        assert!(empty.read_dir().unwrap().next().is_none());
        // An existing empty folder is fine.
        extract(&info.path, &empty).unwrap();
        assert_eq!(fs::read(empty.join("a.md")).unwrap(), b"a");
    }
}

#[test]
fn errors_name_the_archive_and_the_file() {
    let (_keep, tmp) = temp();
    let missing = tmp.join("nope.tar.zst");
    let err = verify(&missing).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot open {missing}: ")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Property test.

/// A path of one to three components from a small alphabet, so that
/// collisions between files and folders do happen.
fn arb_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-cé_. -]{1,4}", 1..4)
        .prop_map(|parts| parts.join("/"))
        .prop_filter("plain relative path", |p| super::path::problem(p).is_none())
}

/// Files whose paths never make one file a folder of another.
fn arb_files() -> impl Strategy<Value = Files> {
    prop::collection::btree_map(
        arb_path(),
        prop::collection::vec(any::<u8>(), 0..600),
        0..12,
    )
    .prop_map(|mut files| {
        let all: Vec<String> = files.keys().cloned().collect();
        files.retain(|path, _| {
            !all.iter()
                .any(|other| other.starts_with(&format!("{path}/")))
        });
        files
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn create_then_extract_gives_the_same_bytes(files in arb_files()) {
        let (_keep, tmp) = temp();
        let root = tmp.join("store");
        fs::create_dir(&root).unwrap();
        write_store(&root, &files);
        let info = create(&root, &paths(&files), &tmp.join("snaps"), "Notes", "r1", 1, 2).unwrap();
        let dest = tmp.join("dest");
        let manifest = extract(&info.path, &dest).unwrap();
        prop_assert_eq!(manifest, info.manifest);
        prop_assert_eq!(read_tree(&dest), files);
    }
}

#[test]
fn a_file_that_changes_between_hashing_and_copying_fails_the_snapshot() {
    let (_keep, tmp) = temp();
    let hashed: &[u8] = b"hello";
    for now in [&b"hell"[..], b"hello!", b"jello"] {
        fs::write(tmp.join("a.md"), now).unwrap();
        let manifest = manifest_of(&[("a.md", hashed)], CREATED);
        let archive = tmp.join("x.partial");
        let file = fs::File::create(&archive).unwrap();
        let instant = crate::clock::Instant::parse_rfc3339(CREATED).unwrap();
        let json = super::write::manifest_json(&tmp, &manifest).unwrap();
        let err = super::write::write_archive(&tmp, &manifest, &json, file, &archive, instant)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot snapshot {}: it changed while it was being snapshotted",
                tmp.join("a.md")
            )
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One byte of an archive changed, anywhere: verify and extract refuse
    /// it, or (where the change leaves the compressed content the same, as
    /// in an unused part of a compression table) give back exactly the
    /// files archived; extract writes nothing outside its destination.
    #[test]
    fn a_changed_byte_of_a_snapshot_is_refused_or_harmless(
        files in arb_files(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (_keep, tmp) = temp();
        let root = tmp.join("store");
        fs::create_dir(&root).unwrap();
        write_store(&root, &files);
        let info = create(&root, &paths(&files), &tmp.join("snaps"), "Notes", "r1", 1, 2).unwrap();
        let mut bytes = fs::read(&info.path).unwrap();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let damaged = tmp.join("damaged.tar.zst");
        fs::write(&damaged, &bytes).unwrap();
        let dest = tmp.join("dest");
        match verify(&damaged) {
            Err(_) => prop_assert!(extract(&damaged, &dest).is_err()),
            Ok(manifest) => {
                prop_assert_eq!(&manifest, &info.manifest);
                prop_assert_eq!(extract(&damaged, &dest).unwrap(), manifest);
                prop_assert_eq!(read_tree(&dest), files);
            }
        }
        let mut top: Vec<String> = fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        prop_assert!(
            top.iter().all(|n| ["damaged.tar.zst", "dest", "snaps", "store"].contains(&n.as_str())),
            "{:?}", top
        );
    }
}

/// A tar header alone (no data after it), of `kind`, name `name`, that
/// declares `size` bytes.
fn bare_header(name: &[u8], kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut header = raw_header(&Raw {
        name,
        kind,
        data: b"",
        link: b"",
    });
    header.set_size(size);
    header.set_cksum();
    header.as_bytes().to_vec()
}

#[test]
fn a_manifest_over_the_limit_is_refused_before_it_is_read() {
    // Only the header is there: a reader that trusted it would read (or
    // wait for) 64 MiB and more before noticing anything.
    let tar = bare_header(
        MANIFEST_NAME.as_bytes(),
        tar::EntryType::Regular,
        super::MAX_MANIFEST + 1,
    );
    let err = refused(&zstd::encode_all(tar.as_slice(), 3).unwrap());
    assert!(
        matches!(err, SnapshotError::InvalidManifest { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

/// `count` distinct paths of about `len` bytes each, random letters in
/// folders of up to 200 bytes: they compress no better than real names.
fn long_paths(count: usize, len: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let letters: String = noise(len, (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .iter()
                .map(|b| char::from(b'a' + b % 26))
                .collect();
            let mut path = String::new();
            for (k, chunk) in letters.as_bytes().chunks(200).enumerate() {
                if k > 0 {
                    path.push('/');
                }
                path.push_str(std::str::from_utf8(chunk).unwrap());
            }
            path
        })
        .collect()
}

#[test]
fn a_manifest_over_64_mib_is_read_from_an_archive_that_holds_its_files() {
    // About 23,000 empty files whose names take 3,000 bytes: a manifest
    // just over 64 MiB, in an archive that really holds every file.
    let paths = long_paths(23_000, 3_000);
    let mut manifest = manifest_of(&[], CREATED);
    manifest.files = (paths.iter())
        .map(|path| ManifestEntry {
            path: path.clone(),
            size: 0,
            blake3: blake3::hash(b"").to_hex().to_string(),
            meta: None,
        })
        .collect();
    manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
    let json = json(&manifest);
    assert!(json.len() as u64 > super::MAX_MANIFEST, "{}", json.len());
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&raw_header(&file(MANIFEST_NAME, &json)), json.as_slice())
        .unwrap();
    for entry in &manifest.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o644);
        tar.append_data(&mut header, &entry.path, &b""[..]).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let (_keep, tmp) = temp();
    let archive = tmp.join("big.tar.zst");
    fs::write(&archive, zstd::encode_all(tar.as_slice(), 1).unwrap()).unwrap();
    drop(tar);
    assert_eq!(super::read_manifest(&archive).unwrap(), manifest);
    assert_eq!(verify(&archive).unwrap().files.len(), manifest.files.len());
}

#[test]
fn a_small_archive_that_expands_to_a_huge_manifest_is_refused_unread() {
    // A real manifest of 80 MiB (one file listed over and over under
    // names that differ in a few digits) compresses to little: more
    // than the archive may hold, refused before its first byte is read.
    let mut manifest = manifest_of(&[], CREATED);
    let folder = "a/".repeat(1_000);
    manifest.files = (0..40_000)
        .map(|i| ManifestEntry {
            path: format!("{folder}{i}.md"),
            size: 0,
            blake3: blake3::hash(b"").to_hex().to_string(),
            meta: None,
        })
        .collect();
    let json = json(&manifest);
    assert!(json.len() as u64 > super::MAX_MANIFEST, "{}", json.len());
    let bomb = zstd::encode_all(tar_bytes(&json, &[]).as_slice(), 3).unwrap();
    drop(json);
    assert!(
        (bomb.len() as u64) * super::MANIFEST_RATIO < super::MAX_MANIFEST,
        "{}",
        bomb.len()
    );
    let err = refused(&bomb);
    assert!(
        matches!(err, SnapshotError::InvalidManifest { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!(
            "more than the limit of {} for an archive of {} bytes",
            super::MAX_MANIFEST,
            bomb.len()
        )),
        "{err}"
    );
}

#[test]
fn create_never_writes_a_manifest_a_reader_would_refuse() {
    let (_keep, tmp) = temp();
    let archive = tmp.join("small.tar.zst");
    fs::write(&archive, vec![0; 1000]).unwrap();
    let root = Utf8Path::new("store");
    let check = |size| super::write::check_manifest_size(root, 1, size, &archive);
    // Up to 64 MiB whatever the archive's size; beyond it, only as much as
    // the archive's size allows.
    check(super::MAX_MANIFEST).unwrap();
    let err = check(super::MAX_MANIFEST + 1).unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidSource { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("an archive of 1000 bytes may hold"),
        "{err}"
    );
    fs::write(&archive, vec![0; 3 << 20]).unwrap();
    check(super::MANIFEST_RATIO * (3 << 20)).unwrap();
    assert!(check(super::MANIFEST_RATIO * (3 << 20) + 1).is_err());
}

#[test]
fn a_long_name_is_read_only_up_to_its_limit() {
    // A GNU long name of a gibibyte: refused by its declared size, unread.
    let manifest = manifest_of(&[("a.md", b"a")], CREATED);
    let mut tar = tar_bytes(&json(&manifest), &[]);
    tar.truncate(tar.len() - 1024);
    tar.extend(bare_header(
        b"././@LongLink",
        tar::EntryType::GNULongName,
        1 << 30,
    ));
    let err = refused(&zstd::encode_all(tar.as_slice(), 3).unwrap());
    assert!(matches!(err, SnapshotError::UnsafePath { .. }), "{err}");
    assert!(err.to_string().contains("longer than 4096 bytes"), "{err}");
    // As the first entry, where the manifest must be.
    let tar = bare_header(b"././@LongLink", tar::EntryType::GNULongName, 1 << 30);
    let err = refused(&zstd::encode_all(tar.as_slice(), 3).unwrap());
    assert!(
        matches!(err, SnapshotError::InvalidManifest { .. }),
        "{err}"
    );
}

#[test]
fn reading_stops_a_tar_record_after_the_end_marker() {
    let (_keep, tmp) = temp();
    let manifest = manifest_of(&[("a.md", b"a")], CREATED);
    let tar = tar_bytes(&json(&manifest), &[file("a.md", b"a")]);
    // Padding to a 10 KiB record, as tar writes it, is fine.
    let mut padded = tar.clone();
    padded.resize(padded.len().div_ceil(10240) * 10240, 0);
    let archive = tmp.join("padded.tar.zst");
    fs::write(&archive, zstd::encode_all(padded.as_slice(), 3).unwrap()).unwrap();
    assert_eq!(verify(&archive).unwrap(), manifest);
    // One record more of zeros is not.
    let mut more = tar;
    more.resize(more.len() + 10240 + 512, 0);
    let err = refused(&zstd::encode_all(more.as_slice(), 3).unwrap());
    assert!(matches!(err, SnapshotError::TrailingData { .. }), "{err}");
}
