//! A backup once the lock is held: preflight, the concurrent component pipelines, collecting
//! their results, the manifest and the verification of what landed.

use super::repos::{
    abort_open_uploads, clear_leftovers, finish_set, open_with_spool, plan_repo_url,
    resume_spooled, Repos,
};
use super::snapshot::{dump_database, open_snapshot};
use super::{object_name, BackupError, BackupOutcome, BackupSpec, MIN_DUMP_BYTES};
use crate::jobs::pipeline::{self, PipelineError, StreamDigests};
use crate::jobs::progress::{Meter, Reporter, Sampler};
use crate::jobs::tar_source;
use crate::jobs::upload::{self, UploadError, UploadReport};
use crate::storage::codec::{Codec, CodecKind};
use crate::storage::gpg::{Crypto, EncryptionSpec};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::manifest::{
    Component, ComponentKind, Compression, Encryption, Manifest, RepositoryRole, MANIFEST_FORMAT,
};
use crate::storage::passphrase_file;
use crate::storage::postgres::{self, PgConn, PgTools, PsqlSession};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A warning from a source stream, for the reporter and for the run's outcome.
fn note(reporter: &Reporter, noted: &Mutex<Vec<String>>, line: String) {
    reporter.warn(line.clone());
    if let Ok(mut kept) = noted.lock() {
        kept.push(line);
    }
}

struct Planned {
    kind: ComponentKind,
    object: String,
    role: RepositoryRole,
    codec: Codec,
}

/// Writes one component's source stream (the dump, a tar of files) into the pipeline.
type Producer = Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send>;

type ComponentResult = (
    Result<StreamDigests, PipelineError>,
    Result<UploadReport, UploadError>,
);

pub(super) async fn run_locked(
    spec: &BackupSpec,
    set_id: SetId,
    started_at: DateTime<Utc>,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<BackupOutcome, BackupError> {
    reporter.phase("preflight");
    if !spec.source.secrets.is_empty() {
        if spec.secrets_repository.is_none() {
            return Err(BackupError::Config(
                "[source].secrets is set but [secrets_repository] is not: secrets go only to a separate target".into(),
            ));
        }
        if spec.encryption == EncryptionSpec::None {
            return Err(BackupError::Config(
                "[encryption].mode = \"none\" is refused while [source].secrets is set: secrets are always encrypted".into(),
            ));
        }
    }
    let (data, data_spool) =
        open_with_spool(&spec.repository, &spec.paths, spec.spool_dir.as_ref())?;
    let (secrets, secrets_spool) = match &spec.secrets_repository {
        Some(s) => {
            let (r, sp) = open_with_spool(s, &spec.paths, spec.spool_dir.as_ref())?;
            (Some(r), sp)
        }
        None => (None, None),
    };
    if secrets.as_ref().is_some_and(|s| s.url() == data.url()) {
        return Err(BackupError::Config(
            "[secrets_repository].url is the same as [repository].url; secrets need a separate target".into(),
        ));
    }
    let repos = Repos {
        data,
        data_spool,
        secrets,
        secrets_spool,
    };
    clear_leftovers(spec, &repos, &set_id, reporter);
    abort_open_uploads(spec, &set_id, started_at, reporter).await;
    let (resumed, mut warnings) = resume_spooled(&repos, reporter).await;
    if spec.resume_only {
        // Uploading the spool is all this run is for: a set still waiting is its failure.
        if !warnings.is_empty() {
            return Err(BackupError::ResumeIncomplete {
                problems: warnings,
                resumed,
            });
        }
        return Ok(BackupOutcome {
            set_id: None,
            manifest: None,
            resumed,
            checksums_sha256: None,
            warnings,
        });
    }

    // A new set (a restore's safety backup too) is not encrypted with a key other local users
    // can read. Decrypting does not check: refusing there would only make an emergency worse.
    if let EncryptionSpec::Passphrase { passphrase_file } = &spec.encryption {
        passphrase_file::check_private(passphrase_file)
            .map_err(|e| BackupError::Config(e.to_string()))?;
    }
    let crypto = Arc::new(Crypto::prepare(&spec.encryption)?);
    let encrypted = crypto.is_encrypting();
    let tools = PgTools::locate(spec.source.pg_bin_dir.as_deref(), None);
    let conn = PgConn::new(spec.source.database_url.as_deref());
    let pg_dump_version = tools.version("pg_dump")?;
    let key_tables = spec.source.key_tables.clone();
    // The snapshot session can wait on a lock or a stuck server for as long as those last:
    // cancellation (and so the timeout) kills its psql, as it kills pg_dump later.
    let session = PsqlSession::open(&tools, &conn)?;
    let psql_pid = Arc::new(AtomicU32::new(session.pid()));
    let slot = psql_pid.clone();
    let mut preflight = tokio::task::spawn_blocking(move || {
        let snapshot = open_snapshot(session, &key_tables);
        slot.store(0, Ordering::SeqCst);
        snapshot
    });
    let joined = tokio::select! {
        joined = &mut preflight => joined,
        _ = cancel.cancelled() => {
            let pid = psql_pid.load(Ordering::SeqCst);
            if pid != 0 {
                // SAFETY: signalling our own child by pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            let _ = preflight.await;
            return Err(BackupError::Cancelled);
        }
    };
    let mut snapshot =
        joined.map_err(|e| BackupError::Config(format!("preflight task failed: {e}")))??;
    snapshot.facts.pg_dump_version = pg_dump_version.clone();
    if let (Some(server), Some(client)) = (
        postgres::major_of(&snapshot.facts.server_version),
        postgres::major_of(&pg_dump_version),
    ) {
        if client < server {
            return Err(BackupError::Config(format!(
                "pg_dump {pg_dump_version} is older than the server ({}); install postgresql-client-{server} or set [source].pg_bin_dir",
                snapshot.facts.server_version
            )));
        }
    }
    if snapshot.facts.table_count == 0 {
        return Err(BackupError::NoTables {
            database: snapshot.facts.database.clone(),
        });
    }
    snapshot.facts.file_roots = spec
        .source
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    snapshot.facts.secret_files = spec
        .source
        .secrets
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    snapshot.facts.followed_links = tar_source::followed_links(
        &[spec.source.files.as_slice(), spec.source.secrets.as_slice()].concat(),
    );
    for l in &snapshot.facts.followed_links {
        reporter.log(format!(
            "{} is a symlink to {} ({}): backing up what it points to, under {}",
            l.path, l.link, l.target, l.path
        ));
    }
    let file_size = {
        let roots = spec.source.files.clone();
        tokio::task::spawn_blocking(move || tar_source::measure(&roots))
            .await
            .map_err(|e| BackupError::Config(e.to_string()))?
            .map_err(|e| BackupError::Component {
                component: "files",
                reason: e.to_string(),
            })?
    };
    reporter.log(format!(
        "database {} ({} bytes, {} tables), {} files ({} bytes), {} secrets -> {}",
        snapshot.facts.database,
        snapshot.facts.database_size_bytes,
        snapshot.facts.table_count,
        file_size.files,
        file_size.bytes,
        spec.source.secrets.len(),
        repos.data.url()
    ));

    reporter.phase("backup");
    let mut meter = Meter::default();
    let total = snapshot.facts.database_size_bytes + file_size.bytes;
    let stop = Arc::new(AtomicBool::new(false));
    // What the sources could not back up meaningfully: shown as it happens, and kept in the
    // run's warnings (the summary, `--json`).
    let noted = Arc::new(Mutex::new(Vec::new()));
    let dump_pid = Arc::new(AtomicU32::new(0));
    let mut planned = Vec::new();
    let mut tasks: Vec<tokio::task::JoinHandle<ComponentResult>> = Vec::new();

    let spawn_component = |planned: &mut Vec<Planned>,
                           tasks: &mut Vec<tokio::task::JoinHandle<ComponentResult>>,
                           kind: ComponentKind,
                           base: &str,
                           codec: Codec,
                           role: RepositoryRole,
                           counter,
                           produce: Producer| {
        let object = object_name(base, &codec, encrypted);
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
        let path = layout::object_path(&set_id, &object);
        let (sink, upload) = upload::start(primary, spool, path, cancel.clone());
        let crypto = crypto.clone();
        tasks.push(tokio::spawn(async move {
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
        planned.push(Planned {
            kind,
            object,
            role,
            codec,
        });
    };

    {
        let (t, c, snap, pid) = (
            tools.clone(),
            conn.clone(),
            snapshot.id.clone(),
            dump_pid.clone(),
        );
        spawn_component(
            &mut planned,
            &mut tasks,
            ComponentKind::Db,
            "db.dump",
            spec.codec,
            RepositoryRole::Data,
            meter.counter(),
            Box::new(move |out| dump_database(&t, &c, &snap, out, &pid)),
        );
    }
    if !spec.source.files.is_empty() {
        let (roots, stop, r, noted) = (
            spec.source.files.clone(),
            stop.clone(),
            reporter.clone(),
            noted.clone(),
        );
        spawn_component(
            &mut planned,
            &mut tasks,
            ComponentKind::Files,
            "files.tar",
            spec.codec,
            RepositoryRole::Data,
            meter.counter(),
            Box::new(move |out| {
                tar_source::write_tar(&roots, out, &stop, &|w| note(&r, &noted, w))
            }),
        );
    }
    if !spec.source.secrets.is_empty() {
        let (files, stop, r, noted) = (
            spec.source.secrets.clone(),
            stop.clone(),
            reporter.clone(),
            noted.clone(),
        );
        let plain = Codec {
            kind: CodecKind::None,
            level: 0,
            threads: 0,
        };
        spawn_component(
            &mut planned,
            &mut tasks,
            ComponentKind::Secrets,
            "secrets.tar",
            plain,
            RepositoryRole::Secrets,
            meter.counter(),
            Box::new(move |out| {
                tar_source::write_tar(&files, out, &stop, &|w| note(&r, &noted, w))
            }),
        );
    }

    let sampler = Sampler::start(reporter.clone(), "backup", meter, Some(total));
    let killer = {
        let (cancel, stop, pid) = (cancel.clone(), stop.clone(), dump_pid.clone());
        tokio::spawn(async move {
            cancel.cancelled().await;
            stop.store(true, Ordering::SeqCst);
            let pid = pid.load(Ordering::SeqCst);
            if pid != 0 {
                // SAFETY: signalling our own child by pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        })
    };
    let results = futures::future::join_all(tasks).await;
    killer.abort();
    if let Ok(mut noted) = noted.lock() {
        warnings.append(&mut noted);
    }
    sampler.stop().await;
    let snapshot_session = snapshot.session;
    let _ = tokio::task::spawn_blocking(move || {
        let mut s = snapshot_session;
        let _ = s.query("COMMIT");
        s.close()
    })
    .await;
    if cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }

    // Collect: a source failure is the root cause; then storage failures; then pipe noise.
    // A repository write that failed mid-stream stops the upload, and the broken pipe runs
    // back up the component's pipeline (gpg, the source): those are its echo, not a cause.
    let mut digests = Vec::new();
    let mut source_error = None;
    let mut storage_error: Option<BackupError> = None;
    let mut spooled: Option<(String, String)> = None;
    for (plan, joined) in planned.iter().zip(results) {
        let (streamed, uploaded) =
            joined.map_err(|e| BackupError::Config(format!("a backup task failed: {e}")))?;
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
                    spooled.get_or_insert((plan_repo_url(&repos, plan.role), e.to_string()));
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
    let db = &digests[0];
    if db.source_bytes < MIN_DUMP_BYTES {
        return Err(BackupError::DumpTooSmall {
            bytes: db.source_bytes,
        });
    }

    let components: Vec<Component> = planned
        .iter()
        .zip(&digests)
        .map(|(plan, d)| Component {
            kind: plan.kind,
            object: plan.object.clone(),
            repository: plan.role,
            stored_bytes: d.stored.bytes,
            stored_sha256: d.stored.sha256.clone(),
            plaintext_bytes: d.plaintext.bytes,
            plaintext_sha256: d.plaintext.sha256.clone(),
            source_bytes: d.source_bytes,
            compression: Compression {
                codec: plan.codec.name().into(),
                level: plan.codec.level,
            },
            encryption: Encryption {
                mode: crypto.mode_name().into(),
                recipients: crypto.recipients(),
            },
        })
        .collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        set_id: set_id.to_string(),
        snapshot_time: snapshot.time,
        started_at,
        finished_at: Utc::now(),
        initiator: spec.initiator,
        purpose: spec.purpose,
        host: this_host(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        source: snapshot.facts,
        components,
    };

    if let Some((repository, reason)) = spooled {
        // The remote copy failed but the local one is whole: finish the set in the spool.
        finish_set(&repos, &set_id, &manifest, true).await?;
        let spool = repos
            .data_spool
            .as_ref()
            .map(|(_, dir)| dir.join(layout::set_dir(&set_id)))
            .unwrap_or_default();
        return Err(BackupError::Spooled {
            repository,
            reason,
            set_id,
            spool,
        });
    }

    reporter.phase("verify upload");
    for component in &manifest.components {
        let repo = match component.repository {
            RepositoryRole::Data => &repos.data,
            RepositoryRole::Secrets => repos.secrets.as_ref().unwrap_or(&repos.data),
        };
        let found = repo
            .stat(&layout::object_path(&set_id, &component.object))
            .await?
            .size;
        if found != component.stored_bytes {
            return Err(BackupError::SizeMismatch {
                repository: repo.url().to_string(),
                what: component.object.clone(),
                expected: component.stored_bytes,
                found,
            });
        }
    }
    reporter.phase("manifest");
    let checksums_sha = finish_set(&repos, &set_id, &manifest, false).await?;
    // The spool copies are no longer needed once the remote set is complete.
    for (_, dir) in [&repos.data_spool, &repos.secrets_spool]
        .into_iter()
        .flatten()
    {
        let _ = std::fs::remove_dir_all(dir.join(layout::set_dir(&set_id)));
    }
    reporter.log(format!(
        "set {set_id} complete: {} bytes stored",
        manifest
            .components
            .iter()
            .map(|c| c.stored_bytes)
            .sum::<u64>()
    ));
    Ok(BackupOutcome {
        set_id: Some(set_id),
        manifest: Some(manifest),
        resumed,
        checksums_sha256: Some(checksums_sha),
        warnings,
    })
}
