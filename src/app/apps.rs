//! Which applications this host backs up, and which one a command acts on. One file per
//! application, `<config dir>/apps/NAME.toml`, each with the schema of `config.toml`: an
//! operator adds or removes an application by adding or removing a file, each file stays valid
//! on its own for `--config`, and secrets and repositories never mix in one file. A lone
//! `config.toml` keeps working as before (one application).
//!
//! Precedence: `--config` / `LIFEBOAT_CONFIG` (that file only) > `--app NAME` > the only
//! application > several: the caller decides (headless commands refuse, the console opens the
//! fleet screen). An application from `apps/` keeps its journal, locks and logs in its own
//! subdirectory (`<data or state dir>/apps/NAME/`), so two applications never share a lock or
//! a journal; `[backup].spool_dir` and `[restore].scratch_dir` in the file still win.

use crate::app::config::{self, Config, ConfigError};
use crate::storage::paths::LocalPaths;
use std::path::{Path, PathBuf};

/// The directory under the config directory holding one file per application.
pub const APPS_DIR: &str = "apps";

#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    #[error("`{name}` is not an application name: use lower-case letters, digits, `-` and `_`, starting with a letter or digit (the file is apps/NAME.toml)")]
    BadName { name: String },
    #[error("{path}: the file name `{name}` is not an application name: rename it to lower-case letters, digits, `-` and `_`, starting with a letter or digit")]
    BadFileName { path: PathBuf, name: String },
    #[error("no application `{name}`: the applications are {known} (files in {dir})")]
    Unknown {
        name: String,
        known: String,
        dir: PathBuf,
    },
    #[error("cannot list the applications in {dir}: {source}")]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("several applications are configured ({known}): name one with --app NAME (or use `status --all`, or the console's fleet screen)")]
    Several { known: String },
}

/// One application: its name, its file, and where its journal, locks and logs live.
#[derive(Debug, Clone)]
pub struct AppEntry {
    pub name: String,
    pub config_path: PathBuf,
    pub paths: LocalPaths,
}

impl AppEntry {
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config_path)
    }
}

/// What the command line and the config directory select.
#[derive(Debug, Clone)]
pub enum Selection {
    One(AppEntry),
    Several(Vec<AppEntry>),
}

impl Selection {
    /// The one application, or the refusal that lists the names.
    pub fn one(self) -> Result<AppEntry, AppsError> {
        match self {
            Selection::One(a) => Ok(a),
            Selection::Several(apps) => Err(AppsError::Several {
                known: names(&apps),
            }),
        }
    }

    /// Every selected application.
    pub fn all(self) -> Vec<AppEntry> {
        match self {
            Selection::One(a) => vec![a],
            Selection::Several(apps) => apps,
        }
    }
}

fn names(apps: &[AppEntry]) -> String {
    apps.iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[a-z0-9][a-z0-9_-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `LIFEBOAT_CONFIG_DIR`, else the XDG config directory's `lifeboat` (which honours
/// `XDG_CONFIG_HOME`).
pub fn config_dir() -> PathBuf {
    std::env::var_os("LIFEBOAT_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            config::default_path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/etc/lifeboat"))
        })
}

/// An application's own journal, lock and log directories under the host's.
pub fn app_paths(base: &LocalPaths, name: &str) -> LocalPaths {
    LocalPaths {
        data_dir: base.data_dir.join(APPS_DIR).join(name),
        state_dir: base.state_dir.join(APPS_DIR).join(name),
        // The index is keyed by repository, so applications share the host's cache.
        cache_dir: base.cache_dir.clone(),
    }
}

/// The application a file given with `--config` is: `.../apps/NAME.toml` is NAME, with NAME's
/// directories (so a scheduled `--config apps/NAME.toml` run shares NAME's journal and lock);
/// any other file keeps the host's directories, as before there were several applications.
pub fn entry_for_file(path: &Path, base: &LocalPaths) -> AppEntry {
    let in_apps = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == APPS_DIR);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if in_apps && path.extension().is_some_and(|e| e == "toml") && valid_name(stem) {
        return AppEntry {
            name: stem.to_string(),
            config_path: path.to_path_buf(),
            paths: app_paths(base, stem),
        };
    }
    AppEntry {
        name: single_name(path),
        config_path: path.to_path_buf(),
        paths: base.clone(),
    }
}

/// A lone `config.toml` is named after its database (when that is a valid name), else
/// "default"; it is read leniently, because a broken file still needs a name for its error.
fn single_name(path: &Path) -> String {
    let database = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("source")?
                .get("database_url")?
                .as_str()
                .map(str::to_string)
        })
        .and_then(|url| {
            crate::storage::postgres::PgConn::parse(&url)
                .ok()?
                .database()
        });
    database
        .filter(|d| valid_name(d))
        .unwrap_or_else(|| "default".to_string())
}

/// The applications in `dir`: `apps/*.toml`, sorted by name, then `config.toml` if it exists.
/// None at all: the default `config.toml` (whose absence the loader reports as today).
pub fn discover(dir: &Path, base: &LocalPaths) -> Result<Vec<AppEntry>, AppsError> {
    let apps_dir = dir.join(APPS_DIR);
    let mut apps = Vec::new();
    match std::fs::read_dir(&apps_dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|source| AppsError::Read {
                    dir: apps_dir.clone(),
                    source,
                })?;
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "toml") || !path.is_file() {
                    continue;
                }
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !valid_name(&name) {
                    return Err(AppsError::BadFileName { path, name });
                }
                apps.push(AppEntry {
                    paths: app_paths(base, &name),
                    name,
                    config_path: path,
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(AppsError::Read {
                dir: apps_dir,
                source,
            })
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    let single = dir.join("config.toml");
    if single.is_file() || apps.is_empty() {
        let mut entry = entry_for_file(&single, base);
        // A database called like an application in apps/ must not shadow it.
        if apps.iter().any(|a| a.name == entry.name) {
            entry.name = "default".into();
        }
        apps.push(entry);
    }
    Ok(apps)
}

/// The precedence above. `config_flag` is `--config`; `LIFEBOAT_CONFIG` is read here.
pub fn select(
    config_flag: Option<&Path>,
    app: Option<&str>,
    base: &LocalPaths,
) -> Result<Selection, AppsError> {
    if let Some(name) = app {
        if !valid_name(name) {
            return Err(AppsError::BadName { name: name.into() });
        }
    }
    let explicit = config_flag
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("LIFEBOAT_CONFIG").map(PathBuf::from));
    if let Some(path) = explicit {
        return Ok(Selection::One(entry_for_file(&path, base)));
    }
    let dir = config_dir();
    let apps = discover(&dir, base)?;
    match app {
        Some(name) => apps
            .iter()
            .find(|a| a.name == name)
            .cloned()
            .map(Selection::One)
            .ok_or_else(|| AppsError::Unknown {
                name: name.into(),
                known: names(&apps),
                dir: dir.join(APPS_DIR),
            }),
        None if apps.len() == 1 => {
            Ok(Selection::One(apps.into_iter().next().unwrap_or_else(
                || unreachable!("one application was just counted"),
            )))
        }
        None => Ok(Selection::Several(apps)),
    }
}

/// Where the log goes: the selected application's directories when one is selected, else
/// the host's (the fleet, or a configuration problem the command will report).
pub fn log_paths(config_flag: Option<&Path>, app: Option<&str>, base: &LocalPaths) -> LocalPaths {
    match select(config_flag, app, base) {
        Ok(Selection::One(entry)) => entry.paths,
        _ => base.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LocalPaths {
        LocalPaths {
            data_dir: "/d".into(),
            state_dir: "/s".into(),
            cache_dir: "/c".into(),
        }
    }

    #[test]
    fn names_follow_the_rule() {
        for good in ["a", "shop", "shop-eu_2", "9lives"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-a", "_a", "Shop", "a b", "a.b", "../x", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn discovery_lists_apps_sorted_with_their_own_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("apps")).unwrap();
        for n in ["wiki", "shop", "notes.txt"] {
            let file = if n.contains('.') {
                n.to_string()
            } else {
                format!("{n}.toml")
            };
            std::fs::write(dir.path().join("apps").join(file), "").unwrap();
        }
        let apps = discover(dir.path(), &base()).unwrap();
        let names: Vec<_> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["shop", "wiki"]);
        assert_eq!(apps[0].paths.data_dir, PathBuf::from("/d/apps/shop"));
        assert_eq!(apps[0].paths.state_dir, PathBuf::from("/s/apps/shop"));

        std::fs::write(dir.path().join("apps/Bad Name.toml"), "").unwrap();
        let err = discover(dir.path(), &base()).unwrap_err().to_string();
        assert!(err.contains("Bad Name") && err.contains("rename"), "{err}");
    }

    #[test]
    fn a_lone_config_toml_is_one_app_with_the_hosts_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "[source]\ndatabase_url = \"postgresql://u@h/shop\"\n",
        )
        .unwrap();
        let apps = discover(dir.path(), &base()).unwrap();
        assert_eq!(apps.len(), 1);
        assert_eq!(apps[0].name, "shop");
        assert_eq!(apps[0].paths.data_dir, base().data_dir);
    }

    #[test]
    fn a_file_in_apps_given_with_config_keeps_its_apps_dirs() {
        let e = entry_for_file(Path::new("/etc/lifeboat/apps/wiki.toml"), &base());
        assert_eq!(e.name, "wiki");
        assert_eq!(e.paths.data_dir, PathBuf::from("/d/apps/wiki"));
        let e = entry_for_file(Path::new("/etc/lifeboat/other.toml"), &base());
        assert_eq!(e.name, "default");
        assert_eq!(e.paths.state_dir, base().state_dir);
    }

    #[test]
    fn several_refuse_to_pick_one() {
        let two = Selection::Several(vec![
            entry_for_file(Path::new("/c/apps/a.toml"), &base()),
            entry_for_file(Path::new("/c/apps/b.toml"), &base()),
        ]);
        let err = two.one().unwrap_err().to_string();
        assert!(err.contains("a, b") && err.contains("--app"), "{err}");
    }
}
