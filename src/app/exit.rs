//! The exit codes, for the application layer: the one table lives in `jobs::exit_code`, where
//! `status` (a job) can use it too.

pub use crate::jobs::exit_code::*;
