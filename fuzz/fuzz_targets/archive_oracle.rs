//! The archive properties' oracle, written independently of `lifeboat::storage::archive`:
//! lexical normalisation, "inside the archived roots", "below a symlink entry". Shared by the
//! `archive` fuzz target and `tests/fuzz_regressions.rs`, which replays its kept inputs.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// The roots the fuzzed archives are checked against.
pub fn roots() -> Vec<PathBuf> {
    vec![PathBuf::from("var/lib/app/uploads")]
}

/// `roots` placed under a directory that does not exist (nothing on disk is looked at).
pub fn placed(roots: &[PathBuf]) -> lifeboat::storage::roots::Placement {
    lifeboat::storage::roots::Placement::under(
        lifeboat::storage::manifest::ComponentKind::Files,
        roots,
        Path::new("/nonexistent/lifeboat-fuzz"),
    )
}

/// Lexical normalisation; `None` for absolute paths and `..` above the start.
pub fn normal(path: &Path) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Whether `path` is one of `roots`, lies below one, or is a parent of one.
pub fn inside(path: &Path, roots: &[PathBuf]) -> bool {
    normal(path).is_some_and(|n| roots.iter().any(|r| n.starts_with(r) || r.starts_with(&n)))
}

/// The symlink entry among `symlinks` that `path` lies below (or is, with `or_self`).
pub fn through(path: &Path, symlinks: &BTreeSet<PathBuf>, or_self: bool) -> Option<PathBuf> {
    let n = normal(path)?;
    n.ancestors()
        .skip(usize::from(!or_self))
        .find(|a| symlinks.contains(*a))
        .map(Path::to_path_buf)
}
