//! Control characters in what the repository says. Manifests, drill records and pins are
//! anyone's who can write the bucket; text from them reaches the terminal (an escape sequence
//! there can retitle the window, hide lines or worse) and files written from it. Parsers refuse
//! a document with a control character where lifeboat would never write one.

use serde_json::Value;

/// The path (`source.file_roots[1]`) of the first string or key in `value` with a control
/// character other than those in `allowed`; `None` when there is none.
pub fn find(value: &Value, allowed: &[char]) -> Option<String> {
    find_at(value, "", &|c: char| {
        c.is_control() && !allowed.contains(&c)
    })
}

fn find_at(value: &Value, at: &str, bad: &dyn Fn(char) -> bool) -> Option<String> {
    match value {
        Value::String(text) if text.chars().any(bad) => Some(at.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_at(v, &format!("{at}[{i}]"), bad)),
        Value::Object(fields) => fields.iter().find_map(|(key, v)| {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if key.chars().any(bad) {
                return Some(path.escape_debug().to_string());
            }
            find_at(v, &path, bad)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_field_with_a_control_character() {
        let doc = serde_json::json!({
            "a": "fine", "b": ["ok", "line\nbreak"], "c": {"d": "esc\u{1b}[2J"}
        });
        assert_eq!(find(&doc, &[]), Some("b[1]".into()));
        assert_eq!(find(&doc, &['\n']), Some("c.d".into()));
        assert_eq!(
            find(&serde_json::json!({"k\u{7}": 1}), &[]),
            Some("k\\u{7}".into())
        );
        assert_eq!(find(&serde_json::json!({"t": "a\tb"}), &['\t']), None);
    }
}
