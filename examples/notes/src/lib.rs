//! A small notes application: Markdown notes with YAML front matter (a
//! "vault"), whose front matter has changed shape three times.
//!
//! | version | front matter |
//! |---|---|
//! | 1 | `title`, `created`, `tags: "a, b"` |
//! | 2 | adds `status: draft` where missing |
//! | 3 | `created` renamed `created_at` |
//! | 4 | `tags` becomes a list |
//!
//! Releases of the application name versions: 0.1.0 shipped version 1,
//! 0.2.0 version 3, 0.3.0 version 4. The search index reads tags, so it
//! restarts once they are lists.

use serde::{Deserialize, Serialize};
use verchain::{BoxError, Chain, Document, FieldExists, migration};

/// The notes of the vault.
#[derive(Chain)]
#[chain(
    base = 1,
    current = 4,
    name = "notes",
    schema(4 = NoteV4),
    release("0.1.0" = 1, "0.2.0" = 3, "0.3.0" = 4)
)]
pub struct Notes;

/// Adds `status: draft` to every note that has no status.
#[migration(chain = Notes, from = 1, to = 2)]
pub fn add_status(note: &mut Document) -> Result<(), BoxError> {
    note.set_default("status", "draft");
    Ok(())
}

/// Renames `created` to `created_at`, keeping its place in the front matter.
#[migration(chain = Notes, from = 2, to = 3, down = rename_created_at_back)]
pub fn rename_created(note: &mut Document) -> Result<(), FieldExists> {
    note.rename("created", "created_at")?;
    Ok(())
}

/// Renames `created_at` back to `created`.
pub fn rename_created_at_back(note: &mut Document) -> Result<(), FieldExists> {
    note.rename("created_at", "created")?;
    Ok(())
}

/// The part of a version 3 note that the `tags` step reads.
#[derive(Debug, Deserialize)]
pub struct TagsV3 {
    /// Comma-separated tags, such as `"work, urgent"`.
    #[serde(default)]
    pub tags: Option<String>,
}

/// The part of a version 4 note that the `tags` step writes.
#[derive(Debug, Serialize)]
pub struct TagsV4 {
    /// Tags as a list, trimmed, empty entries dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Turns the comma-separated `tags` string into a list of tags.
#[migration(
    chain = Notes,
    from = 3,
    to = 4,
    requires_restart = ["search-index"],
    estimate = "2s"
)]
pub fn split_tags(note: TagsV3) -> TagsV4 {
    TagsV4 {
        tags: note.tags.map(|tags| {
            tags.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    }
}

/// A note at version 4, as the application reads it.
#[derive(Debug, Deserialize)]
pub struct NoteV4 {
    /// The note's title.
    pub title: String,
    /// `draft`, `active`, `done`, or what the user chose.
    pub status: String,
    /// When the note was created, as the user wrote it.
    #[serde(default)]
    pub created_at: Option<String>,
    /// The note's tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn note(fields: Value) -> Document {
        let Value::Object(fields) = fields else {
            panic!("not an object")
        };
        Document::new("vault/a.md", fields)
    }

    #[test]
    fn a_v1_note_reaches_v4() {
        let mut doc = note(
            json!({"title": "Plan", "created": "2024-01-02", "tags": "work, , urgent", "mine": 1}),
        );
        for step in Notes::steps() {
            (step.up())(&mut doc).unwrap();
        }
        assert_eq!(
            doc.fields(),
            note(json!({"title": "Plan", "created_at": "2024-01-02", "tags": ["work", "urgent"], "mine": 1, "status": "draft"})).fields()
        );
        assert!(Notes::check_schema(4, &doc).unwrap().is_ok());
    }

    #[test]
    fn a_note_without_tags_stays_without_tags() {
        let mut doc = note(json!({"title": "Plan", "status": "done"}));
        for step in Notes::steps() {
            (step.up())(&mut doc).unwrap();
        }
        assert_eq!(
            doc.fields(),
            note(json!({"title": "Plan", "status": "done"})).fields()
        );
    }

    #[test]
    fn schema_rejects_a_note_without_title() {
        let doc = note(json!({"status": "draft"}));
        let err = Notes::check_schema(4, &doc)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `title`"), "{err}");
    }
}
