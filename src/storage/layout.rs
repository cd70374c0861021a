//! Where things live inside a repository: the contract shared with anyone restoring by hand.
//!
//! ```text
//! <prefix>/sets/<set-id>/db.dump.zst.gpg
//! <prefix>/sets/<set-id>/files.tar.zst.gpg
//! <prefix>/sets/<set-id>/checksums.sha256
//! <prefix>/sets/<set-id>/manifest.json      (written last: its presence makes the set complete)
//! <prefix>/drills/<drill-id>.json
//! <prefix>/pins/<set-id>.json              (an operator's pin: prune never deletes the set)
//! <prefix>/locks/repository.lock           (who writes the repository now, see `lock`)
//! ```

use super::setid::SetId;

pub const SETS_DIR: &str = "sets/";
pub const DRILLS_DIR: &str = "drills/";
/// Pins live in the repository, not on the host, so a legal hold survives losing the host.
pub const PINS_DIR: &str = "pins/";
/// The repository lock object and, in a local repository, its guard file.
pub const LOCKS_DIR: &str = "locks/";
pub const MANIFEST_NAME: &str = "manifest.json";
pub const CHECKSUMS_NAME: &str = "checksums.sha256";

pub fn set_dir(id: &SetId) -> String {
    format!("{SETS_DIR}{id}/")
}

pub fn object_path(id: &SetId, name: &str) -> String {
    format!("{SETS_DIR}{id}/{name}")
}

pub fn manifest_path(id: &SetId) -> String {
    object_path(id, MANIFEST_NAME)
}

pub fn checksums_path(id: &SetId) -> String {
    object_path(id, CHECKSUMS_NAME)
}

/// Splits a repository-relative path into (set id, object name) when it lies in a set folder.
pub fn parse_object_path(path: &str) -> Option<(SetId, &str)> {
    let rest = path.strip_prefix(SETS_DIR)?;
    let (id, name) = rest.split_once('/')?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((SetId::parse(id).ok()?, name))
}

/// Object names a set may hold: a plain file name, no separators, no dot-files.
pub fn is_valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_set_objects_only() {
        let (id, name) = parse_object_path("sets/20261122T020000Z-3f9a/db.dump.zst.gpg").unwrap();
        assert_eq!(id.as_str(), "20261122T020000Z-3f9a");
        assert_eq!(name, "db.dump.zst.gpg");
        assert!(parse_object_path("sets/20261122T020000Z-3f9a/").is_none());
        assert!(parse_object_path("sets/junk/db.dump").is_none());
        assert!(parse_object_path("drills/x.json").is_none());
        assert!(parse_object_path("sets/20261122T020000Z-3f9a/a/b").is_none());
    }

    #[test]
    fn object_names_are_plain() {
        assert!(is_valid_object_name("files.tar.zst.gpg"));
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(!is_valid_object_name(bad), "{bad}");
        }
    }
}
