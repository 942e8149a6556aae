//! A forms service's database in PostgreSQL: users build forms, people
//! submit them, and each submission keeps its answers in a `jsonb` object.
//! Several instances of the service start at once, each calling
//! `verchain::run_startup` before it serves. Its schema changed four
//! times:
//!
//! | version | change | how |
//! |---|---|---|
//! | 1 | `fixtures/forms/v1.sql` | |
//! | 2 | every submission's `responses` has `created_at` (its `submitted_at`) | an `UPDATE` in batches |
//! | 3 | a submission's `email` answer moves out of `responses` into the column `contact_email` | `promote_json`, in batches |
//! | 4 | an index on `lower(contact_email)`, built without blocking writes | `CREATE INDEX CONCURRENTLY`, outside the transaction |
//! | 5 | every submission's `responses` at version 2 of the [`Responses`] chain | the chain's `Document` steps, rows read and rewritten in Rust in batches |

mod responses;

pub use responses::{Responses, ResponsesV2, comment_and_channel};
use verchain::postgres::postgres::{Client, Transaction};
use verchain::postgres::{
    Batches, Rows, batched_update, expect_rows, migrate_documents, promote_json,
};
use verchain::{BoxError, Chain, migration};

/// The SQL that builds the database at version 1.
pub const V1_SQL: &str = include_str!("../../../fixtures/forms/v1.sql");

/// The forms service's database.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 5, name = "forms")]
pub struct Forms;

/// Gives every submission's `responses` a `created_at`: when it was
/// submitted, in UTC, where it has none. In batches of the table's rows.
#[migration(chain = Forms, from = 1, to = 2)]
pub fn add_created_at_to_responses(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    expect_rows(tx, "submissions", Rows::Unchanged)?;
    batched_update(
        tx,
        Batches::of("submissions").only("NOT responses ? 'created_at'"),
        "responses = responses || jsonb_build_object('created_at', \
         to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
    )?;
    Ok(())
}

/// Moves a submission's `email` answer out of `responses` into a column of
/// its own, `contact_email`; submissions without one have none.
#[migration(chain = Forms, from = 2, to = 3, verify = no_email_left_in_responses)]
pub fn promote_contact_email(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    expect_rows(tx, "submissions", Rows::Unchanged)?;
    promote_json(
        tx,
        "submissions",
        "responses",
        "email",
        "contact_email",
        "text",
    )?;
    Ok(())
}

/// After `promote_contact_email`: no submission's `responses` still has an
/// `email`.
pub fn no_email_left_in_responses(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    let left: i64 = tx
        .query_one(
            "SELECT count(*) FROM submissions WHERE responses ? 'email'",
            &[],
        )?
        .get(0);
    match left {
        0 => Ok(()),
        n => Err(format!("{n} submissions still have `email` in their responses").into()),
    }
}

/// Indexes submissions by their contact's email, without case, built
/// concurrently so that the service keeps writing meanwhile. A build that
/// failed leaves an INVALID index, which running the step again drops
/// first.
#[migration(chain = Forms, from = 3, to = 4, transaction = false)]
pub fn index_contact_email(client: &mut Client) -> Result<(), BoxError> {
    client.batch_execute("DROP INDEX CONCURRENTLY IF EXISTS submissions_by_contact_email")?;
    client.batch_execute(
        "CREATE INDEX CONCURRENTLY submissions_by_contact_email \
         ON submissions (lower(contact_email))",
    )?;
    Ok(())
}

/// Brings every submission's `responses` to version 2 of the `responses`
/// chain ([`Responses`]), 10,000 rows at a time: the same steps that
/// migrate a folder of exported submissions.
#[migration(chain = Forms, from = 4, to = 5)]
pub fn responses_to_v2(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    expect_rows(tx, "submissions", Rows::Unchanged)?;
    migrate_documents::<Responses>(tx, "submissions", "responses", 2)?;
    Ok(())
}
