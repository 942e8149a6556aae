//! The peer of the folder workload: a Python migrator written the way a
//! project without verchain would write one (PyYAML with its C loader, a
//! `tar czf` snapshot first, then each note read, changed, dumped and
//! written to a temporary file renamed over it, with no fsync), doing what
//! the bench's migration does: `status: draft` where missing, `created`
//! renamed `created_at` in its place, `schema_version: 3`.

use std::path::Path;
use std::process::{Command, Stdio};

/// The migrator: `python3 -c PROGRAM VAULT SNAPSHOT`. Front matter it
/// cannot read is left alone, as such scripts do; what it writes is in
/// PyYAML's style, not the note's.
const PROGRAM: &str = r#"
import os, subprocess, sys
import yaml
root, snapshot = sys.argv[1], sys.argv[2]
subprocess.run(["tar", "czf", snapshot, "--exclude=./.verchain", "-C", root, "."], check=True)
migrated = 0
for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(files):
        if not name.endswith(".md") or name.startswith("."):
            continue
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        lines = text.splitlines(keepends=True)
        if not lines or lines[0].rstrip("\r\n") != "---":
            continue
        end = next((i for i in range(1, len(lines)) if lines[i].rstrip("\r\n") in ("---", "...")), None)
        if end is None:
            continue
        front = yaml.load("".join(lines[1:end]), Loader=yaml.CSafeLoader) or {}
        if not isinstance(front, dict) or front.get("schema_version", 1) >= 3:
            continue
        front.setdefault("status", "draft")
        front = {("created_at" if k == "created" else k): v for k, v in front.items()}
        front["schema_version"] = 3
        newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
        dumped = yaml.dump(front, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
        out = "---" + newline + dumped.replace("\n", newline) + "---" + newline + "".join(lines[end + 1:])
        temp = os.path.join(folder, "." + name + ".tmp")
        with open(temp, "w", encoding="utf-8", newline="") as f:
            f.write(out)
        os.replace(temp, path)
        migrated += 1
print(migrated)
"#;

/// Whether `python3` with PyYAML's C loader is here.
pub fn available() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("import yaml; yaml.CSafeLoader")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The command that migrates the vault at `vault`, writing its snapshot to
/// `snapshot`.
pub fn command(vault: &Path, snapshot: &Path) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(PROGRAM)
        .arg(vault)
        .arg(snapshot)
        .stdout(Stdio::null());
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use notes_example::Notes;
    use verchain::folder::FolderStore;

    #[test]
    fn the_python_migrator_brings_generated_notes_to_version_3() {
        if !available() {
            eprintln!("python3 with PyYAML is not installed: the migrator was not run");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        super::super::workload::generate(&vault, 60, 3).unwrap();
        let status = command(&vault, &dir.path().join("snapshot.tar.gz"))
            .status()
            .unwrap();
        assert!(status.success());
        let store = FolderStore::new(vault.to_str().unwrap());
        let status = verchain::status::<Notes>(&store).unwrap();
        assert_eq!(status.versions.into_iter().collect::<Vec<_>>(), [(3, 60)]);
        assert!(status.unreadable.is_empty(), "{:?}", status.unreadable);
    }
}
