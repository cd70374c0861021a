//! One component's streaming pass: source -> count -> compress -> hash (plaintext) -> encrypt
//! -> hash (stored) -> sink. The source is read once; gpg runs on its own thread, fed through
//! an OS pipe, so compression and encryption use both cores.

use super::upload::ChunkSink;
use crate::storage::codec::Codec;
use crate::storage::gpg::{Crypto, GpgError};
use crate::storage::gpg_run::data_pipe;
use crate::storage::hashing::{CountingWriter, Digested, HashingWriter};
use std::io::{self, BufWriter, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const PIPE_BUFFER_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigests {
    pub source_bytes: u64,
    pub plaintext: Digested,
    pub stored: Digested,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The producer failed (pg_dump, an unreadable file): the message names it.
    #[error("{0}")]
    Source(io::Error),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error("writing the stream failed: {0}")]
    Sink(io::Error),
}

/// Runs `produce` (which writes the source stream into the writer it is given) through the
/// codec and, when `crypto` encrypts, gpg, into `sink`. The sink is finished only on success.
pub fn run<F>(
    produce: F,
    codec: Codec,
    crypto: &Crypto,
    sink: ChunkSink,
    counter: Arc<AtomicU64>,
) -> Result<StreamDigests, PipelineError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    // `counter` is shared with the other components (the job's progress); this component's
    // own size is counted apart, or every manifest would record the running total.
    let own = Arc::new(AtomicU64::new(0));
    if !crypto.is_encrypting() {
        let hashed = HashingWriter::new(sink);
        let encoder = codec.encoder(hashed).map_err(PipelineError::Sink)?;
        let mut counted =
            CountingWriter::new(CountingWriter::new(encoder, counter.clone()), own.clone());
        produce(&mut counted).map_err(PipelineError::Source)?;
        let hashed = counted
            .into_inner()
            .into_inner()
            .finish()
            .map_err(PipelineError::Sink)?;
        let (sink, digest) = hashed.finish();
        sink.finish().map_err(PipelineError::Sink)?;
        return Ok(StreamDigests {
            source_bytes: own.load(std::sync::atomic::Ordering::Relaxed),
            plaintext: digest.clone(),
            stored: digest,
        });
    }

    let (plain_r, plain_w) = data_pipe().map_err(PipelineError::Sink)?;
    let (mut cipher_r, cipher_w) = data_pipe().map_err(PipelineError::Sink)?;
    std::thread::scope(|scope| {
        // gpg reads the plaintext pipe and writes the ciphertext pipe; its ends close when it
        // is done, so each side sees EOF (or a broken pipe when the other side failed).
        let encryptor = scope.spawn(move || {
            let result = crypto.encrypt(&plain_r, &cipher_w);
            drop(cipher_w);
            drop(plain_r);
            result
        });
        let collector = scope.spawn(move || {
            let mut stored = HashingWriter::new(sink);
            let copied = io::copy(&mut cipher_r, &mut stored);
            (copied, stored)
        });
        let produced = (|| -> Result<Digested, PipelineError> {
            let plain = HashingWriter::new(BufWriter::with_capacity(PIPE_BUFFER_BYTES, plain_w));
            let encoder = codec.encoder(plain).map_err(PipelineError::Sink)?;
            let mut counted =
                CountingWriter::new(CountingWriter::new(encoder, counter.clone()), own.clone());
            produce(&mut counted).map_err(PipelineError::Source)?;
            let plain = counted
                .into_inner()
                .into_inner()
                .finish()
                .map_err(PipelineError::Sink)?;
            let (mut buffered, digest) = plain.finish();
            buffered.flush().map_err(PipelineError::Sink)?;
            Ok(digest)
            // The pipe's write end drops here: gpg sees the end of the plaintext.
        })();
        let encrypted = encryptor
            .join()
            .map_err(|_| PipelineError::Sink(io::Error::other("the gpg thread panicked")))?;
        let (copied, stored) = collector
            .join()
            .map_err(|_| PipelineError::Sink(io::Error::other("the upload thread panicked")))?;
        let plaintext = produced?;
        encrypted?;
        copied.map_err(PipelineError::Sink)?;
        let (sink, stored) = stored.finish();
        sink.finish().map_err(PipelineError::Sink)?;
        Ok(StreamDigests {
            source_bytes: own.load(std::sync::atomic::Ordering::Relaxed),
            plaintext,
            stored,
        })
    })
}
