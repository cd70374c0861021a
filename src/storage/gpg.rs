//! Encryption with GnuPG, streaming: plaintext is pulled from a reader and the ciphertext
//! pushed to a writer, nothing staged. Output opens with plain `gpg --decrypt`.
//!
//! gpgme finds gpg and resolves recipients' keys; the data itself goes through one gpg process
//! per object that reads and writes the pipes directly (`gpg_run`). Passphrase mode runs gpg in
//! a private, short-lived GNUPGHOME whose `gpg.conf` pins AES256 (gpg 2.2 would pick AES128 for
//! symmetric encryption) and disables the agent's passphrase cache; the passphrase reaches gpg
//! through a pipe (`--passphrase-fd`, loopback pinentry), never argv or env. Recipients mode
//! uses the operator's own keyring and agent. The private home lives in `gpg_home`.

use super::gpg_home::PrivateHome;
use super::gpg_run::{self, Failure, Operation};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionSpec {
    None,
    Passphrase { passphrase_file: PathBuf },
    Recipients { recipients: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum GpgError {
    #[error("cannot read the passphrase file {path}: {source} (set [encryption].passphrase_file to a readable file)")]
    PassphraseFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the passphrase file {0} has an empty first line, and `gpg --passphrase-file` reads only the first line; put the passphrase there")]
    EmptyPassphrase(PathBuf),
    #[error("the passphrase file {path} {problem}; {fix}")]
    PassphraseUnusable {
        path: PathBuf,
        problem: String,
        fix: String,
    },
    #[error("the passphrase file {path} is mode {mode:04o}: other users on this host can read the key to every backup; run `chmod 600 {path}`")]
    PassphraseNotPrivate { path: PathBuf, mode: u32 },
    #[error("no usable encryption key for recipient `{recipient}` in the gpg keyring{home}: {reason} (import the public key with `gpg --import`, or fix [encryption].recipients)")]
    Recipient {
        recipient: String,
        home: String,
        reason: String,
    },
    #[error("[encryption].recipients is empty; name at least one key (user id or fingerprint)")]
    NoRecipients,
    #[error("cannot prepare a private gpg home: {0}")]
    Home(std::io::Error),
    #[error("gpg could not encrypt: {0}")]
    Encrypt(String),
    #[error("gpg could not decrypt {object}: {reason}")]
    Decrypt { object: String, reason: String },
}

#[derive(Debug)]
enum Mode {
    None,
    Passphrase {
        passphrase: String,
        home: PrivateHome,
    },
    Recipients {
        fingerprints: Vec<String>,
    },
}

/// Encryption prepared for one job: keys resolved, passphrase loaded, home created.
#[derive(Debug)]
pub struct Crypto {
    mode: Mode,
}

/// Initialises gpgme and its engine information once, before any job starts threads: gpgme
/// learns about its engine by running `gpgconf` through a pipe, and a child spawned by another
/// thread meanwhile could inherit that pipe and stall it.
pub(crate) fn gpgme_ready() {
    static INIT: OnceLock<gpgme::Gpgme> = OnceLock::new();
    INIT.get_or_init(|| {
        let token = gpgme::init();
        let _ = gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp);
        gpg_run::resolve_program(&token);
        token
    });
}

fn keyring_name() -> String {
    std::env::var("GNUPGHOME")
        .map(|h| format!(" at {h}"))
        .unwrap_or_default()
}

/// Reads a passphrase file the way `gpg --passphrase-file` does, or refuses one it would read
/// differently (`passphrase_file`).
pub fn read_passphrase(path: &Path) -> Result<String, GpgError> {
    super::passphrase_file::read(path)
}

impl Crypto {
    pub fn prepare(spec: &EncryptionSpec) -> Result<Crypto, GpgError> {
        gpgme_ready();
        let mode = match spec {
            EncryptionSpec::None => Mode::None,
            EncryptionSpec::Passphrase { passphrase_file } => Mode::Passphrase {
                passphrase: read_passphrase(passphrase_file)?,
                home: PrivateHome::create()?,
            },
            EncryptionSpec::Recipients { recipients } => Mode::Recipients {
                fingerprints: resolve_recipients(recipients)?,
            },
        };
        Ok(Crypto { mode })
    }

    /// For decryption only: a passphrase if one is configured; the keyring is always consulted.
    pub fn for_decryption(spec: &EncryptionSpec) -> Result<Crypto, GpgError> {
        gpgme_ready();
        match spec {
            EncryptionSpec::Passphrase { .. } => Crypto::prepare(spec),
            _ => Ok(Crypto { mode: Mode::None }),
        }
    }

    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::None => "none",
            Mode::Passphrase { .. } => "passphrase",
            Mode::Recipients { .. } => "recipients",
        }
    }

    pub fn is_encrypting(&self) -> bool {
        !matches!(self.mode, Mode::None)
    }

    pub fn recipients(&self) -> Vec<String> {
        match &self.mode {
            Mode::Recipients { fingerprints } => fingerprints.clone(),
            _ => Vec::new(),
        }
    }

    fn home(&self) -> Option<&Path> {
        match &self.mode {
            Mode::Passphrase { home, .. } => Some(home.path()),
            _ => None,
        }
    }

    fn passphrase(&self) -> Option<&str> {
        match &self.mode {
            Mode::Passphrase { passphrase, .. } => Some(passphrase),
            _ => None,
        }
    }

    /// Encrypts everything read from `plaintext` into `ciphertext`, both OS pipes (or files),
    /// which gpg reads and writes itself (`gpg_run`). gpg's own compression is off: the stream
    /// is compressed already.
    pub fn encrypt<I: AsFd, O: AsFd>(&self, plaintext: &I, ciphertext: &O) -> Result<(), GpgError> {
        let operation = match &self.mode {
            Mode::None => return Err(GpgError::Encrypt("encryption is off".into())),
            Mode::Passphrase { .. } => Operation::Symmetric,
            Mode::Recipients { fingerprints } => Operation::Recipients(fingerprints),
        };
        gpg_run::run(
            operation,
            self.home(),
            self.passphrase(),
            plaintext.as_fd(),
            ciphertext.as_fd(),
        )
        .map_err(|f| GpgError::Encrypt(f.message))
    }

    /// Encrypts a small buffer (the preflight's and the key check's proof that the key works).
    pub fn encrypt_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>, GpgError> {
        through_pipes(plaintext, GpgError::Encrypt, |i, o| self.encrypt(i, o))
    }

    /// Decrypts a small buffer.
    pub fn decrypt_bytes(&self, object: &str, ciphertext: &[u8]) -> Result<Vec<u8>, GpgError> {
        let fail = |reason: String| GpgError::Decrypt {
            object: object.to_string(),
            reason,
        };
        through_pipes(ciphertext, fail, |i, o| self.decrypt(object, i, o))
    }

    /// Decrypts `ciphertext` into `plaintext` with the passphrase (if configured) or the keyring.
    pub fn decrypt<I: AsFd, O: AsFd>(
        &self,
        object: &str,
        ciphertext: &I,
        plaintext: &O,
    ) -> Result<(), GpgError> {
        gpg_run::run(
            Operation::Decrypt,
            self.home(),
            self.passphrase(),
            ciphertext.as_fd(),
            plaintext.as_fd(),
        )
        .map_err(|f| GpgError::Decrypt {
            object: object.to_string(),
            reason: describe_decrypt_failure(&f, self.passphrase().is_some()),
        })
    }
}

/// Runs a gpg operation over a small in-memory buffer through a pair of pipes.
fn through_pipes(
    input: &[u8],
    fail: impl Fn(String) -> GpgError,
    operation: impl FnOnce(&std::io::PipeReader, &std::io::PipeWriter) -> Result<(), GpgError>,
) -> Result<Vec<u8>, GpgError> {
    let (in_r, mut in_w) = std::io::pipe().map_err(|e| fail(e.to_string()))?;
    let (mut out_r, out_w) = std::io::pipe().map_err(|e| fail(e.to_string()))?;
    std::thread::scope(|scope| {
        let feeder = scope.spawn(move || in_w.write_all(input));
        let reader = scope.spawn(move || {
            let mut v = Vec::new();
            out_r.read_to_end(&mut v).map(|_| v)
        });
        let done = operation(&in_r, &out_w);
        drop(out_w);
        drop(in_r);
        let _ = feeder.join();
        let bytes = reader
            .join()
            .map_err(|_| fail("the reader thread panicked".into()))?
            .map_err(|e| fail(e.to_string()))?;
        done.map(|_| bytes)
    })
}

fn describe_decrypt_failure(f: &Failure, passphrase_mode: bool) -> String {
    if f.no_secret_key {
        "no secret key for it in the keyring (import the private key, or set GNUPGHOME to the keyring that holds it)".into()
    } else if passphrase_mode && f.decryption_failed {
        format!(
            "{} (wrong passphrase? check [encryption].passphrase_file)",
            f.message
        )
    } else {
        f.message.clone()
    }
}

fn resolve_recipients(recipients: &[String]) -> Result<Vec<String>, GpgError> {
    if recipients.is_empty() {
        return Err(GpgError::NoRecipients);
    }
    gpgme_ready();
    let fail = |recipient: &str, reason: String| GpgError::Recipient {
        recipient: recipient.to_string(),
        home: keyring_name(),
        reason,
    };
    let mut ctx = gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp)
        .map_err(|e| fail("(any)", e.to_string()))?;
    let mut fingerprints = Vec::new();
    for recipient in recipients {
        let keys: Vec<gpgme::Key> = ctx
            .find_keys([recipient.as_str()])
            .map_err(|e| fail(recipient, e.to_string()))?
            .filter_map(Result::ok)
            .filter(|k| k.can_encrypt() && !k.is_revoked() && !k.is_expired() && !k.is_disabled())
            .collect();
        match keys.as_slice() {
            [] => {
                return Err(fail(
                    recipient,
                    "not found, or expired, revoked or unable to encrypt".into(),
                ))
            }
            [key] => fingerprints.push(
                key.fingerprint()
                    .map_err(|_| fail(recipient, "the key has no fingerprint".into()))?
                    .to_string(),
            ),
            _ => {
                return Err(fail(
                    recipient,
                    format!("{} keys match; name the key by its fingerprint", keys.len()),
                ))
            }
        }
    }
    Ok(fingerprints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase_spec(dir: &Path, passphrase: &str) -> EncryptionSpec {
        let file = dir.join(format!("pass-{}", passphrase.len()));
        std::fs::write(&file, format!("{passphrase}\n")).unwrap();
        EncryptionSpec::Passphrase {
            passphrase_file: file,
        }
    }

    #[test]
    fn a_passphrase_round_trip_opens_with_plain_gpg() {
        let dir = tempfile::tempdir().unwrap();
        let spec = passphrase_spec(dir.path(), "right horse");
        let plaintext: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let ciphertext = Crypto::prepare(&spec)
            .unwrap()
            .encrypt_bytes(&plaintext)
            .unwrap();
        assert_ne!(ciphertext, plaintext);
        let back = Crypto::for_decryption(&spec)
            .unwrap()
            .decrypt_bytes("x.gpg", &ciphertext)
            .unwrap();
        assert_eq!(back, plaintext);

        // What an operator would type by hand, in a home of its own.
        let home = tempfile::tempdir().unwrap();
        let stored = dir.path().join("x.gpg");
        std::fs::write(&stored, &ciphertext).unwrap();
        let out = std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .arg("--passphrase-file")
            .arg(dir.path().join("pass-11"))
            .arg("--decrypt")
            .arg(&stored)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plaintext);
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(home.path())
            .args(["--kill", "all"])
            .status();
    }

    #[test]
    fn a_wrong_passphrase_names_the_object_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let ciphertext = Crypto::prepare(&passphrase_spec(dir.path(), "right horse"))
            .unwrap()
            .encrypt_bytes(b"secret rows")
            .unwrap();
        let err = Crypto::for_decryption(&passphrase_spec(dir.path(), "wrong"))
            .unwrap()
            .decrypt_bytes("db.dump.zst.gpg", &ciphertext)
            .unwrap_err()
            .to_string();
        assert!(err.contains("db.dump.zst.gpg"), "{err}");
        assert!(err.contains("wrong passphrase?"), "{err}");
        assert!(
            !err.contains("right horse") && !err.contains("wrong\n"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_refused_with_gpgs_reason() {
        let dir = tempfile::tempdir().unwrap();
        let crypto = Crypto::for_decryption(&passphrase_spec(dir.path(), "right horse")).unwrap();
        let err = crypto
            .decrypt_bytes("files.tar.zst.gpg", b"this is not an OpenPGP message")
            .unwrap_err()
            .to_string();
        assert!(err.contains("files.tar.zst.gpg"), "{err}");
        assert!(err.contains("gpg"), "{err}");

        // A flipped byte inside the encrypted data: the integrity check fails.
        let mut ciphertext = Crypto::prepare(&passphrase_spec(dir.path(), "right horse"))
            .unwrap()
            .encrypt_bytes(&[42u8; 10_000])
            .unwrap();
        let middle = ciphertext.len() / 2;
        ciphertext[middle] ^= 0x40;
        assert!(crypto.decrypt_bytes("db.dump.gpg", &ciphertext).is_err());

        // A literal packet that gpg --decrypt would print: not encrypted, so refused.
        let home = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::write(&plain, b"rows in the clear").unwrap();
        let out = std::process::Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--quiet", "--store", "--output", "-"])
            .arg(&plain)
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = crypto
            .decrypt_bytes("db.dump.gpg", &out.stdout)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an encrypted object"), "{err}");
    }
}
