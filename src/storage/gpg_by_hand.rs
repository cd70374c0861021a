//! The README's by-hand decryption ("Restoring a set by hand"), run for real on an envelope
//! lifeboat encrypts the way it encrypts a set: proof that an operator without lifeboat opens
//! today's sets with plain `gpg` and the same passphrase file or keyring.
//!
//! Passphrase mode runs `gpg --batch --pinentry-mode loopback --passphrase-file FILE --decrypt`
//! in a fresh, empty GNUPGHOME, as on a rebuilt host; recipients mode runs `gpg --batch
//! --decrypt` with the operator's own keyring (`GNUPGHOME`), where the secret key is. `gpg` is
//! the one on PATH, the one an operator would type. The passphrase file's path is in argv,
//! never the passphrase.

use super::gpg::{Crypto, EncryptionSpec, GpgError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The object's name in the command shown to the operator.
const OBJECT: &str = "keys-check.gpg";

/// What ran and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByHand {
    /// The command, as the README writes it, with the envelope as its object.
    pub command: String,
    /// Where it ran: "a fresh GNUPGHOME" or "your keyring".
    pub home: &'static str,
}

fn fail(reason: String) -> GpgError {
    GpgError::Decrypt {
        object: format!("the key-check envelope by hand ({OBJECT})"),
        reason,
    }
}

/// The by-hand command's arguments after `gpg`, for `spec`; `None` when nothing is encrypted.
pub fn arguments(spec: &EncryptionSpec) -> Option<Vec<String>> {
    let mut args = vec!["--batch".to_string()];
    match spec {
        EncryptionSpec::None => return None,
        EncryptionSpec::Passphrase { passphrase_file } => {
            args.extend(["--pinentry-mode", "loopback", "--passphrase-file"].map(String::from));
            args.push(passphrase_file.display().to_string());
        }
        EncryptionSpec::Recipients { .. } => {}
    }
    args.push("--decrypt".into());
    Some(args)
}

/// Encrypts an envelope with `spec` as a backup does, writes it to a private scratch folder and
/// decrypts it with the by-hand command; Ok when gpg exits 0 and gives back the same bytes.
pub fn prove(spec: &EncryptionSpec) -> Result<ByHand, GpgError> {
    let args = arguments(spec).ok_or_else(|| fail("encryption is off".into()))?;
    let plaintext = format!(
        "lifeboat keys check, by hand, {}\n",
        chrono::Utc::now().to_rfc3339()
    )
    .into_bytes();
    let ciphertext = Crypto::prepare(spec)?.encrypt_bytes(&plaintext)?;
    // Short, under /tmp: a gpg-agent socket path must fit in sockaddr_un (108 bytes).
    let scratch = tempfile::Builder::new()
        .prefix("lbk")
        .tempdir_in("/tmp")
        .map_err(GpgError::Home)?;
    std::fs::write(scratch.path().join(OBJECT), &ciphertext).map_err(GpgError::Home)?;
    let mut cmd = Command::new("gpg");
    cmd.args(&args)
        .arg(OBJECT)
        .current_dir(scratch.path())
        .stdin(Stdio::null());
    let fresh = scratch.path().join("home");
    let home = match spec {
        EncryptionSpec::Passphrase { .. } => {
            std::fs::create_dir(&fresh).map_err(GpgError::Home)?;
            std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o700))
                .map_err(GpgError::Home)?;
            cmd.env("GNUPGHOME", &fresh);
            "a fresh GNUPGHOME"
        }
        _ => "your keyring",
    };
    let out = cmd.output();
    if fresh.exists() {
        stop_agent(&fresh);
    }
    let out = out.map_err(|e| fail(format!("cannot run gpg: {e} (install gnupg)")))?;
    let command = format!("gpg {} {OBJECT}", args.join(" "));
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said: Vec<&str> = said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(fail(format!(
            "`{command}` failed ({}): {}",
            out.status,
            said.join("; ")
        )));
    }
    if out.stdout != plaintext {
        return Err(fail(format!(
            "`{command}` exited 0 but gave back other bytes than were encrypted"
        )));
    }
    Ok(ByHand { command, home })
}

fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "all"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_envelope_opens_by_hand_in_a_fresh_home() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, b"  correct horse \n").unwrap();
        let spec = EncryptionSpec::Passphrase {
            passphrase_file: file.clone(),
        };
        let done = prove(&spec).unwrap();
        assert_eq!(
            done.command,
            format!(
                "gpg --batch --pinentry-mode loopback --passphrase-file {} --decrypt {OBJECT}",
                file.display()
            )
        );
        assert!(!done.command.contains("correct horse"));
    }
}
