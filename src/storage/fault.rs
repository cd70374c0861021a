//! Storage fault injection, for the fault-sweep reliability suite (`tests/fault_sweep.rs`): an
//! OpenDAL layer that counts the storage calls a process makes and fails the k-th one.
//!
//! Off unless the environment asks for it, and then it costs nothing: [`Faults::from_env`] is
//! read once per process, and when neither variable is set no layer is added.
//!
//! - `LIFEBOAT_FAULT_INJECT=<k>` (k >= 1): the k-th storage call fails with a permanent
//!   `Unexpected` error whose message says it was injected and names the call and the path.
//! - `LIFEBOAT_FAULT_LOG=<file>`: every storage call is appended to `<file>` as
//!   `<n>\t<operation>\t<repository>\t<path>`, so a test learns from an unfaulted run how many calls there are
//!   (and a faulted run shows which call failed).
//!
//! One counter per process, shared by every repository it opens (data, secrets, spool). What
//! counts as one call is one request that can fail in the field: `stat`, `create_dir`, `rename`,
//! `presign`; each reader `read` and `open` and each stream chunk read; each writer `write` and
//! `close`; each lister `next` (one entry, or one page fetched behind it); each deleter `delete`
//! and `close`. Handing out a reader, writer, lister or deleter does no I/O and is not counted,
//! nor is `abort` (it only cleans up after a failure). The local fast paths in `repository`
//! that bypass OpenDAL (small reads, listings) count as one `read` or one `list` each.
//!
//! The layer goes outside the retry layer, and its errors are permanent: one injection is one
//! failed call as lifeboat sees it, never retried away, and retries never shift the count.

use opendal::raw::*;
use opendal::{
    Buffer, BytesRange, Capability, Error, ErrorKind, Metadata, OperationContext, Result,
};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub const INJECT_ENV: &str = "LIFEBOAT_FAULT_INJECT";
pub const LOG_ENV: &str = "LIFEBOAT_FAULT_LOG";
/// Marks every injected error, so tests (and a puzzled operator) can tell it from a real one.
pub const INJECTED: &str = "injected fault";

/// The process's call counter and what to do with it.
#[derive(Debug)]
pub struct Faults {
    fail_at: Option<u64>,
    calls: AtomicU64,
    log: Option<Mutex<std::fs::File>>,
}

impl Faults {
    pub fn new(fail_at: Option<u64>, log: Option<PathBuf>) -> std::io::Result<Faults> {
        let log = match log {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        Ok(Faults {
            fail_at,
            calls: AtomicU64::new(0),
            log,
        })
    }

    /// This process's faults, from [`INJECT_ENV`] and [`LOG_ENV`]; `Ok(None)` when neither is
    /// set. Read once; a bad value is an error every time a repository is opened.
    pub fn from_env() -> std::result::Result<Option<Arc<Faults>>, String> {
        static FROM_ENV: OnceLock<std::result::Result<Option<Arc<Faults>>, String>> =
            OnceLock::new();
        FROM_ENV
            .get_or_init(|| {
                let inject = std::env::var(INJECT_ENV).ok();
                let log = std::env::var_os(LOG_ENV).map(PathBuf::from);
                let faults = Faults::from_settings(inject.as_deref(), log)?;
                if let Some(f) = &faults {
                    tracing::warn!(
                        fail_at = ?f.fail_at,
                        "storage fault injection is on ({INJECT_ENV}, {LOG_ENV}): this run is a test"
                    );
                }
                Ok(faults.map(Arc::new))
            })
            .clone()
    }

    /// The faults the two variables ask for (empty counts as unset).
    fn from_settings(
        inject: Option<&str>,
        log: Option<PathBuf>,
    ) -> std::result::Result<Option<Faults>, String> {
        let inject = inject.filter(|v| !v.is_empty());
        let log = log.filter(|p| !p.as_os_str().is_empty());
        if inject.is_none() && log.is_none() {
            return Ok(None);
        }
        let fail_at = match inject {
            None => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(k) if k > 0 => Some(k),
                _ => {
                    return Err(format!(
                        "{INJECT_ENV}=`{text}` is not a storage call number (1, 2, ...); unset it to run without fault injection"
                    ))
                }
            },
        };
        let shown = log.as_ref().map(|p| p.display().to_string());
        Faults::new(fail_at, log)
            .map(Some)
            .map_err(|e| format!("{LOG_ENV}: cannot open {}: {e}", shown.unwrap_or_default()))
    }

    /// Storage calls counted so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Counts one storage call on `path` in `repository`; fails it when it is the chosen one.
    pub fn call(&self, operation: &'static str, repository: &str, path: &str) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(log) = &self.log {
            if let Ok(mut file) = log.lock() {
                // One write per line, so concurrent calls never interleave within a line.
                let line = format!("{n}\t{operation}\t{repository}\t{path}\n");
                let _ = file.write_all(line.as_bytes());
            }
        }
        if self.fail_at == Some(n) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("{INJECTED}: storage call {n} ({operation} `{path}` in {repository}) failed on purpose ({INJECT_ENV}={n})"),
            )
            .with_operation(operation));
        }
        Ok(())
    }
}

/// The OpenDAL layer: every counted call goes through [`Faults::call`] first.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    faults: Arc<Faults>,
    repository: Arc<str>,
}

impl FaultLayer {
    /// `repository` names the repository in the call log and in injected errors (its URL).
    pub fn new(faults: Arc<Faults>, repository: &str) -> FaultLayer {
        FaultLayer {
            faults,
            repository: repository.into(),
        }
    }
}

impl Layer for FaultLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        Arc::new(FaultService {
            inner,
            faults: self.faults.clone(),
            repository: self.repository.clone(),
        })
    }
}

#[derive(Debug)]
pub struct FaultService {
    inner: Servicer,
    faults: Arc<Faults>,
    repository: Arc<str>,
}

impl FaultService {
    fn call(&self, operation: &'static str, path: &str) -> Result<()> {
        self.faults.call(operation, &self.repository, path)
    }

    fn wrap<T>(&self, path: &str, inner: T) -> Fault<T> {
        Fault {
            inner,
            faults: self.faults.clone(),
            repository: self.repository.clone(),
            path: path.to_string(),
        }
    }
}

impl Service for FaultService {
    type Reader = Fault<oio::Reader>;
    type Writer = Fault<oio::Writer>;
    type Lister = Fault<oio::Lister>;
    type Deleter = Fault<oio::Deleter>;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> Result<RpCreateDir> {
        self.call("create_dir", path)?;
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(&self, ctx: &OperationContext, path: &str, args: OpStat) -> Result<RpStat> {
        self.call("stat", path)?;
        self.inner.stat(ctx, path, args).await
    }

    fn read(&self, ctx: &OperationContext, path: &str, args: OpRead) -> Result<Self::Reader> {
        Ok(self.wrap(path, self.inner.read(ctx, path, args)?))
    }

    fn write(&self, ctx: &OperationContext, path: &str, args: OpWrite) -> Result<Self::Writer> {
        Ok(self.wrap(path, self.inner.write(ctx, path, args)?))
    }

    fn delete(&self, ctx: &OperationContext) -> Result<Self::Deleter> {
        Ok(self.wrap("", self.inner.delete(ctx)?))
    }

    fn list(&self, ctx: &OperationContext, path: &str, args: OpList) -> Result<Self::Lister> {
        Ok(self.wrap(path, self.inner.list(ctx, path, args)?))
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> Result<Self::Copier> {
        // lifeboat never copies inside a repository; a copy would be counted when it does.
        self.inner.copy(ctx, from, to, args)
    }

    fn compose(&self, ctx: &OperationContext, to: &str, args: OpCompose) -> Result<Self::Composer> {
        self.inner.compose(ctx, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> Result<RpRename> {
        self.call("rename", from)?;
        self.inner.rename(ctx, from, to, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> Result<RpPresign> {
        self.call("presign", path)?;
        self.inner.presign(ctx, path, args).await
    }
}

/// A reader, writer, lister or deleter whose I/O calls are counted.
pub struct Fault<T> {
    inner: T,
    faults: Arc<Faults>,
    repository: Arc<str>,
    /// The object (or listed folder); for a deleter, the last path it was given.
    path: String,
}

impl<T> Fault<T> {
    fn call(&self, operation: &'static str) -> Result<()> {
        self.faults.call(operation, &self.repository, &self.path)
    }
}

impl<T: oio::Read> oio::Read for Fault<T> {
    async fn open(&self, range: BytesRange) -> Result<(RpRead, Box<dyn oio::ReadStreamDyn>)> {
        self.call("read")?;
        let (rp, stream) = self.inner.open(range).await?;
        let stream = Fault {
            inner: stream,
            faults: self.faults.clone(),
            repository: self.repository.clone(),
            path: self.path.clone(),
        };
        Ok((rp, Box::new(stream) as Box<dyn oio::ReadStreamDyn>))
    }

    async fn read(&self, range: BytesRange) -> Result<(RpRead, Buffer)> {
        self.call("read")?;
        self.inner.read(range).await
    }
}

impl<T: oio::ReadStream> oio::ReadStream for Fault<T> {
    async fn read(&mut self) -> Result<Buffer> {
        self.call("read")?;
        self.inner.read().await
    }
}

impl<T: oio::Write> oio::Write for Fault<T> {
    async fn write(&mut self, bs: Buffer) -> Result<()> {
        self.call("write")?;
        self.inner.write(bs).await
    }

    async fn copy_from(&mut self, path: &str, args: OpRead, range: BytesRange) -> Result<()> {
        self.call("write")?;
        self.inner.copy_from(path, args, range).await
    }

    async fn close(&mut self) -> Result<Metadata> {
        self.call("close")?;
        self.inner.close().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

impl<T: oio::List> oio::List for Fault<T> {
    async fn next(&mut self) -> Result<Option<oio::Entry>> {
        self.call("list")?;
        self.inner.next().await
    }
}

impl<T: oio::Delete> oio::Delete for Fault<T> {
    async fn delete(&mut self, path: &str, args: OpDelete) -> Result<()> {
        self.path = path.to_string();
        self.call("delete")?;
        self.inner.delete(path, args).await
    }

    async fn close(&mut self) -> Result<()> {
        self.call("delete")?;
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use opendal::Operator;

    fn operator(dir: &std::path::Path, faults: Arc<Faults>) -> Operator {
        Operator::new(opendal::services::Fs::default().root(&dir.to_string_lossy()))
            .unwrap()
            .layer(FaultLayer::new(faults, "test"))
    }

    /// Every k fails exactly the k-th call and no other; calls before it went through.
    #[tokio::test]
    async fn fails_exactly_the_chosen_call() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        let counting = Arc::new(Faults::new(None, Some(log.clone())).unwrap());
        let op = operator(&dir.path().join("repo"), counting.clone());
        let script = |op: Operator| async move {
            op.write("a/x", b"hello".to_vec()).await?;
            op.stat("a/x").await?;
            op.read("a/x").await?;
            let listed: Vec<_> = op
                .lister_with("a/")
                .recursive(true)
                .await?
                .try_collect()
                .await?;
            assert!(!listed.is_empty());
            op.delete("a/x").await?;
            Ok::<(), Error>(())
        };
        script(op).await.unwrap();
        let n = counting.calls();
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(logged.lines().count() as u64, n, "{logged}");
        for op in ["write", "close", "stat", "read", "list", "delete"] {
            assert!(
                logged.contains(&format!("\t{op}\t")),
                "{op} not counted:\n{logged}"
            );
        }

        for k in 1..=n {
            let faults = Arc::new(Faults::new(Some(k), None).unwrap());
            let op = operator(&dir.path().join(format!("repo-{k}")), faults.clone());
            let err = script(op).await.unwrap_err();
            assert_eq!(faults.calls(), k, "call {k} was not the last one made");
            assert!(!err.is_temporary(), "an injected error is permanent: {err}");
            let text = err.to_string();
            assert!(text.contains(INJECTED), "{text}");
            assert!(text.contains(&format!("storage call {k} (")), "{text}");
        }
    }

    #[test]
    fn reads_its_settings() {
        assert!(Faults::from_settings(None, None).unwrap().is_none());
        assert!(Faults::from_settings(Some(""), Some(PathBuf::new()))
            .unwrap()
            .is_none());
        assert_eq!(
            Faults::from_settings(Some(" 7"), None)
                .unwrap()
                .unwrap()
                .fail_at,
            Some(7)
        );
        for bad in ["0", "-1", "seven"] {
            let err = Faults::from_settings(Some(bad), None).unwrap_err();
            assert!(err.contains(INJECT_ENV) && err.contains(bad), "{err}");
        }
        let err = Faults::from_settings(None, Some("/nonexistent/dir/log".into())).unwrap_err();
        assert!(err.contains("/nonexistent/dir/log"), "{err}");
    }

    /// Outside the retry layer, one injection is one failure: it is not retried away.
    #[tokio::test]
    async fn the_retry_layer_does_not_mask_an_injected_fault() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::new(Some(1), None).unwrap());
        let op =
            Operator::new(opendal::services::Fs::default().root(&dir.path().to_string_lossy()))
                .unwrap()
                .layer(opendal::layers::RetryLayer::new().with_max_times(3))
                .layer(FaultLayer::new(faults.clone(), "test"));
        let err = op.stat("nope").await.unwrap_err();
        assert!(err.to_string().contains(INJECTED), "{err}");
        assert_eq!(faults.calls(), 1);
        assert!(op.stat("nope").await.unwrap_err().kind() == ErrorKind::NotFound);
    }
}
