use serde::{Deserialize, Serialize};
use verchain::{Chain, Document, migration};

#[derive(Chain)]
#[chain(base = 1, current = 4, schema(3 = NoteV3, 4 = NoteV4))]
pub struct Notes;

#[derive(Deserialize)]
pub struct NoteV1 {
    pub tags: String,
}

#[derive(Serialize, Deserialize)]
pub struct NoteV3 {
    pub tags: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub struct NoteV4 {
    pub tags: Vec<String>,
    pub status: String,
}

/// Splits tags, infallibly.
#[migration(chain = Notes, from = 1, to = 2)]
fn split_tags(note: NoteV1) -> NoteV3 {
    NoteV3 { tags: note.tags.split(',').map(|t| t.trim().to_owned()).collect() }
}

/// Lowercases tags, in place, returning `()`.
#[migration(chain = Notes, from = 2, to = 3)]
fn lowercase(doc: &mut Document) {
    if let Some(tags) = doc.fields_mut().get_mut("tags").and_then(|t| t.as_array_mut()) {
        for tag in tags {
            *tag = tag.as_str().unwrap_or_default().to_lowercase().into();
        }
    }
}

/// Adds a status, typed and fallible.
#[migration(chain = Notes, from = 3, to = 4)]
fn add_status(note: NoteV3) -> Result<NoteV4, std::io::Error> {
    Ok(NoteV4 { tags: note.tags, status: "draft".into() })
}

fn main() {
    let serde_json::Value::Object(fields) = serde_json::json!({"tags": "A, b", "extra": 1}) else {
        unreachable!()
    };
    let mut doc = Document::new("n.md", fields);
    assert!(Notes::check_schema(3, &doc).unwrap().is_err(), "v1 is not a valid v3");
    for step in Notes::steps() {
        (step.up())(&mut doc).unwrap();
    }
    assert_eq!(doc.get("tags"), Some(&serde_json::json!(["a", "b"])));
    assert_eq!(doc.get_str("status"), Some("draft"));
    assert_eq!(doc.get("extra"), Some(&1.into()), "unknown fields survive typed steps");
    assert!(Notes::check_schema(4, &doc).unwrap().is_ok());
    assert!(Notes::check_schema(2, &doc).is_none(), "no schema declared for 2");
}
