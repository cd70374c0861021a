//! Reading a fetched object back: decrypt and verify it in one pass, and write the dump to
//! scratch.

use super::RestoreError;
use crate::jobs::fetch::Fetched;
use crate::jobs::readback;
use crate::jobs::verify::ObjectStatus;
use crate::storage::gpg::Crypto;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Decrypts a fetched component and hands its decompressed stream to `consume`, hashing the
/// stored bytes and the plaintext on the way: whatever `consume` made (a dump in scratch) may be
/// used only if this returns Ok. A local object is verified here and nowhere before. A failure
/// of `consume` is told as the object's problem, in its own words.
pub fn decrypt_with<T: Send, E: Display>(
    fetched: &Fetched,
    crypto: &Crypto,
    counter: Arc<AtomicU64>,
    consume: impl FnOnce(Box<dyn std::io::Read + '_>) -> Result<T, E> + Send,
) -> Result<T, RestoreError> {
    let object = fetched.component.object.clone();
    let file = std::fs::File::open(&fetched.path).map_err(|e| RestoreError::Unreadable {
        object: object.clone(),
        problem: e.to_string(),
    })?;
    let back = readback::read_back(file, &fetched.component, Some(crypto), counter, consume);
    if let Some((status, problem)) = back.mismatch(&fetched.component) {
        return Err(match status {
            ObjectStatus::DecryptFailed => RestoreError::Undecryptable { object, problem },
            ObjectStatus::SizeMismatch
            | ObjectStatus::HashMismatch
            | ObjectStatus::PlaintextMismatch => RestoreError::Damaged { object, problem },
            _ => RestoreError::Unreadable { object, problem },
        });
    }
    back.consumed.ok_or(RestoreError::Unreadable {
        object,
        problem: "not read".into(),
    })
}

/// Why the decrypted dump could not be written to scratch.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The scratch file could not be created or written.
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The decompressed stream broke off (its error says why).
    #[error("{0}")]
    Read(std::io::Error),
}

/// Bytes handed to the dump writer at a time.
const DUMP_CHUNK: usize = 1 << 20;

/// Writes the decompressed dump to `path`. A writer thread takes the chunks, so decompression
/// never waits for the write calls: on the drill's critical path that was ~0.3 s per GiB.
/// At most four chunks are in flight.
pub fn write_dump(mut from: impl std::io::Read, path: &Path) -> Result<u64, DumpError> {
    use std::io::{Read, Write};
    let named = |source: std::io::Error| DumpError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(path).map_err(named)?;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for chunk in full_rx {
                file.write_all(&chunk)?;
                let _ = empty_tx.send(chunk);
            }
            file.flush()
        });
        let mut total = 0u64;
        let read = loop {
            let mut chunk = empty_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(DUMP_CHUNK));
            chunk.clear();
            match (&mut from).take(DUMP_CHUNK as u64).read_to_end(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    total += n as u64;
                    // A closed channel means the writer failed: its error is the one to report.
                    if full_tx.send(chunk).is_err() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(DumpError::Read(e)),
            }
        };
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the dump writer panicked")));
        read?;
        written.map_err(named)?;
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_dump_whole_and_reports_either_sides_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.dump");
        let data: Vec<u8> = (0..3 * DUMP_CHUNK + 12_345)
            .map(|i| (i % 253) as u8)
            .collect();
        assert_eq!(write_dump(&data[..], &path).unwrap(), data.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(write_dump(&b""[..], &path).unwrap(), 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

        let missing = dir.path().join("no such folder").join("db.dump");
        let err = write_dump(&data[..], &missing).unwrap_err();
        assert!(matches!(err, DumpError::Write { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );

        struct Broken(usize);
        impl std::io::Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("decompression failed: corrupt block"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let err = write_dump(Broken(2 * DUMP_CHUNK + 7), &path).unwrap_err();
        assert_eq!(err.to_string(), "decompression failed: corrupt block");
    }
}
