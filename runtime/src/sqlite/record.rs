//! `Sql`, the kind of record a step over an SQLite database works on: the
//! open transaction of the run.

use rusqlite::Transaction;

use crate::BoxError;
use crate::chain::{Record, Returns, StepFn, VerifyFn};
use crate::private::shape;

/// The record kind of chains over an SQLite database: declare the chain with
/// `#[chain(record = verchain::sqlite::Sql, …)]`.
///
/// Such a chain's steps are functions over the run's transaction,
/// `fn(&Transaction) -> Result<(), E>` (or returning `()`), free to run SQL
/// and to read and rewrite rows in Rust; so are its `down` and `verify`
/// functions. Every step of a run shares one transaction, committed only
/// when all of them and the checks after them pass.
///
/// There are no values of this type: it only names the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sql {}

/// A step over an SQLite database, as the store calls it.
pub type SqlBody = Box<dyn Fn(&Transaction<'_>) -> Result<(), BoxError> + Send + Sync>;

/// A `verify` over an SQLite database, as the store calls it.
pub type SqlVerify = Box<dyn Fn(&Transaction<'_>) -> Result<(), BoxError> + Send + Sync>;

impl<F, Out> StepFn<Sql, shape::ByRef> for F
where
    F: Fn(&Transaction<'_>) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_body(self) -> SqlBody {
        Box::new(move |tx| self(tx).into_result())
    }
}

impl<F, Out> VerifyFn<Sql> for F
where
    F: Fn(&Transaction<'_>) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_verify(self) -> SqlVerify {
        Box::new(move |tx| self(tx).into_result())
    }
}

impl Record for Sql {
    type Body = SqlBody;
    type Verify = SqlVerify;
    const STEP_PARAMETER: (&'static str, &'static str) =
        ("tx", "&::verchain::sqlite::rusqlite::Transaction<'_>");
}
