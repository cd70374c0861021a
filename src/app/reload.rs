//! `R`: the console reloads its configuration as well as the repository. What the console takes
//! from the config (repository, retention policy, drill targets and manual steps) is read into
//! `ConsoleSettings` at start and again on `R`; the runtime re-reads the file and sends the
//! result back, and `on_reloaded` applies it and reloads the repository.

use super::config::Config;
use super::event::Effect;
use super::retention_state;
use super::screens::notice;
use super::state::{AppState, DrillSettings, Screen};
use crate::storage::retention::Policy;
use std::path::Path;

/// The parts of the config the console's state shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleSettings {
    pub repository: String,
    pub config_path: String,
    pub policy: Result<Policy, String>,
    /// None when the drill targets do not parse (the previous ones stay).
    pub drill: Option<DrillSettings>,
}

impl ConsoleSettings {
    pub fn from_config(config: &Config) -> ConsoleSettings {
        let drill = config
            .drill_targets()
            .ok()
            .map(|(rto, rpo, every)| DrillSettings {
                rto_target_seconds: rto.as_secs_f64(),
                rpo_target_seconds: rpo.as_secs_f64(),
                every_seconds: every.as_secs(),
                manual_steps: config.drill.manual.iter().map(|m| m.step.clone()).collect(),
            });
        ConsoleSettings {
            repository: config.repository.url.clone(),
            config_path: config.path.display().to_string(),
            policy: config.retention_policy().map_err(|e| e.to_string()),
            drill,
        }
    }
}

/// Reads the config at `path` again: the new config (for the runtime's jobs) and what the
/// console shows from it, or why it could not be read (the caller keeps the old one).
pub fn reread(path: &Path) -> Result<(Config, Box<ConsoleSettings>), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let settings = Box::new(ConsoleSettings::from_config(&config));
    Ok((config, settings))
}

/// Puts the settings into state.
pub fn apply(state: &mut AppState, settings: ConsoleSettings) {
    state.repository = settings.repository;
    state.config_path = settings.config_path;
    state.retention.policy = settings.policy;
    if let Some(drill) = settings.drill {
        state.drill_settings = drill;
    }
}

/// `R`: re-read the config first; the repository reload follows its answer.
pub fn request(state: &mut AppState) -> Vec<Effect> {
    state.loading = true;
    vec![Effect::ReloadConfig]
}

/// The config was read again: apply it (or keep the old one and say why), then reload the
/// repository under it.
pub fn on_reloaded(
    state: &mut AppState,
    result: Result<Box<ConsoleSettings>, String>,
) -> Vec<Effect> {
    match result {
        Ok(settings) => {
            apply(state, *settings);
            // The policy may have changed: the preview and projection are recomputed.
            state.retention.plan = None;
            state.retention.projection = None;
            notice::say(
                state,
                format!("configuration reloaded from {}", state.config_path),
            );
        }
        Err(e) => notice::say(
            state,
            format!("✗ the configuration did not reload (the previous one stays): {e}"),
        ),
    }
    state.loading = true;
    let mut effects = vec![Effect::Load];
    if state.screen == Screen::Retention {
        effects.extend(retention_state::on_enter(state));
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[source]\n[repository]\nurl = \"file:///r\"\n[encryption]\nmode = \"none\"\n";

    #[test]
    fn rereading_the_file_sees_an_edit_and_a_broken_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, BASE).unwrap();
        let (_, first) = reread(&path).unwrap();
        assert!(first.policy.is_err(), "no [retention] yet");
        std::fs::write(&path, format!("{BASE}[retention]\nkeep_last = 2\n")).unwrap();
        let (config, second) = reread(&path).unwrap();
        assert!(second.policy.is_ok(), "{:?}", second.policy);
        assert_eq!(second.repository, "file:///r");
        assert_eq!(second.config_path, path.display().to_string());
        assert!(config.retention_policy().is_ok());
        std::fs::write(&path, "[source\n").unwrap();
        let err = reread(&path).unwrap_err();
        assert!(err.contains("config.toml"), "{err}");
    }
}
