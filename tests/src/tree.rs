//! Folder trees as maps from relative path to bytes, for tests that compare
//! a store before and after.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every file under `root` (skipping `.verchain/`), by `/`-separated path.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read folder") {
            let entry = entry.expect("read entry");
            let path = entry.path();
            if entry.file_name() == ".verchain" {
                continue;
            }
            if entry.file_type().expect("file type").is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&path).expect("read file"));
            }
        }
    }
    out
}

/// Every file's modification time under `root`, `.verchain/` included.
pub fn mtimes(root: &Path) -> BTreeMap<String, std::time::SystemTime> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let meta = fs::metadata(&dir).expect("metadata");
        out.insert(
            dir.to_string_lossy().into_owned(),
            meta.modified().expect("mtime"),
        );
        for entry in fs::read_dir(&dir).expect("read folder") {
            let entry = entry.expect("read entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                pending.push(path);
            } else {
                let meta = entry.metadata().expect("metadata");
                out.insert(
                    path.to_string_lossy().into_owned(),
                    meta.modified().expect("mtime"),
                );
            }
        }
    }
    out
}

/// Writes `tree` under `root`.
pub fn write_tree(root: &Path, tree: &BTreeMap<String, Vec<u8>>) {
    for (rel, bytes) in tree {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create folder");
        }
        fs::write(path, bytes).expect("write file");
    }
}

/// A copy of the fixture folder `fixtures/<rel>` in a new temporary folder.
pub fn fixture_copy(rel: &str) -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel);
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(dir.path(), &read_tree(&source));
    dir
}

/// The fixture folder `fixtures/<rel>` as a tree.
pub fn fixture(rel: &str) -> BTreeMap<String, Vec<u8>> {
    read_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(rel),
    )
}

/// With `VERCHAIN_BLESS=1`, replaces the fixture folder `fixtures/<rel>` with
/// `tree` (to accept new golden output; read the diff before committing).
pub fn bless(rel: &str, tree: &BTreeMap<String, Vec<u8>>) {
    if std::env::var_os("VERCHAIN_BLESS").is_none_or(|v| v != "1") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel);
    let _ = fs::remove_dir_all(&dir);
    write_tree(&dir, tree);
}

/// Checks `got` against the golden folder `fixtures/<rel>`, file by file
/// (a failure shows the file's text) and then the list of files; with
/// `VERCHAIN_BLESS=1` it first replaces the golden folder with `got`.
pub fn assert_golden(rel: &str, got: &BTreeMap<String, Vec<u8>>) {
    bless(rel, got);
    let want = fixture(rel);
    for (path, bytes) in &want {
        let found = got.get(path).map(|b| String::from_utf8_lossy(b));
        assert_eq!(
            found.as_deref(),
            Some(&*String::from_utf8_lossy(bytes)),
            "{rel}: {path}"
        );
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{rel}: the files"
    );
}
