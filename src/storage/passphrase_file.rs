//! The passphrase file: read exactly as `gpg --passphrase-file` reads it, so that what lifeboat
//! hands gpg is what the README's by-hand command hands it from the same file, and checked to be
//! private before a backup encrypts with it.
//!
//! gpg (2.2, `read_passphrase_from_fd`) takes the bytes up to the first LF, or to the end of
//! the file, and keeps everything else: a CR before the LF, leading and trailing spaces, tabs.
//! It stops at a NUL (the passphrase is a C string). Each difference between that and "the
//! first line" as most tools read it is either read the same way here or refused:
//!
//! - no final newline, spaces, tabs, later lines: read as gpg does (spaces are kept);
//! - a CR in the first line (a file saved with Windows line endings): refused. gpg would make
//!   the CR part of the passphrase, while lifeboat before this check dropped it, so sets made
//!   then open with the file only once the CR is gone; the operator removes it, once;
//! - a NUL, an empty first line, a first line that is not UTF-8: refused.

use super::gpg::GpgError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Why a passphrase file is refused: what gpg would do with it, and the fix.
fn refuse(path: &Path, problem: &str, fix: String) -> GpgError {
    GpgError::PassphraseUnusable {
        path: path.to_path_buf(),
        problem: problem.to_string(),
        fix,
    }
}

/// The passphrase, as `gpg --batch --pinentry-mode loopback --passphrase-file PATH` reads it.
pub fn read(path: &Path) -> Result<String, GpgError> {
    let bytes = std::fs::read(path).map_err(|source| GpgError::PassphraseFile {
        path: path.to_path_buf(),
        source,
    })?;
    let first = match bytes.iter().position(|&b| b == b'\n') {
        Some(end) => &bytes[..end],
        None => &bytes[..],
    };
    let shown = path.display();
    if first.is_empty() {
        return Err(GpgError::EmptyPassphrase(path.to_path_buf()));
    }
    if first.contains(&b'\r') {
        return Err(refuse(
            path,
            "has a carriage return in its first line (Windows line endings): `gpg --passphrase-file` would take the CR as part of the passphrase",
            format!("remove it with `sed -i 's/\\r$//' {shown}`"),
        ));
    }
    if first.contains(&0) {
        return Err(refuse(
            path,
            "has a NUL byte in its first line: gpg would stop reading the passphrase there",
            format!("write the passphrase as text on the first line of {shown}"),
        ));
    }
    match String::from_utf8(first.to_vec()) {
        Ok(text) => Ok(text),
        Err(_) => Err(refuse(
            path,
            "has a first line that is not UTF-8 text",
            format!("write the passphrase as UTF-8 text on the first line of {shown}"),
        )),
    }
}

/// Refuses a passphrase file that anyone but its owner can read (mode & 0o077): a local user
/// who can read it can open every backup encrypted with it.
pub fn check_private(path: &Path) -> Result<(), GpgError> {
    let meta = std::fs::metadata(path).map_err(|source| GpgError::PassphraseFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(GpgError::PassphraseNotPrivate {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// The passphrase gpg itself reads from `file`: it encrypts with `--passphrase-file`, then
    /// each candidate is tried through `--passphrase-fd` (as lifeboat hands it: the text and a
    /// LF). Returns whether `candidate` opens what gpg encrypted.
    fn gpg_reads(file: &Path, candidate: &str) -> bool {
        let dir = tempfile::Builder::new()
            .prefix("lbp")
            .tempdir_in("/tmp")
            .unwrap();
        let home = dir.path().join("h");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"rows").unwrap();
        let sealed = dir.path().join("sealed.gpg");
        let gpg = |args: &[&std::ffi::OsStr]| {
            let mut cmd = Command::new("gpg");
            cmd.arg("--homedir")
                .arg(&home)
                .args(["--batch", "--quiet", "--no-symkey-cache"])
                .args(["--pinentry-mode", "loopback"])
                .args(args);
            cmd
        };
        let out = gpg(&[
            "--passphrase-file".as_ref(),
            file.as_os_str(),
            "--symmetric".as_ref(),
            "--output".as_ref(),
            sealed.as_os_str(),
            plain.as_os_str(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fed = dir.path().join("fed");
        std::fs::write(&fed, format!("{candidate}\n")).unwrap();
        let out = gpg(&[
            "--passphrase-fd".as_ref(),
            "0".as_ref(),
            "--decrypt".as_ref(),
            sealed.as_os_str(),
        ])
        .stdin(std::fs::File::open(&fed).unwrap())
        .output()
        .unwrap();
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&home)
            .args(["--kill", "all"])
            .status();
        out.status.success() && out.stdout == b"rows"
    }

    fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn what_is_accepted_is_what_gpg_reads_from_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &str); 5] = [
            ("lf", b"horse battery\n", "horse battery"),
            ("no-newline", b"horse battery", "horse battery"),
            ("spaces", b"  horse battery \t \n", "  horse battery \t "),
            ("lines", b"horse battery\nsecond line\n", "horse battery"),
            ("bom", b"\xef\xbb\xbfhorse\n", "\u{feff}horse"),
        ];
        for (name, bytes, expected) in cases {
            let file = file_with(dir.path(), name, bytes);
            let read = read(&file).unwrap();
            assert_eq!(read, expected, "{name}");
            assert!(gpg_reads(&file, &read), "{name}: gpg reads something else");
        }
        // Stripping would have been wrong: gpg keeps the spaces.
        let spaces = dir.path().join("spaces");
        assert!(!gpg_reads(&spaces, "horse battery"));
    }

    #[test]
    fn a_file_gpg_would_read_differently_is_refused_naming_it_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let crlf = file_with(dir.path(), "crlf", b"horse battery\r\n");
        // gpg keeps the CR: "horse battery" (what a line reader yields) does not open it.
        assert!(gpg_reads(&crlf, "horse battery\r"));
        assert!(!gpg_reads(&crlf, "horse battery"));
        let err = read(&crlf).unwrap_err().to_string();
        assert!(err.contains(&crlf.display().to_string()), "{err}");
        assert!(err.contains("carriage return"), "{err}");
        assert!(err.contains("sed -i"), "{err}");

        let cases: [(&str, &[u8], &str); 5] = [
            ("cr-only", b"horse\r", "carriage return"),
            ("nul", b"hor\0se\n", "NUL"),
            ("empty-first", b"\nhorse\n", "first line"),
            ("empty", b"", "first line"),
            ("latin1", b"h\xf6rse\n", "UTF-8"),
        ];
        for (name, bytes, says) in cases {
            let file = file_with(dir.path(), name, bytes);
            let err = read(&file).unwrap_err().to_string();
            assert!(err.contains(&file.display().to_string()), "{name}: {err}");
            assert!(err.contains(says), "{name}: {err}");
        }
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_chmod_600() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_with(dir.path(), "pass", b"horse\n");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check_private(&file).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", file.display())),
                "{err}"
            );
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            check_private(&file).unwrap();
        }
    }
}
