//! `checksums.sha256`: the `sha256sum` text format, so `sha256sum -c checksums.sha256` works in a
//! downloaded set folder with no lifeboat at hand.

use super::layout::is_valid_object_name;
use std::collections::BTreeMap;

/// Object name -> lowercase hex SHA-256 of the bytes as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums(pub BTreeMap<String, String>);

#[derive(Debug, thiserror::Error)]
#[error("checksums.sha256 line {line}: {reason}")]
pub struct ChecksumsError {
    pub line: usize,
    pub reason: String,
}

impl Checksums {
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect()
    }

    pub fn parse(text: &str) -> Result<Self, ChecksumsError> {
        let mut map = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let fail = |reason: &str| ChecksumsError {
                line,
                reason: reason.to_string(),
            };
            if raw.trim().is_empty() {
                continue;
            }
            let (hash, name) = raw
                .split_once("  ")
                .or_else(|| raw.split_once(" *"))
                .ok_or_else(|| fail("expected `<sha256>  <name>`"))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(fail("the hash is not 64 hex digits"));
            }
            if !is_valid_object_name(name) {
                return Err(fail(&format!("`{name}` is not a plain object name")));
            }
            if map
                .insert(name.to_string(), hash.to_ascii_lowercase())
                .is_some()
            {
                return Err(fail(&format!("`{name}` is listed twice")));
            }
        }
        Ok(Checksums(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_sha256sum_format() {
        let mut c = Checksums::default();
        c.0.insert("db.dump.zst".into(), "a".repeat(64));
        c.0.insert("files.tar.zst".into(), "b".repeat(64));
        let text = c.render();
        assert_eq!(
            text.lines().next().unwrap(),
            format!("{}  db.dump.zst", "a".repeat(64))
        );
        assert_eq!(Checksums::parse(&text).unwrap(), c);
    }

    #[test]
    fn names_the_bad_line() {
        let err = Checksums::parse(&format!("{}  ok\nnonsense\n", "a".repeat(64))).unwrap_err();
        assert_eq!(err.line, 2);
        let err = Checksums::parse(&format!("{}  ../etc/passwd\n", "a".repeat(64))).unwrap_err();
        assert!(err.reason.contains("plain object name"));
        let err = Checksums::parse("abc  x\n").unwrap_err();
        assert!(err.reason.contains("64 hex"));
    }
}
