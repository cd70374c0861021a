//! Where PostgreSQL's programs are installed: Debian and Ubuntu keep one directory per major
//! version (`/usr/lib/postgresql/<major>/bin`), other systems answer `pg_config --bindir` or
//! put them on PATH. The client tools ([`super::PgTools`]) and the throwaway clusters
//! (`storage::pg_cluster`) both look here, so the search is written once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian and Ubuntu install one directory of binaries per major version.
pub const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// `/usr/lib/postgresql/<major>/bin` when it holds `program`.
pub fn debian_major(major: u32, program: &str) -> Option<PathBuf> {
    let dir = Path::new(DEBIAN_PG_ROOT)
        .join(major.to_string())
        .join("bin");
    dir.join(program).is_file().then_some(dir)
}

/// The newest `<root>/<version>/bin` holding `program`; versions compare numerically
/// ("9.6" < "10"), not as strings.
pub fn newest_under(root: &Path, program: &str) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join(program).is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// The newest Debian directory holding `program`.
pub fn newest_debian(program: &str) -> Option<PathBuf> {
    newest_under(Path::new(DEBIAN_PG_ROOT), program)
}

/// `pg_config --bindir`, when pg_config runs and the directory holds `program`.
pub fn pg_config(program: &str) -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && dir.join(program).is_file()).then_some(dir)
}

/// The first directory on PATH holding `program`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|dir| dir.join(program).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically_and_need_the_program() {
        let root = tempfile::tempdir().expect("tempdir");
        for major in ["9.6", "10", "15"] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), "").expect("touch");
        }
        std::fs::create_dir_all(root.path().join("16/bin")).expect("mkdir without initdb");
        std::fs::create_dir_all(root.path().join("notes")).expect("mkdir");
        assert_eq!(
            newest_under(root.path(), "initdb"),
            Some(root.path().join("15/bin"))
        );
        assert_eq!(newest_under(root.path(), "pg_dump"), None);
    }
}
