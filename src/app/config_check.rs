//! `lifeboat config check`, past parsing: the settings that name files on this host are
//! looked at on this host. A passphrase file that is missing, unreadable, read differently by
//! `gpg --passphrase-file`, or readable by others fails the check (a backup would fail on it);
//! a root on a special filesystem (/proc, /sys, /dev) is a warning, as it is in a backup.

use super::config::Config;
use crate::jobs::tar_source;
use crate::storage::gpg::EncryptionSpec;
use crate::storage::passphrase_file;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// A backup would fail on it (else a warning).
    pub fails: bool,
    pub text: String,
}

fn passphrase_findings(file: &Path, out: &mut Vec<Finding>) {
    let key = "[encryption].passphrase_file";
    if let Err(e) = std::fs::metadata(file) {
        out.push(Finding {
            fails: true,
            text: format!(
                "{key} = {}: {e}; create it (the passphrase on its first line, `chmod 600`) or point {key} at the file that holds it",
                file.display()
            ),
        });
        return;
    }
    for problem in [
        passphrase_file::read(file).err(),
        passphrase_file::check_private(file).err(),
    ]
    .into_iter()
    .flatten()
    {
        out.push(Finding {
            fails: true,
            text: format!("{key}: {problem}"),
        });
    }
}

/// What is wrong on this host with a configuration that parsed.
pub fn findings(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Ok(EncryptionSpec::Passphrase { passphrase_file }) = config.encryption_spec() {
        passphrase_findings(&passphrase_file, &mut out);
    }
    let roots = [
        ("files", &config.source.files),
        ("secrets", &config.source.secrets),
    ];
    for (key, paths) in roots {
        for path in paths.iter() {
            if let Some(special) = tar_source::special_filesystem(path) {
                out.push(Finding {
                    fails: false,
                    text: format!(
                        "[source].{key}: {} is {special}; a backup skips it, with a warning",
                        path.display()
                    ),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config(dir: &Path, passphrase_file: &Path, files: &str) -> Config {
        let text = format!(
            "[source]\ndatabase_url = \"postgresql://app@127.0.0.1:1/app\"\nfiles = [{files}]\n[repository]\nurl = \"file://{}/repo\"\n[encryption]\nmode = \"passphrase\"\npassphrase_file = \"{}\"\n",
            dir.display(),
            passphrase_file.display()
        );
        Config::parse(&dir.join("config.toml"), &text).unwrap()
    }

    #[test]
    fn a_missing_loose_or_crlf_passphrase_file_fails_naming_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        let missing = findings(&config(dir.path(), &file, ""));
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].fails);
        assert!(missing[0].text.contains("[encryption].passphrase_file"));
        assert!(missing[0].text.contains(&file.display().to_string()));

        std::fs::write(&file, "horse\r\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = findings(&config(dir.path(), &file, ""));
        let text: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(found.len(), 2, "{text:?}");
        assert!(found.iter().all(|f| f.fails));
        assert!(text[0].contains("carriage return"), "{text:?}");
        assert!(text[1].contains("chmod 600"), "{text:?}");

        std::fs::write(&file, "horse\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(findings(&config(dir.path(), &file, "")), vec![]);
    }

    #[test]
    fn a_root_in_proc_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "horse\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let found = findings(&config(dir.path(), &file, "\"/proc/self/status\""));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].fails);
        assert!(found[0].text.contains("/proc/self/status"), "{found:?}");
        assert!(found[0].text.contains("proc"), "{found:?}");
    }
}
