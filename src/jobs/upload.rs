//! The bridge between a blocking pipeline thread and the async repository writers. The pipeline
//! writes into a `ChunkSink` (a bounded channel of 1 MiB chunks, so memory stays bounded); an
//! `Uploader` task writes every chunk to the repository and, for a remote repository, to the
//! local spool as well. If the remote write fails, the spool copy carries on to completion so
//! nothing is lost. A sink dropped without `finish` aborts every writer: a stream that did not
//! end cleanly never becomes an object.

use crate::storage::repository::{RepoError, Repository};
use bytes::Bytes;
use std::io::{self, Write};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const CHUNK_BYTES: usize = 1024 * 1024;
const CHANNEL_CHUNKS: usize = 4;

enum Message {
    Chunk(Bytes),
    End,
}

pub struct ChunkSink {
    tx: mpsc::Sender<Message>,
    buf: Vec<u8>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped")
}

impl ChunkSink {
    fn push(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx
            .blocking_send(Message::Chunk(Bytes::from(chunk)))
            .map_err(|_| closed())
    }

    /// Marks the stream complete; only then are the objects committed.
    pub fn finish(mut self) -> io::Result<()> {
        self.push()?;
        self.tx.blocking_send(Message::End).map_err(|_| closed())
    }
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_BYTES - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_BYTES {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What happened to one object's writes.
#[derive(Debug)]
pub struct UploadReport {
    pub path: String,
    /// `Ok` when the object is committed in the primary repository.
    pub primary: Result<(), RepoError>,
    /// `Some(Ok)` when a complete spool copy exists.
    pub spool: Option<Result<(), RepoError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the stream for `{0}` ended without finishing; nothing was committed")]
    Aborted(String),
    #[error("cancelled while writing `{0}`")]
    Cancelled(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

struct Target {
    repo: Repository,
    writer: Option<opendal::Writer>,
    failure: Option<RepoError>,
}

impl Target {
    async fn open(repo: &Repository, path: &str) -> Target {
        match repo.writer(path).await {
            Ok(w) => Target {
                repo: repo.clone(),
                writer: Some(w),
                failure: None,
            },
            Err(e) => Target {
                repo: repo.clone(),
                writer: None,
                failure: Some(e),
            },
        }
    }

    async fn write(&mut self, path: &str, chunk: Bytes) {
        if let Some(w) = self.writer.as_mut() {
            if let Err(source) = w.write(chunk).await {
                self.fail(path, "write", source).await;
            }
        }
    }

    async fn fail(&mut self, path: &str, action: &'static str, source: opendal::Error) {
        if let Some(mut w) = self.writer.take() {
            let _ = w.abort().await;
        }
        self.failure = Some(self.repo.storage_error(action, path, source));
    }

    async fn close(mut self, path: &str) -> Result<(), RepoError> {
        if let Some(mut w) = self.writer.take() {
            if let Err(source) = w.close().await {
                // Still holds a temporary file (local) or an open multipart upload (S3).
                let _ = w.abort().await;
                self.fail(path, "finish writing", source).await;
            }
        }
        match self.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn abort(mut self) {
        if let Some(mut w) = self.writer.take() {
            let _ = w.abort().await;
        }
    }

    fn healthy(&self) -> bool {
        self.writer.is_some()
    }
}

/// Starts writing `path` into `primary` (and `spool`, if given). Returns the sink for the
/// pipeline and the task that reports what was committed.
pub fn start(
    primary: Repository,
    spool: Option<Repository>,
    path: String,
    cancel: CancellationToken,
) -> (
    ChunkSink,
    tokio::task::JoinHandle<Result<UploadReport, UploadError>>,
) {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
    let sink = ChunkSink {
        tx,
        buf: Vec::with_capacity(CHUNK_BYTES),
    };
    let task = tokio::spawn(async move {
        let mut main = Target::open(&primary, &path).await;
        let mut copy = match &spool {
            Some(s) => Some(Target::open(s, &path).await),
            None => None,
        };
        let spool_ok = |copy: &Option<Target>| copy.as_ref().is_some_and(Target::healthy);
        if !main.healthy() && !spool_ok(&copy) {
            if let Some(c) = copy {
                c.abort().await;
            }
            return Err(main
                .failure
                .take()
                .map(UploadError::Repo)
                .unwrap_or(UploadError::Aborted(path)));
        }
        loop {
            let message = tokio::select! {
                m = rx.recv() => m,
                _ = cancel.cancelled() => {
                    main.abort().await;
                    if let Some(c) = copy { c.abort().await; }
                    return Err(UploadError::Cancelled(path));
                }
            };
            match message {
                Some(Message::Chunk(chunk)) => {
                    if let Some(c) = copy.as_mut() {
                        c.write(&path, chunk.clone()).await;
                    }
                    main.write(&path, chunk).await;
                    if !main.healthy() && !spool_ok(&copy) {
                        // Neither copy can complete: stop the pipeline now.
                        if let Some(c) = copy {
                            c.abort().await;
                        }
                        return Err(main
                            .failure
                            .take()
                            .map(UploadError::Repo)
                            .unwrap_or(UploadError::Aborted(path)));
                    }
                }
                Some(Message::End) => {
                    let primary = main.close(&path).await;
                    let spool = match copy {
                        Some(c) => Some(c.close(&path).await),
                        None => None,
                    };
                    return Ok(UploadReport {
                        path,
                        primary,
                        spool,
                    });
                }
                None => {
                    main.abort().await;
                    if let Some(c) = copy {
                        c.abort().await;
                    }
                    return Err(UploadError::Aborted(path));
                }
            }
        }
    });
    (sink, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fault::Faults;
    use crate::storage::repository::{RepositorySpec, LOCAL_TMP_DIR};
    use std::sync::Arc;

    /// A close that fails is aborted: no temporary file (or open multipart upload) is left.
    #[tokio::test]
    async fn a_failed_close_is_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RepositorySpec::new(dir.path().to_string_lossy());
        // Call 1 writes the one chunk, call 2 closes.
        let faults = Arc::new(Faults::new(Some(2), None).unwrap());
        let repo = Repository::open_with(&spec, Some(faults)).unwrap();
        let (sink, task) = start(repo, None, "sets/a/x".into(), CancellationToken::new());
        tokio::task::spawn_blocking(move || {
            let mut sink = sink;
            sink.write_all(b"hello")?;
            sink.finish()
        })
        .await
        .unwrap()
        .unwrap();
        let report = task.await.unwrap().unwrap();
        let err = report.primary.unwrap_err();
        assert!(err.to_string().contains("finish writing"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join(LOCAL_TMP_DIR))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left {left:?}");
    }
}
