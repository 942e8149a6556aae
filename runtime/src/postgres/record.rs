//! `Pg`, the kind of record a step over a PostgreSQL database works on:
//! the open transaction of the run, or, for a step marked
//! `#[migration(transaction = false)]`, the connection itself.

use postgres::{Client, Transaction};

use crate::BoxError;
use crate::chain::{Record, Returns, StepFn, VerifyFn};
use crate::private::shape;

/// The record kind of chains over a PostgreSQL database: declare the chain
/// with `#[chain(record = verchain::postgres::Pg, …)]`.
///
/// Such a chain's steps are functions over the run's transaction,
/// `fn(&mut Transaction) -> Result<(), E>` (or returning `()`), free to run
/// SQL and to read and rewrite rows in Rust; so are its `down` and `verify`
/// functions. The steps of a run share one transaction, committed only
/// when all of them and the checks after them pass.
///
/// A step that cannot run inside a transaction (`CREATE INDEX
/// CONCURRENTLY`, `ALTER TYPE … ADD VALUE` before PostgreSQL 12) is marked
/// `#[migration(…, transaction = false)]` and takes the connection,
/// `fn(&mut Client) -> Result<(), E>`: the run commits the steps before it,
/// runs it alone (the history records it as started first), then goes on
/// with the steps after it in a transaction of their own.
///
/// There are no values of this type: it only names the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pg {}

/// A step over a PostgreSQL database, as the store calls it.
pub enum PgBody {
    /// A step inside the run's transaction.
    Transaction(PgVerify),
    /// A step marked `transaction = false`, over the connection.
    Alone(PgAlone),
}

/// A step marked `transaction = false`, as the store calls it.
pub type PgAlone = Box<dyn Fn(&mut Client) -> Result<(), BoxError> + Send + Sync>;

/// A `verify` over a PostgreSQL database (and a step inside the run's
/// transaction), as the store calls it.
pub type PgVerify = Box<dyn Fn(&mut Transaction<'_>) -> Result<(), BoxError> + Send + Sync>;

impl Record for Pg {
    type Body = PgBody;
    type Verify = PgVerify;
    const STEP_PARAMETER: (&'static str, &'static str) =
        ("tx", "&mut ::verchain::postgres::postgres::Transaction<'_>");
}

impl<F, Out> StepFn<Pg, shape::InPlace> for F
where
    F: Fn(&mut Transaction<'_>) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_body(self) -> PgBody {
        PgBody::Transaction(Box::new(move |tx| self(tx).into_result()))
    }
}

impl<F, Out> StepFn<Pg, shape::Alone> for F
where
    F: Fn(&mut Client) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_body(self) -> PgBody {
        PgBody::Alone(Box::new(move |client| self(client).into_result()))
    }
}

impl<F, Out> VerifyFn<Pg> for F
where
    F: Fn(&mut Transaction<'_>) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_verify(self) -> PgVerify {
        Box::new(move |tx| self(tx).into_result())
    }
}
