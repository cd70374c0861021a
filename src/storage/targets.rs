//! Are two repository URLs the same storage target? Secrets must live apart from the data
//! (a leaked data bucket must not leak the keys too), and the same place can be written in
//! many ways: a trailing slash, `//`, `.` and `..`, a symlink, an S3 prefix with extra
//! slashes. Both URLs are normalised before they are compared; local paths that exist are
//! also resolved through symlinks.

use super::repository::{parse_location, Location, RepositorySpec};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Different directories that do not contain each other, or different buckets.
    Separate,
    /// One bucket, prefixes that do not overlap: one credential may well open both.
    SameBucket,
    /// One target inside the other.
    Nested,
    /// The same directory or bucket and prefix.
    Same,
}

/// `/a/./b//c/../d/` -> `/a/b/d`, without touching the filesystem.
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The lexical form, resolved through symlinks where the path (or its nearest existing
/// ancestor) exists.
fn resolved(path: &Path) -> PathBuf {
    let lexical = lexical(path);
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        out.push(part);
    }
    out
}

fn prefix_parts(prefix: &str) -> Vec<&str> {
    prefix.split('/').filter(|p| !p.is_empty()).collect()
}

fn endpoint(spec: &RepositorySpec) -> String {
    spec.endpoint
        .as_deref()
        .unwrap_or("aws")
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

fn relate_paths(a: &Path, b: &Path) -> Relation {
    if a == b {
        Relation::Same
    } else if a.starts_with(b) || b.starts_with(a) {
        Relation::Nested
    } else {
        Relation::Separate
    }
}

/// How two repositories relate, as stored; `resolve` also follows symlinks of local paths.
pub fn relation(a: &RepositorySpec, b: &RepositorySpec, resolve: bool) -> Relation {
    let (Ok(la), Ok(lb)) = (parse_location(&a.url), parse_location(&b.url)) else {
        return Relation::Separate;
    };
    match (la, lb) {
        (Location::Local(pa), Location::Local(pb)) => {
            if resolve {
                relate_paths(&resolved(&pa), &resolved(&pb))
            } else {
                relate_paths(&lexical(&pa), &lexical(&pb))
            }
        }
        (
            Location::S3 {
                bucket: ba,
                prefix: pa,
            },
            Location::S3 {
                bucket: bb,
                prefix: pb,
            },
        ) => {
            if ba != bb || endpoint(a) != endpoint(b) {
                return Relation::Separate;
            }
            let (pa, pb) = (prefix_parts(&pa), prefix_parts(&pb));
            if pa == pb {
                Relation::Same
            } else if pa.starts_with(&pb) || pb.starts_with(&pa) {
                Relation::Nested
            } else {
                Relation::SameBucket
            }
        }
        _ => Relation::Separate,
    }
}

/// Without the filesystem: the check a configuration file can get when it is loaded.
pub fn same_or_nested(a_url: &str, b_url: &str) -> bool {
    matches!(
        relation(
            &RepositorySpec::new(a_url),
            &RepositorySpec::new(b_url),
            false
        ),
        Relation::Same | Relation::Nested
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: &str, b: &str) -> Relation {
        relation(&RepositorySpec::new(a), &RepositorySpec::new(b), false)
    }

    #[test]
    fn the_same_place_written_differently_is_the_same() {
        assert_eq!(rel("file:///srv/b", "file:///srv/b/"), Relation::Same);
        assert_eq!(
            rel("file:///srv/b", "file:///srv//x/../b/."),
            Relation::Same
        );
        assert_eq!(rel("file:///srv/b", "/srv/b"), Relation::Same);
        assert_eq!(
            rel("file:///srv/b", "file:///srv/b/secrets"),
            Relation::Nested
        );
        assert_eq!(rel("file:///srv/b", "file:///srv/bb"), Relation::Separate);
        assert_eq!(rel("s3://k/app", "s3://k//app/"), Relation::Same);
        assert_eq!(rel("s3://k/app", "s3://k/app/secrets"), Relation::Nested);
        assert_eq!(rel("s3://k/app", "s3://k"), Relation::Nested);
        assert_eq!(rel("s3://k/app", "s3://k/keys"), Relation::SameBucket);
        assert_eq!(rel("s3://k/app", "s3://other/app"), Relation::Separate);
        assert_eq!(rel("s3://k/app", "file:///k/app"), Relation::Separate);
        let mut elsewhere = RepositorySpec::new("s3://k/app");
        elsewhere.endpoint = Some("https://b2.example/".into());
        assert_eq!(
            relation(&RepositorySpec::new("s3://k/app"), &elsewhere, false),
            Relation::Separate
        );
    }

    #[test]
    fn symlinks_are_followed_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let a = RepositorySpec::new(format!("file://{}", real.display()));
        let b = RepositorySpec::new(format!("file://{}/link/", dir.path().display()));
        assert_eq!(relation(&a, &b, false), Relation::Separate);
        assert_eq!(relation(&a, &b, true), Relation::Same);
    }
}
