//! The operator's key overrides: `$XDG_CONFIG_HOME/lifeboat/keymap.toml`, read once when the
//! console opens and merged over the built-in map. A binding there replaces the keys of the
//! action it names; help texts stay the built-in ones. Two actions on one key, or a key that
//! hides another action's two-key sequence, is refused with the file, the key and both actions,
//! so a typo never silently disables a binding. Help and hints read the merged map.

use super::keymap::{parse_action, parse_sequences, Key, Keymap, KeymapError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file name under lifeboat's XDG config directory.
pub const FILE_NAME: &str = "keymap.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    binding: Vec<RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    action: String,
    keys: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: KeymapError },
    #[error("{path}: `{action}` is overridden twice; keep one [[binding]] for it")]
    Twice { path: PathBuf, action: String },
    #[error("{path}: key `{key}` is bound to both `{first}` and `{second}`; give one of them another key in this file")]
    Conflict {
        path: PathBuf,
        key: String,
        first: String,
        second: String,
    },
    #[error("{path}: key `{key}` of `{single}` hides the sequence `{sequence}` of `{other}`; give one of them another key in this file")]
    Hidden {
        path: PathBuf,
        key: String,
        single: String,
        sequence: String,
        other: String,
    },
}

/// `$XDG_CONFIG_HOME/lifeboat/keymap.toml` (or `~/.config/lifeboat/keymap.toml`).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "lifeboat").map(|d| d.config_dir().join(FILE_NAME))
}

/// The built-in map with the operator's overrides merged over it; the built-in map alone when
/// there is no override file.
pub fn load(path: Option<&Path>) -> Result<Keymap, OverrideError> {
    let base = Keymap::default_keymap();
    let Some(path) = path else {
        return Ok(base);
    };
    match std::fs::read_to_string(path) {
        Ok(text) => merge(base, &text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(base),
        Err(source) => Err(OverrideError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `text` (the override file at `path`) merged over `base`.
pub fn merge(mut base: Keymap, text: &str, path: &Path) -> Result<Keymap, OverrideError> {
    let invalid = |source| OverrideError::Invalid {
        path: path.to_path_buf(),
        source,
    };
    let file: File =
        toml::from_str(text).map_err(|e| invalid(KeymapError::Parse(e.to_string())))?;
    let mut seen = Vec::new();
    for raw in file.binding {
        let action = parse_action(&raw.action).map_err(invalid)?;
        let keys = parse_sequences(&raw.keys, &raw.action).map_err(invalid)?;
        if seen.contains(&action) {
            return Err(OverrideError::Twice {
                path: path.to_path_buf(),
                action: raw.action,
            });
        }
        seen.push(action);
        // Every action has a built-in binding (a unit test holds the shipped map to that).
        if let Some(b) = base.bindings.iter_mut().find(|b| b.action == action) {
            b.keys = keys;
            b.labels = raw.keys;
        }
    }
    check_conflicts(&base, path)?;
    Ok(base)
}

fn label_of(binding: &super::keymap::Binding, seq: &[Key]) -> String {
    binding
        .keys
        .iter()
        .position(|s| s == seq)
        .and_then(|i| binding.labels.get(i))
        .cloned()
        .unwrap_or_default()
}

fn check_conflicts(map: &Keymap, path: &Path) -> Result<(), OverrideError> {
    for (i, a) in map.bindings.iter().enumerate() {
        for b in map.bindings.iter().skip(i + 1) {
            for seq in &a.keys {
                if b.keys.contains(seq) {
                    return Err(OverrideError::Conflict {
                        path: path.to_path_buf(),
                        key: label_of(a, seq),
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
            }
        }
    }
    for single in &map.bindings {
        for seq in single.keys.iter().filter(|s| s.len() == 1) {
            for other in &map.bindings {
                if let Some(long) = other.keys.iter().find(|s| s.len() == 2 && s[0] == seq[0]) {
                    return Err(OverrideError::Hidden {
                        path: path.to_path_buf(),
                        key: label_of(single, seq),
                        single: single.name.clone(),
                        sequence: label_of(other, long),
                        other: other.name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::action::Action;
    use crate::app::keymap::KeyResolver;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn path() -> PathBuf {
        PathBuf::from("/home/op/.config/lifeboat/keymap.toml")
    }

    fn press(map: &Keymap, c: char) -> Option<Action> {
        KeyResolver::default().resolve(map, &KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn the_shipped_map_has_no_conflicts() {
        check_conflicts(&Keymap::default_keymap(), &path()).unwrap();
    }

    #[test]
    fn an_override_replaces_the_keys_of_its_action_and_keeps_the_rest() {
        let text = "[[binding]]\naction = \"verify\"\nkeys = [\"w\", \"ctrl-v\"]\n";
        let map = merge(Keymap::default_keymap(), text, &path()).unwrap();
        assert_eq!(press(&map, 'w'), Some(Action::Verify));
        // The old key is free now, and nothing else moved.
        assert_eq!(press(&map, 'v'), None);
        assert_eq!(press(&map, 'b'), Some(Action::GuidedBackup));
        assert_eq!(map.label(Action::Verify), Some("w"));
        let verify = map
            .bindings
            .iter()
            .find(|b| b.action == Action::Verify)
            .unwrap();
        assert_eq!(
            verify.help,
            "Verify the selected set (stored hashes, no keys needed)"
        );
        assert_eq!(map.bindings.len(), Keymap::default_keymap().bindings.len());
    }

    #[test]
    fn two_actions_on_one_key_name_the_file_the_key_and_both_actions() {
        let text = "[[binding]]\naction = \"verify\"\nkeys = [\"b\"]\n";
        let err = merge(Keymap::default_keymap(), text, &path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/home/op/.config/lifeboat/keymap.toml: "),
            "{err}"
        );
        assert!(err.contains("key `b`"), "{err}");
        assert!(
            err.contains("`guided_backup`") && err.contains("`verify`"),
            "{err}"
        );
    }

    #[test]
    fn swapping_two_keys_in_one_file_is_not_a_conflict() {
        let text = "[[binding]]\naction = \"verify\"\nkeys = [\"b\"]\n\n\
                    [[binding]]\naction = \"guided_backup\"\nkeys = [\"v\"]\n";
        let map = merge(Keymap::default_keymap(), text, &path()).unwrap();
        assert_eq!(press(&map, 'b'), Some(Action::Verify));
        assert_eq!(press(&map, 'v'), Some(Action::GuidedBackup));
    }

    #[test]
    fn a_single_key_that_hides_a_sequence_is_refused() {
        let text = "[[binding]]\naction = \"refresh\"\nkeys = [\"g\"]\n";
        let err = merge(Keymap::default_keymap(), text, &path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key `g` of `refresh` hides the sequence `g g` of `top`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_actions_keys_and_fields_are_named_with_the_file() {
        for (text, needle) in [
            ("[[binding]]\naction = \"explode\"\nkeys = [\"e\"]\n", "`explode` is not an action"),
            ("[[binding]]\naction = \"quit\"\nkeys = [\"ctrl-\"]\n", "`ctrl-`"),
            ("[[binding]]\naction = \"quit\"\nkey = [\"x\"]\n", "key"),
            (
                "[[binding]]\naction = \"quit\"\nkeys = [\"x\"]\n[[binding]]\naction = \"quit\"\nkeys = [\"z\"]\n",
                "`quit` is overridden twice",
            ),
        ] {
            let err = merge(Keymap::default_keymap(), text, &path())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/home/op/.config/lifeboat/keymap.toml: "), "{err}");
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn a_missing_file_is_the_built_in_map_and_a_present_one_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let map = load(Some(&file)).unwrap();
        assert_eq!(press(&map, 'v'), Some(Action::Verify));
        std::fs::write(&file, "[[binding]]\naction = \"verify\"\nkeys = [\"w\"]\n").unwrap();
        let map = load(Some(&file)).unwrap();
        assert_eq!(press(&map, 'w'), Some(Action::Verify));
    }
}
