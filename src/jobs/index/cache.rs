//! The manifest index's file on this host: one per repository under the XDG cache directory
//! (`<cache>/index/<hash of the repository identity>.json`), written whole to a temporary file
//! and renamed into place, mode 0600 in a 0700 directory. It is a copy of what the repository
//! said, never the truth: a file that is missing, unreadable, of another format version or of
//! another repository is discarded, and the index is rebuilt from the repository.

use crate::storage::manifest::Manifest;
use crate::storage::repository::ObjectInfo;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever what is stored changes meaning: an older file is rebuilt, not misread.
pub const FORMAT: u32 = 1;

/// One object as a listing showed it. Size and last-modified time are its version: S3 gives
/// both in every listing, so a changed object is seen without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CachedObject {
    pub path: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

impl CachedObject {
    pub fn of(o: &ObjectInfo) -> CachedObject {
        CachedObject {
            path: o.path.clone(),
            size: o.size,
            modified: o.modified,
        }
    }

    pub fn info(&self) -> ObjectInfo {
        ObjectInfo {
            path: self.path.clone(),
            size: self.size,
            modified: self.modified,
        }
    }
}

/// A set folder: its objects and, when it has a manifest, the parsed manifest and the version
/// of `manifest.json` it was parsed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedSet {
    pub id: String,
    pub objects: Vec<CachedObject>,
    pub manifest: Option<Manifest>,
    pub manifest_error: Option<String>,
}

/// A drill record and, when it could be read, its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedRecord {
    pub object: CachedObject,
    pub body: Option<String>,
    /// Why it could not be read.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexFile {
    pub format: u32,
    /// `Repository::identity` of the repository this copies.
    pub identity: String,
    /// Newest first, as `Inventory::sets`.
    pub sets: Vec<CachedSet>,
    pub drills: Vec<CachedRecord>,
    pub pins: Vec<CachedObject>,
    pub strays: Vec<CachedObject>,
}

/// Why a cache file was not used (it is rebuilt; this is only logged).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot read the index {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the index {path} is corrupt ({reason}); rebuilding it from the repository")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the index {path} has format {found}, this lifeboat writes {FORMAT}; rebuilding it")]
    Version { path: PathBuf, found: u32 },
    #[error("the index {path} belongs to {found}, not {expected}; rebuilding it")]
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot write the index {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the index of the repository with `identity` lives under `dir`: a hash, so an URL with
/// credentials or slashes never becomes a file name.
pub fn path_for(dir: &Path, identity: &str) -> PathBuf {
    let hash = Sha256::digest(identity.as_bytes());
    let name: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{name}.json"))
}

/// The cached index of `identity`, None when there is none. A file that cannot be used is an
/// error the caller logs before rebuilding.
pub fn load(path: &Path, identity: &str) -> Result<Option<IndexFile>, CacheError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CacheError::Read {
                path: path.into(),
                source,
            })
        }
    };
    // The version first, so a file of another format is named as such, not as corrupt.
    #[derive(Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| CacheError::Corrupt {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if head.format != FORMAT {
        return Err(CacheError::Version {
            path: path.into(),
            found: head.format,
        });
    }
    let file: IndexFile = serde_json::from_slice(&bytes).map_err(|e| CacheError::Corrupt {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if file.identity != identity {
        return Err(CacheError::Foreign {
            path: path.into(),
            found: file.identity,
            expected: identity.into(),
        });
    }
    Ok(Some(file))
}

/// Writes `file` at `path` atomically: a reader sees the old index or the new one, never half.
pub fn save(path: &Path, file: &IndexFile) -> Result<(), CacheError> {
    let err = |source| CacheError::Write {
        path: path.into(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".index-")
        .tempfile_in(dir)
        .map_err(err)?;
    // tempfile creates 0600; the bytes may name hosts, databases and key fingerprints.
    let bytes = serde_json::to_vec(file).map_err(|e| err(std::io::Error::other(e)))?;
    tmp.write_all(&bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> IndexFile {
        IndexFile {
            format: FORMAT,
            identity: "s3://b/p at http://127.0.0.1:9000".into(),
            pins: vec![CachedObject {
                path: "pins/20261122T020000Z-3f9a.json".into(),
                size: 12,
                modified: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("index"), &sample().identity);
        save(&path, &sample()).unwrap();
        assert_eq!(load(&path, &sample().identity).unwrap(), Some(sample()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(load(&dir.path().join("none.json"), "x").unwrap(), None);
    }

    #[test]
    fn a_corrupt_old_or_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.json");
        let identity = sample().identity;
        std::fs::write(&path, b"{\"format\": 1, \"identity\": \"s3://b/p\", \"se").unwrap();
        let err = load(&path, &identity).unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
        let mut old = serde_json::to_value(sample()).unwrap();
        old["format"] = 0.into();
        std::fs::write(&path, old.to_string()).unwrap();
        let err = load(&path, &identity).unwrap_err();
        assert!(matches!(err, CacheError::Version { found: 0, .. }), "{err}");
        save(&path, &sample()).unwrap();
        let err = load(&path, "s3://other/p").unwrap_err();
        assert!(err.to_string().contains("not s3://other/p"), "{err}");
    }
}
