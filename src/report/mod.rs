//! Headless wording shared by the console and the CLI: what a job's outcome says.

pub mod outcome;
