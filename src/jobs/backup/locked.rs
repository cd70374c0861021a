//! A backup once the lock is held: preflight, the concurrent component pipelines, collecting
//! their results, the manifest and the verification of what landed.

use super::components::{Collected, Planned, Streams};
use super::repos::{
    abort_open_uploads, clear_leftovers, finish_set, open_with_spool, resume_spooled, Repos,
};
use super::snapshot::{open_snapshot, Snapshot};
use super::{BackupError, BackupOutcome, BackupSpec, MIN_DUMP_BYTES};
use crate::jobs::pipeline::StreamDigests;
use crate::jobs::progress::Reporter;
use crate::jobs::tar_source::{self, TreeSize};
use crate::storage::gpg::{Crypto, EncryptionSpec};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::manifest::{
    Component, Compression, Encryption, Manifest, RepositoryRole, MANIFEST_FORMAT,
};
use crate::storage::passphrase_file;
use crate::storage::postgres::{self, PgConn, PgTools, PsqlSession};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(super) async fn run_locked(
    spec: &BackupSpec,
    set_id: SetId,
    started_at: DateTime<Utc>,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<BackupOutcome, BackupError> {
    reporter.phase("preflight");
    let repos = open_repos(spec)?;
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
    // Every psql and pg_dump of this run is stopped by the adapter's child guard when the job
    // is cancelled (their whole process group), so nothing here signals a pid by hand.
    let tools =
        PgTools::locate(spec.source.pg_bin_dir.as_deref(), None).cancelled_by(cancel.clone());
    let conn = PgConn::new(spec.source.database_url.as_deref());
    let snapshot = preflight(spec, &tools, &conn, reporter, &cancel).await?;
    let file_size = measure_files(spec).await?;
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
    let streams = Streams {
        spec,
        repos: &repos,
        set_id: &set_id,
        crypto: &crypto,
        reporter,
        cancel: &cancel,
    };
    let total = snapshot.facts.database_size_bytes + file_size.bytes;
    let streamed = streams
        .stream(&tools, &conn, &snapshot.id, total, &mut warnings)
        .await;
    close_snapshot(snapshot.session).await;
    if cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    let Collected {
        planned,
        digests,
        spooled,
    } = streamed.collect(&repos, &mut warnings)?;
    let db = &digests[0];
    if db.source_bytes < MIN_DUMP_BYTES {
        return Err(BackupError::DumpTooSmall {
            bytes: db.source_bytes,
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        set_id: set_id.clone(),
        snapshot_time: snapshot.time,
        started_at,
        finished_at: Utc::now(),
        initiator: spec.initiator,
        purpose: spec.purpose,
        host: this_host(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        source: snapshot.facts,
        components: components(&planned, &digests, &crypto),
    };

    let checksums_sha = land(&repos, &set_id, &manifest, spooled, reporter).await?;
    Ok(BackupOutcome {
        set_id: Some(set_id),
        manifest: Some(manifest),
        resumed,
        checksums_sha256: Some(checksums_sha),
        warnings,
    })
}

/// Ends the snapshot's transaction once pg_dump is done with it.
async fn close_snapshot(session: PsqlSession) {
    let _ = tokio::task::spawn_blocking(move || {
        let mut s = session;
        let _ = s.query("COMMIT");
        s.close()
    })
    .await;
}

/// Completes the set where it landed: in the spool when the remote copy failed but the local
/// one is whole (an error that says so), else in the repository once every object is
/// verified there. Returns the SHA-256 of the data repository's `checksums.sha256`.
async fn land(
    repos: &Repos,
    set_id: &SetId,
    manifest: &Manifest,
    spooled: Option<(String, String)>,
    reporter: &Reporter,
) -> Result<String, BackupError> {
    if let Some((repository, reason)) = spooled {
        // The remote copy failed but the local one is whole: finish the set in the spool.
        finish_set(repos, set_id, manifest, true).await?;
        let spool = repos
            .data_spool
            .as_ref()
            .map(|(_, dir)| dir.join(layout::set_dir(set_id)))
            .unwrap_or_default();
        return Err(BackupError::Spooled {
            repository,
            reason,
            set_id: set_id.clone(),
            spool,
        });
    }

    reporter.phase("verify upload");
    verify_upload(repos, set_id, manifest).await?;
    reporter.phase("manifest");
    let checksums_sha = finish_set(repos, set_id, manifest, false).await?;
    // The spool copies are no longer needed once the remote set is complete.
    for (_, dir) in [&repos.data_spool, &repos.secrets_spool]
        .into_iter()
        .flatten()
    {
        let _ = std::fs::remove_dir_all(dir.join(layout::set_dir(set_id)));
    }
    reporter.log(format!(
        "set {set_id} complete: {} bytes stored",
        manifest
            .components
            .iter()
            .map(|c| c.stored_bytes)
            .sum::<u64>()
    ));
    Ok(checksums_sha)
}

/// The configured repositories with their spools, after the checks that keep secrets apart.
fn open_repos(spec: &BackupSpec) -> Result<Repos, BackupError> {
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
    Ok(Repos {
        data,
        data_spool,
        secrets,
        secrets_spool,
    })
}

/// Opens the snapshot and checks what it found: pg_dump new enough for the server, a
/// database with tables. The source's facts get the configured roots and followed links.
async fn preflight(
    spec: &BackupSpec,
    tools: &PgTools,
    conn: &PgConn,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<Snapshot, BackupError> {
    let pg_dump_version = tools.version("pg_dump")?;
    let mut snapshot = snapshot_or_cancel(spec, tools, conn, cancel).await?;
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
    Ok(snapshot)
}

/// The snapshot session can wait on a lock or a stuck server for as long as those last:
/// cancellation (and so the timeout) kills its psql, as it kills pg_dump later.
async fn snapshot_or_cancel(
    spec: &BackupSpec,
    tools: &PgTools,
    conn: &PgConn,
    cancel: &CancellationToken,
) -> Result<Snapshot, BackupError> {
    let key_tables = spec.source.key_tables.clone();
    let session = PsqlSession::open(tools, conn)?;
    let mut preflight = tokio::task::spawn_blocking(move || open_snapshot(session, &key_tables));
    let joined = tokio::select! {
        joined = &mut preflight => joined,
        _ = cancel.cancelled() => {
            // The session's psql is killed by the adapter's guard (the tools carry the token),
            // so the blocked read returns at once.
            let _ = preflight.await;
            return Err(BackupError::Cancelled);
        }
    };
    joined.map_err(|e| BackupError::Task(format!("preflight task failed: {e}")))?
}

/// The size of the file roots, for the progress total.
async fn measure_files(spec: &BackupSpec) -> Result<TreeSize, BackupError> {
    let roots = spec.source.files.clone();
    tokio::task::spawn_blocking(move || tar_source::measure(&roots))
        .await
        .map_err(|e| BackupError::Config(e.to_string()))?
        .map_err(|e| BackupError::Component {
            component: "files",
            reason: e.to_string(),
        })
}

/// The manifest's components, in the order they were planned.
fn components(planned: &[Planned], digests: &[StreamDigests], crypto: &Crypto) -> Vec<Component> {
    planned
        .iter()
        .zip(digests)
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
        .collect()
}

/// Every object landed at the size the manifest records.
async fn verify_upload(
    repos: &Repos,
    set_id: &SetId,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    for component in &manifest.components {
        let repo = match component.repository {
            RepositoryRole::Data => &repos.data,
            RepositoryRole::Secrets => repos.secrets.as_ref().unwrap_or(&repos.data),
        };
        let found = repo
            .stat(&layout::object_path(set_id, &component.object))
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
    Ok(())
}
