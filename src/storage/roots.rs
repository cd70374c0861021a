//! Where a set's file and secret archives may be written. The operator decides, never the set:
//! the configured `[source].files` / `[source].secrets`, or an explicit destination on the
//! command line (`--files-to DIR` / `--secrets-to DIR`: the set's tree under DIR;
//! `--map-root OLD=NEW`: one root of the set to a new place). The manifest only says which roots
//! the archive holds. With the default destination they must be exactly the configured ones; a
//! set with no roots, or with `/` as one, is refused whatever the destination. A bare host's
//! recovery has no configuration to compare with: there the set's own paths are taken, but
//! never a system location (`system_location`: `/etc/cron.d`, `/usr`, a home's `.ssh`, ...).
//!
//! One function (`place`) decides this for the dry run, the restore, `verify --decrypt` and the
//! drill, so none of them can accept what another would refuse. What comes out, a `Placement`,
//! maps every archive path at or below a root to a directory the operator chose (`anchor`) and
//! a path beneath it that `storage::beneath` resolves without following any link. Entries above
//! a root (`var`, `var/lib` for the root `/var/lib/app/uploads`) have no place: they are never
//! applied, so a set cannot change `/var`'s mode, owner or mtime.

use super::manifest::{ComponentKind, Manifest};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Where the operator sends one kind of archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// Every root back at its own path: the set's roots must be the configured ones.
    #[default]
    Configured,
    /// The set's whole tree under this directory (absolute), original paths kept inside it.
    Under(PathBuf),
    /// Every root back at the path the set names, with no configuration to compare them with
    /// (a bare host's recovery): the set decides, so a root at, in or above a system location
    /// ([`system_location`]) is refused.
    SetPaths,
}

/// The operator's side of the decision, from the configuration and the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootsSpec {
    /// `[source].files`.
    pub files: Vec<PathBuf>,
    /// `[source].secrets`.
    pub secrets: Vec<PathBuf>,
    pub files_to: Destination,
    pub secrets_to: Destination,
    /// `--map-root OLD=NEW`: a root of the set (files or secrets) restored at NEW instead.
    pub map: Vec<(PathBuf, PathBuf)>,
}

/// One root of the archive and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// As stored in the archive: the absolute path without its leading `/`.
    pub archived: PathBuf,
    /// Where the root itself lands (absolute; for messages and plans).
    pub dest: PathBuf,
    /// A directory the operator chose. It is opened following links (it is the operator's
    /// path, and a root that is a symlink is followed there, and only there); nothing beneath
    /// it ever is.
    pub anchor: PathBuf,
    /// The root's path beneath `anchor` (empty: the anchor is the root).
    pub below: PathBuf,
}

/// Where every root of one archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub kind: ComponentKind,
    pub roots: Vec<Root>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootsError {
    #[error("the set's manifest lists no {kind} roots, so nothing says where its {kind} archive belongs; refusing it, nothing was written")]
    NoRoots { kind: &'static str },
    #[error("the set's manifest lists `{root}` as a {kind} root: {why}; refusing it, nothing was written")]
    BadRoot {
        kind: &'static str,
        root: String,
        why: &'static str,
    },
    #[error("the set's {kind} roots differ from [source].{key} in the configuration ({diff}); refusing it, nothing was written. If the set is the one to restore, re-map it explicitly: --{kind}-to DIR extracts its tree under DIR, --map-root OLD=NEW puts one of its roots at NEW")]
    Differ {
        kind: &'static str,
        key: &'static str,
        diff: String,
    },
    #[error("the set's manifest lists `{root}` as a {kind} root, {why}: lifeboat does not write there from a set it has no configuration to compare with; refusing it, nothing was written. Recover under --files-prefix DIR and move what you trust into place by hand")]
    SystemLocation {
        kind: &'static str,
        root: String,
        why: String,
    },
    #[error("--map-root {old}: the set has no such root (its roots: {roots})")]
    UnknownMap { old: String, roots: String },
    #[error("--map-root {old}={new}: {why}")]
    BadMap {
        old: String,
        new: String,
        why: &'static str,
    },
    #[error("[source].{key} lists `{root}`: {why}")]
    BadConfigured {
        key: &'static str,
        root: String,
        why: &'static str,
    },
}

fn names(kind: ComponentKind) -> (&'static str, &'static str) {
    match kind {
        ComponentKind::Secrets => ("secrets", "secrets"),
        _ => ("files", "files"),
    }
}

/// An absolute path as components (`/a//b/` and `/a/./b` are `/a/b`); `None` for `/` itself,
/// a relative path or one with `..`.
fn absolute(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    let mut parts = path.components();
    if parts.next() != Some(Component::RootDir) {
        return None;
    }
    for c in parts {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (out != Path::new("/")).then_some(out)
}

fn why_not_absolute(path: &Path) -> &'static str {
    if path.as_os_str().is_empty() {
        "an empty path"
    } else if path.components().any(|c| c == Component::ParentDir) {
        "a path with `..`"
    } else if !path.is_absolute() {
        "not an absolute path"
    } else {
        "`/` is the whole file system, not a root"
    }
}

fn listed(paths: &BTreeSet<PathBuf>) -> String {
    if paths.is_empty() {
        return "none".into();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The roots the manifest gives for `kind`, checked and normalised.
fn manifest_roots(kind: ComponentKind, manifest: &Manifest) -> Result<Vec<PathBuf>, RootsError> {
    let (label, _) = names(kind);
    let raw = match kind {
        ComponentKind::Secrets => &manifest.source.secret_files,
        _ => &manifest.source.file_roots,
    };
    if raw.is_empty() {
        return Err(RootsError::NoRoots { kind: label });
    }
    raw.iter()
        .map(|r| {
            absolute(Path::new(r)).ok_or_else(|| RootsError::BadRoot {
                kind: label,
                root: r.clone(),
                why: why_not_absolute(Path::new(r)),
            })
        })
        .collect()
}

/// Where the system keeps what runs code or grants a login: a root at, inside or above one of
/// these is not taken from a set alone.
const SYSTEM_LOCATIONS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/etc/anacrontab",
    "/etc/apt",
    "/etc/bash.bashrc",
    "/etc/cron.d",
    "/etc/cron.daily",
    "/etc/cron.hourly",
    "/etc/cron.monthly",
    "/etc/cron.weekly",
    "/etc/crontab",
    "/etc/environment",
    "/etc/group",
    "/etc/gshadow",
    "/etc/init.d",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    "/etc/logrotate.d",
    "/etc/modprobe.d",
    "/etc/pam.d",
    "/etc/passwd",
    "/etc/polkit-1",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/rc.local",
    "/etc/security",
    "/etc/shadow",
    "/etc/ssh",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/sysctl.d",
    "/etc/systemd",
    "/etc/udev",
    "/var/lib/dpkg",
    "/var/lib/systemd",
    "/var/spool/cron",
];

/// Names that give a login or run at one wherever they are (a home's `.ssh`).
const LOGIN_NAMES: &[&str] = &[
    ".bash_login",
    ".bash_profile",
    ".bashrc",
    ".gnupg",
    ".pam_environment",
    ".profile",
    ".ssh",
    ".zshrc",
];

/// Why `root` (absolute, normalised) is a system location, if it is one: at, inside or above
/// one of [`SYSTEM_LOCATIONS`], a home directory itself (`/home/NAME`, whose `.ssh` it would
/// hold), or a path through a login file (`.ssh`, `.bashrc`, ...).
pub fn system_location(root: &Path) -> Option<String> {
    for place in SYSTEM_LOCATIONS.iter().map(Path::new) {
        if root.starts_with(place) {
            return Some(format!("which is in {}", place.display()));
        }
        if place.starts_with(root) {
            return Some(format!("which holds {}", place.display()));
        }
    }
    let home = Path::new("/home");
    if root.starts_with(home) && root.components().count() <= 3 {
        return Some("a home directory (it holds its .ssh)".into());
    }
    root.components()
        .filter_map(|c| match c {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .find(|name| LOGIN_NAMES.contains(name))
        .map(|name| format!("which goes through `{name}`"))
}

/// The anchor for a root landing at `dest`: `dest` itself when it is a directory already
/// (following a link there: the operator's path), else its parent, with the root's name
/// beneath it.
fn anchored(dest: &Path) -> (PathBuf, PathBuf) {
    if dest.is_dir() {
        return (dest.to_path_buf(), PathBuf::new());
    }
    match (dest.parent(), dest.file_name()) {
        (Some(parent), Some(name)) => (parent.to_path_buf(), PathBuf::from(name)),
        _ => (dest.to_path_buf(), PathBuf::new()),
    }
}

/// The set's `root` landing at `dest`.
fn at(root: &Path, dest: PathBuf) -> Root {
    let (anchor, below) = anchored(&dest);
    Root {
        archived: root.strip_prefix("/").unwrap_or(root).to_path_buf(),
        dest,
        anchor,
        below,
    }
}

/// Decides where the `kind` archive of the set described by `manifest` may be written, or why
/// it may not be written at all.
pub fn place(
    kind: ComponentKind,
    manifest: &Manifest,
    spec: &RootsSpec,
) -> Result<Placement, RootsError> {
    let (label, key) = names(kind);
    let roots = manifest_roots(kind, manifest)?;
    // Every OLD must be a root of the set (of either archive): a typo must not pass silently.
    let all: Vec<PathBuf> = [ComponentKind::Files, ComponentKind::Secrets]
        .into_iter()
        .filter_map(|k| manifest_roots(k, manifest).ok())
        .flatten()
        .collect();
    let mut map = Vec::new();
    for (old, new) in &spec.map {
        let shown = |p: &Path| p.display().to_string();
        let bad = |why| RootsError::BadMap {
            old: shown(old),
            new: shown(new),
            why,
        };
        let old_n = absolute(old).ok_or_else(|| bad(why_not_absolute(old)))?;
        let new_n = absolute(new).ok_or_else(|| bad(why_not_absolute(new)))?;
        if !all.contains(&old_n) {
            return Err(RootsError::UnknownMap {
                old: shown(old),
                roots: listed(&all.iter().cloned().collect()),
            });
        }
        map.push((old_n, new_n));
    }
    let destination = match kind {
        ComponentKind::Secrets => &spec.secrets_to,
        _ => &spec.files_to,
    };
    let configured = match kind {
        ComponentKind::Secrets => &spec.secrets,
        _ => &spec.files,
    };
    let configured: BTreeSet<PathBuf> = configured
        .iter()
        .map(|c| {
            absolute(c).ok_or_else(|| RootsError::BadConfigured {
                key,
                root: c.display().to_string(),
                why: why_not_absolute(c),
            })
        })
        .collect::<Result<_, _>>()?;
    let in_set: BTreeSet<PathBuf> = roots.iter().cloned().collect();
    // The manifest's order (plans list roots as the operator configured them), once each.
    let mut ordered: Vec<&PathBuf> = Vec::new();
    for r in &roots {
        if !ordered.contains(&r) {
            ordered.push(r);
        }
    }
    let mut placed = Vec::new();
    match destination {
        Destination::Under(dir) => {
            let dir = absolute(dir).unwrap_or_else(|| dir.clone());
            for &root in &ordered {
                let archived = root.strip_prefix("/").unwrap_or(root).to_path_buf();
                placed.push(Root {
                    dest: dir.join(&archived),
                    anchor: dir.clone(),
                    below: archived.clone(),
                    archived,
                });
            }
        }
        Destination::Configured => {
            let mapped = |r: &PathBuf| map.iter().find(|(old, _)| old == r).map(|(_, n)| n);
            // With no re-map the two lists must be equal; a re-mapped root is the operator's
            // say-so, and then only the unmapped roots must be configured ones.
            let only_set: BTreeSet<PathBuf> = in_set
                .iter()
                .filter(|r| mapped(r).is_none() && !configured.contains(*r))
                .cloned()
                .collect();
            let only_config: BTreeSet<PathBuf> = if map.is_empty() {
                configured.difference(&in_set).cloned().collect()
            } else {
                BTreeSet::new()
            };
            if !only_set.is_empty() || !only_config.is_empty() {
                return Err(RootsError::Differ {
                    kind: label,
                    key,
                    diff: format!(
                        "only in the set: {}; only in the configuration: {}",
                        listed(&only_set),
                        listed(&only_config)
                    ),
                });
            }
            for &root in &ordered {
                let dest = mapped(root).cloned().unwrap_or_else(|| root.clone());
                placed.push(at(root, dest));
            }
        }
        Destination::SetPaths => {
            for &root in &ordered {
                if let Some(why) = system_location(root) {
                    return Err(RootsError::SystemLocation {
                        kind: label,
                        root: root.display().to_string(),
                        why,
                    });
                }
                placed.push(at(root, root.clone()));
            }
        }
    }
    Ok(Placement {
        kind,
        roots: placed,
    })
}

impl Placement {
    /// The roots `archived` (relative, as stored) extracted under `dir`, as `--files-to DIR`
    /// places them: for callers with no manifest (tests, the fuzz targets).
    pub fn under(kind: ComponentKind, archived: &[PathBuf], dir: &Path) -> Placement {
        Placement {
            kind,
            roots: archived
                .iter()
                .map(|a| Root {
                    archived: a.clone(),
                    dest: dir.join(a),
                    anchor: dir.to_path_buf(),
                    below: a.clone(),
                })
                .collect(),
        }
    }

    /// The archive's roots as stored (relative).
    pub fn archived_roots(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|r| r.archived.clone()).collect()
    }

    /// The root (index) an archive path is at or below, and the rest of the path under it;
    /// the deepest root wins when roots nest. `None`: the path is above every root (a parent
    /// directory entry), which is never applied.
    pub fn locate<'p>(&self, normal: &'p Path) -> Option<(usize, &'p Path)> {
        self.roots
            .iter()
            .enumerate()
            .filter_map(|(i, r)| normal.strip_prefix(&r.archived).ok().map(|rest| (i, rest)))
            .max_by_key(|(i, _)| self.roots[*i].archived.components().count())
    }

    /// `original -> destination` per root, for the plan.
    pub fn describe(&self) -> String {
        self.roots
            .iter()
            .map(|r| {
                let original = Path::new("/").join(&r.archived);
                if original == r.dest {
                    original.display().to_string()
                } else {
                    format!("{} -> {}", original.display(), r.dest.display())
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[&str], secrets: &[&str]) -> Manifest {
        let text = serde_json::json!({
            "format": 1, "set_id": "20260101T000000Z-abcd",
            "snapshot_time": "2026-01-01T00:00:00Z", "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:00Z", "initiator": "cli", "host": "h",
            "lifeboat_version": "0", "components": [],
            "source": {"database": "app", "server_version": "15", "pg_dump_version": "15",
                "database_size_bytes": 0, "table_count": 1, "key_tables": [],
                "file_roots": files, "secret_files": secrets}
        });
        serde_json::from_value(text).unwrap()
    }

    fn spec(files: &[&str]) -> RootsSpec {
        RootsSpec {
            files: files.iter().map(PathBuf::from).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_set_roots_must_be_the_configured_ones() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        std::fs::create_dir(&uploads).unwrap();
        let u = uploads.to_str().unwrap();
        // Trailing slashes and `.` do not make a difference.
        let p = place(
            ComponentKind::Files,
            &manifest(&[&format!("{u}/")], &[]),
            &spec(&[&format!("{}/./uploads", dir.path().display())]),
        )
        .unwrap();
        assert_eq!(p.roots.len(), 1);
        assert_eq!(
            p.roots[0].anchor, uploads,
            "an existing root is its own anchor"
        );
        assert_eq!(p.roots[0].below, PathBuf::new());

        let err = place(
            ComponentKind::Files,
            &manifest(&[u, "/etc"], &[]),
            &spec(&[u, "/srv/more"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only in the set: /etc"), "{err}");
        assert!(
            err.contains("only in the configuration: /srv/more"),
            "{err}"
        );
        assert!(err.contains("[source].files"), "{err}");
        assert!(err.contains("--files-to DIR"), "{err}");
        assert!(err.contains("--map-root OLD=NEW"), "{err}");
    }

    #[test]
    fn set_paths_refuse_system_locations_and_take_an_applications_own() {
        let refused = [
            ("/etc", "which holds /etc/"),
            ("/etc/cron.d", "which is in /etc/cron.d"),
            ("/etc/sudoers.d/app", "which is in /etc/sudoers.d"),
            ("/var", "which holds /var/"),
            ("/usr/local/bin", "which is in /usr"),
            ("/root/.env", "which is in /root"),
            ("/home", "a home directory"),
            ("/home/deploy", "a home directory"),
            ("/home/deploy/.ssh/authorized_keys", "`.ssh`"),
            ("/srv/app/.bashrc", "`.bashrc`"),
        ];
        for (root, why) in refused {
            let err = place(
                ComponentKind::Files,
                &manifest(&[root], &[]),
                &RootsSpec {
                    files_to: Destination::SetPaths,
                    ..RootsSpec::default()
                },
            )
            .unwrap_err();
            assert!(
                matches!(&err, RootsError::SystemLocation { why: w, .. } if w.contains(why)),
                "{root}: {err}"
            );
            assert!(err.to_string().contains("--files-prefix"), "{err}");
        }
        let taken = [
            "/srv/app/uploads",
            "/opt/documenso/cert.p12",
            "/etc/ecommus/keys",
            "/var/lib/app/files",
            "/home/deploy/app/uploads",
            "/etcetera/x",
        ];
        for root in taken {
            let placed = place(
                ComponentKind::Files,
                &manifest(&[root], &[]),
                &RootsSpec {
                    files_to: Destination::SetPaths,
                    ..RootsSpec::default()
                },
            )
            .unwrap_or_else(|e| panic!("{root}: {e}"));
            assert_eq!(placed.roots[0].dest, Path::new(root));
        }
    }

    #[test]
    fn no_roots_slash_relative_or_dotdot_roots_are_refused_whatever_the_destination() {
        for dest in [Destination::Configured, Destination::Under("/tmp/x".into())] {
            let s = RootsSpec {
                files_to: dest.clone(),
                ..spec(&["/srv"])
            };
            for (roots, says) in [
                (vec![], "no files roots"),
                (vec!["/"], "`/` is the whole file system"),
                (vec!["//"], "`/` is the whole file system"),
                (vec![""], "an empty path"),
                (vec!["srv"], "not an absolute path"),
                (vec!["/srv/../etc"], "`..`"),
            ] {
                let err = place(ComponentKind::Files, &manifest(&roots, &[]), &s)
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(says), "{roots:?} {dest:?}: {err}");
            }
        }
    }

    #[test]
    fn explicit_destinations_re_map_and_never_widen() {
        let m = manifest(&["/var/lib/app/uploads", "/srv/b"], &["/opt/app/.env"]);
        let under = RootsSpec {
            files_to: Destination::Under("/tmp/dest".into()),
            ..spec(&[])
        };
        let p = place(ComponentKind::Files, &m, &under).unwrap();
        assert_eq!(p.roots.len(), 2);
        for r in &p.roots {
            assert_eq!(r.anchor, PathBuf::from("/tmp/dest"));
            assert_eq!(r.below, r.archived);
        }
        assert!(p
            .describe()
            .contains("/var/lib/app/uploads -> /tmp/dest/var/lib/app/uploads"));

        let mapped = RootsSpec {
            map: vec![("/srv/b".into(), "/data/new-b".into())],
            ..spec(&["/var/lib/app/uploads"])
        };
        let p = place(ComponentKind::Files, &m, &mapped).unwrap();
        let b = p
            .roots
            .iter()
            .find(|r| r.archived == Path::new("srv/b"))
            .unwrap();
        assert_eq!(b.dest, PathBuf::from("/data/new-b"));
        assert_eq!(
            (b.anchor.as_path(), b.below.as_path()),
            (Path::new("/data"), Path::new("new-b"))
        );
        // The secrets archive is placed on its own; the map names a files root, which is fine.
        let s = RootsSpec {
            secrets: vec!["/opt/app/.env".into()],
            ..mapped.clone()
        };
        place(ComponentKind::Secrets, &m, &s).unwrap();

        for (map, says) in [
            (("/srv/typo", "/x"), "no such root"),
            (("/srv/b", "/"), "`/` is the whole"),
            (("/srv/b", "relative"), "not an absolute"),
        ] {
            let s = RootsSpec {
                map: vec![(map.0.into(), map.1.into())],
                ..spec(&["/var/lib/app/uploads"])
            };
            let err = place(ComponentKind::Files, &m, &s).unwrap_err().to_string();
            assert!(err.contains(says), "{map:?}: {err}");
        }
        // A root neither configured nor mapped is still refused.
        let s = RootsSpec {
            map: vec![("/srv/b".into(), "/data/b".into())],
            ..spec(&[])
        };
        let err = place(ComponentKind::Files, &m, &s).unwrap_err().to_string();
        assert!(
            err.contains("only in the set: /var/lib/app/uploads"),
            "{err}"
        );
    }

    #[test]
    fn parents_of_a_root_have_no_place_and_the_deepest_root_wins() {
        let m = manifest(&["/srv", "/srv/app/data"], &[]);
        let p = place(
            ComponentKind::Files,
            &m,
            &RootsSpec {
                files_to: Destination::Under("/d".into()),
                ..spec(&[])
            },
        )
        .unwrap();
        assert_eq!(p.locate(Path::new("var")), None);
        let (i, rest) = p.locate(Path::new("srv/app/data/x")).unwrap();
        assert_eq!(
            (p.roots[i].archived.as_path(), rest),
            (Path::new("srv/app/data"), Path::new("x"))
        );
        let (i, rest) = p.locate(Path::new("srv/other")).unwrap();
        assert_eq!(
            (p.roots[i].archived.as_path(), rest),
            (Path::new("srv"), Path::new("other"))
        );
        assert_eq!(p.locate(Path::new("srvx")), None);
    }
}
