//! A real full disk: a small tmpfs, filled until only a little room is
//! left, under a store being migrated. The run fails with the OS's error
//! (or succeeds when the room sufficed), the store is whole, and once room
//! is made the next run completes.
//!
//! Mounting needs root (as in CI); elsewhere the test says so and stops.

use std::path::Path;
use std::process::Command;

use camino::Utf8Path;
use notes_example::Notes;
use verchain::RunOptions;
use verchain::folder::FolderStore;
use verchain_tests::tree::{fixture, read_tree, write_tree};

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size_kib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|out| out.status.success());
        mounted.then_some(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Fills the file system holding `dir` until at most `left` bytes are free.
fn fill(dir: &Path, left: u64) {
    let filler = dir.join("filler");
    let free = free_bytes(dir);
    let size = free.saturating_sub(left);
    std::fs::write(&filler, vec![0u8; usize::try_from(size).unwrap()]).unwrap();
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

#[test]
fn a_full_disk_fails_the_run_cleanly_and_the_next_run_completes() {
    let euid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        eprintln!("not run: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    let (old, new) = (fixture("notes/v1"), fixture("notes/v4"));
    let (mut failed, mut finished_later, mut fit) = (0, 0, 0);
    for left_kib in [0u64, 4, 8, 16, 32, 64, 128, 256, 512, 1024] {
        let disk = Tmpfs::mount(2048).expect("mount a tmpfs as root");
        let root = disk.path().join("store");
        write_tree(&root, &old);
        fill(disk.path(), left_kib * 1024);
        let store = FolderStore::new(Utf8Path::from_path(&root).unwrap());
        match verchain::migrate::<Notes>(&store, &RunOptions::default()) {
            Ok(_) => {
                fit += 1;
                assert_eq!(read_tree(&root), new, "{left_kib} KiB left");
            }
            Err(e) => {
                failed += 1;
                let message = e.to_string();
                assert!(message.contains("No space left on device"), "{message}");
                // The error says what happened to the store, whichever
                // write ran out of room.
                assert_eq!(
                    e.store_unchanged(),
                    read_tree(&root) == old,
                    "{left_kib} KiB left: {message}"
                );
                if e.store_unchanged() {
                    // The room the run took is given back: no staged files,
                    // no snapshot of a run that never committed.
                    let status = verchain::status::<Notes>(&store).unwrap();
                    assert!(status.leftovers.is_empty(), "{:?}", status.leftovers);
                    assert!(verchain::snapshots(&store).unwrap().is_empty());
                } else {
                    finished_later += 1;
                }
            }
        }
        std::fs::remove_file(disk.path().join("filler")).unwrap();
        verchain::migrate::<Notes>(&store, &RunOptions::default()).unwrap();
        assert_eq!(
            read_tree(&root),
            new,
            "{left_kib} KiB left, after making room"
        );
    }
    eprintln!(
        "full disk: {failed} runs failed ({finished_later} finished by the next run), {fit} fit"
    );
    assert!(failed > 0, "no run ran out of room");
}
