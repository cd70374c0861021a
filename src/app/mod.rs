//! The application layer: configuration, the headless commands (`cli`), logging, and (with the
//! console) state, actions and the update function. It turns config into job specs and runs
//! jobs; headless output is rendered by `report`, and `ui` is only used to draw the console.

pub mod action;
pub mod apps;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod demo;
pub mod dialog_layout;
pub mod event;
pub mod exit;
pub mod fleet;
pub mod fleet_console;
pub mod history;
pub mod inventory_tree;
pub mod keymap;
pub mod keymap_overrides;
pub mod keys_check;
pub mod load;
pub mod logging;
pub mod notify;
pub mod recover_console;
pub mod reload;
pub mod retention_state;
pub mod runtime;
pub mod schedule;
pub mod screens;
pub mod set_log;
pub mod state;
pub mod tui;
pub mod update;
pub mod view;
