//! Encryption with GnuPG through gpgme, streaming: plaintext is pulled from a reader and the
//! ciphertext pushed to a writer, nothing staged. Output opens with plain `gpg --decrypt`.
//!
//! Passphrase mode runs gpg in a private, short-lived GNUPGHOME whose `gpg.conf` pins AES256
//! (gpg 2.2 would pick AES128 for symmetric encryption) and disables the agent's passphrase
//! cache; the passphrase reaches gpg through gpgme's loopback pinentry, never argv or env.
//! Recipients mode uses the operator's own keyring and agent. The private home lives in
//! `gpg_home`.

use super::gpg_home::PrivateHome;
use std::io::{Read, Write};
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
    #[error("the passphrase file {0} is empty; put the passphrase on its first line")]
    EmptyPassphrase(PathBuf),
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
        token
    });
}

fn keyring_name() -> String {
    std::env::var("GNUPGHOME")
        .map(|h| format!(" at {h}"))
        .unwrap_or_default()
}

/// Reads a passphrase file the way `gpg --passphrase-file` does: the first line.
pub fn read_passphrase(path: &Path) -> Result<String, GpgError> {
    let text = std::fs::read_to_string(path).map_err(|source| GpgError::PassphraseFile {
        path: path.to_path_buf(),
        source,
    })?;
    let first = text.lines().next().unwrap_or_default().to_string();
    if first.is_empty() {
        return Err(GpgError::EmptyPassphrase(path.to_path_buf()));
    }
    Ok(first)
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

    fn context(&self) -> Result<gpgme::Context, gpgme::Error> {
        gpgme_ready();
        let mut ctx = gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp)?;
        if let Mode::Passphrase { home, .. } = &self.mode {
            ctx.set_engine_home_dir(home.path().to_string_lossy().as_bytes())?;
            ctx.set_pinentry_mode(gpgme::PinentryMode::Loopback)?;
        }
        Ok(ctx)
    }

    fn passphrase(&self) -> Option<&str> {
        match &self.mode {
            Mode::Passphrase { passphrase, .. } => Some(passphrase),
            _ => None,
        }
    }

    /// Encrypts everything read from `plaintext` into `ciphertext`, both OS pipes (or files):
    /// gpgme hands file descriptors to gpg as they are, where readers and writers behind
    /// callbacks would be relayed through gpgme's small buffers (about 1.6x slower measured).
    /// gpg's own compression is off: the stream is compressed already.
    pub fn encrypt<I, O>(&self, plaintext: &I, ciphertext: &O) -> Result<(), GpgError>
    where
        I: std::os::fd::AsRawFd,
        O: std::os::fd::AsRawFd,
    {
        let fail = |e: gpgme::Error| GpgError::Encrypt(e.to_string());
        let mut ctx = self.context().map_err(fail)?;
        let mut input = gpgme::Data::from_fd(plaintext).map_err(fail)?;
        let mut output = gpgme::Data::from_fd(ciphertext).map_err(fail)?;
        let flags = gpgme::EncryptFlags::NO_COMPRESS | gpgme::EncryptFlags::ALWAYS_TRUST;
        match &self.mode {
            Mode::None => Err(GpgError::Encrypt("encryption is off".into())),
            Mode::Passphrase { passphrase, .. } => ctx
                .with_passphrase_provider(provider(passphrase), |ctx| {
                    ctx.encrypt_symmetric_with_flags(&mut input, &mut output, flags)
                })
                .map_err(fail),
            Mode::Recipients { fingerprints } => {
                let keys = fingerprints
                    .iter()
                    .map(|f| ctx.get_key(f.as_str()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                let result = ctx
                    .encrypt_with_flags(&keys, &mut input, &mut output, flags)
                    .map_err(fail)?;
                if let Some(bad) = result.invalid_recipients().next() {
                    return Err(GpgError::Encrypt(format!(
                        "recipient {} was refused: {:?}",
                        bad.fingerprint().unwrap_or("?"),
                        bad.reason()
                    )));
                }
                Ok(())
            }
        }
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
    pub fn decrypt<I, O>(&self, object: &str, ciphertext: &I, plaintext: &O) -> Result<(), GpgError>
    where
        I: std::os::fd::AsRawFd,
        O: std::os::fd::AsRawFd,
    {
        let fail = |e: gpgme::Error| GpgError::Decrypt {
            object: object.to_string(),
            reason: describe_decrypt_error(&e, self.passphrase().is_some()),
        };
        let mut ctx = self.context().map_err(fail)?;
        let mut input = gpgme::Data::from_fd(ciphertext).map_err(fail)?;
        let mut output = gpgme::Data::from_fd(plaintext).map_err(fail)?;
        match self.passphrase() {
            Some(passphrase) => ctx
                .with_passphrase_provider(provider(passphrase), |ctx| {
                    ctx.decrypt(&mut input, &mut output)
                })
                .map(|_| ())
                .map_err(fail),
            None => ctx
                .decrypt(&mut input, &mut output)
                .map(|_| ())
                .map_err(fail),
        }
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

fn provider(
    passphrase: &str,
) -> impl FnMut(gpgme::PassphraseRequest<'_>, &mut dyn Write) -> gpgme::Result<()> + '_ {
    move |request: gpgme::PassphraseRequest<'_>, out: &mut dyn Write| {
        if request.prev_attempt_failed {
            return Err(gpgme::Error::BAD_PASSPHRASE);
        }
        out.write_all(passphrase.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

fn describe_decrypt_error(e: &gpgme::Error, passphrase_mode: bool) -> String {
    if e.code() == gpgme::Error::NO_SECKEY.code() {
        "no secret key for it in the keyring (import the private key, or set GNUPGHOME to the keyring that holds it)".into()
    } else if e.code() == gpgme::Error::BAD_PASSPHRASE.code()
        || (passphrase_mode && e.code() == gpgme::Error::DECRYPT_FAILED.code())
    {
        format!("{e} (wrong passphrase? check [encryption].passphrase_file)")
    } else {
        e.to_string()
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
