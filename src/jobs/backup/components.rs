//! A backup's components (the dump, the file archive, the secrets) as concurrent streaming
//! pipelines, each uploaded as it is made; and collecting what they did into the digests of
//! a whole set, or the one failure that is the cause.

use super::repos::{plan_repo_url, Repos};
use super::snapshot::dump_database;
use super::{object_name, BackupError, BackupSpec};
use crate::jobs::pipeline::{self, PipelineError, StreamDigests};
use crate::jobs::progress::{Meter, Reporter, Sampler};
use crate::jobs::tar_source;
use crate::jobs::upload::{self, UploadError, UploadReport};
use crate::storage::codec::{Codec, CodecKind};
use crate::storage::gpg::Crypto;
use crate::storage::layout;
use crate::storage::manifest::{ComponentKind, RepositoryRole};
use crate::storage::postgres::{PgConn, PgTools};
use crate::storage::setid::SetId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

/// A warning from a source stream, for the reporter and for the run's outcome.
fn note(reporter: &Reporter, noted: &Mutex<Vec<String>>, line: String) {
    reporter.warn(line.clone());
    if let Ok(mut kept) = noted.lock() {
        kept.push(line);
    }
}

pub(super) struct Planned {
    pub(super) kind: ComponentKind,
    pub(super) object: String,
    pub(super) role: RepositoryRole,
    pub(super) codec: Codec,
}

/// Writes one component's source stream (the dump, a tar of files) into the pipeline.
type Producer = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

type ComponentResult = (
    Result<StreamDigests, PipelineError>,
    Result<UploadReport, UploadError>,
);

/// What every component of one set shares.
pub(super) struct Streams<'a> {
    pub(super) spec: &'a BackupSpec,
    pub(super) repos: &'a Repos,
    pub(super) set_id: &'a SetId,
    pub(super) crypto: &'a Arc<Crypto>,
    pub(super) reporter: &'a Reporter,
    pub(super) cancel: &'a CancellationToken,
}

/// The components started so far, in the manifest's order.
struct Started {
    meter: Meter,
    planned: Vec<Planned>,
    tasks: Vec<JoinHandle<ComponentResult>>,
}

/// The streamed components, in the manifest's order, with how each task ended.
pub(super) struct Streamed {
    planned: Vec<Planned>,
    results: Vec<Result<ComponentResult, JoinError>>,
}

/// What the components made: their digests, and the first remote failure whose local spool
/// copy is whole (repository, reason).
pub(super) struct Collected {
    pub(super) planned: Vec<Planned>,
    pub(super) digests: Vec<StreamDigests>,
    pub(super) spooled: Option<(String, String)>,
}

impl Streams<'_> {
    /// Starts one component's pipeline and its upload.
    fn spawn(
        &self,
        started: &mut Started,
        kind: ComponentKind,
        base: &str,
        codec: Codec,
        role: RepositoryRole,
        produce: Producer,
    ) {
        let counter = started.meter.counter();
        let repos = self.repos;
        let object = object_name(base, &codec, self.crypto.is_encrypting());
        let (primary, spool) = match role {
            RepositoryRole::Data => (
                repos.data.clone(),
                repos.data_spool.as_ref().map(|s| s.0.clone()),
            ),
            RepositoryRole::Secrets => (
                repos.secrets.clone().unwrap_or_else(|| repos.data.clone()),
                repos.secrets_spool.as_ref().map(|s| s.0.clone()),
            ),
        };
        let path = layout::object_path(self.set_id, &object);
        let (sink, upload) = upload::start(primary, spool, path, self.cancel.clone());
        let crypto = self.crypto.clone();
        started.tasks.push(tokio::spawn(async move {
            let streamed = tokio::task::spawn_blocking(move || {
                pipeline::run(produce, codec, &crypto, sink, counter)
            })
            .await
            .unwrap_or_else(|e| Err(PipelineError::Sink(std::io::Error::other(e.to_string()))));
            let uploaded = upload
                .await
                .unwrap_or_else(|e| Err(UploadError::Aborted(e.to_string())));
            (streamed, uploaded)
        }));
        started.planned.push(Planned {
            kind,
            object,
            role,
            codec,
        });
    }

    /// Streams every component at once: pg_dump inside `snapshot`, the files, the secrets.
    /// Cancellation stops the tar walks and kills pg_dump. The sources' warnings go to
    /// `warnings`.
    pub(super) async fn stream(
        &self,
        tools: &PgTools,
        conn: &PgConn,
        snapshot: &str,
        total: u64,
        warnings: &mut Vec<String>,
    ) -> Streamed {
        let source = &self.spec.source;
        let stop = Arc::new(AtomicBool::new(false));
        // What the sources could not back up meaningfully: shown as it happens, and kept in
        // the run's warnings (the summary, `--json`).
        let noted = Arc::new(Mutex::new(Vec::new()));
        let mut started = Started {
            meter: Meter::default(),
            planned: Vec::new(),
            tasks: Vec::new(),
        };
        {
            let (t, c, snap) = (tools.clone(), conn.clone(), snapshot.to_string());
            self.spawn(
                &mut started,
                ComponentKind::Db,
                "db.dump",
                self.spec.codec,
                RepositoryRole::Data,
                Box::new(move |out| dump_database(&t, &c, &snap, out)),
            );
        }
        let tars = [
            (ComponentKind::Files, "files.tar", &source.files),
            (ComponentKind::Secrets, "secrets.tar", &source.secrets),
        ];
        for (kind, base, paths) in tars {
            if paths.is_empty() {
                continue;
            }
            let (paths, stop, r, noted) = (
                paths.clone(),
                stop.clone(),
                self.reporter.clone(),
                noted.clone(),
            );
            let (codec, role) = match kind {
                ComponentKind::Secrets => (
                    Codec {
                        kind: CodecKind::None,
                        level: 0,
                        threads: 0,
                    },
                    RepositoryRole::Secrets,
                ),
                _ => (self.spec.codec, RepositoryRole::Data),
            };
            self.spawn(
                &mut started,
                kind,
                base,
                codec,
                role,
                Box::new(move |out| {
                    tar_source::write_tar(&paths, out, &stop, &|w| note(&r, &noted, w))
                }),
            );
        }
        let sampler = Sampler::start(self.reporter.clone(), "backup", started.meter, Some(total));
        let killer = {
            // pg_dump itself is stopped by the adapter's guard (the tools carry the token);
            // the file and secret streams look at `stop`.
            let (cancel, stop) = (self.cancel.clone(), stop.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                stop.store(true, Ordering::SeqCst);
            })
        };
        let results = futures::future::join_all(started.tasks).await;
        killer.abort();
        if let Ok(mut noted) = noted.lock() {
            warnings.append(&mut noted);
        }
        sampler.stop().await;
        Streamed {
            planned: started.planned,
            results,
        }
    }
}

impl Streamed {
    /// A source failure is the root cause; then storage failures; then pipe noise. A
    /// repository write that failed mid-stream stops the upload, and the broken pipe runs
    /// back up the component's pipeline (gpg, the source): those are its echo, not a cause.
    pub(super) fn collect(
        self,
        repos: &Repos,
        warnings: &mut Vec<String>,
    ) -> Result<Collected, BackupError> {
        let Streamed { planned, results } = self;
        let mut digests = Vec::new();
        let mut source_error = None;
        let mut storage_error: Option<BackupError> = None;
        let mut spooled: Option<(String, String)> = None;
        for (plan, joined) in planned.iter().zip(results) {
            let (streamed, uploaded) =
                joined.map_err(|e| BackupError::Task(format!("a backup task failed: {e}")))?;
            let component = plan.kind.as_str();
            let repository_failed = matches!(uploaded, Err(UploadError::Repo(_)));
            match (&streamed, repository_failed) {
                (Err(PipelineError::Source(e)), false) if source_error.is_none() => {
                    source_error = Some(BackupError::Component {
                        component,
                        reason: e.to_string(),
                    });
                }
                (Err(PipelineError::Gpg(e)), false) if storage_error.is_none() => {
                    storage_error = Some(BackupError::Component {
                        component,
                        reason: e.to_string(),
                    });
                }
                _ => {}
            }
            match uploaded {
                Err(UploadError::Repo(e)) => storage_error = storage_error.or(Some(e.into())),
                Err(e) => {
                    storage_error = storage_error.or(Some(BackupError::Component {
                        component,
                        reason: e.to_string(),
                    }))
                }
                Ok(report) => match (&report.primary, &report.spool) {
                    (Err(e), Some(Ok(()))) => {
                        spooled.get_or_insert((plan_repo_url(repos, plan.role), e.to_string()));
                    }
                    (Err(e), _) => {
                        storage_error = storage_error.or(Some(BackupError::Component {
                            component,
                            reason: e.to_string(),
                        }))
                    }
                    // The repository's copy is whole, so the set is; only the fallback was lost.
                    (Ok(()), Some(Err(e))) => warnings.push(format!(
                        "the local spool copy of {component} failed; the set is whole in the repository, so only the fallback was lost: {e}"
                    )),
                    (Ok(()), _) => {}
                },
            }
            if let Ok(d) = streamed {
                digests.push(d);
            } else if source_error.is_none() && storage_error.is_none() {
                if let Err(e) = streamed {
                    storage_error = Some(BackupError::Component {
                        component,
                        reason: e.to_string(),
                    });
                }
            }
        }
        if let Some(e) = source_error.or(storage_error) {
            return Err(e);
        }
        Ok(Collected {
            planned,
            digests,
            spooled,
        })
    }
}
