//! Reading a stored component back: hash the bytes as stored; with keys, decrypt, hash the
//! plaintext, decompress, and hand the decompressed stream to a consumer (pg_restore --list,
//! a tar walk, a scratch file, an extraction). One pass; gpg and the consumer run on their own
//! threads, joined by OS pipes.

use super::verify::ObjectStatus;
use crate::storage::codec::{Codec, CodecKind};
use crate::storage::gpg::Crypto;
use crate::storage::gpg_run::data_pipe;
use crate::storage::hashing::{CountingReader, Digested, HashingReader};
use crate::storage::manifest::Component;
use std::io::{self, Read};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Debug)]
pub struct ReadBack<T> {
    pub stored: Option<Digested>,
    pub plaintext: Option<Digested>,
    pub failure: Option<(ObjectStatus, String)>,
    /// What the consumer returned, when it ran and succeeded.
    pub consumed: Option<T>,
}

impl<T> ReadBack<T> {
    pub fn failed(status: ObjectStatus, detail: String) -> Self {
        ReadBack {
            stored: None,
            plaintext: None,
            failure: Some((status, detail)),
            consumed: None,
        }
    }

    /// Compares both digests with the manifest: the first mismatch, if any. Damaged stored
    /// bytes come before what they caused (gpg refusing a flipped byte is a damaged object, not
    /// a key problem); a failed read comes first, since its digest covers only part.
    pub fn mismatch(&self, component: &Component) -> Option<(ObjectStatus, String)> {
        match &self.failure {
            Some(f) if f.0 == ObjectStatus::Unreadable || self.stored.is_none() => {
                return Some(f.clone())
            }
            _ => {}
        }
        match &self.stored {
            Some(s) if s.bytes != component.stored_bytes => {
                return Some((
                    ObjectStatus::SizeMismatch,
                    format!(
                        "{} bytes stored, manifest says {}",
                        s.bytes, component.stored_bytes
                    ),
                ))
            }
            Some(s) if s.sha256 != component.stored_sha256 => {
                return Some((
                    ObjectStatus::HashMismatch,
                    "its SHA-256 differs from the manifest (the object is corrupt or was swapped)"
                        .into(),
                ))
            }
            None => return Some((ObjectStatus::Unreadable, "not read".into())),
            _ => {}
        }
        if let Some(f) = &self.failure {
            return Some(f.clone());
        }
        match &self.plaintext {
            Some(p)
                if p.sha256 != component.plaintext_sha256
                    || p.bytes != component.plaintext_bytes =>
            {
                Some((
                    ObjectStatus::PlaintextMismatch,
                    "decrypted bytes differ from what was encrypted".into(),
                ))
            }
            _ => None,
        }
    }
}

/// Without `crypto` only the stored hash is computed (no keys needed) and `consume` is not run.
/// A failure of `consume` becomes the object's problem, in its own words.
pub fn read_back<R, T, E, F>(
    reader: R,
    component: &Component,
    crypto: Option<&Crypto>,
    counter: Arc<AtomicU64>,
    consume: F,
) -> ReadBack<T>
where
    R: Read + Send,
    T: Send,
    E: std::fmt::Display,
    F: FnOnce(Box<dyn Read + '_>) -> Result<T, E> + Send,
{
    let mut stored = HashingReader::new(CountingReader::new(reader, counter));
    let Some(crypto) = crypto else {
        let copied = io::copy(&mut stored, &mut io::sink());
        return ReadBack {
            failure: copied
                .err()
                .map(|e| (ObjectStatus::Unreadable, e.to_string())),
            stored: Some(stored.finish()),
            plaintext: None,
            consumed: None,
        };
    };
    let codec = Codec::from_name(&component.compression.codec).unwrap_or(CodecKind::None);
    let encrypted = component.encryption.mode != "none";
    let pipes = data_pipe().and_then(|a| data_pipe().map(|b| (a, b)));
    let ((cipher_r, mut cipher_w), (plain_r, plain_w)) = match pipes {
        Ok(p) => p,
        Err(e) => return ReadBack::failed(ObjectStatus::Unreadable, e.to_string()),
    };
    std::thread::scope(|scope| {
        // The consumer hashes the plaintext as it arrives, decompresses it for `consume`, then
        // drains whatever is left raw, so gpg never blocks and the hash covers every byte.
        let consumer = scope.spawn(move || {
            let mut hashed = HashingReader::new(plain_r);
            let result = match Codec::decoder(codec, &mut hashed) {
                Ok(mut decoded) => {
                    let r = consume(Box::new(&mut decoded)).map_err(|e| e.to_string());
                    let rest = io::copy(&mut decoded, &mut io::sink())
                        .map_err(|e| format!("decompression failed: {e}"));
                    r.and_then(|v| rest.map(|_| v))
                }
                Err(e) => Err(e.to_string()),
            };
            let _ = io::copy(&mut hashed, &mut io::sink());
            (result, hashed.finish())
        });
        let moved = if encrypted {
            // A pump feeds the stored bytes (hashed as they pass) to gpg through a pipe, which
            // gpg reads itself.
            let pump = scope.spawn(move || {
                let copied = io::copy(&mut stored, &mut cipher_w);
                drop(cipher_w);
                // Drain what gpg did not consume, so the stored hash covers every byte.
                let _ = io::copy(&mut stored, &mut io::sink());
                (copied, stored)
            });
            let decrypted = crypto
                .decrypt(&component.object, &cipher_r, &plain_w)
                .map_err(|e| (ObjectStatus::DecryptFailed, e.to_string()));
            drop(plain_w);
            drop(cipher_r);
            match pump.join() {
                Ok((copied, s)) => {
                    stored = s;
                    decrypted.and_then(|_| {
                        copied
                            .map(|_| ())
                            .map_err(|e| (ObjectStatus::Unreadable, e.to_string()))
                    })
                }
                Err(_) => {
                    return ReadBack::failed(
                        ObjectStatus::Unreadable,
                        "the reader thread panicked".into(),
                    )
                }
            }
        } else {
            drop(cipher_r);
            drop(cipher_w);
            let mut plain_w = plain_w;
            io::copy(&mut stored, &mut plain_w)
                .map(|_| ())
                .map_err(|e| (ObjectStatus::Unreadable, e.to_string()))
        };
        let (consumed, plaintext) = match consumer.join() {
            Ok(c) => c,
            Err(_) => {
                return ReadBack::failed(
                    ObjectStatus::Unreadable,
                    "the reader thread panicked".into(),
                )
            }
        };
        let (failure, consumed) = match (moved, consumed) {
            (Err(f), _) => (Some(f), None),
            (Ok(()), Err(e)) => (Some((ObjectStatus::ContentUnreadable, e)), None),
            (Ok(()), Ok(v)) => (None, Some(v)),
        };
        ReadBack {
            stored: Some(stored.finish()),
            plaintext: Some(plaintext),
            failure,
            consumed,
        }
    })
}
