//! Chains and helpers used by the workspace tests: a chain whose steps live
//! in three modules of this crate, declared in a fourth; folder trees;
//! SQLite databases; PostgreSQL servers and databases; run options.

pub mod options;
pub mod postgres_db;
pub mod postgres_server;
pub mod sqlite_db;
pub mod three_modules;
pub mod tree;
