//! Chains used by the workspace tests: one whose steps live in three modules
//! of this crate, declared in a fourth.

pub mod three_modules;
