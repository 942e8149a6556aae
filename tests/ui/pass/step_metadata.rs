use std::time::Duration;

use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3, release("0.1.0" = 1, "0.1.1" = 1, "0.2.0" = 3))]
pub struct Notes;

/// Adds `status`.
#[migration(
    chain = Notes,
    from = 1,
    to = 2,
    breaking,
    requires_restart = ["api", "search"],
    backup_required = false,
    estimate = "1h30m"
)]
fn add_status(doc: &mut Document) {
    doc.set_default("status", "draft");
}

/// Adds `kind`; says nothing of itself.
#[migration(chain = Notes, from = 2, to = 3, breaking = false, backup_required)]
fn add_kind(doc: &mut Document) {
    doc.set_default("kind", "note");
}

fn main() {
    let steps = Notes::steps();
    let first = steps[0].meta();
    assert!(first.breaking);
    assert_eq!(first.requires_restart, ["api", "search"]);
    assert!(!first.backup_required);
    assert_eq!(first.estimate, Some(Duration::from_secs(5400)));
    assert_eq!(first.estimate_text().as_deref(), Some("1h30m"));
    let second = steps[1].meta();
    assert!(!second.breaking);
    assert!(second.requires_restart.is_empty());
    assert!(second.backup_required);
    assert_eq!(second.estimate, None);
    assert_eq!(Notes::RELEASES, [("0.1.0", 1), ("0.1.1", 1), ("0.2.0", 3)]);
    let releases = verchain::chain::Releases::of::<Notes>();
    assert_eq!(releases.resolve("Notes", "0.2.0"), Ok(3));
    assert_eq!(releases.resolve("Notes", "v2"), Ok(2));
    assert_eq!(releases.name_of(1), Some("0.1.1"));
    let unknown = releases.resolve("Notes", "0.9.0").unwrap_err().to_string();
    assert!(unknown.contains("0.1.0 (v1), 0.1.1 (v1), 0.2.0 (v3)"), "{unknown}");
}
