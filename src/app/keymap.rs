//! The keymap: `assets/keymap.toml` (embedded) parsed into bindings, and a resolver that turns
//! key presses, including two-key sequences like `g g`, into actions. The help overlay and
//! the status-bar hints read the same bindings, so they cannot drift. An operator's
//! `keymap.toml` is merged over this map by `keymap_overrides`.

use super::action::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

#[derive(Debug, Clone)]
pub struct Binding {
    /// Each entry is one key or a sequence of two.
    pub keys: Vec<Vec<Key>>,
    /// As written in the file, for the help overlay.
    pub labels: Vec<String>,
    pub action: Action,
    /// The action's name as the keymap files spell it (`verify_decrypt`), for error messages.
    pub name: String,
    pub help: String,
    /// A short text, unique among the bindings, for the help overlay when the full help does
    /// not fit (two columns at 80x24).
    pub short: String,
    pub hint: bool,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    binding: Vec<RawBinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    keys: Vec<String>,
    action: String,
    help: String,
    short: Option<String>,
    #[serde(default)]
    hint: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("keymap: {0}")]
    Parse(String),
    #[error("keymap: `{0}` is not a key (examples: q, G, ctrl-c, enter, pageup, \"g g\")")]
    BadKey(String),
    #[error("keymap: `{0}` is not an action ({1})")]
    BadAction(String, String),
}

/// The action named `name` in a keymap file.
pub fn parse_action(name: &str) -> Result<Action, KeymapError> {
    use serde::de::IntoDeserializer;
    let result: Result<Action, serde::de::value::Error> =
        Action::deserialize(name.into_deserializer());
    result.map_err(|e| KeymapError::BadAction(name.to_string(), e.to_string()))
}

/// Each label (`"g g"`, `"ctrl-c"`) as the key sequence it names; one or two keys each.
pub fn parse_sequences(labels: &[String], action: &str) -> Result<Vec<Vec<Key>>, KeymapError> {
    let keys = labels
        .iter()
        .map(|k| {
            k.split_whitespace()
                .map(parse_key)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.iter().any(|seq| seq.is_empty() || seq.len() > 2) {
        return Err(KeymapError::Parse(format!(
            "a key sequence for `{action}` must have one or two keys"
        )));
    }
    Ok(keys)
}

fn parse_key(text: &str) -> Result<Key, KeymapError> {
    let bad = || KeymapError::BadKey(text.to_string());
    let (ctrl, name) = match text.strip_prefix("ctrl-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let code = match name {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "space" => KeyCode::Char(' '),
        f if f.len() > 1 && f.starts_with('f') => KeyCode::F(f[1..].parse().map_err(|_| bad())?),
        other => {
            let mut chars = other.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => KeyCode::Char(c),
                _ => return Err(bad()),
            }
        }
    };
    Ok(Key { code, ctrl })
}

impl Keymap {
    pub fn parse(text: &str) -> Result<Keymap, KeymapError> {
        let file: File = toml::from_str(text).map_err(|e| KeymapError::Parse(e.to_string()))?;
        let mut bindings = Vec::new();
        for raw in file.binding {
            let action = parse_action(&raw.action)?;
            let keys = parse_sequences(&raw.keys, &raw.action)?;
            bindings.push(Binding {
                keys,
                labels: raw.keys,
                action,
                short: raw.short.unwrap_or_else(|| raw.help.clone()),
                name: raw.action,
                help: raw.help,
                hint: raw.hint,
            });
        }
        Ok(Keymap { bindings })
    }

    pub fn default_keymap() -> Keymap {
        // The embedded keymap is checked by a unit test; an empty map is the safe fallback.
        Keymap::parse(DEFAULT_KEYMAP).unwrap_or(Keymap {
            bindings: Vec::new(),
        })
    }

    /// The first label bound to `action`, for hints ("b backup").
    pub fn label(&self, action: Action) -> Option<&str> {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.labels.first())
            .map(String::as_str)
    }
}

/// A key as hints and dialogs write it: named keys capitalised (`Enter`, `Esc`, `ctrl-c`
/// stays as written), letters and symbols as typed.
pub fn display_label(label: &str) -> String {
    match label {
        "enter" | "esc" | "tab" | "backtab" | "space" | "home" | "end" | "up" | "down" | "left"
        | "right" | "pageup" | "pagedown" => {
            let mut chars = label.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
        other => other.to_string(),
    }
}

impl Keymap {
    /// The key for `action` as hints write it ("Esc", "x", "5"); `?` when it has none, so a
    /// hint with an unbound key shows a gap rather than a wrong key.
    pub fn key(&self, action: Action) -> String {
        self.label(action)
            .map(display_label)
            .unwrap_or_else(|| "?".into())
    }
}

/// The bindings as a Markdown table (for the README, so the documented keys cannot drift).
pub fn markdown_table(keymap: &Keymap) -> String {
    let mut out = String::from("| keys | what they do |\n|---|---|\n");
    for b in &keymap.bindings {
        let keys: Vec<String> = b.labels.iter().map(|l| format!("`{l}`")).collect();
        out.push_str(&format!("| {} | {} |\n", keys.join(" "), b.help));
    }
    out
}

pub fn key_of(event: &KeyEvent) -> Key {
    // Shifted letters arrive as uppercase chars; shift itself is not part of the key.
    Key {
        code: event.code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
    }
}

/// Turns key presses into actions, holding the first key of a sequence.
#[derive(Debug, Default, Clone)]
pub struct KeyResolver {
    pending: Option<Key>,
}

impl KeyResolver {
    pub fn resolve(&mut self, keymap: &Keymap, event: &KeyEvent) -> Option<Action> {
        let key = key_of(event);
        if let Some(first) = self.pending.take() {
            let found = keymap.bindings.iter().find(|b| {
                b.keys
                    .iter()
                    .any(|seq| seq.len() == 2 && seq[0] == first && seq[1] == key)
            });
            if let Some(b) = found {
                return Some(b.action);
            }
        }
        if let Some(b) = keymap
            .bindings
            .iter()
            .find(|b| b.keys.iter().any(|seq| seq.len() == 1 && seq[0] == key))
        {
            return Some(b.action);
        }
        if keymap
            .bindings
            .iter()
            .any(|b| b.keys.iter().any(|seq| seq.len() == 2 && seq[0] == key))
        {
            self.pending = Some(key);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn the_shipped_keymap_parses_and_resolves_pairs_and_sequences() {
        let map = Keymap::parse(DEFAULT_KEYMAP).unwrap();
        let mut r = KeyResolver::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            r.resolve(&map, &press(KeyCode::Char('j'), none)),
            Some(Action::Down)
        );
        assert_eq!(
            r.resolve(&map, &press(KeyCode::Down, none)),
            Some(Action::Down)
        );
        assert_eq!(
            r.resolve(&map, &press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Interrupt)
        );
        assert_eq!(r.resolve(&map, &press(KeyCode::Char('g'), none)), None);
        assert_eq!(
            r.resolve(&map, &press(KeyCode::Char('g'), none)),
            Some(Action::Top)
        );
        assert_eq!(
            r.resolve(&map, &press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(map.label(Action::GuidedBackup), Some("b"));
        // Every action that the console handles has a binding.
        for action in [
            Action::Quit,
            Action::Help,
            Action::Verify,
            Action::VerifyDecrypt,
            Action::CancelJob,
            Action::Filter,
        ] {
            assert!(
                map.bindings.iter().any(|b| b.action == action),
                "{action:?}"
            );
        }
    }

    #[test]
    fn hints_name_keys_as_bound_with_named_keys_capitalised() {
        let map = Keymap::parse(DEFAULT_KEYMAP).unwrap();
        assert_eq!(map.key(Action::Open), "Enter");
        assert_eq!(map.key(Action::Back), "Esc");
        assert_eq!(map.key(Action::ShowRetention), "5");
        assert_eq!(map.key(Action::VerifyDecrypt), "V");
        assert_eq!(map.key(Action::Interrupt), "ctrl-c");
        let rebound = Keymap::parse(
            "[[binding]]\nkeys = [\"space\", \"o\"]\naction = \"open\"\nhelp = \"x\"\n",
        )
        .unwrap();
        assert_eq!(rebound.key(Action::Open), "Space");
        assert_eq!(
            rebound.key(Action::Back),
            "?",
            "an unbound action shows a gap"
        );
    }

    #[test]
    fn short_texts_are_unique_and_fit_the_narrow_help() {
        // The two-column help at 80x24 has 20 columns for a text.
        let map = Keymap::default_keymap();
        let mut seen = std::collections::HashSet::new();
        for b in &map.bindings {
            assert!(b.short.chars().count() <= 20, "{}: {:?}", b.name, b.short);
            assert!(
                seen.insert(b.short.clone()),
                "{} repeats {:?}",
                b.name,
                b.short
            );
        }
    }

    #[test]
    fn bad_keys_are_named() {
        let err =
            Keymap::parse("[[binding]]\nkeys = [\"ctrl-\"]\naction = \"quit\"\nhelp = \"x\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("ctrl-"), "{err}");
    }
}
