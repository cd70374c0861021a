//! The application layer: configuration, the headless command runners, logging, and (with the
//! console) state, actions and the update function. It turns config into job specs, runs jobs,
//! and hands their results to `ui` for display.

pub mod cli;
pub mod config;
pub mod demo;
pub mod exit;
pub mod logging;
