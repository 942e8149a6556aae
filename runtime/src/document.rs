//! The document: the record a step over a folder of documents or a log works
//! on, whatever the file's format.

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::BoxError;
use crate::chain::{Record, Returns, StepFn, VerifyFn};
use crate::error::{DocumentError, FieldExists, deserialize_at, deserialize_noting_unknown};
use crate::private::shape;

/// One document: its fields in their original order, and for formats that
/// have one (Markdown), the body after the fields.
///
/// A step changes what it means to change; the store writes the difference
/// back into the original text, so untouched fields, comments and layout stay
/// as they were.
///
/// ```
/// use serde_json::json;
/// use verchain::Document;
///
/// let serde_json::Value::Object(fields) = json!({"title": "Plan", "created": "2024-01-02"})
/// else { unreachable!() };
/// let mut note = Document::new("notes/plan.md", fields).with_body("Body\n");
/// note.set_default("status", "draft");          // only where missing
/// assert!(note.rename("created", "created_at")?); // refuses to overwrite
/// assert_eq!(note.remove("nothing"), None);
/// assert_eq!(note.get_str("status"), Some("draft"));
/// assert_eq!(note.body(), Some("Body\n"));
/// // A step may also move the document, remove it, or create others.
/// note.move_to("archive/plan.md");
/// assert_eq!(note.moved_to().map(|p| p.as_str()), Some("archive/plan.md"));
/// # Ok::<(), verchain::FieldExists>(())
/// ```
#[derive(Debug, Clone)]
pub struct Document {
    path: Utf8PathBuf,
    fields: Map<String, Value>,
    body: Option<String>,
    fate: Fate,
    created: Vec<Document>,
    /// The top-level fields renamed, in order (from, to): written back, a
    /// renamed field keeps its place and comments, and a removed field's
    /// place goes to no other.
    renamed: Vec<(String, String)>,
}

/// Two documents are equal when what they hold is: the renames that led
/// there do not count.
impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.fields == other.fields
            && self.body == other.body
            && self.fate == other.fate
            && self.created == other.created
    }
}

/// What a step decided about the document's file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Fate {
    /// Stays where it is.
    #[default]
    Stay,
    /// Moves to another path in the store.
    Move(Utf8PathBuf),
    /// Is removed from the store.
    Remove,
}

impl Document {
    /// A document at `path` (relative to its store) with `fields`.
    pub fn new(path: impl Into<Utf8PathBuf>, fields: Map<String, Value>) -> Self {
        Document {
            path: path.into(),
            fields,
            body: None,
            fate: Fate::Stay,
            created: Vec::new(),
            renamed: Vec::new(),
        }
    }

    /// Sets the body (the text after a Markdown file's front matter).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The document's path, relative to its store.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// Whether the document has `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Sets `key` to `value`, in place if the key exists, else at the end.
    /// Returns the previous value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(key.into(), value.into())
    }

    /// Sets `key` to `value` only where the document lacks it; returns whether
    /// it did.
    pub fn set_default(&mut self, key: &str, value: impl Into<Value>) -> bool {
        if self.fields.contains_key(key) {
            return false;
        }
        self.fields.insert(key.to_owned(), value.into());
        true
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.fields.shift_remove(key)
    }

    /// Renames `from` to `to` where the document has `from`, keeping the
    /// field's position; returns whether it did. A document that has both
    /// is refused, since `to`'s value would be lost: the step fails, naming
    /// the document, unless it resolves the clash first.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<bool, FieldExists> {
        if from != to && self.fields.contains_key(from) && self.fields.contains_key(to) {
            return Err(FieldExists {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
        Ok(self.rename_replacing(from, to))
    }

    /// Renames `from` to `to` where the document has `from`, keeping the
    /// field's position, and drops an existing `to` with its value. Returns
    /// whether it renamed.
    pub fn rename_replacing(&mut self, from: &str, to: &str) -> bool {
        if from == to || !self.fields.contains_key(from) {
            return false;
        }
        let old = std::mem::take(&mut self.fields);
        self.fields = old
            .into_iter()
            .filter(|(k, _)| k != to)
            .map(|(k, v)| {
                if k == from {
                    (to.to_owned(), v)
                } else {
                    (k, v)
                }
            })
            .collect();
        self.renamed.push((from.to_owned(), to.to_owned()));
        true
    }

    /// Each top-level field that a rename (or renames one after the other)
    /// brought in, and the name it had before the first.
    pub(crate) fn renamed(&self) -> std::collections::HashMap<String, String> {
        let mut names = std::collections::HashMap::new();
        for (from, to) in &self.renamed {
            let first = names.remove(from).unwrap_or_else(|| from.clone());
            names.insert(to.clone(), first);
        }
        names
    }

    /// The fields, in order.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The fields, to change freely.
    pub fn fields_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.fields
    }

    /// The body, for formats that have one.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// Replaces the body.
    pub fn set_body(&mut self, body: impl Into<String>) {
        self.body = Some(body.into());
    }

    /// Moves the document to `path` (relative to the store, `/`-separated).
    /// Its format follows the new path's extension. The move happens when the
    /// run commits, with every other change.
    pub fn move_to(&mut self, path: impl Into<Utf8PathBuf>) {
        self.fate = Fate::Move(path.into());
    }

    /// Removes the document from the store when the run commits. Later steps
    /// do not see it.
    pub fn remove_document(&mut self) {
        self.fate = Fate::Remove;
    }

    /// Adds a new document to the store when the run commits, such as the
    /// second half of a note split in two. It is at the version the current
    /// step produces, and later steps run on it.
    pub fn create_document(&mut self, document: Document) {
        self.created.push(document);
    }

    /// Whether a step asked to remove this document.
    pub fn is_removed(&self) -> bool {
        self.fate == Fate::Remove
    }

    /// Where a step asked to move this document, if it did.
    pub fn moved_to(&self) -> Option<&Utf8Path> {
        match &self.fate {
            Fate::Move(path) => Some(path),
            _ => None,
        }
    }

    /// Applies a pending move to the document's own path, and hands over the
    /// documents created by the step.
    pub(crate) fn settle(&mut self) -> Vec<Document> {
        if let Fate::Move(path) = std::mem::take(&mut self.fate) {
            self.path = path;
        }
        std::mem::take(&mut self.created)
    }

    /// Reads the fields as `T`, naming `T` and the document on failure.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, DocumentError> {
        deserialize_at(|| Value::Object(self.fields.clone())).map_err(|(field, source)| {
            DocumentError::Deserialize {
                path: self.path.clone(),
                type_name: std::any::type_name::<T>(),
                field,
                source,
            }
        })
    }

    /// Runs a typed step: reads the fields as `A`, converts, and writes `B`
    /// back so that only what the step changed changes.
    ///
    /// Fields `A` does not know are kept where they are. Fields `A` knows and
    /// `B` lacks are removed. Fields in both keep their position with `B`'s
    /// value; fields new in `B` are appended in `B`'s order.
    pub fn apply_typed<A, B>(
        &mut self,
        step: impl FnOnce(A) -> Result<B, BoxError>,
    ) -> Result<(), BoxError>
    where
        A: DeserializeOwned,
        B: Serialize,
    {
        let fields = Value::Object(self.fields.clone());
        let (input, unknown) = deserialize_noting_unknown(fields).map_err(|(field, source)| {
            DocumentError::Deserialize {
                path: self.path.clone(),
                type_name: std::any::type_name::<A>(),
                field,
                source,
            }
        })?;
        let output = step(input)?;
        let Value::Object(mut new) =
            serde_json::to_value(output).map_err(|source| DocumentError::Serialize {
                path: self.path.clone(),
                type_name: std::any::type_name::<B>(),
                source,
            })?
        else {
            return Err(DocumentError::NotAMap {
                path: self.path.clone(),
                type_name: std::any::type_name::<B>(),
            }
            .into());
        };
        let old = std::mem::take(&mut self.fields);
        for (key, value) in old {
            if unknown.contains(&key) {
                self.fields.insert(key, value);
            } else if let Some(value) = new.shift_remove(&key) {
                self.fields.insert(key, value);
            }
        }
        self.fields.extend(new);
        Ok(())
    }
}

/// A step over a document, as a store calls it.
pub type DocumentBody = Box<dyn Fn(&mut Document) -> Result<(), BoxError> + Send + Sync>;

/// A `verify` over a document, as a store calls it.
pub type DocumentVerify = Box<dyn Fn(&Document) -> Result<(), BoxError> + Send + Sync>;

impl Record for Document {
    type Body = DocumentBody;
    type Verify = DocumentVerify;
    const STEP_PARAMETER: (&'static str, &'static str) = ("doc", "&mut ::verchain::Document");
}

impl<F, Out> StepFn<Document, shape::InPlace> for F
where
    F: Fn(&mut Document) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_body(self) -> DocumentBody {
        Box::new(move |doc| self(doc).into_result())
    }
}

impl<F, A, B, Out> StepFn<Document, shape::Typed<A, B>> for F
where
    F: Fn(A) -> Out + Send + Sync + 'static,
    A: DeserializeOwned + 'static,
    B: Serialize + 'static,
    Out: Returns<B>,
{
    fn into_body(self) -> DocumentBody {
        Box::new(move |doc| doc.apply_typed(|a: A| self(a).into_result()))
    }
}

impl<F, Out> VerifyFn<Document> for F
where
    F: Fn(&Document) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_verify(self) -> DocumentVerify {
        Box::new(move |doc| self(doc).into_result())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        let Value::Object(map) = value else {
            unreachable!()
        };
        Document::new("notes/a.md", map)
    }

    fn keys(d: &Document) -> Vec<&str> {
        d.fields().keys().map(String::as_str).collect()
    }

    #[test]
    fn rename_keeps_position_and_never_drops_a_value_unasked() {
        let mut d = doc(json!({"a": 1, "old": 2, "new": 0, "z": 3}));
        let refused = d.rename("old", "new").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "cannot rename `old` to `new`: there is a `new` already, and its value would be lost"
        );
        assert_eq!(keys(&d), ["a", "old", "new", "z"]);
        assert!(d.rename_replacing("old", "new"));
        assert_eq!(keys(&d), ["a", "new", "z"]);
        assert_eq!(d.get("new"), Some(&json!(2)));
        assert_eq!(d.rename("new", "b"), Ok(true));
        assert_eq!(keys(&d), ["a", "b", "z"]);
        assert_eq!(d.rename("missing", "x"), Ok(false));
        assert_eq!(d.rename("b", "b"), Ok(false));
    }

    #[test]
    fn set_default_does_not_overwrite() {
        let mut d = doc(json!({"status": "done"}));
        assert!(!d.set_default("status", "draft"));
        assert!(d.set_default("priority", 1));
        assert_eq!(d.get_str("status"), Some("done"));
        assert_eq!(keys(&d), ["status", "priority"]);
    }

    #[derive(Deserialize)]
    struct V1 {
        tags: String,
    }

    #[derive(Serialize)]
    struct V2 {
        tags: Vec<String>,
    }

    #[test]
    fn typed_step_changes_only_what_it_maps() {
        let mut d = doc(json!({"title": "t", "tags": "a, b", "custom": {"x": 1}}));
        d.apply_typed(|v: V1| {
            Ok::<_, BoxError>(V2 {
                tags: v.tags.split(',').map(|t| t.trim().to_owned()).collect(),
            })
        })
        .unwrap();
        assert_eq!(
            d.fields(),
            doc(json!({"title": "t", "tags": ["a", "b"], "custom": {"x": 1}})).fields()
        );
        assert_eq!(keys(&d), ["title", "tags", "custom"]);
    }

    #[test]
    fn typed_step_error_names_document_and_type() {
        let mut d = doc(json!({"title": "t"}));
        let err = d
            .apply_typed(|v: V1| Ok::<_, BoxError>(V2 { tags: vec![v.tags] }))
            .unwrap_err();
        let message = err.to_string();
        let Some(DocumentError::Deserialize { path, .. }) = err.downcast_ref::<DocumentError>()
        else {
            panic!("not a deserialize error: {message}");
        };
        assert_eq!(path, "notes/a.md");
        assert!(message.contains("V1"), "{message}");
        assert!(message.contains("missing field `tags`"), "{message}");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        title: String,
        keywords: Vec<String>,
        params: Params,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        tags: Vec<u32>,
    }

    #[test]
    fn a_document_that_does_not_fit_a_type_names_the_field() {
        let d = doc(json!({"title": "t", "keywords": "not a list", "params": {"tags": []}}));
        let err = d.to_typed::<Typed>().unwrap_err();
        let message = err.to_string();
        assert!(
            message.ends_with(
                "Typed`: field `keywords`: invalid type: string \"not a list\", expected a sequence"
            ),
            "{message}"
        );
        let mut d = doc(json!({"title": "t", "keywords": [], "params": {"tags": [1, 2, "x"]}}));
        let err = d
            .apply_typed(|v: Typed| Ok::<_, BoxError>(V2 { tags: v.keywords }))
            .unwrap_err();
        let Some(DocumentError::Deserialize { field, .. }) = err.downcast_ref::<DocumentError>()
        else {
            panic!("not a deserialize error: {err}");
        };
        assert_eq!(field.as_deref(), Some("params.tags[2]"));
        // A field the type needs and the document lacks is named by serde.
        let err = doc(json!({"title": "t"})).to_typed::<Typed>().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("Typed`: missing field `keywords`"),
            "{err}"
        );
    }
}
