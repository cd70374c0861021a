//! The host-local places lifeboat keeps things outside any repository: the run journal and the
//! upload spool (XDG data directory), locks and logs (XDG state directory), the manifest index
//! (XDG cache directory). `LIFEBOAT_DATA_DIR`, `LIFEBOAT_STATE_DIR` and `LIFEBOAT_CACHE_DIR`
//! relocate them (tests, benchmarks, several installations on one host).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct LocalPaths {
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
    /// What can be rebuilt from the repositories (the manifest index): losing it costs time only.
    pub cache_dir: PathBuf,
}

impl LocalPaths {
    pub fn from_env() -> Self {
        let dirs = directories::ProjectDirs::from("", "", "lifeboat");
        let home_fallback = || PathBuf::from("/var/lib/lifeboat");
        let data_dir = std::env::var_os("LIFEBOAT_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(home_fallback);
        let state_dir = std::env::var_os("LIFEBOAT_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                dirs.as_ref()
                    .and_then(|d| d.state_dir().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| data_dir.join("state"));
        let cache_dir = std::env::var_os("LIFEBOAT_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.cache_dir().to_path_buf()))
            .unwrap_or_else(|| data_dir.join("cache"));
        LocalPaths {
            data_dir,
            state_dir,
            cache_dir,
        }
    }

    pub fn under(root: &Path) -> Self {
        LocalPaths {
            data_dir: root.join("data"),
            state_dir: root.join("state"),
            cache_dir: root.join("cache"),
        }
    }

    pub fn journal(&self) -> PathBuf {
        self.data_dir.join("journal.jsonl")
    }

    pub fn spool(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    pub fn locks(&self) -> PathBuf {
        self.state_dir.join("locks")
    }

    /// One file per repository: parsed manifests, pins and drill records (`jobs::index`).
    pub fn index(&self) -> PathBuf {
        self.cache_dir.join("index")
    }

    pub fn logs(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}
