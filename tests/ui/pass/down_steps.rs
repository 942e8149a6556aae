use serde::{Deserialize, Serialize};
use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 3)]
pub struct Notes;

/// Renames `colour` to `color`.
#[migration(chain = Notes, from = 1, to = 2, down = unrename, verify = has_no_colour)]
fn rename(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("colour", "color")?;
    Ok(())
}

fn unrename(doc: &mut Document) -> Result<(), verchain::FieldExists> {
    doc.rename("color", "colour")?;
    Ok(())
}

fn has_no_colour(doc: &Document) -> Result<(), String> {
    match doc.contains("colour") {
        true => Err(format!("{} still has `colour`", doc.path())),
        false => Ok(()),
    }
}

#[derive(Serialize, Deserialize)]
pub struct Joined {
    pub tags: String,
}

#[derive(Serialize, Deserialize)]
pub struct Split {
    pub tags: Vec<String>,
}

/// Splits tags; `join` reverses it.
#[migration(chain = Notes, from = 2, to = 3, down = join)]
fn split(old: Joined) -> Split {
    Split { tags: old.tags.split(',').map(str::to_owned).collect() }
}

fn join(new: Split) -> Result<Joined, std::fmt::Error> {
    Ok(Joined { tags: new.tags.join(",") })
}

fn main() {
    let serde_json::Value::Object(fields) =
        serde_json::json!({"colour": "red", "tags": "a,b", "keep": true})
    else {
        unreachable!()
    };
    let original = Document::new("n.md", fields);
    let mut doc = original.clone();
    let steps = Notes::steps();
    assert!(steps.iter().all(|s| s.is_reversible()));
    for step in &steps {
        (step.up())(&mut doc).unwrap();
        if let Some(verify) = step.verify() {
            verify(&doc).unwrap();
        }
    }
    assert_ne!(doc, original);
    for step in steps.iter().rev() {
        (step.down().unwrap())(&mut doc).unwrap();
    }
    assert_eq!(doc, original);
    let verify = steps[0].verify().unwrap();
    assert_eq!(verify(&original).unwrap_err().to_string(), "n.md still has `colour`");
}
