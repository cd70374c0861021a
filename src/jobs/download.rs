//! The other half of the bridge: an object streamed from a repository by an async task into a
//! bounded channel, read as a plain `std::io::Read` by a blocking consumer (gpg, pg_restore, tar).

use crate::storage::repository::{RepoError, Repository};
use bytes::Bytes;
use futures::StreamExt;
use std::io::{self, Read};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CHANNEL_CHUNKS: usize = 4;

pub struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Starts streaming `path`; the reader yields its bytes, then EOF, or an error naming it.
pub fn open(
    repo: &Repository,
    path: &str,
    cancel: CancellationToken,
) -> (
    ChannelReader,
    tokio::task::JoinHandle<Result<(), RepoError>>,
) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let repo = repo.clone();
    let path = path.to_string();
    let task = tokio::spawn(async move {
        let mut stream = match repo.stream(&path).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e.to_string())).await;
                return Err(e);
            }
        };
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancel.cancelled() => {
                    let _ = tx.send(Err("cancelled".into())).await;
                    return Ok(());
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return Ok(()); // the consumer stopped reading
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return Err(e);
                }
                None => return Ok(()),
            }
        }
    });
    (
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
        task,
    )
}
