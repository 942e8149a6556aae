//! What generated code needs and users do not: the traits through which the
//! compiler checks a chain, and the shapes of step functions.

use serde::de::DeserializeOwned;

pub use crate::chain::{Step, StepFn, StepMeta, VerifyFn};
pub use crate::{BoxError, Chain, Document};

/// The one step of chain `Self` that arrives at version `V`. Since a step
/// goes from one version to the next, two migrations that leave the same
/// version are conflicting implementations of this trait.
#[diagnostic::on_unimplemented(
    message = "migration chain `{Self}` cannot reach its current version: nothing migrates to \
               version {V}",
    label = "the chain's `current` is declared here",
    note = "add a `#[migration(chain = {Self}, from = …, to = {V})]`, or lower `current`"
)]
pub trait OnlyOneStepTo<const V: u32>: Chain {
    /// The step.
    fn step() -> Step<Self::Record>;
}

/// Chain `Self` has a way to reach version `V`: it is the chain's base, or a
/// migration arrives at it.
#[diagnostic::on_unimplemented(
    message = "migration chain `{Self}` has a gap: nothing migrates to version {V}",
    label = "no migration has `to = {V}`",
    note = "add the migration that goes to version {V}; if {V} is below the chain's `base`, \
            this migration can never run"
)]
pub trait Reaches<const V: u32> {}

impl<C: OnlyOneStepTo<V>, const V: u32> Reaches<V> for C {}

/// Chain `Self` declares version `V` (between its `base` and `current`).
#[diagnostic::on_unimplemented(
    message = "migration goes to version {V}, past the current version of chain `{Self}`",
    label = "version {V} is after the chain's `current`",
    note = "when this step is ready, raise `current` in the chain's `#[chain(...)]` to {V}"
)]
pub trait NotPastCurrent<const V: u32> {}

/// Fails to compile unless `C` is a chain.
pub const fn assert_chain<C: Chain>() {}

/// Fails to compile unless chain `C` reaches version `V`.
pub const fn assert_reaches<C: Reaches<V>, const V: u32>() {}

/// Fails to compile when `V` is past chain `C`'s current version.
pub const fn assert_not_past_current<C: NotPastCurrent<V>, const V: u32>() {}

/// Markers for how a step function receives its record.
pub mod shape {
    use std::marker::PhantomData;

    /// `fn(&mut R) -> …`
    pub struct InPlace;

    /// `fn(&R) -> …`
    pub struct ByRef;

    /// `fn(&mut Connection) -> …`, a step marked `transaction = false`
    /// that runs outside the run's transaction.
    pub struct Alone;

    /// `fn(A) -> B` or `fn(A) -> Result<B, E>`.
    pub struct Typed<A, B>(PhantomData<fn(A) -> B>);
}

/// Records that can be read as a serde type, for `#[chain(schema(...))]`.
#[diagnostic::on_unimplemented(
    message = "records of kind `{Self}` have no schema type",
    label = "`schema(...)` applies to chains of documents"
)]
pub trait SchemaRecord {
    /// Reads the record as `T`.
    fn check_as<T: DeserializeOwned>(&self) -> Result<(), BoxError>;
}

impl SchemaRecord for Document {
    fn check_as<T: DeserializeOwned>(&self) -> Result<(), BoxError> {
        self.to_typed::<T>().map(drop).map_err(Into::into)
    }
}

/// Checks `record` against the schema type `T`.
pub fn check_schema<T: DeserializeOwned, R: SchemaRecord>(record: &R) -> Result<(), BoxError> {
    record.check_as::<T>()
}

/// How many fault points this process passed, and the last (tests only).
#[cfg(feature = "faults")]
pub use crate::fault::passed as fault_points_passed;

/// The write a `short:N` fault cut short in this process, if any (tests
/// only).
#[cfg(feature = "faults")]
pub use crate::fault::shortened as fault_write_shortened;

/// Kills this process with SIGKILL (tests only).
#[cfg(feature = "faults")]
pub use crate::fault::crash;
