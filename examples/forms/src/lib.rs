//! A forms service's database in PostgreSQL: users build forms, people
//! submit them, and each submission keeps its answers in a `jsonb` object.
//! Several instances of the service start at once, each calling
//! `verchain::run_startup` before it serves. Its schema changed three
//! times:
//!
//! | version | change | how |
//! |---|---|---|
//! | 1 | `fixtures/forms/v1.sql` | |
//! | 2 | every submission's `responses` has `created_at` (its `submitted_at`) | one `UPDATE` |
//! | 3 | a submission's `email` answer moves out of `responses` into the column `contact_email` | rows read and rewritten in Rust |
//! | 4 | an index on `lower(contact_email)`, built without blocking writes | `CREATE INDEX CONCURRENTLY`, outside the transaction |

use verchain::postgres::postgres::{Client, Transaction};
use verchain::postgres::{Rows, expect_rows};
use verchain::{BoxError, Chain, migration};

/// The SQL that builds the database at version 1.
pub const V1_SQL: &str = include_str!("../../../fixtures/forms/v1.sql");

/// The forms service's database.
#[derive(Chain)]
#[chain(record = verchain::postgres::Pg, base = 1, current = 4, name = "forms")]
pub struct Forms;

/// Gives every submission's `responses` a `created_at`: when it was
/// submitted, in UTC, where it has none.
#[migration(chain = Forms, from = 1, to = 2)]
pub fn add_created_at_to_responses(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    expect_rows(tx, "submissions", Rows::Unchanged)?;
    tx.execute(
        "UPDATE submissions SET responses = responses || jsonb_build_object('created_at', \
         to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) \
         WHERE NOT responses ? 'created_at'",
        &[],
    )?;
    Ok(())
}

/// Moves a submission's `email` answer out of `responses` into a column of
/// its own, `contact_email`; submissions without one have none.
#[migration(chain = Forms, from = 2, to = 3, verify = no_email_left_in_responses)]
pub fn promote_contact_email(tx: &mut Transaction<'_>) -> Result<(), BoxError> {
    expect_rows(tx, "submissions", Rows::Unchanged)?;
    tx.batch_execute("ALTER TABLE submissions ADD COLUMN contact_email text")?;
    let rows = tx.query(
        "SELECT id, responses FROM submissions WHERE responses ? 'email' ORDER BY id",
        &[],
    )?;
    for row in rows {
        let id: i64 = row.get(0);
        let mut responses: serde_json::Value = row.get(1);
        let email = match responses.as_object_mut().and_then(|o| o.remove("email")) {
            Some(serde_json::Value::String(email)) => email,
            other => {
                return Err(format!(
                    "submission {id}: `email` is {}, not a string",
                    other.unwrap_or_default()
                )
                .into());
            }
        };
        tx.execute(
            "UPDATE submissions SET contact_email = $1, responses = $2 WHERE id = $3",
            &[&email, &responses, &id],
        )?;
    }
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
