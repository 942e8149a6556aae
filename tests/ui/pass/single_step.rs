use verchain::{BoxError, Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 2)]
pub struct Notes;

/// Adds `status`.
#[migration(chain = Notes, from = 1, to = 2)]
fn add_status(doc: &mut Document) -> Result<(), BoxError> {
    doc.set_default("status", "draft");
    Ok(())
}

fn main() {
    let steps = Notes::steps();
    assert_eq!(steps.len(), 1);
    assert_eq!((steps[0].id(), steps[0].from(), steps[0].to()), ("add_status", 1, 2));
    assert_eq!(steps[0].description(), "Adds `status`.");
    // The function stays callable on its own.
    let mut doc = Document::new("a.md", Default::default());
    add_status(&mut doc).unwrap();
    assert_eq!(doc.get_str("status"), Some("draft"));
}
