//! What verchain reads back from disk (journals, histories, snapshot
//! manifests, the files a snapshot keeps) cannot make it read, write or
//! remove anything outside the store, nor make it block or work without
//! bound: each store, driven through the public API, on state crafted the
//! way an attacker who can write into the store's folder would craft it.

use std::fs;
use std::path::{Path, PathBuf};

use agentdb_example::AgentDb;
use audit_example::Audit;
use camino::{Utf8Path, Utf8PathBuf};
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::log::LogStore;
use verchain::sqlite::SqliteStore;
use verchain::sqlite::rusqlite::Connection;
use verchain::{RollbackTo, RunOptions, Stage};
use verchain_tests::options::dry;
use verchain_tests::tree::{read_tree, write_tree};

fn utf8(path: &Path) -> &Utf8Path {
    Utf8Path::from_path(path).expect("utf-8 temp path")
}

/// A temporary folder holding `store/` (a copy of fixture `fixture`) and
/// `outside/` beside it, with `outside/victim.tar.zst` and
/// `outside/victim/` (a file and a folder an attacker would like removed).
struct Sandbox {
    _dir: tempfile::TempDir,
    store: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new(fixture: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        write_tree(&store, &verchain_tests::tree::fixture(fixture));
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("victim")).unwrap();
        fs::write(outside.join("victim.tar.zst"), "precious\n").unwrap();
        fs::write(outside.join("victim/file"), "precious\n").unwrap();
        Sandbox {
            _dir: dir,
            store,
            outside,
        }
    }

    /// A sound snapshot archive in `outside/`, of a note the attacker wants
    /// in the store (`accents.md`).
    fn planted_archive(&self) -> verchain::snapshot::SnapshotInfo {
        let planted = utf8(&self.outside).join("planted");
        fs::create_dir_all(&planted).unwrap();
        fs::write(planted.join("accents.md"), "---\ntitle: planted\n---\n").unwrap();
        verchain::snapshot::create(
            &planted,
            &["accents.md".into()],
            utf8(&self.outside),
            "notes",
            "r1",
            1,
            4,
        )
        .unwrap()
    }

    /// The example database at version 1, `agent.db` in the store's folder.
    fn agent_db(&self) -> PathBuf {
        let path = self.store.join("agent.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(agentdb_example::V1_SQL).unwrap();
        path
    }

    /// The folder store, migrated, and the archive of the run's snapshot.
    fn migrated_folder(&self) -> (FolderStore, Utf8PathBuf) {
        let store = FolderStore::new(utf8(&self.store));
        let report = verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
        let archive = (store.snapshot_dir()).join(format!("{}.tar.zst", report.snapshot.unwrap()));
        (store, archive)
    }

    /// The log store (keeping `compressed` snapshots), migrated, and the
    /// folder of the run's snapshot.
    fn migrated_log(&self, compressed: bool) -> (LogStore, Utf8PathBuf) {
        let store =
            LogStore::new(utf8(&self.store).join("audit.jsonl")).compress_snapshots(compressed);
        let report = verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap();
        let snapshot = store.snapshot_dir().join(report.snapshot.unwrap());
        (store, snapshot)
    }

    /// Asserts that nothing outside the store was removed or changed.
    fn assert_outside_intact(&self) {
        assert_eq!(
            fs::read_to_string(self.outside.join("victim.tar.zst")).unwrap(),
            "precious\n"
        );
        assert_eq!(
            fs::read_to_string(self.outside.join("victim/file")).unwrap(),
            "precious\n"
        );
    }
}

/// Writes the journal of a folder commit, run `r1`, that moves the staged
/// `accents.md` (said to hash to `blake3`) into place.
fn write_folder_journal(root: &Path, snapshot: Option<&str>, blake3: &str) {
    let journal = serde_json::json!({
        "run_id": "r1",
        "version": 4,
        "snapshot": snapshot,
        "staging": ".verchain/staging/r1",
        "ops": [{"op": "write", "path": "accents.md", "blake3": blake3}],
        "history": [],
    });
    fs::write(root.join(".verchain/journal.json"), journal.to_string()).unwrap();
}

/// The error of a migration of the folder store at `root` that stops in
/// recovery.
fn recovery_fails(root: &Path) -> verchain::RunError {
    let store = FolderStore::new(utf8(root));
    let err = verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Recover, "{err}");
    err
}

fn zeros_hash() -> String {
    "0".repeat(64)
}

#[test]
fn a_folder_journal_naming_a_snapshot_outside_the_store_removes_nothing() {
    let sandbox = Sandbox::new("notes/v1");
    let root = &sandbox.store;
    // A commit that recovery must give up (the staged file does not hash
    // to what the journal says), whose "snapshot" lies outside the store.
    fs::create_dir_all(root.join(".verchain/staging/r1")).unwrap();
    fs::write(root.join(".verchain/staging/r1/accents.md"), "staged\n").unwrap();
    write_folder_journal(root, Some("../../../outside/victim"), &zeros_hash());
    let before = read_tree(root);
    let err = recovery_fails(root);
    let message = err.to_string();
    assert!(message.contains("journal.json"), "{message}");
    assert!(message.contains("../../../outside/victim"), "{message}");
    sandbox.assert_outside_intact();
    assert_eq!(read_tree(root), before);
    assert!(root.join(".verchain/journal.json").exists());
}

#[test]
fn a_log_journal_naming_a_snapshot_outside_the_store_removes_nothing() {
    let sandbox = Sandbox::new("audit/v1");
    let log = utf8(&sandbox.store).join("audit.jsonl");
    let store = LogStore::new(&log);
    let state = store.state_dir();
    fs::create_dir_all(&state).unwrap();
    // A new file whose size is not the journal's: recovery gives the commit
    // up, and would remove "its snapshot", four levels up.
    fs::write(
        utf8(&sandbox.store).join(".audit.jsonl.verchain-r1"),
        "new\n",
    )
    .unwrap();
    let journal = serde_json::json!({
        "run_id": "r1",
        "snapshot": "../../../../outside/victim",
        "renames": [{"from": ".audit.jsonl.verchain-r1", "to": "audit.jsonl", "size": 999}],
        "history": [],
    });
    fs::write(state.join("journal.json"), journal.to_string()).unwrap();
    let before = fs::read(&log).unwrap();
    let err = verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    let message = err.to_string();
    assert!(message.contains("journal.json"), "{message}");
    assert!(message.contains("outside/victim"), "{message}");
    sandbox.assert_outside_intact();
    assert_eq!(fs::read(&log).unwrap(), before);
    assert!(state.join("journal.json").exists());
}

#[test]
fn a_log_journal_may_rename_only_onto_the_logs_own_files() {
    let sandbox = Sandbox::new("audit/v1");
    let dir = utf8(&sandbox.store);
    let store = LogStore::new(dir.join("audit.jsonl"));
    fs::create_dir_all(store.state_dir()).unwrap();
    fs::write(dir.join("notes.txt"), "not the log's\n").unwrap();
    fs::write(dir.join(".audit.jsonl.verchain-r1"), "new\n").unwrap();
    let journal = serde_json::json!({
        "run_id": "r1",
        "snapshot": null,
        "renames": [{"from": ".audit.jsonl.verchain-r1", "to": "notes.txt", "size": 4}],
        "history": [],
    });
    fs::write(store.state_dir().join("journal.json"), journal.to_string()).unwrap();
    let err = verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(
        fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "not the log's\n"
    );
}

#[cfg(unix)]
#[test]
fn a_folder_journal_whose_staging_is_a_link_moves_nothing_in_from_outside() {
    let sandbox = Sandbox::new("notes/v1");
    let root = &sandbox.store;
    let payload = "---\ntitle: planted\n---\n";
    fs::write(sandbox.outside.join("accents.md"), payload).unwrap();
    fs::create_dir_all(root.join(".verchain/staging")).unwrap();
    std::os::unix::fs::symlink(&sandbox.outside, root.join(".verchain/staging/r1")).unwrap();
    write_folder_journal(
        root,
        None,
        &verchain::snapshot::blake3_hex(payload.as_bytes()),
    );
    let before = read_tree(root);
    let err = recovery_fails(root);
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(read_tree(root), before);
    assert_eq!(
        fs::read_to_string(sandbox.outside.join("accents.md")).unwrap(),
        payload
    );
}

/// Rewrites the `snapshot` of every line of the history at `path` that has
/// one to `to`.
fn point_history_at(path: &Path, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
        if !record["snapshot"].is_null() {
            record["snapshot"] = to.into();
        }
        out.push_str(&record.to_string());
        out.push('\n');
    }
    fs::write(path, out).unwrap();
}

#[test]
fn a_folder_history_naming_a_snapshot_outside_the_store_restores_nothing_from_it() {
    let sandbox = Sandbox::new("notes/v1");
    let root = utf8(&sandbox.store);
    let store = FolderStore::new(root);
    verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
    // An archive outside the store, sound in every other way, holding a
    // note the attacker wants in.
    let info = sandbox.planted_archive();
    point_history_at(
        &sandbox.store.join(".verchain/history.jsonl"),
        &format!("../../../outside/{}", info.id),
    );
    let before = read_tree(&sandbox.store);
    let err = verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("history.jsonl"), "{message}");
    assert!(message.contains("outside/"), "{message}");
    assert_eq!(read_tree(&sandbox.store), before);
    // `status` says the same rather than listing a run to undo from there.
    let err = verchain::status::<Notes>(&store).unwrap_err();
    assert!(err.to_string().contains("history.jsonl"), "{err}");
}

/// A history whose run lists folders it "added" outside the store, or the
/// state folder: the rollback refuses before it changes anything, and an
/// empty folder outside is still there.
#[test]
fn a_folder_history_naming_a_folder_outside_the_store_removes_nothing() {
    for folder in [
        "../outside/empty",
        "/tmp",
        ".verchain/snapshots",
        "a/../../outside",
    ] {
        let sandbox = Sandbox::new("notes/v1");
        fs::create_dir_all(sandbox.outside.join("empty")).unwrap();
        let root = utf8(&sandbox.store);
        let store = FolderStore::new(root);
        verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
        let history = sandbox.store.join(".verchain/history.jsonl");
        let text = fs::read_to_string(&history).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["created_folders"] = serde_json::json!([folder]);
            out.push_str(&record.to_string());
            out.push('\n');
        }
        fs::write(&history, out).unwrap();
        let before = read_tree(&sandbox.store);
        let err = verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &RunOptions::default())
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("a folder added by a run"),
            "{folder}: {message}"
        );
        assert!(message.contains(folder), "{folder}: {message}");
        assert_eq!(read_tree(&sandbox.store), before, "{folder}");
        assert!(sandbox.outside.join("empty").is_dir(), "{folder}");
        sandbox.assert_outside_intact();
    }
}

/// A link put in place of a state file of the store's (its lock, its
/// history, the temporary file its journal is written to) would have a run
/// write, truncate or read the file outside it points to: the run writes
/// nothing through it.
#[test]
fn a_link_in_place_of_a_state_file_is_never_written_through() {
    let journal_temp = format!(".journal.json.verchain-tmp-{}", std::process::id());
    for (file, refused) in [
        ("lock", true),
        ("history.jsonl", true),
        (journal_temp.as_str(), false),
    ] {
        let sandbox = Sandbox::new("notes/v1");
        let state = sandbox.store.join(".verchain");
        fs::create_dir_all(&state).unwrap();
        let victim = sandbox.outside.join("victim.tar.zst");
        std::os::unix::fs::symlink(&victim, state.join(file)).unwrap();
        let before = read_tree(&sandbox.store);
        let store = FolderStore::new(utf8(&sandbox.store));
        let result = verchain::migrate::<Notes>(&store, &RunOptions::default());
        sandbox.assert_outside_intact();
        if refused {
            let message = result.unwrap_err().to_string();
            assert!(message.contains(file), "{file}: {message}");
            assert!(message.contains("symbolic link"), "{file}: {message}");
            assert_eq!(read_tree(&sandbox.store), before, "{file}");
        } else {
            // A temporary file's name is removed first, whatever it holds.
            result.unwrap();
            assert!(!state.join(file).exists(), "{file}");
        }
    }
}

#[test]
fn a_log_history_naming_a_snapshot_outside_the_store_restores_nothing_from_it() {
    let sandbox = Sandbox::new("audit/v1");
    let store = LogStore::new(utf8(&sandbox.store).join("audit.jsonl"));
    let report = verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap();
    let id = report.snapshot.unwrap();
    // The run's own snapshot, moved outside: it verifies, and would be
    // restored from there.
    fs::rename(store.snapshot_dir().join(&id), sandbox.outside.join(&id)).unwrap();
    point_history_at(
        store.history_path().as_std_path(),
        &format!("../../../../outside/{id}"),
    );
    let before = read_tree(&sandbox.store);
    let err = verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("history.jsonl"), "{message}");
    assert!(message.contains("outside/"), "{message}");
    assert_eq!(read_tree(&sandbox.store), before);
}

#[test]
fn a_database_history_naming_a_snapshot_outside_the_store_restores_nothing_from_it() {
    let sandbox = Sandbox::new("audit/v1");
    let path = sandbox.agent_db();
    let store = SqliteStore::new(utf8(&path));
    let report = verchain::migrate::<AgentDb>(&store, &RunOptions::default()).unwrap();
    let id = report.snapshot.unwrap();
    for suffix in [".sqlite", ".json"] {
        let name = format!("{id}{suffix}");
        fs::rename(
            store.snapshot_dir().join(&name),
            sandbox.outside.join(&name),
        )
        .unwrap();
    }
    let outside = format!("../../../../outside/{id}");
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE _verchain_history SET snapshot = ?1 WHERE snapshot IS NOT NULL",
        [&outside],
    )
    .unwrap();
    drop(conn);
    let before = fs::read(&path).unwrap();
    let err = verchain::rollback::<AgentDb>(&store, &RollbackTo::LastRun, &RunOptions::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("_verchain_history"), "{message}");
    assert!(message.contains("outside/"), "{message}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

/// Replaces `path` with a symbolic link to `target`.
#[cfg(unix)]
fn link_instead(path: &Path, target: &Path) {
    fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

#[cfg(unix)]
#[test]
fn a_log_snapshot_file_that_links_outside_is_not_restored() {
    let sandbox = Sandbox::new("audit/v1");
    let (store, snapshot) = sandbox.migrated_log(false);
    // The kept copy of the log becomes a link to a file outside, and the
    // manifest is made to match that file.
    let secret = sandbox.outside.join("secret.jsonl");
    let planted = "{\"secret\":\"outside the store\"}\n";
    fs::write(&secret, planted).unwrap();
    link_instead(snapshot.join("audit.jsonl").as_std_path(), &secret);
    let manifest_path = snapshot.join("MANIFEST.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["path"] == "audit.jsonl" {
            file["size"] = planted.len().into();
            file["blake3"] = verchain::snapshot::blake3_hex(planted.as_bytes()).into();
        }
    }
    fs::write(&manifest_path, manifest.to_string()).unwrap();
    let before = read_tree(&sandbox.store);
    for options in [dry(), RunOptions::default()] {
        let err = verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &options).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("symbolic link"), "{message}");
        assert!(message.contains("audit.jsonl"), "{message}");
    }
    assert_eq!(read_tree(&sandbox.store), before);
    assert_ne!(fs::read_to_string(store.path()).unwrap(), planted);
}

#[cfg(unix)]
#[test]
fn a_folder_snapshot_archive_that_links_outside_is_not_restored() {
    let sandbox = Sandbox::new("notes/v1");
    let (store, archive) = sandbox.migrated_folder();
    let outside = sandbox.planted_archive();
    link_instead(archive.as_std_path(), outside.path.as_std_path());
    let before = read_tree(&sandbox.store);
    for options in [dry(), RunOptions::default()] {
        let err = verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &options).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert_eq!(read_tree(&sandbox.store), before);
}

#[cfg(unix)]
#[test]
fn a_database_snapshot_that_links_outside_is_not_restored() {
    let sandbox = Sandbox::new("audit/v1");
    let path = sandbox.agent_db();
    let store = SqliteStore::new(utf8(&path));
    let report = verchain::migrate::<AgentDb>(&store, &RunOptions::default()).unwrap();
    let id = report.snapshot.unwrap();
    // Another database outside, and the manifest made to match it.
    let other = sandbox.outside.join("other.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE planted (x); PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let bytes = fs::read(&other).unwrap();
    link_instead(
        store
            .snapshot_dir()
            .join(format!("{id}.sqlite"))
            .as_std_path(),
        &other,
    );
    let manifest_path = store.snapshot_dir().join(format!("{id}.json"));
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["files"][0]["size"] = bytes.len().into();
    manifest["files"][0]["blake3"] = verchain::snapshot::blake3_hex(&bytes).into();
    fs::write(&manifest_path, manifest.to_string()).unwrap();
    let before = fs::read(&path).unwrap();
    for options in [dry(), RunOptions::default()] {
        let err =
            verchain::rollback::<AgentDb>(&store, &RollbackTo::LastRun, &options).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert_eq!(fs::read(&path).unwrap(), before);
}

/// Makes a FIFO at `path` (with a system call: a child process, forked
/// while another test holds a store's lock, would hold that lock too).
#[cfg(unix)]
fn mkfifo(path: &Path) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
}

/// Runs `f` on a thread of its own and returns what it returns, failing
/// the test if it has not returned within a minute (it blocked).
fn within_a_minute<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let (send, receive) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = send.send(f());
    });
    match receive.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("{what} blocked for a minute"),
        // It panicked: that panic is the test's.
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("{what} returned nothing"),
        },
    }
}

/// The hidden files beside the log (what a restore stages there).
fn hidden_beside(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".verchain")
        .collect()
}

#[cfg(unix)]
#[test]
fn a_log_snapshot_listing_a_fifo_is_refused_without_blocking() {
    let sandbox = Sandbox::new("audit/v1");
    let (store, snapshot) = sandbox.migrated_log(false);
    // The rotated file's kept copy is a FIFO nobody writes to.
    let kept = snapshot.join("audit.jsonl.1");
    fs::remove_file(&kept).unwrap();
    mkfifo(kept.as_std_path());
    let before = read_tree(&sandbox.store);
    for options in [dry(), RunOptions::default()] {
        let store = store.clone();
        let err = within_a_minute("rollback", move || {
            verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &options).unwrap_err()
        });
        let message = err.to_string();
        assert!(message.contains("FIFO"), "{message}");
        assert!(message.contains("audit.jsonl.1"), "{message}");
    }
    assert_eq!(read_tree(&sandbox.store), before);
    assert_eq!(hidden_beside(&sandbox.store), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn a_folder_snapshot_archive_that_is_a_fifo_is_refused_without_blocking() {
    let sandbox = Sandbox::new("notes/v1");
    let (store, archive) = sandbox.migrated_folder();
    fs::remove_file(&archive).unwrap();
    mkfifo(archive.as_std_path());
    let before = read_tree(&sandbox.store);
    let err = within_a_minute("rollback", move || {
        verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &RunOptions::default())
            .unwrap_err()
    });
    assert!(err.to_string().contains("FIFO"), "{err}");
    assert_eq!(read_tree(&sandbox.store), before);
}

/// A zstd frame of `blocks` blocks of 128 KiB of zero bytes each, built by
/// hand from RLE blocks (four bytes a block), so a test can hold gigabytes
/// of decompressed zeros in a few kilobytes without compressing them.
fn zstd_zeros(blocks: usize) -> Vec<u8> {
    // Magic number; a frame header with only a window descriptor (a 128 KiB
    // window: 2^(10 + 7)).
    let mut frame = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 7 << 3];
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        // Last-block bit, block type 1 (RLE), the size it expands to.
        let header = last | (1 << 1) | ((128 * 1024) << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0);
    }
    frame
}

#[test]
fn a_folder_snapshot_with_a_gigabyte_of_zeros_after_its_end_is_refused_at_its_end() {
    let sandbox = Sandbox::new("notes/v1");
    let (store, archive) = sandbox.migrated_folder();
    // A second zstd frame after the archive's own: a gibibyte of zeros that
    // reads as more tar padding. Reading must stop long before its end.
    let mut bytes = fs::read(&archive).unwrap();
    bytes.extend(zstd_zeros(8 * 1024));
    fs::write(&archive, &bytes).unwrap();
    let before = read_tree(&sandbox.store);
    for options in [dry(), RunOptions::default()] {
        let err = verchain::rollback::<Notes>(&store, &RollbackTo::LastRun, &options).unwrap_err();
        assert!(
            err.to_string()
                .contains("unexpected data after the end of the archive"),
            "{err}"
        );
    }
    assert_eq!(read_tree(&sandbox.store), before);
}

#[test]
fn a_log_snapshot_copy_longer_than_its_manifest_says_is_refused_at_the_first_byte_too_many() {
    let sandbox = Sandbox::new("audit/v1");
    let (store, snapshot) = sandbox.migrated_log(true);
    // The compressed copy now expands to 64 MiB: its manifest still lists
    // the log's few hundred bytes.
    fs::write(snapshot.join("audit.jsonl.snapshot.zst"), zstd_zeros(512)).unwrap();
    let before = read_tree(&sandbox.store);
    for options in [dry(), RunOptions::default()] {
        let err = verchain::rollback::<Audit>(&store, &RollbackTo::LastRun, &options).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("entry audit.jsonl: longer than"),
            "{message}"
        );
    }
    assert_eq!(read_tree(&sandbox.store), before);
    assert_eq!(hidden_beside(&sandbox.store), Vec::<String>::new());
}

/// Makes `path` a file of 65 MiB that takes no room on disk (a hole).
fn huge_hole(path: &Path) {
    fs::File::create(path)
        .unwrap()
        .set_len(65 * 1024 * 1024)
        .unwrap();
}

#[test]
fn a_manifest_over_the_limit_is_refused_unread_by_a_log_and_a_database() {
    let sandbox = Sandbox::new("audit/v1");
    let log = LogStore::new(utf8(&sandbox.store).join("audit.jsonl"));
    let report = verchain::migrate::<Audit>(&log, &RunOptions::default()).unwrap();
    huge_hole(
        log.snapshot_dir()
            .join(report.snapshot.unwrap())
            .join("MANIFEST.json")
            .as_std_path(),
    );
    let err = verchain::snapshots(&log).unwrap_err();
    assert!(err.to_string().contains("more than the limit"), "{err}");
    let err = verchain::rollback::<Audit>(&log, &RollbackTo::LastRun, &dry()).unwrap_err();
    assert!(err.to_string().contains("more than the limit"), "{err}");

    let path = sandbox.agent_db();
    let db = SqliteStore::new(utf8(&path));
    let report = verchain::migrate::<AgentDb>(&db, &RunOptions::default()).unwrap();
    huge_hole(
        db.snapshot_dir()
            .join(format!("{}.json", report.snapshot.unwrap()))
            .as_std_path(),
    );
    let err = verchain::snapshots(&db).unwrap_err();
    assert!(err.to_string().contains("more than the limit"), "{err}");
    let err = verchain::rollback::<AgentDb>(&db, &RollbackTo::LastRun, &dry()).unwrap_err();
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[cfg(unix)]
#[test]
fn special_files_named_like_documents_are_refused_and_named_not_skipped() {
    let sandbox = Sandbox::new("notes/v1");
    let root = &sandbox.store;
    let store = FolderStore::new(utf8(root));
    mkfifo(&root.join("pipe.md"));
    let before = read_tree_skipping(root, "pipe.md");
    let err = within_a_minute("migrate", {
        let store = store.clone();
        move || verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap_err()
    });
    let message = err.to_string();
    assert!(message.contains("pipe.md"), "{message}");
    assert!(message.contains("FIFO"), "{message}");
    let err = verchain::status::<Notes>(&store).unwrap_err();
    assert!(err.to_string().contains("pipe.md"), "{err}");
    fs::remove_file(root.join("pipe.md")).unwrap();
    // A socket, in a folder.
    let _socket = std::os::unix::net::UnixListener::bind(root.join("projects/socket.md")).unwrap();
    let err = verchain::migrate::<Notes>(&store, &dry()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("projects/socket.md"), "{message}");
    assert!(message.contains("socket"), "{message}");
    assert_eq!(read_tree_skipping(root, "projects/socket.md"), before);
}

#[cfg(unix)]
#[test]
fn a_special_file_named_like_a_rotated_log_is_refused_and_named() {
    let sandbox = Sandbox::new("audit/v1");
    let store = LogStore::new(utf8(&sandbox.store).join("audit.jsonl"));
    mkfifo(&sandbox.store.join("audit.jsonl.2"));
    let err = within_a_minute("migrate", {
        let store = store.clone();
        move || verchain::migrate::<Audit>(&store, &RunOptions::default()).unwrap_err()
    });
    let message = err.to_string();
    assert!(message.contains("audit.jsonl.2"), "{message}");
    assert!(message.contains("FIFO"), "{message}");
}

/// The tree under `root`, without the special file `skip` (which reading
/// would block on).
fn read_tree_skipping(root: &Path, skip: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut tree = std::collections::BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == skip || rel == ".verchain" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                tree.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    tree
}

/// A link planted where a restore assembles the database it puts back
/// (`.verchain/<file>.restore`) is not written through, whether what it
/// points to exists or not: nothing is written outside the store, and the
/// rollback restores the database.
#[cfg(unix)]
#[test]
fn a_database_restore_writes_nothing_through_a_planted_link() {
    for exists in [true, false] {
        let sandbox = Sandbox::new("audit/v1");
        let path = sandbox.agent_db();
        let store = SqliteStore::new(utf8(&path));
        verchain::migrate::<AgentDb>(&store, &RunOptions::default()).unwrap();
        let outside = sandbox.outside.join("precious");
        if exists {
            fs::write(&outside, b"not a database").unwrap();
        }
        let scratch = (utf8(&path).parent().unwrap()).join(".verchain/agent.db.restore");
        std::os::unix::fs::symlink(&outside, &scratch).unwrap();
        verchain::rollback::<AgentDb>(&store, &RollbackTo::LastRun, &RunOptions::default())
            .unwrap();
        match exists {
            true => assert_eq!(fs::read(&outside).unwrap(), b"not a database"),
            false => assert!(!outside.exists(), "a file was made outside the store"),
        }
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1, "rolled back");
    }
}
