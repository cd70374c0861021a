//! A repository: a local directory or an S3-compatible bucket + prefix, both through OpenDAL so
//! every backend shares one code path. Local writes land under a temporary name, are fsynced and
//! renamed (OpenDAL's atomic write); the process umask keeps them 0600.
//! With `LIFEBOAT_FAULT_INJECT` or `LIFEBOAT_FAULT_LOG` set (tests only), every storage call,
//! the local fast paths included, is counted and one can be made to fail (see `fault`).

use super::fault::{FaultLayer, Faults};
use super::units;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::Operator;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The temporary folder OpenDAL writes into before renaming, inside a local repository.
pub const LOCAL_TMP_DIR: &str = ".tmp/";
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// `[repository].timeout` when it is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Retries after the first attempt of a failed call (all within `timeout`).
const RETRIES: usize = 3;
/// Keys asked for per listing page. AWS, R2 and MinIO give at most 1,000 whatever is asked;
/// servers that give more (s3s-fs walks its whole bucket for every page) then answer a
/// 40,000-object listing in one request instead of forty.
pub const LIST_PAGE_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySpec {
    /// `file:///path`, a plain absolute path, or `s3://bucket/prefix`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    /// Give up on one storage call after this long, its retries included: a stat, a listing
    /// page, a read chunk, an uploaded part, a close.
    pub timeout: Duration,
    /// The setting `timeout` came from, named when a call times out.
    pub timeout_setting: &'static str,
}

/// What tells two repositories apart: the URL, and for S3 the endpoint too (two servers can
/// each have a bucket and prefix of the same name).
fn identity_of(url: &str, endpoint: Option<&str>) -> String {
    match (url.starts_with("s3://"), endpoint) {
        (true, Some(endpoint)) => format!("{url} at {endpoint}"),
        _ => url.to_string(),
    }
}

impl RepositorySpec {
    /// See [`Repository::identity`].
    pub fn identity(&self) -> String {
        identity_of(&self.url, self.endpoint.as_deref())
    }

    /// The S3 region: the setting, else `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub fn s3_region(&self) -> String {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into())
    }

    /// AWS wants virtual-host style; most self-hosted servers want path style.
    pub fn s3_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }

    pub fn new(url: impl Into<String>) -> Self {
        RepositorySpec {
            url: url.into(),
            endpoint: None,
            region: None,
            path_style: None,
            timeout: DEFAULT_TIMEOUT,
            timeout_setting: "[repository].timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("repository URL `{url}` is not understood: {reason} (use file:///absolute/path or s3://bucket/prefix)")]
    BadUrl { url: String, reason: String },
    #[error("repository {url}: cannot {action} `{path}`: {source}")]
    Storage {
        url: String,
        action: &'static str,
        path: String,
        source: Box<opendal::Error>,
    },
    #[error("repository {url}: `{path}` is {size} bytes, more than the {max} expected; it is not a lifeboat object")]
    TooLarge {
        url: String,
        path: String,
        size: u64,
        max: u64,
    },
    #[error("repository {url} at {endpoint}: cannot {action} `{path}`: no answer within {}s, retries included; check that the server is up and reachable, or raise {setting} (now \"{}s\")", timeout.as_secs_f64(), timeout.as_secs_f64())]
    TimedOut {
        url: String,
        endpoint: String,
        action: &'static str,
        path: String,
        timeout: Duration,
        setting: &'static str,
    },
    #[error("{0}")]
    FaultInjection(String),
}

impl RepoError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RepoError::Storage { source, .. } if source.kind() == opendal::ErrorKind::NotFound)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Path relative to the repository root, e.g. `sets/<id>/db.dump.zst`.
    pub path: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Repository {
    op: Operator,
    url: String,
    /// Where the calls go, for messages: the S3 endpoint, or the local path.
    endpoint: String,
    identity: String,
    timeout: Duration,
    timeout_setting: &'static str,
    location: Location,
    /// Storage fault injection (tests only, see `fault`); `None` in every normal run.
    faults: Option<Arc<Faults>>,
}

pub fn parse_location(url: &str) -> Result<Location, RepoError> {
    let bad = |reason: &str| RepoError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("the bucket name is missing"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(bad("the prefix may not contain `.` or `..`"));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if url.contains("://") && !url.starts_with("file://") {
        return Err(bad("only file:// and s3:// repositories are supported"));
    }
    if !path.starts_with('/') {
        return Err(bad("a local repository needs an absolute path"));
    }
    Ok(Location::Local(PathBuf::from(path)))
}

impl Repository {
    pub fn open(spec: &RepositorySpec) -> Result<Repository, RepoError> {
        let faults = Faults::from_env().map_err(RepoError::FaultInjection)?;
        Repository::open_with(spec, faults)
    }

    /// [`Repository::open`] with the fault injection given rather than read from the
    /// environment (unit tests).
    pub fn open_with(
        spec: &RepositorySpec,
        faults: Option<Arc<Faults>>,
    ) -> Result<Repository, RepoError> {
        let location = parse_location(&spec.url)?;
        let build_err = |source: opendal::Error| RepoError::Storage {
            url: spec.url.clone(),
            action: "open",
            path: String::new(),
            source: Box::new(source),
        };
        let op = match &location {
            Location::Local(path) => {
                std::fs::create_dir_all(path).map_err(|e| RepoError::BadUrl {
                    url: spec.url.clone(),
                    reason: format!("cannot create {}: {e}", path.display()),
                })?;
                let root = path.to_string_lossy();
                let tmp = path.join(LOCAL_TMP_DIR.trim_end_matches('/'));
                let builder = opendal::services::Fs::default()
                    .root(&root)
                    .atomic_write_dir(&tmp.to_string_lossy());
                Operator::new(builder).map_err(build_err)?
            }
            Location::S3 { bucket, prefix } => {
                let mut builder = opendal::services::S3::default()
                    .bucket(bucket)
                    .root(&format!("/{prefix}"));
                builder = builder.region(&spec.s3_region());
                if let Some(endpoint) = &spec.endpoint {
                    builder = builder.endpoint(endpoint);
                }
                if !spec.s3_path_style() {
                    builder = builder.enable_virtual_host_style();
                }
                Operator::new(builder).map_err(build_err)?
            }
        };
        // The timeout layer sits outside the retry layer, so `timeout` bounds a call together
        // with its retries; OpenDAL's "io" operations (list pages, reads, writes, closes) are
        // calls too, bounded the same.
        let op = op
            .layer(
                RetryLayer::new()
                    .with_max_times(RETRIES)
                    .with_min_delay(Duration::from_millis(200))
                    .with_jitter()
                    .with_notify(LogRetry {
                        url: spec.url.clone(),
                    }),
            )
            .layer(
                TimeoutLayer::new()
                    .with_timeout(spec.timeout)
                    .with_io_timeout(spec.timeout),
            );
        // Outside the retry layer: an injected fault is one failed call, never retried away.
        let op = match &faults {
            Some(f) => op.layer(FaultLayer::new(f.clone(), &spec.url)),
            None => op,
        };
        let endpoint = match &location {
            Location::Local(path) => path.display().to_string(),
            Location::S3 { .. } => spec
                .endpoint
                .clone()
                .unwrap_or_else(|| "AWS S3 (no [repository].endpoint)".into()),
        };
        Ok(Repository {
            op,
            url: spec.url.clone(),
            endpoint,
            identity: spec.identity(),
            timeout: spec.timeout,
            timeout_setting: spec.timeout_setting,
            location,
            faults,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL, and for S3 with a configured endpoint the endpoint too: what keys host-local
    /// state about this repository (the spool).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn is_local(&self) -> bool {
        matches!(self.location, Location::Local(_))
    }

    /// The OpenDAL operator, for the conditional writes of the repository lock
    /// (`lock::remote`), which the plain calls here do not offer.
    pub(crate) fn operator(&self) -> &Operator {
        &self.op
    }

    /// Counts a call that bypasses OpenDAL (and so the fault layer) as one storage call.
    fn fast_path_call(&self, action: &'static str, path: &str) -> Result<(), RepoError> {
        match &self.faults {
            Some(f) => f
                .call(action, &self.url, path)
                .map_err(self.err(action, path)),
            None => Ok(()),
        }
    }

    fn err(&self, action: &'static str, path: &str) -> impl FnOnce(opendal::Error) -> RepoError {
        let this = self.clone();
        let path = path.to_string();
        move |source| this.storage_error(action, &path, source)
    }

    /// The error for a failed call on `path`: a timeout names the endpoint and the setting.
    pub fn storage_error(
        &self,
        action: &'static str,
        path: &str,
        source: opendal::Error,
    ) -> RepoError {
        if is_timeout(&source) {
            return RepoError::TimedOut {
                url: self.url.clone(),
                endpoint: self.endpoint.clone(),
                action,
                path: path.to_string(),
                timeout: self.timeout,
                setting: self.timeout_setting,
            };
        }
        RepoError::Storage {
            url: self.url.clone(),
            action,
            path: path.to_string(),
            source: Box::new(source),
        }
    }

    /// A streaming writer; big objects go up as S3 multipart uploads of `chunk` bytes.
    pub async fn writer(&self, path: &str) -> Result<opendal::Writer, RepoError> {
        let writer = self.op.writer_with(path);
        let writer = match self.location {
            // A local file takes each chunk as it comes: buffering would only cost memory.
            Location::Local(_) => writer.await,
            // S3 parts must be at least 5 MiB; two in flight keep the link busy.
            Location::S3 { .. } => writer.chunk(S3_PART_BYTES).concurrent(2).await,
        };
        writer.map_err(self.err("write", path))
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<(), RepoError> {
        let mut writer = self
            .op
            .writer(path)
            .await
            .map_err(self.err("write", path))?;
        let written = match writer.write(bytes).await {
            Ok(()) => writer.close().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // `Operator::write` leaves a failed writer as it is: a local temporary file under
            // `.tmp/` that nothing would ever remove, or an open multipart upload.
            let _ = writer.abort().await;
            return Err(self.err("write", path)(e));
        }
        Ok(())
    }

    /// Reads a small object whole (manifests, checksum files), refusing anything over `max`.
    pub async fn get_small(&self, path: &str, max: u64) -> Result<Vec<u8>, RepoError> {
        if let Location::Local(root) = &self.location {
            self.fast_path_call("read", path)?;
            // One blocking task instead of OpenDAL's three (stat, open, read): a listing reads
            // every set's manifest.
            let file = root.join(path);
            let read =
                tokio::task::spawn_blocking(move || -> std::io::Result<Result<Vec<u8>, u64>> {
                    use std::io::Read;
                    let mut f = std::fs::File::open(&file)?;
                    let size = f.metadata()?.len();
                    if size > max {
                        return Ok(Err(size));
                    }
                    let mut bytes = Vec::with_capacity(size as usize);
                    f.read_to_end(&mut bytes)?;
                    Ok(Ok(bytes))
                })
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            return match read {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(size)) => Err(RepoError::TooLarge {
                    url: self.url.clone(),
                    path: path.to_string(),
                    size,
                    max,
                }),
                Err(e) => Err(self.err("read", path)(io_to_opendal(&e))),
            };
        }
        let size = self.stat(path).await?.size;
        if size > max {
            return Err(RepoError::TooLarge {
                url: self.url.clone(),
                path: path.to_string(),
                size,
                max,
            });
        }
        // Read exactly the stated size: an open-ended read makes the fs service zero a 2 MiB
        // buffer per call (twice per object), which dominated listing 10,000 manifests.
        let buffer = self
            .op
            .read_with(path)
            .range(0..size)
            .await
            .map_err(self.err("read", path))?;
        Ok(buffer.to_vec())
    }

    /// Streams an object in chunks.
    pub async fn stream(
        &self,
        path: &str,
    ) -> Result<impl futures::Stream<Item = Result<Bytes, RepoError>> + use<>, RepoError> {
        // S3 wants big ranged reads, two in flight, for throughput; a local file reads as fast in
        // 1 MiB pieces, and every byte in flight is resident memory (verify reads several
        // objects at once: 4 MiB pieces took its peak RSS past 64 MiB at 4 GiB of data).
        let chunk = if self.is_local() {
            1024 * 1024
        } else {
            4 * 1024 * 1024
        };
        let reader = self
            .op
            .reader_with(path)
            .chunk(chunk)
            .concurrent(2)
            .await
            .map_err(self.err("read", path))?;
        let stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(self.err("read", path))?;
        let this = self.clone();
        let path = path.to_string();
        Ok(stream.map_err(move |e| {
            // The stream gives `std::io::Error`s that wrap OpenDAL's.
            let source = match e
                .into_inner()
                .map(|inner| inner.downcast::<opendal::Error>())
            {
                Some(Ok(inner)) => *inner,
                Some(Err(other)) => {
                    opendal::Error::new(opendal::ErrorKind::Unexpected, other.to_string())
                }
                None => opendal::Error::new(opendal::ErrorKind::Unexpected, "read failed"),
            };
            this.storage_error("read", &path, source)
        }))
    }

    pub async fn stat(&self, path: &str) -> Result<ObjectInfo, RepoError> {
        let meta = self.op.stat(path).await.map_err(self.err("stat", path))?;
        Ok(ObjectInfo {
            path: path.to_string(),
            size: meta.content_length(),
            modified: meta
                .last_modified()
                .map(|t| std::time::SystemTime::from(t).into()),
        })
    }

    pub async fn exists(&self, path: &str) -> Result<bool, RepoError> {
        match self.stat(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object under `dir` (recursive). Any failed page fails the whole listing: callers
    /// must never act on a partial view.
    pub async fn list(&self, dir: &str) -> Result<Vec<ObjectInfo>, RepoError> {
        if let Location::Local(root) = &self.location {
            self.fast_path_call("list", dir)?;
            // One blocking walk: OpenDAL's fs lister runs a blocking task per entry (its
            // metadata), which made listing 100,000 local objects take seconds.
            let (root, under) = (root.clone(), dir.to_string());
            let walked = tokio::task::spawn_blocking(move || list_local(&root, &under))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            let mut out = walked.map_err(|e| self.err("list", dir)(io_to_opendal(&e)))?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(out);
        }
        let mut lister = self
            .op
            .lister_with(dir)
            .recursive(true)
            .limit(LIST_PAGE_KEYS)
            .await
            .map_err(self.err("list", dir))?;
        let mut out = Vec::new();
        while let Some(entry) = lister.try_next().await.map_err(self.err("list", dir))? {
            let meta = entry.metadata();
            if meta.is_dir() || entry.path().starts_with(LOCAL_TMP_DIR) {
                continue;
            }
            out.push(ObjectInfo {
                path: entry.path().to_string(),
                size: meta.content_length(),
                modified: meta
                    .last_modified()
                    .map(|t| std::time::SystemTime::from(t).into()),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The names of the folders directly under `dir` (`sets/` gives set ids), without listing
    /// what they hold: one directory read, or one delimited listing on S3. A missing `dir` has
    /// none.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>, RepoError> {
        self.list_dirs_after(dir, None).await
    }

    /// [`Repository::list_dirs`], only the folders whose names sort after `after` (S3
    /// `start-after`): with time-sorted set ids, the sets newer than a known one, in one request
    /// however many sets the repository holds.
    pub async fn list_dirs_after(
        &self,
        dir: &str,
        after: Option<&str>,
    ) -> Result<Vec<String>, RepoError> {
        self.list_dirs_between(dir, after, None).await
    }

    /// [`Repository::list_dirs_after`], only up to `upto` (inclusive): every name between two
    /// others starts with what they have in common, so the listing asks for that prefix alone
    /// (with time-sorted set ids and `upto` = now, the folders of the last hour or day, not
    /// all of them: s3s-fs reads every folder under the prefix for each listing).
    pub async fn list_dirs_between(
        &self,
        dir: &str,
        after: Option<&str>,
        upto: Option<&str>,
    ) -> Result<Vec<String>, RepoError> {
        let common = match (after, upto) {
            (Some(a), Some(b)) => a
                .chars()
                .zip(b.chars())
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x)
                .collect::<String>(),
            _ => String::new(),
        };
        let mut names = if let Location::Local(root) = &self.location {
            let folder = root.join(dir.trim_start_matches('/'));
            let read = tokio::task::spawn_blocking(move || list_local_dirs(&folder))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            read.map_err(|e| self.err("list", dir)(io_to_opendal(&e)))?
        } else {
            let under = format!("{dir}{common}");
            let mut listing = self.op.lister_with(&under).limit(LIST_PAGE_KEYS);
            if let Some(after) = after {
                listing = listing.start_after(&format!("{dir}{after}/"));
            }
            let mut lister = listing.await.map_err(self.err("list", dir))?;
            let mut names = Vec::new();
            while let Some(entry) = lister.try_next().await.map_err(self.err("list", dir))? {
                let name = entry.path().strip_prefix(dir).unwrap_or(entry.path());
                if let Some(name) = name.strip_suffix('/').filter(|n| !n.is_empty()) {
                    if entry.metadata().is_dir() {
                        names.push(name.to_string());
                    }
                }
            }
            names
        };
        if let Some(after) = after {
            names.retain(|n| n.as_str() > after);
        }
        if let Some(upto) = upto {
            names.retain(|n| n.as_str() <= upto && n.starts_with(&common));
        }
        names.sort();
        Ok(names)
    }

    /// The objects directly in `dir` (a set folder), not below it: one directory read, or one
    /// delimited listing on S3, which a server answers from that folder alone.
    pub async fn list_flat(&self, dir: &str) -> Result<Vec<ObjectInfo>, RepoError> {
        if let Location::Local(root) = &self.location {
            self.fast_path_call("list", dir)?;
            let (root, under) = (root.clone(), dir.to_string());
            let walked = tokio::task::spawn_blocking(move || list_local_flat(&root, &under))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            let mut out = walked.map_err(|e| self.err("list", dir)(io_to_opendal(&e)))?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            return Ok(out);
        }
        let mut lister = self
            .op
            .lister_with(dir)
            .limit(LIST_PAGE_KEYS)
            .await
            .map_err(self.err("list", dir))?;
        let mut out = Vec::new();
        while let Some(entry) = lister.try_next().await.map_err(self.err("list", dir))? {
            let meta = entry.metadata();
            if meta.is_dir() {
                continue;
            }
            out.push(ObjectInfo {
                path: entry.path().to_string(),
                size: meta.content_length(),
                modified: meta
                    .last_modified()
                    .map(|t| std::time::SystemTime::from(t).into()),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// [`Repository::get_small`] of an object whose size a listing gave: one request on S3
    /// (a ranged GET of exactly `size` bytes, no stat first), what a cold load of 10,000
    /// manifests pays per set. An object that changed size since is read the two-request way.
    pub async fn get_small_sized(
        &self,
        path: &str,
        size: u64,
        max: u64,
    ) -> Result<Vec<u8>, RepoError> {
        if self.is_local() || size == 0 {
            return self.get_small(path, max).await;
        }
        if size > max {
            return Err(RepoError::TooLarge {
                url: self.url.clone(),
                path: path.to_string(),
                size,
                max,
            });
        }
        match self.op.read_with(path).range(0..size).await {
            Ok(buffer) => Ok(buffer.to_vec()),
            // Not the size listed (rewritten since, or a short answer): read it afresh.
            Err(e)
                if matches!(
                    e.kind(),
                    opendal::ErrorKind::Unexpected | opendal::ErrorKind::RangeNotSatisfied
                ) =>
            {
                self.get_small(path, max).await
            }
            Err(e) => Err(self.err("read", path)(e)),
        }
    }

    /// [`Repository::get_small`] of an object whose size is not known, in one request on S3: a
    /// plain GET whose answer states the size (refused over `max` before the body is read),
    /// the body read no further than `max` whatever the answer said. What the console's first
    /// look pays per manifest (50 ms, where stat + GET is 100).
    pub async fn get_small_once(&self, path: &str, max: u64) -> Result<Vec<u8>, RepoError> {
        if self.is_local() {
            return self.get_small(path, max).await;
        }
        let too_large = |size| RepoError::TooLarge {
            url: self.url.clone(),
            path: path.to_string(),
            size,
            max,
        };
        let reader = self.op.reader(path).await.map_err(self.err("read", path))?;
        let mut stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(self.err("read", path))?;
        // Opening the stream sends the GET: a missing object fails here, by its kind.
        match stream.metadata().await {
            Ok(meta) if meta.content_length() > max => {
                return Err(too_large(meta.content_length()))
            }
            Ok(_) => {}
            Err(e) if e.kind() == opendal::ErrorKind::Unsupported => {}
            Err(e) => return Err(self.err("read", path)(e)),
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.try_next().await.map_err(|e| {
            let source = match e.into_inner().map(|i| i.downcast::<opendal::Error>()) {
                Some(Ok(inner)) => *inner,
                Some(Err(other)) => {
                    opendal::Error::new(opendal::ErrorKind::Unexpected, other.to_string())
                }
                None => opendal::Error::new(opendal::ErrorKind::Unexpected, "read failed"),
            };
            self.storage_error("read", path, source)
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }

    pub async fn delete(&self, path: &str) -> Result<(), RepoError> {
        self.op.delete(path).await.map_err(self.err("delete", path))
    }

    /// Makes a just-renamed local file durable: fsync its directory.
    pub fn sync_dir(&self, dir: &str) {
        if let Location::Local(root) = &self.location {
            if let Ok(d) = std::fs::File::open(root.join(dir)) {
                let _ = d.sync_all();
            }
        }
    }
}

/// OpenDAL's timeout layer and its concurrent part writers say so in their messages only.
fn is_timeout(e: &opendal::Error) -> bool {
    let message = e.message();
    message.contains("timeout reached") || message.ends_with(" timeout")
}

/// Logs each retry with the error's `Display`: OpenDAL's default logger uses `Debug`, which
/// carries a backtrace per retry whenever `RUST_BACKTRACE` is set.
struct LogRetry {
    url: String,
}

impl opendal::layers::RetryInterceptor for LogRetry {
    fn intercept(&self, event: opendal::layers::RetryEvent<'_>) {
        tracing::warn!(
            "repository {}: {} failed (attempt {} of {}), retrying in {}: {}",
            self.url,
            event.op,
            event.attempt,
            RETRIES + 1,
            units::elapsed(event.retry_after.as_secs_f64()),
            event.err
        );
    }
}

fn io_to_opendal(e: &std::io::Error) -> opendal::Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => opendal::ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => opendal::ErrorKind::PermissionDenied,
        _ => opendal::ErrorKind::Unexpected,
    };
    opendal::Error::new(kind, e.to_string())
}

/// The sub-folders of `folder` by name, as OpenDAL's fs service lists them; a missing `folder`
/// has none.
fn list_local_dirs(folder: &std::path::Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        // `file_type` comes with the directory entry on Linux: no stat per folder.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

/// The files directly in `root/dir`, as [`list_local`] lists them; a missing `dir` has none.
fn list_local_flat(root: &std::path::Path, dir: &str) -> std::io::Result<Vec<ObjectInfo>> {
    let folder = root.join(dir.trim_start_matches('/'));
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        out.push(ObjectInfo {
            path: relative.to_string_lossy().into_owned(),
            size: meta.len(),
            modified: meta.modified().ok().map(DateTime::<Utc>::from),
        });
    }
    Ok(out)
}

/// Every file under `root/dir` as OpenDAL's fs service lists it: paths relative to `root`,
/// directories and the temporary write folder left out, a missing `dir` listed as empty.
/// Entries are looked at relative to their directory (`DirEntry::metadata`), not by full path.
fn list_local(root: &std::path::Path, dir: &str) -> std::io::Result<Vec<ObjectInfo>> {
    let not_found = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut out = Vec::new();
    let mut pending = vec![root.join(dir.trim_start_matches('/'))];
    while let Some(folder) = pending.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            // A missing `dir`, or a folder removed while listing.
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy().into_owned();
            if relative.starts_with(LOCAL_TMP_DIR) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if not_found(&e) => continue,
                Err(e) => return Err(e),
            };
            out.push(ObjectInfo {
                path: relative,
                size: meta.len(),
                modified: meta.modified().ok().map(DateTime::<Utc>::from),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repository_urls() {
        assert_eq!(
            parse_location("file:///var/backups/app").unwrap(),
            Location::Local("/var/backups/app".into())
        );
        assert_eq!(
            parse_location("/var/backups/app").unwrap(),
            Location::Local("/var/backups/app".into())
        );
        assert_eq!(
            parse_location("s3://bucket/a/b/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        for bad in ["relative/path", "s3:///x", "sftp://host/x", "s3://b/../x"] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn local_round_trip_and_listing_skip_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(&RepositorySpec::new(dir.path().to_string_lossy())).unwrap();
        repo.put("sets/a/x", b"hello".to_vec()).await.unwrap();
        std::fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        std::fs::write(dir.path().join(".tmp/junk"), b"j").unwrap();
        let listed = repo.list("").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, "sets/a/x");
        assert_eq!(listed[0].size, 5);
        assert_eq!(repo.get_small("sets/a/x", 10).await.unwrap(), b"hello");
        assert!(repo.get_small("sets/a/x", 2).await.is_err());
        assert!(repo.stat("nope").await.unwrap_err().is_not_found());
    }

    /// A write or close that fails leaves no temporary file behind (nothing would remove it).
    #[tokio::test]
    async fn a_failed_put_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RepositorySpec::new(dir.path().to_string_lossy());
        // Call 1 is the write, call 2 the close (which renames the temporary file into place).
        for k in [1, 2] {
            let faults = Arc::new(Faults::new(Some(k), None).unwrap());
            let repo = Repository::open_with(&spec, Some(faults.clone())).unwrap();
            let err = repo.put("sets/a/x", b"hello".to_vec()).await.unwrap_err();
            assert!(
                err.to_string().contains(super::super::fault::INJECTED),
                "{err}"
            );
            assert_eq!(faults.calls(), k);
            let tmp = dir.path().join(LOCAL_TMP_DIR);
            let left: Vec<_> = std::fs::read_dir(&tmp)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "fault at call {k} left {left:?}");
            assert!(!repo.exists("sets/a/x").await.unwrap());
        }
    }

    /// The fast paths that bypass OpenDAL still count as calls and can fail.
    #[tokio::test]
    async fn local_fast_paths_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RepositorySpec::new(dir.path().to_string_lossy());
        Repository::open(&spec)
            .unwrap()
            .put("sets/a/x", b"hello".to_vec())
            .await
            .unwrap();
        let faults = Arc::new(Faults::new(Some(2), None).unwrap());
        let repo = Repository::open_with(&spec, Some(faults.clone())).unwrap();
        assert_eq!(repo.list("sets/").await.unwrap().len(), 1);
        let err = repo.get_small("sets/a/x", 10).await.unwrap_err();
        assert!(err.to_string().contains("cannot read `sets/a/x`"), "{err}");
        assert_eq!(faults.calls(), 2);
    }

    /// The local fast paths list and read what OpenDAL's fs service would.
    #[tokio::test]
    async fn local_listing_matches_opendal() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::open(&RepositorySpec::new(dir.path().to_string_lossy())).unwrap();
        for (path, body) in [
            ("sets/20261122T020000Z-3f9a/manifest.json", "{}"),
            ("sets/20261122T020000Z-3f9a/db.dump.zst.gpg", "dump"),
            ("sets/20261123T020000Z-0001/files.tar.zst", ""),
            ("drills/d.json", "drill"),
            ("stray", "s"),
            (".tmp/partial", "p"),
        ] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, body).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("sets/empty")).unwrap();
        for under in ["", "sets/", "drills/", "nothing-here/"] {
            let mut lister = repo.op.lister_with(under).recursive(true).await.unwrap();
            let mut expected = Vec::new();
            while let Some(entry) = lister.try_next().await.unwrap() {
                let meta = entry.metadata();
                if !meta.is_dir() && !entry.path().starts_with(LOCAL_TMP_DIR) {
                    expected.push((entry.path().to_string(), meta.content_length()));
                }
            }
            expected.sort();
            let listed: Vec<(String, u64)> = repo
                .list(under)
                .await
                .unwrap()
                .into_iter()
                .map(|o| (o.path, o.size))
                .collect();
            assert_eq!(listed, expected, "under {under:?}");
        }
        for under in ["", "sets/", "drills/", "nothing-here/"] {
            let mut lister = repo.op.lister_with(under).await.unwrap();
            let mut expected = Vec::new();
            while let Some(entry) = lister.try_next().await.unwrap() {
                // The listed folder itself comes back too (`/` for the root).
                let name = entry.path().strip_prefix(under).unwrap_or(entry.path());
                let name = name.trim_end_matches('/');
                if entry.metadata().is_dir() && !name.is_empty() {
                    expected.push(name.to_string());
                }
            }
            expected.sort();
            assert_eq!(
                repo.list_dirs(under).await.unwrap(),
                expected,
                "under {under:?}"
            );
        }
        assert_eq!(
            repo.list_dirs("sets/").await.unwrap(),
            ["20261122T020000Z-3f9a", "20261123T020000Z-0001", "empty"],
            "set folders, the empty one too"
        );
        assert!(repo
            .get_small("sets/none/manifest.json", 10)
            .await
            .unwrap_err()
            .is_not_found());
    }
}
