//! lifeboat: backups of self-hosted PostgreSQL applications, with a console and a headless CLI.
//!
//! Data flows one way: `storage` (leaf: repositories, formats, journal, Postgres and gpg
//! wrappers) <- `jobs` (backup, verify, listing) <- `app` (config, state, update) -> `ui` (drawing).

pub mod app;
pub mod jobs;
pub mod report;
pub mod storage;
pub mod ui;
