//! The application layer: configuration, the headless command runners, logging, and (with the
//! console) state, actions and the update function. It turns config into job specs, runs jobs,
//! and hands their results to `ui` for display.

pub mod action;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod demo;
pub mod drill_cli;
pub mod event;
pub mod exit;
pub mod history;
pub mod inventory_tree;
pub mod keymap;
pub mod keymap_overrides;
pub mod keys_check;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod orphans_cli;
pub mod prune_cli;
pub mod prune_text;
pub mod restore_cli;
pub mod retention_state;
pub mod runtime;
pub mod schedule;
pub mod state;
pub mod status_cli;
pub mod tui;
pub mod update;
