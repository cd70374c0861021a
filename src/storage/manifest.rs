//! `manifest.json`: what a complete set holds and where it came from. Written last; a set folder
//! without it is incomplete. The format is versioned and open (see the README).

use super::setid::SetId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MANIFEST_FORMAT: u32 = 1;
/// A manifest bigger than this is not one of ours; refuse before parsing.
pub const MANIFEST_MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// Written as its text (see `SetId`'s serde), so the format is what it was as a string.
    pub set_id: SetId,
    /// When pg_dump's snapshot was taken: the reference point for RPO.
    pub snapshot_time: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub initiator: Initiator,
    /// Why the set was taken, when not as a regular backup: `safety` for the copy a restore
    /// takes of its target before touching it. Absent in regular sets (and in every manifest
    /// written before the field existed), so older readers are unaffected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<SetPurpose>,
    pub host: String,
    pub lifeboat_version: String,
    pub source: SourceFacts,
    pub components: Vec<Component>,
}

/// A set that is not a regular backup. Such a set is never "latest" (status, `restore
/// latest`, the default drill set) nor retention's "newest" floor, and is shown apart.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SetPurpose {
    /// Taken by a restore of the target's state before it was overwritten.
    Safety,
    /// A purpose written by a newer lifeboat: not a regular backup either.
    #[serde(other)]
    Other,
}

impl SetPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            SetPurpose::Safety => "safety",
            SetPurpose::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Initiator {
    Operator,
    Schedule,
    Cli,
}

impl Initiator {
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::Operator => "operator",
            Initiator::Schedule => "schedule",
            Initiator::Cli => "cli",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceFacts {
    pub database: String,
    pub server_version: String,
    pub pg_dump_version: String,
    pub database_size_bytes: u64,
    pub table_count: u64,
    /// Exact row counts of the configured key tables, counted inside pg_dump's snapshot.
    pub key_tables: Vec<TableCount>,
    /// The file-storage roots archived in `files`, as absolute paths.
    #[serde(default)]
    pub file_roots: Vec<String>,
    /// The secret files packed in `secrets`, as absolute paths.
    #[serde(default)]
    pub secret_files: Vec<String>,
    /// Configured roots (in `file_roots` or `secret_files`) that were symlinks when backed up:
    /// each was stored as what it pointed to, under its configured path (`jobs::tar_source`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed_links: Vec<FollowedLink>,
    /// The roles that own objects in the dump or receive grants in it, with their attributes
    /// (never passwords). `None` in sets made before lifeboat recorded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleFacts>>,
}

/// A configured root that was a symlink: its path, the link as written, and where it led.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FollowedLink {
    /// The configured path (absolute), under which the archive holds the target's content.
    pub path: String,
    /// The link's text, as `readlink` prints it (may be relative).
    pub link: String,
    /// The target, resolved to an absolute path when the set was taken.
    pub target: String,
}

/// A role as `pg_roles` describes it; what `restore --create-roles` recreates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleFacts {
    pub name: String,
    #[serde(default)]
    pub login: bool,
    #[serde(default)]
    pub superuser: bool,
    #[serde(default)]
    pub createdb: bool,
    #[serde(default)]
    pub createrole: bool,
    #[serde(default)]
    pub inherit: bool,
    #[serde(default)]
    pub replication: bool,
    #[serde(default)]
    pub bypassrls: bool,
    /// -1: no limit.
    #[serde(default)]
    pub connection_limit: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Db,
    Files,
    Secrets,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Db => "db",
            ComponentKind::Files => "files",
            ComponentKind::Secrets => "secrets",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RepositoryRole {
    Data,
    Secrets,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Component {
    pub kind: ComponentKind,
    /// Object name inside the set folder, e.g. `db.dump.zst.gpg`.
    pub object: String,
    pub repository: RepositoryRole,
    /// Bytes and SHA-256 as stored: verifiable by anyone, no keys needed.
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// Bytes and SHA-256 of what `gpg --decrypt` yields (the compressed stream); equal to the
    /// stored values when the component is not encrypted.
    pub plaintext_bytes: u64,
    pub plaintext_sha256: String,
    /// Bytes read from the source before compression (the dump or the tar stream).
    pub source_bytes: u64,
    pub compression: Compression,
    pub encryption: Encryption,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Compression {
    /// `zstd`, `gzip` or `none`.
    pub codec: String,
    pub level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Encryption {
    /// `none`, `passphrase` or `recipients`. Never the passphrase itself.
    pub mode: String,
    #[serde(default)]
    pub recipients: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json of set {set} is {size} bytes, more than a manifest can be; the object is not a lifeboat manifest")]
    TooLarge { set: String, size: usize },
    #[error("manifest.json of set {set} is not valid: {source}")]
    Invalid {
        set: String,
        source: serde_json::Error,
    },
    #[error("manifest.json of set {set} has format {found}; this lifeboat reads format {MANIFEST_FORMAT} (upgrade lifeboat to read it)")]
    UnknownFormat { set: String, found: u32 },
    #[error(
        "manifest.json of set {set} says it is set {claimed}; the folder and the manifest disagree"
    )]
    WrongSet { set: String, claimed: String },
    #[error(
        "manifest.json of set {set} names object `{object}`, which is not a plain object name"
    )]
    BadObjectName { set: String, object: String },
    #[error("manifest.json of set {set} has a control character in `{field}`; lifeboat writes none, so the manifest was altered: refusing it (a forged set can carry terminal escapes or break the lines of what is written from it)")]
    ControlCharacter { set: String, field: String },
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses and checks a manifest read from the folder of set `set`.
    pub fn parse(set: &str, bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MANIFEST_MAX_BYTES {
            return Err(ManifestError::TooLarge {
                set: set.to_string(),
                size: bytes.len(),
            });
        }
        #[derive(Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let invalid = |source| ManifestError::Invalid {
            set: set.to_string(),
            source,
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
        let probe: FormatOnly = FormatOnly::deserialize(&value).map_err(invalid)?;
        if probe.format != MANIFEST_FORMAT {
            return Err(ManifestError::UnknownFormat {
                set: set.to_string(),
                found: probe.format,
            });
        }
        if let Some(field) = super::control_text::find(&value, &[]) {
            return Err(ManifestError::ControlCharacter {
                set: set.to_string(),
                field,
            });
        }
        let manifest = Manifest::deserialize(value).map_err(invalid)?;
        if manifest.set_id.as_str() != set {
            return Err(ManifestError::WrongSet {
                set: set.to_string(),
                claimed: manifest.set_id.to_string(),
            });
        }
        if let Some(bad) = manifest
            .components
            .iter()
            .find(|c| !super::layout::is_valid_object_name(&c.object))
        {
            return Err(ManifestError::BadObjectName {
                set: set.to_string(),
                object: bad.object.clone(),
            });
        }
        Ok(manifest)
    }

    /// Taken by a restore before it touched its target (see [`SetPurpose::Safety`]).
    pub fn is_safety(&self) -> bool {
        self.purpose == Some(SetPurpose::Safety)
    }

    /// A regular backup: no purpose recorded.
    pub fn is_regular(&self) -> bool {
        self.purpose.is_none()
    }

    pub fn component(&self, kind: ComponentKind) -> Option<&Component> {
        self.components.iter().find(|c| c.kind == kind)
    }

    /// Bytes stored in the data repository (secrets live elsewhere).
    pub fn data_bytes(&self) -> u64 {
        self.components
            .iter()
            .filter(|c| c.repository == RepositoryRole::Data)
            .map(|c| c.stored_bytes)
            .sum()
    }

    pub fn encryption_summary(&self) -> String {
        let mut modes: Vec<&str> = self
            .components
            .iter()
            .map(|c| c.encryption.mode.as_str())
            .collect();
        modes.sort_unstable();
        modes.dedup();
        modes.join("+")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(set: &str) -> Manifest {
        let t = DateTime::parse_from_rfc3339("2026-11-22T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Manifest {
            format: MANIFEST_FORMAT,
            set_id: SetId::parse(set).expect("a sample's id is a set id"),
            snapshot_time: t,
            started_at: t,
            finished_at: t,
            initiator: Initiator::Cli,
            purpose: None,
            host: "db1".into(),
            lifeboat_version: "0.1.0".into(),
            source: SourceFacts {
                database: "app".into(),
                key_tables: vec![TableCount {
                    table: "\"User\"".into(),
                    rows: 3,
                }],
                ..Default::default()
            },
            components: vec![Component {
                kind: ComponentKind::Db,
                object: "db.dump.zst.gpg".into(),
                repository: RepositoryRole::Data,
                stored_bytes: 10,
                stored_sha256: "a".repeat(64),
                plaintext_bytes: 9,
                plaintext_sha256: "b".repeat(64),
                source_bytes: 20,
                compression: Compression {
                    codec: "zstd".into(),
                    level: 3,
                },
                encryption: Encryption {
                    mode: "passphrase".into(),
                    recipients: vec![],
                },
            }],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample("20261122T020000Z-3f9a");
        let parsed = Manifest::parse("20261122T020000Z-3f9a", &m.to_json()).unwrap();
        assert_eq!(parsed, m);
    }

    /// A safety set says so; a regular one writes no `purpose` at all, so the manifests of
    /// older versions (which have none) read as regular sets and older readers see nothing new.
    #[test]
    fn the_purpose_is_optional_and_marks_safety_sets() {
        let id = "20261122T020000.250Z-3f9a";
        let regular = sample(id);
        let json = String::from_utf8(regular.to_json()).unwrap();
        assert!(!json.contains("purpose"), "{json}");
        let parsed = Manifest::parse(id, json.as_bytes()).unwrap();
        assert!(parsed.is_regular() && !parsed.is_safety());

        let mut safety = sample(id);
        safety.purpose = Some(SetPurpose::Safety);
        let json = String::from_utf8(safety.to_json()).unwrap();
        assert!(json.contains("\"purpose\": \"safety\""), "{json}");
        let parsed = Manifest::parse(id, json.as_bytes()).unwrap();
        assert!(parsed.is_safety() && !parsed.is_regular());

        // A purpose from a newer version is read, and is not a regular backup either.
        let newer = json.replace("\"safety\"", "\"migration\"");
        let parsed = Manifest::parse(id, newer.as_bytes()).unwrap();
        assert_eq!(parsed.purpose, Some(SetPurpose::Other));
        assert!(!parsed.is_regular());
    }

    #[test]
    fn roles_are_optional_and_round_trip() {
        let mut m = sample("20261122T020000Z-3f9a");
        let old = String::from_utf8(m.to_json()).unwrap();
        assert!(
            !old.contains("\"roles\""),
            "no roles key when none were recorded"
        );
        assert_eq!(
            Manifest::parse(m.set_id.as_str(), old.as_bytes())
                .unwrap()
                .source
                .roles,
            None
        );
        m.source.roles = Some(vec![RoleFacts {
            name: "reader".into(),
            login: true,
            inherit: true,
            connection_limit: -1,
            ..Default::default()
        }]);
        let parsed = Manifest::parse(m.set_id.as_str(), &m.to_json()).unwrap();
        assert_eq!(parsed, m);
        assert!(!String::from_utf8(m.to_json()).unwrap().contains("password"));
    }

    #[test]
    fn refuses_hostile_manifests() {
        let mut m = sample("20261122T020000Z-3f9a");
        assert!(matches!(
            Manifest::parse("20261122T020000Z-ffff", &m.to_json()),
            Err(ManifestError::WrongSet { .. })
        ));
        m.components[0].object = "../../etc/passwd".into();
        assert!(matches!(
            Manifest::parse("20261122T020000Z-3f9a", &m.to_json()),
            Err(ManifestError::BadObjectName { .. })
        ));
        m.format = 99;
        assert!(matches!(
            Manifest::parse("20261122T020000Z-3f9a", &m.to_json()),
            Err(ManifestError::UnknownFormat { found: 99, .. })
        ));
        assert!(matches!(
            Manifest::parse("x", br#"{"format": "one"}"#),
            Err(ManifestError::Invalid { .. })
        ));
        assert!(matches!(
            Manifest::parse("x", br#"{"format": 1, "set_id": 5}"#),
            Err(ManifestError::Invalid { .. })
        ));
        // A newline or a terminal escape in any text: altered, refused, and named.
        let mut m = sample("20261122T020000Z-3f9a");
        m.host = "db1\u{1b}]0;owned\u{7}".into();
        let err = Manifest::parse("20261122T020000Z-3f9a", &m.to_json()).unwrap_err();
        assert!(
            matches!(&err, ManifestError::ControlCharacter { field, .. } if field == "host"),
            "{err}"
        );
        let mut m = sample("20261122T020000Z-3f9a");
        m.source.file_roots = vec!["/srv/ok".into(), "/srv/a\nb".into()];
        let err = Manifest::parse("20261122T020000Z-3f9a", &m.to_json()).unwrap_err();
        assert!(
            matches!(&err, ManifestError::ControlCharacter { field, .. } if field == "source.file_roots[1]"),
            "{err}"
        );
    }
}
