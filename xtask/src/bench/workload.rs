//! The generated workload: a vault of Markdown notes at version 1 of the
//! `Notes` chain, deterministic for a seed and a count.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Bumped whenever the generator's output changes, so an old vault on disk
/// is regenerated rather than reused.
const GENERATOR: u32 = 1;

/// A generated vault on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// The generator version that wrote it.
    pub generator: u32,
    /// The seed it was generated with.
    pub seed: u64,
    /// How many notes it holds.
    pub notes: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// The vault's folder name: `notes-100k` for 100,000 notes, `notes-1500`
/// for 1,500.
pub fn dir_name(notes: usize) -> String {
    if notes >= 1000 && notes.is_multiple_of(1000) {
        format!("notes-{}k", notes / 1000)
    } else {
        format!("notes-{notes}")
    }
}

/// The vault of `notes` notes under `bench_dir`, generated unless a vault
/// whose marker file matches (generator, seed, count, and the files on disk
/// still add up to the recorded count and size) is already there.
pub fn ensure(bench_dir: &Path, notes: usize, seed: u64) -> Result<(PathBuf, Workload)> {
    let name = dir_name(notes);
    let dir = bench_dir.join(&name);
    let marker = bench_dir.join(format!("{name}.json"));
    if let Some(found) = reusable(&dir, &marker, notes, seed) {
        eprintln!(
            "bench: reusing {} ({} notes, {:.1} MB, seed {seed})",
            dir.display(),
            found.notes,
            found.bytes as f64 / 1e6
        );
        return Ok((dir, found));
    }
    eprintln!(
        "bench: generating {} ({notes} notes, seed {seed})",
        dir.display()
    );
    remove_if_present(&marker)?;
    remove_dir_if_present(&dir)?;
    let temp = bench_dir.join(format!("{name}.tmp"));
    remove_dir_if_present(&temp)?;
    let bytes = generate(&temp, notes, seed)?;
    fs::rename(&temp, &dir)
        .with_context(|| format!("rename {} to {}", temp.display(), dir.display()))?;
    let workload = Workload {
        generator: GENERATOR,
        seed,
        notes,
        bytes,
    };
    fs::write(&marker, serde_json::to_string_pretty(&workload)? + "\n")
        .with_context(|| format!("write {}", marker.display()))?;
    Ok((dir, workload))
}

/// The marker's workload, if it is the one asked for and the folder still
/// holds what the marker says.
fn reusable(dir: &Path, marker: &Path, notes: usize, seed: u64) -> Option<Workload> {
    let text = fs::read_to_string(marker).ok()?;
    let found: Workload = serde_json::from_str(&text).ok()?;
    if found.generator != GENERATOR || found.seed != seed || found.notes != notes {
        return None;
    }
    let (files, bytes) = count(dir).ok()?;
    (files == found.notes && bytes == found.bytes).then_some(found)
}

/// Files and bytes under `dir`, recursively.
pub fn count(dir: &Path) -> io::Result<(usize, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, bytes))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Removes a folder and everything in it, if it exists.
pub fn remove_dir_if_present(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Writes `notes` notes into `dir` (created), 1,000 to a folder, a tenth of
/// them one level deeper; returns their total size in bytes.
pub fn generate(dir: &Path, notes: usize, seed: u64) -> Result<u64> {
    let mut bytes = 0;
    for i in 0..notes {
        let (rel, text) = note(seed, i);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        fs::write(&path, &text).with_context(|| format!("write {}", path.display()))?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: usize) -> Self {
        let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "plan",
    "meeting",
    "notes",
    "idea",
    "draft",
    "review",
    "budget",
    "garden",
    "recipe",
    "travel",
    "book",
    "project",
    "weekly",
    "retro",
    "goals",
    "design",
    "release",
    "bug",
    "reading",
    "journal",
    "call",
    "follow",
    "up",
    "quarter",
    "team",
    "home",
    "shopping",
    "list",
    "summary",
    "thoughts",
    "research",
    "paper",
    "sketch",
    "deploy",
    "server",
    "migration",
    "schema",
    "version",
    "backup",
    "photo",
    "music",
    "run",
    "training",
    "health",
    "doctor",
    "school",
    "family",
    "birthday",
    "gift",
    "movie",
    "podcast",
];

const UNICODE_TITLES: &[&str] = &[
    "Café au lait",
    "日本語のメモ",
    "Ελληνικά σημειώσεις",
    "Notizen für Montag",
    "🚀 Launch checklist",
    "Crème brûlée",
    "مرحبا بالعالم",
    "Ünïcödé everywhere",
];

const TAGS: &[&str] = &[
    "work", "home", "ideas", "reading", "dev", "ops", "health", "travel", "food", "finance",
    "meetings", "journal", "misc", "urgent", "later", "music",
];

const CUSTOM: &[&str] = &[
    "mood: calm",
    "rating: 4",
    "priority: 2",
    "pinned: true",
    "source: https://example.com/articles/42",
    "meta:\n  source: phone\n  synced: true",
    "aliases: [first, second]",
    "location: Lisbon",
];

/// One note: its path relative to the vault, and its bytes.
pub fn note(seed: u64, index: usize) -> (String, String) {
    let mut rng = Rng::new(seed, index);
    let title = title(&mut rng);
    let mut fm = Vec::new();
    if rng.percent(3) {
        fm.push("# front matter written by hand".to_owned());
    }
    let status_first = rng.percent(3);
    if status_first {
        fm.push(format!(
            "status: {}",
            rng.pick(&["active", "done", "draft"])
        ));
    }
    let needs_quotes =
        title.contains(':') || title.starts_with(|c: char| c.is_ascii_digit() || c == '#');
    if needs_quotes {
        fm.push(format!("title: \"{title}\""));
    } else {
        fm.push(format!("title: {title}"));
    }
    if rng.percent(2) {
        fm.push(String::new());
    }
    let mut created = format!(
        "created: {}-{:02}-{:02}",
        2019 + rng.below(7),
        1 + rng.below(12),
        1 + rng.below(28)
    );
    if rng.percent(10) {
        created.push_str(&format!("T{:02}:{:02}:00Z", rng.below(24), rng.below(60)));
    } else if rng.percent(2) {
        created.push_str("  # a weekday");
    }
    fm.push(created);
    if !rng.percent(5) {
        let n = 1 + rng.below(4);
        let tags: Vec<&str> = (0..n).map(|_| rng.pick(TAGS)).collect();
        fm.push(match rng.below(20) {
            0 => format!("tags: \"{}, , {}\"", tags.join(","), rng.pick(TAGS)),
            1 => format!("tags: \"  {} ,  {}  \"", tags.join(" , "), rng.pick(TAGS)),
            2..=7 => format!("tags: \"{}\"", tags.join(", ")),
            _ => format!("tags: {}", tags.join(", ")),
        });
    }
    if !status_first && rng.percent(8) {
        fm.push(format!(
            "status: {}",
            rng.pick(&["active", "done", "someday"])
        ));
    }
    if rng.percent(20) {
        for _ in 0..1 + rng.below(3) {
            let field = rng.pick(CUSTOM);
            let key = field.split(':').next().unwrap_or_default();
            if !fm.iter().any(|line| line.starts_with(&format!("{key}:"))) {
                fm.push(field.to_owned());
            }
        }
    }
    let mut text = String::from("---\n");
    for line in &fm {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("---\n");
    if !rng.percent(2) {
        let len = if rng.percent(10) {
            1500 + rng.below(2000)
        } else {
            100 + rng.below(1400)
        };
        body(&mut rng, &title, len, &mut text);
    }
    if rng.percent(10) {
        text = text.replace('\n', "\r\n");
    }
    if rng.percent(5) {
        let trimmed = text.trim_end_matches(['\r', '\n']).len();
        text.truncate(trimmed);
    }
    let folder = format!("{:03}", index / 1000);
    let folder = if rng.percent(10) {
        format!("{folder}/archive")
    } else {
        folder
    };
    (format!("{folder}/{index:06}-{}.md", slug(&title)), text)
}

fn title(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=2 => rng.pick(UNICODE_TITLES).to_owned(),
        3..=4 => format!("{}", 2000 + rng.below(30)),
        5..=7 => format!("{}: {}", capitalized(rng.pick(WORDS)), rng.pick(WORDS)),
        _ => {
            let n = 1 + rng.below(6);
            let words: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
            capitalized(&words.join(" "))
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A file name from a title: lowercase letters and digits (any script),
/// dashes for the rest, at most 40 characters.
fn slug(title: &str) -> String {
    let slug: String = title
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "note".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Appends a Markdown body of about `len` bytes: paragraphs, lists, now and
/// then a heading, a code block or a horizontal rule.
fn body(rng: &mut Rng, title: &str, len: usize, out: &mut String) {
    let start = out.len();
    if rng.percent(30) {
        out.push_str(&format!("# {title}\n\n"));
    }
    while out.len() - start < len {
        match rng.below(10) {
            0 => {
                for _ in 0..2 + rng.below(4) {
                    let done = if rng.percent(50) { "[x] " } else { "[ ] " };
                    let task = if rng.percent(30) { done } else { "" };
                    out.push_str(&format!("- {task}{}\n", sentence(rng, 3, 8)));
                }
            }
            1 => out.push_str(&format!(
                "## {}\n",
                capitalized(&sentence(rng, 1, 4)).trim_end_matches('.')
            )),
            2 if rng.percent(30) => out.push_str(&format!(
                "```sh\n{} --{} {}\n```\n",
                rng.pick(WORDS),
                rng.pick(WORDS),
                rng.pick(WORDS)
            )),
            3 if rng.percent(10) => out.push_str("---\n"),
            4 if rng.percent(30) => out.push_str(&format!(
                "See [{}](https://example.com/{}) and [[{}]].\n",
                rng.pick(WORDS),
                rng.pick(WORDS),
                capitalized(rng.pick(WORDS))
            )),
            _ => {
                for _ in 0..1 + rng.below(4) {
                    out.push_str(&capitalized(&sentence(rng, 4, 16)));
                    out.push(' ');
                }
                out.pop();
                out.push('\n');
            }
        }
        out.push('\n');
    }
}

fn sentence(rng: &mut Rng, min: usize, max: usize) -> String {
    let n = min + rng.below(max - min + 1);
    let words: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
    format!("{}.", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notes_example::Notes;
    use verchain::folder::FolderStore;
    use verchain::{RunOptions, migrate};

    #[test]
    fn fifty_generated_notes_are_fifty_v1_notes() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let bytes = generate(&vault, 50, 7).unwrap();
        assert_eq!(count(&vault).unwrap(), (50, bytes));

        let root = vault.to_str().unwrap().to_owned();
        let options = RunOptions {
            target: Some(3),
            dry_run: true,
            diff_limit: 0,
            ..RunOptions::default()
        };
        let report = migrate::<Notes>(&FolderStore::new(root), &options).unwrap();
        assert_eq!(report.failures, []);
        assert_eq!(report.versions.into_iter().collect::<Vec<_>>(), [(1, 50)]);
        assert_eq!(report.counts.changed, 50);
    }

    #[test]
    fn a_seed_and_an_index_give_the_same_note_every_time() {
        assert_eq!(note(1, 1234), note(1, 1234));
        assert_ne!(note(1, 1234), note(2, 1234));
        let (path, text) = note(1, 1234);
        assert!(path.starts_with("001/"), "{path}");
        assert!(text.starts_with("---"), "{text}");
    }
}
