//! A restore puts back what a snapshot took: the bytes, and the permission
//! bits whatever the umask, the modification time to the nanosecond, and
//! (when the tests run as root) the owner; a migration keeps the
//! permission bits and the owner of what it rewrites, and gives them to a
//! document it moves or makes from another.
//!
//! The umask is the process's: every test in this binary (and only this
//! binary) sets it to 022 first, so the tests agree on it and nothing else
//! races with them; 022 strips the group's write bit a restore must put
//! back on a file at 664.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audit_example::Audit;
use camino::Utf8Path;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::{RollbackTo, RunOptions};
use verchain_tests::tree::write_tree;

/// Sets the process's umask to 022 (see the module's docs).
fn umask_022() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

fn utf8(path: &Path) -> &Utf8Path {
    Utf8Path::from_path(path).expect("utf-8 temp path")
}

/// What a restore must put back of a file besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attributes {
    mode: u32,
    modified: SystemTime,
    owner: (u32, u32),
}

fn attributes(path: &Path) -> Attributes {
    let meta = fs::symlink_metadata(path).unwrap();
    Attributes {
        mode: meta.mode() & 0o7777,
        modified: meta.modified().unwrap(),
        owner: (meta.uid(), meta.gid()),
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Gives `path` mode `mode`, a modification time with nanoseconds (`n`
/// makes each file's distinct), and, as root, owner `n:n`.
fn set_attributes(path: &Path, mode: u32, n: u32) -> Attributes {
    if is_root() {
        std::os::unix::fs::chown(path, Some(4000 + n), Some(4000 + n)).unwrap();
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    let modified = UNIX_EPOCH + Duration::new(1_600_000_000 + u64::from(n) * 1000, 123_456_789 + n);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    attributes(path)
}

/// Sets modes 664, 600 and 755 (and times, owners) on the first three of
/// `files` under `root`; returns what each then has.
fn three_modes(root: &Path, files: &[&str]) -> BTreeMap<String, Attributes> {
    files
        .iter()
        .zip([0o664, 0o600, 0o755])
        .zip(1..)
        .map(|((file, mode), n)| {
            (
                (*file).to_owned(),
                set_attributes(&root.join(file), mode, n),
            )
        })
        .collect()
}

/// Checks that a run kept the mode and (as root) the owner of each file,
/// whose time it changed.
fn kept_modes_and_owners(root: &Path, before: &BTreeMap<String, Attributes>) -> Result<(), String> {
    for (file, was) in before {
        let now = attributes(&root.join(file));
        if (now.mode, now.owner) != (was.mode, was.owner) {
            return Err(format!("{file}: {now:?}, was {was:?}"));
        }
    }
    Ok(())
}

fn now_of(root: &Path, files: &BTreeMap<String, Attributes>) -> BTreeMap<String, Attributes> {
    files
        .keys()
        .map(|file| (file.clone(), attributes(&root.join(file))))
        .collect()
}

#[test]
fn a_folder_restore_puts_back_modes_times_and_owners_whatever_the_umask() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &verchain_tests::tree::fixture("notes/v1"));
    let before = three_modes(
        dir.path(),
        &["accents.md", "groceries.md", "projects/verchain.md"],
    );
    let store = FolderStore::new(utf8(dir.path()));
    verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
    assert_ne!(now_of(dir.path(), &before), before, "the run changed them");
    kept_modes_and_owners(dir.path(), &before).unwrap();
    verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(now_of(dir.path(), &before), before);
}

#[test]
fn a_log_restore_puts_back_modes_times_and_owners_whatever_the_umask() {
    umask_022();
    for compressed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &verchain_tests::tree::fixture("audit/v1"));
        let before = three_modes(dir.path(), &["audit.jsonl", "audit.jsonl.1"]);
        let store =
            LogStore::new(utf8(dir.path()).join("audit.jsonl")).compress_snapshots(compressed);
        verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap();
        assert_ne!(now_of(dir.path(), &before), before, "the run changed them");
        kept_modes_and_owners(dir.path(), &before).unwrap();
        verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
        assert_eq!(
            now_of(dir.path(), &before),
            before,
            "compressed: {compressed}"
        );
    }
}

/// The owners of everything under `state` that is not `owner`.
fn not_owned_by(state: &Path, owner: u32) -> Vec<String> {
    let mut todo = vec![state.to_owned()];
    let mut others = Vec::new();
    while let Some(path) = todo.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.uid() != owner || meta.gid() != owner {
            others.push(format!("{} {}:{}", path.display(), meta.uid(), meta.gid()));
        }
        if meta.is_dir() {
            todo.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    others
}

#[test]
fn what_a_run_as_root_writes_in_the_state_folder_belongs_to_the_stores_owner() {
    umask_022();
    if !is_root() {
        return;
    }
    // A folder of documents: the store is its folder.
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &verchain_tests::tree::fixture("notes/v1"));
    std::os::unix::fs::chown(dir.path(), Some(4005), Some(4005)).unwrap();
    // What the owner put in the state folder to reach root's files
    // elsewhere (a link to a folder, a second name of a file) gives none
    // of them away.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "root's\n").unwrap();
    let state = dir.path().join(".verchain");
    fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink(outside.path(), state.join("link")).unwrap();
    fs::hard_link(outside.path().join("secret"), state.join("second-name")).unwrap();
    let store = FolderStore::new(utf8(dir.path()));
    verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
    assert!(state.join("history.jsonl").exists());
    assert_eq!(attributes(outside.path()).owner, (0, 0));
    assert_eq!(attributes(&outside.path().join("secret")).owner, (0, 0));
    // (Those two are the test's own, root's: the owner would own them.)
    fs::remove_file(state.join("second-name")).unwrap();
    fs::remove_file(state.join("link")).unwrap();
    assert_eq!(not_owned_by(&state, 4005), Vec::<String>::new());
    verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(not_owned_by(&state, 4005), Vec::<String>::new());
    // A log: the store is the log file.
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &verchain_tests::tree::fixture("audit/v1"));
    std::os::unix::fs::chown(dir.path().join("audit.jsonl"), Some(4006), Some(4006)).unwrap();
    let store = LogStore::new(utf8(dir.path()).join("audit.jsonl"));
    verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap();
    // Its state folder is in `.verchain/` beside it: both are the owner's.
    let state = dir.path().join(".verchain");
    assert!(
        store
            .state_dir()
            .as_std_path()
            .join("history.jsonl")
            .exists()
    );
    assert_eq!(not_owned_by(&state, 4006), Vec::<String>::new());
}

/// Moves `private.json` into `moved/`, and makes a document of its own
/// from each note's `todo`.
#[derive(verchain::Chain)]
#[chain(current = 2)]
pub struct Reshape;

/// See [`Reshape`].
#[verchain::migration(chain = Reshape, from = 1, to = 2)]
fn move_and_split(doc: &mut verchain::Document) {
    if doc.path() == "private.json" {
        doc.move_to("moved/private.json");
    }
    if let Some(todo) = doc.remove("todo") {
        let path = doc.path().as_str().replace(".md", ".todo.md");
        let mut fields = serde_json::Map::new();
        fields.insert("todo".into(), todo);
        doc.create_document(verchain::Document::new(path, fields));
    }
}

#[test]
fn a_document_moved_or_made_from_another_takes_its_mode_and_owner_and_its_folder_the_stores() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("private.json"), "{\"key\": 1}\n").unwrap();
    fs::write(dir.path().join("note.md"), "---\ntodo: call\n---\nBody.\n").unwrap();
    let before = BTreeMap::from([
        (
            "private.json".to_owned(),
            set_attributes(&dir.path().join("private.json"), 0o600, 1),
        ),
        (
            "note.md".to_owned(),
            set_attributes(&dir.path().join("note.md"), 0o640, 2),
        ),
    ]);
    if is_root() {
        std::os::unix::fs::chown(dir.path(), Some(4003), Some(4003)).unwrap();
    }
    let store = FolderStore::new(utf8(dir.path()));
    verchain::migrate::<Reshape>(&store, &RunOptions::default()).unwrap();
    assert!(!dir.path().join("private.json").exists());
    // A folder the run adds belongs to the store's owner.
    assert_eq!(
        attributes(&dir.path().join("moved")).owner,
        attributes(dir.path()).owner
    );
    let moved = BTreeMap::from([
        (
            "moved/private.json".to_owned(),
            before["private.json"].clone(),
        ),
        ("note.todo.md".to_owned(), before["note.md"].clone()),
    ]);
    kept_modes_and_owners(dir.path(), &moved).unwrap();
    verchain::rollback::<Reshape>(&store, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert!(
        !dir.path().join("moved").exists(),
        "the folder the run added"
    );
    assert!(!dir.path().join("note.todo.md").exists());
    assert_eq!(now_of(dir.path(), &before), before);
}

/// A snapshot archive written by a verchain that recorded no attributes in
/// its manifest (format 1): the tar headers' permission bits and time (to
/// the second) are put back.
#[test]
fn an_archive_of_format_1_is_restored_with_the_modes_and_times_of_its_headers() {
    umask_022();
    let dir = tempfile::tempdir().unwrap();
    let root = utf8(dir.path());
    let content = b"---\ntitle: old\n---\n";
    let manifest = serde_json::json!({
        "format": 1, "chain": "notes", "from_version": 1, "to_version": 2,
        "created": "2026-11-23T14:05:09.000000Z",
        "files": [{"path": "a.md", "size": content.len(),
                   "blake3": verchain::snapshot::blake3_hex(content)}],
    })
    .to_string();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes, mode, mtime) in [
        ("MANIFEST.json", manifest.as_bytes(), 0o600, 0),
        ("a.md", &content[..], 0o664, 1_600_000_000),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).unwrap();
    }
    let archive = root.join("old.tar.zst");
    fs::write(
        &archive,
        zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap(),
    )
    .unwrap();
    let dest = root.join("dest");
    let read = verchain::snapshot::extract(&archive, &dest).unwrap();
    assert_eq!(read.format, 1);
    let got = attributes(dest.join("a.md").as_std_path());
    assert_eq!(got.mode, 0o664);
    assert_eq!(
        got.modified,
        UNIX_EPOCH + Duration::from_secs(1_600_000_000)
    );
}
