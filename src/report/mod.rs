//! Headless output: the text, Markdown and JSON renderings of job results that the CLI prints
//! and the console shows, and the units they share (sizes, ages, rates). It reads `jobs` and
//! `storage` types and never imports `app` or `ui`; both of those import it. Meaning rides on
//! words and symbols, never on colour alone.

pub mod backup;
pub mod drill;
pub mod format;
pub mod inventory;
pub mod metrics;
pub mod outcome;
pub mod progress;
pub mod prune;
pub mod recover;
pub mod restore;
pub mod status;
pub mod verify;
