//! What the keyring knows about a configured recipient: is the key there, can it encrypt,
//! when does it stop encrypting (the primary key's expiry, or the last usable encryption
//! subkey's), and is its secret half on this host. And a round trip through the configured
//! encryption: what today's backups are encrypted with must decrypt with the keys at hand.

use super::gpg::{gpgme_ready, Crypto, EncryptionSpec, GpgError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::SystemTime;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecipientKey {
    /// As configured in `[encryption].recipients`.
    pub recipient: String,
    pub fingerprint: Option<String>,
    pub user_id: Option<String>,
    /// Why it cannot be used to encrypt; None when it can.
    pub problem: Option<String>,
    /// When it stops encrypting; None when it never expires (or is unusable).
    pub expires: Option<DateTime<Utc>>,
    /// The secret half of a usable encryption subkey is in this keyring.
    pub has_secret: bool,
}

fn time(t: Option<SystemTime>) -> Option<DateTime<Utc>> {
    t.map(DateTime::<Utc>::from)
}

/// Looks a recipient up in the keyring (`GNUPGHOME` or the default one).
pub fn inspect(recipient: &str) -> RecipientKey {
    gpgme_ready();
    let mut out = RecipientKey {
        recipient: recipient.to_string(),
        fingerprint: None,
        user_id: None,
        problem: None,
        expires: None,
        has_secret: false,
    };
    let mut ctx = match gpgme::Context::from_protocol(gpgme::Protocol::OpenPgp) {
        Ok(c) => c,
        Err(e) => {
            out.problem = Some(format!("cannot open the gpg keyring: {e}"));
            return out;
        }
    };
    let keys: Vec<gpgme::Key> = match ctx.find_keys([recipient]) {
        Ok(found) => found.filter_map(Result::ok).collect(),
        Err(e) => {
            out.problem = Some(format!("cannot search the keyring: {e}"));
            return out;
        }
    };
    let key = match keys.as_slice() {
        [] => {
            out.problem = Some("no such key in the keyring".into());
            return out;
        }
        [key] => key,
        many => {
            out.problem = Some(format!(
                "{} keys match; name the key by its fingerprint",
                many.len()
            ));
            return out;
        }
    };
    out.fingerprint = key.fingerprint().ok().map(str::to_string);
    out.user_id = key
        .user_ids()
        .next()
        .and_then(|u| u.id().ok().map(str::to_string));
    let usable = |s: &gpgme::Subkey<'_>| {
        s.can_encrypt() && !s.is_revoked() && !s.is_expired() && !s.is_disabled() && !s.is_invalid()
    };
    out.problem = if key.is_revoked() {
        Some("the key is revoked".into())
    } else if key.is_expired() {
        Some(format!(
            "the key expired{}",
            time(key.primary_key().and_then(|p| p.expiration_time()))
                .map(|t| format!(" on {}", t.format("%Y-%m-%d")))
                .unwrap_or_default()
        ))
    } else if key.is_disabled() || key.is_invalid() {
        Some("the key is disabled or invalid".into())
    } else if !key.subkeys().any(|s| usable(&s)) {
        Some(
            "no usable encryption subkey (expired or revoked): add one with gpg --quick-add-key"
                .into(),
        )
    } else {
        None
    };
    if out.problem.is_some() {
        return out;
    }
    // Encryption stops when the primary key expires, or when the last usable encryption
    // subkey does, whichever comes first.
    let primary = key.primary_key().and_then(|p| p.expiration_time());
    let subkeys: Vec<Option<SystemTime>> = key
        .subkeys()
        .filter(|s| usable(s))
        .map(|s| s.expiration_time())
        .collect();
    let last_subkey = if subkeys.iter().any(Option::is_none) {
        None
    } else {
        subkeys.into_iter().flatten().max()
    };
    out.expires = time(match (primary, last_subkey) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    });
    if let Some(fpr) = out.fingerprint.clone() {
        out.has_secret = ctx
            .find_secret_keys([fpr.as_str()])
            .map(|found| {
                found
                    .filter_map(Result::ok)
                    .any(|k| k.subkeys().any(|s| s.is_secret() && s.can_encrypt()))
            })
            .unwrap_or(false);
    }
    out
}

/// Encrypts a short test envelope with the configured encryption and decrypts it again with
/// the keys available here; Ok only when the plaintext comes back unchanged.
pub fn round_trip(spec: &EncryptionSpec) -> Result<(), GpgError> {
    let plaintext = format!("lifeboat key check {}\n", Utc::now().to_rfc3339()).into_bytes();
    let ciphertext = Crypto::prepare(spec)?.encrypt_bytes(&plaintext)?;
    let back =
        Crypto::for_decryption(spec)?.decrypt_bytes("the key-check envelope", &ciphertext)?;
    if back == plaintext {
        Ok(())
    } else {
        Err(GpgError::Decrypt {
            object: "the key-check envelope".into(),
            reason: "decrypted to something else".into(),
        })
    }
}

/// Encrypts only (a host with the public keys alone can still prove its backups encrypt).
pub fn encrypts(spec: &EncryptionSpec) -> Result<(), GpgError> {
    Crypto::prepare(spec)?
        .encrypt_bytes(b"lifeboat")
        .map(|_| ())
}
