//! The answers of a submission as the service keeps them: one JSON
//! document each, in the `jsonb` column `submissions.responses`. They have
//! a chain of their own, over [`Document`]s as a folder's files are: the
//! same steps migrate the rows of the table (through the `forms` chain's
//! `responses_to_v2`) and a folder of exported submissions.

use serde::Deserialize;
use verchain::{BoxError, Chain, Document, migration};

/// A submission's answers.
#[derive(Chain)]
#[chain(base = 1, current = 2, name = "responses", schema(2 = ResponsesV2))]
pub struct Responses;

/// What every submission's answers hold at version 2, beside the answers
/// themselves.
#[derive(Debug, Deserialize)]
pub struct ResponsesV2 {
    /// When the submission was made (RFC 3339, UTC).
    pub created_at: String,
    /// Where it came from.
    pub channel: String,
}

/// The free-text `note` answer is called `comment`, as the new form
/// builder names it, and every submission says where it came from:
/// `web`, the only channel before version 2.
#[migration(chain = Responses, from = 1, to = 2)]
pub fn comment_and_channel(answers: &mut Document) -> Result<(), BoxError> {
    answers.rename("note", "comment")?;
    answers.set_default("channel", "web");
    Ok(())
}
