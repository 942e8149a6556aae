//! The rules of a migration chain, shared by the `#[migration]` macro and the
//! runtime so that compile time and run time agree on what a valid chain is.

mod checksum;
mod meta;
mod rules;

pub use checksum::{CHECKSUM_ALGORITHM, checksum};
pub use meta::{
    EstimateError, ReleaseRuleError, check_release_name, format_estimate, parse_estimate,
    parse_version_number,
};
pub use rules::{ChainRuleError, StepRuleError, check_chain, check_chain_bounds, check_step};
