//! Helpers the suite's tests share across files that do not include
//! `tests/common` (which each test file compiles on its own).
//!
//! The suite itself is never published: it exists so that the packages users
//! depend on build without the heavy peers (servers, TLS, tokio, criterion)
//! the tests and benchmarks need.

pub mod cargo;
pub mod install;
