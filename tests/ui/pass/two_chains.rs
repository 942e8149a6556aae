use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

#[derive(Chain)]
#[chain(base = 5, current = 7, name = "app-config", version_key = "format")]
pub struct Config;

/// Notes 1 → 2.
#[migration(chain = Notes, from = 1, to = 2)]
fn notes_step(doc: &mut Document) {
    doc.set("notes", 2);
}

/// Config 5 → 6: the same version numbers as nothing in `Notes`.
#[migration(chain = Config, from = 5, to = 6)]
fn config_a(doc: &mut Document) {
    doc.set("config", 6);
}

/// Config 6 → 7.
#[migration(chain = Config, from = 6, to = 7)]
fn config_b(doc: &mut Document) {
    doc.set("config", 7);
}

/// A chain that has reached no step yet.
#[derive(Chain)]
#[chain(base = 1, current = 1)]
pub struct Fresh;

fn main() {
    assert_eq!(Notes::steps().len(), 1);
    assert_eq!(Config::NAME, "app-config");
    assert_eq!(Config::VERSION_KEY, "format");
    assert_eq!(Notes::VERSION_KEY, "schema_version");
    let ids: Vec<_> = Config::steps().iter().map(|s| s.id()).collect();
    assert_eq!(ids, ["config_a", "config_b"]);
    assert!(Fresh::steps().is_empty());
}
