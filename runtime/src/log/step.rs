//! The shapes of a step over a log: a function over each record (in place,
//! or typed), or a function that rewrites the header.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::header::LogHeader;
use super::record::LogRecord;
use crate::BoxError;
use crate::chain::{Record, Returns, StepFn, VerifyFn};
use crate::private::{SchemaRecord, shape};

type RecordFn = Box<dyn Fn(&mut LogRecord) -> Result<(), BoxError> + Send + Sync>;
type HeaderFn = Box<dyn Fn(LogHeader) -> Result<LogHeader, BoxError> + Send + Sync>;

/// A step over a log, as the store calls it: either over every record, or
/// over the header.
///
/// `#[migration]` picks the kind from the function's signature:
///
/// - `fn(&mut LogRecord) -> Result<(), E>` (or `()`): runs on every record;
/// - `fn(Old) -> New` or `fn(Old) -> Result<New, E>` with serde types: runs
///   on every record (see [`LogRecord::apply_typed`]);
/// - `fn(LogHeader) -> LogHeader` (or `Result<LogHeader, E>`): runs once, on
///   the header, and leaves every record as it is.
///
/// Either way the store sets the header's version key itself.
pub struct LogBody(Kind);

enum Kind {
    Records(RecordFn),
    Header(HeaderFn),
}

impl LogBody {
    /// Whether this step rewrites the header (and no record).
    pub fn is_header_step(&self) -> bool {
        matches!(self.0, Kind::Header(_))
    }

    /// Runs the step on one record; a header step leaves it as it is.
    pub fn apply(&self, record: &mut LogRecord) -> Result<(), BoxError> {
        match &self.0 {
            Kind::Records(f) => f(record),
            Kind::Header(_) => Ok(()),
        }
    }

    /// Runs the step on the header; a record step returns it as it is.
    pub fn apply_header(&self, header: LogHeader) -> Result<LogHeader, BoxError> {
        match &self.0 {
            Kind::Records(_) => Ok(header),
            Kind::Header(f) => f(header),
        }
    }
}

/// A `verify` over a log record, as the store calls it.
pub type LogVerify = Box<dyn Fn(&LogRecord) -> Result<(), BoxError> + Send + Sync>;

impl Record for LogRecord {
    type Body = LogBody;
    type Verify = LogVerify;
    const STEP_PARAMETER: (&'static str, &'static str) =
        ("record", "&mut ::verchain::log::LogRecord");
}

impl<F, Out> StepFn<LogRecord, shape::InPlace> for F
where
    F: Fn(&mut LogRecord) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_body(self) -> LogBody {
        LogBody(Kind::Records(Box::new(move |r| self(r).into_result())))
    }
}

impl<F, A, B, Out> StepFn<LogRecord, shape::Typed<A, B>> for F
where
    F: Fn(A) -> Out + Send + Sync + 'static,
    A: DeserializeOwned + 'static,
    B: Serialize + 'static,
    Out: Returns<B>,
{
    fn into_body(self) -> LogBody {
        LogBody(Kind::Records(Box::new(move |r| {
            r.apply_typed(|a: A| self(a).into_result())
        })))
    }
}

impl<F, Out> StepFn<LogRecord, shape::Typed<LogHeader, LogHeader>> for F
where
    F: Fn(LogHeader) -> Out + Send + Sync + 'static,
    Out: Returns<LogHeader>,
{
    fn into_body(self) -> LogBody {
        LogBody(Kind::Header(Box::new(move |h| self(h).into_result())))
    }
}

impl<F, Out> VerifyFn<LogRecord> for F
where
    F: Fn(&LogRecord) -> Out + Send + Sync + 'static,
    Out: Returns<()>,
{
    fn into_verify(self) -> LogVerify {
        Box::new(move |r| self(r).into_result())
    }
}

impl SchemaRecord for LogRecord {
    fn check_as<T: DeserializeOwned>(&self) -> Result<(), BoxError> {
        self.to_typed::<T>().map(drop).map_err(Into::into)
    }
}
