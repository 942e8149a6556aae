//! Chains and helpers used by the workspace tests: a chain whose steps live
//! in three modules of this crate, declared in a fourth; folder trees.

pub mod three_modules;
pub mod tree;
