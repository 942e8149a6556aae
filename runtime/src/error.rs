//! Errors of reading and writing documents. Their messages leave out the
//! document's path: every caller (a run, a step's error) names it already.

use camino::Utf8PathBuf;
use thiserror::Error;

/// A document could not be read as, or written from, a step's type.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The document's fields do not fit the type.
    #[error("does not read as `{type_name}`: {}{source}", in_field(.field))]
    Deserialize {
        /// The document.
        path: Utf8PathBuf,
        /// The type it was read as.
        type_name: &'static str,
        /// The field that did not fit, as a path from the top level
        /// (`keywords`, `params.tags[2]`); `None` where the top level itself
        /// did not (a missing field of the type).
        field: Option<String>,
        /// What did not fit.
        source: serde_json::Error,
    },
    /// The step's output could not be written.
    #[error("cannot write `{type_name}`: {source}")]
    Serialize {
        /// The document.
        path: Utf8PathBuf,
        /// The type being written.
        type_name: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// The step's output is not a struct or map, so it cannot be a document.
    #[error("a typed step must return a struct or map, but `{type_name}` is neither")]
    NotAMap {
        /// The document.
        path: Utf8PathBuf,
        /// The type returned.
        type_name: &'static str,
    },
}

/// `field `f`: ` for a field path, nothing for none.
pub(crate) fn in_field(field: &Option<String>) -> String {
    match field {
        Some(field) => format!("field `{field}`: "),
        None => String::new(),
    }
}

/// Deserializes a `T` from the deserializer `make` gives; on failure, the
/// path of the field that did not fit (`None` at the top level) and the
/// error. The path is tracked only once a first reading failed, by reading
/// again: tracking it costs an allocation per field, on every record of a
/// run that checks each against its schema.
pub(crate) fn deserialize_at<'de, T, D>(
    make: impl Fn() -> D,
) -> Result<T, (Option<String>, D::Error)>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    match T::deserialize(make()) {
        Ok(value) => Ok(value),
        Err(first) => match tracking::<T, D>(make()) {
            Ok(_) => Err((None, first)),
            Err(error) => Err(error),
        },
    }
}

/// Deserializes a `T` from `from`, tracking the path of the field that does
/// not fit.
fn tracking<'de, T, D>(from: D) -> Result<T, (Option<String>, D::Error)>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde_path_to_error::deserialize(from).map_err(|error| {
        let field = error.path().iter().next().map(|_| error.path().to_string());
        (field, error.into_inner())
    })
}

/// A step's input and the names of the fields it does not know, or the
/// path of the field that did not fit and the error.
type Read<T, E> = Result<(T, Vec<String>), (Option<String>, E)>;

/// Deserializes a step's input `T` from `from`, as [`deserialize_at`] does,
/// and names the top-level fields `T` does not know (a typed step keeps
/// them as they are).
pub(crate) fn deserialize_noting_unknown<'de, T, D>(from: D) -> Read<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        if let serde_ignored::Path::Map {
            parent: serde_ignored::Path::Root,
            key,
        } = path
        {
            unknown.push(key.clone());
        }
    };
    let value = tracking(serde_ignored::Deserializer::new(from, &mut note))?;
    Ok((value, unknown))
}

/// A rename that would overwrite a field the record already has: its value
/// would be lost, so the rename is refused (a step that means to drop it
/// calls `rename_replacing`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot rename `{from}` to `{to}`: there is a `{to}` already, and its value would be lost")]
pub struct FieldExists {
    /// The field being renamed.
    pub from: String,
    /// The name it was to take.
    pub to: String,
}
