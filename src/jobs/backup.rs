//! The backup job: lock, clear what killed runs left (`leftovers`), preflight, then database
//! dump, file archive and secrets as concurrent streaming pipelines (hash, compress, encrypt,
//! upload in one pass), verify what landed, write `checksums.sha256` and, last,
//! `manifest.json`, and record the run in the journal.
//!
//! pg_dump runs inside a snapshot exported by a `psql` session that also counts the key
//! tables, so the row counts in the manifest are exactly those of the dump, and the snapshot
//! time is the set's RPO reference.

use super::leftovers;
use super::open_uploads::{self, SweepError};
use super::pipeline::{self, PipelineError, StreamDigests};
use super::progress::{Meter, Reporter, Sampler};
use super::spool;
use super::tar_source;
use super::upload::{self, UploadError, UploadReport};
use crate::storage::checksums::Checksums;
use crate::storage::codec::{Codec, CodecKind};
use crate::storage::gpg::{Crypto, EncryptionSpec, GpgError};
use crate::storage::hashing::sha256_hex;
use crate::storage::journal::{Journal, JournalEntry, JournalError, RunKind, RunRecord, RunStatus};
use crate::storage::layout;
use crate::storage::lock::{process_start, this_host, LockError, RepoLock};
use crate::storage::manifest::{
    Component, ComponentKind, Compression, Encryption, Initiator, Manifest, RepositoryRole,
    RoleFacts, SetPurpose, SourceFacts, TableCount, MANIFEST_FORMAT,
};
use crate::storage::passphrase_file;
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgConn, PgError, PgTools, PsqlSession};
use crate::storage::repository::{parse_location, Location, RepoError, Repository, RepositorySpec};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A dump smaller than this cannot hold an application's data (seed 003).
pub const MIN_DUMP_BYTES: u64 = 4096;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone)]
pub struct SourceSpec {
    /// As configured: it may hold a password (see `PgConn`), so `Debug` shows it masked.
    pub database_url: Option<String>,
    pub files: Vec<PathBuf>,
    pub secrets: Vec<PathBuf>,
    pub key_tables: Vec<String>,
    pub pg_bin_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field(
                "database_url",
                &self.database_url.as_deref().map(|u| PgConn::new(Some(u))),
            )
            .field("files", &self.files)
            .field("secrets", &self.secrets)
            .field("key_tables", &self.key_tables)
            .field("pg_bin_dir", &self.pg_bin_dir)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct BackupSpec {
    pub source: SourceSpec,
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub encryption: EncryptionSpec,
    pub codec: Codec,
    pub timeout: Duration,
    pub initiator: Initiator,
    pub paths: LocalPaths,
    pub spool_dir: Option<PathBuf>,
    /// Only upload spooled sets; take no new backup.
    pub resume_only: bool,
    /// `Some(Safety)` for the backup a restore takes of its target first; None for a regular one.
    pub purpose: Option<SetPurpose>,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub set_id: Option<SetId>,
    pub manifest: Option<Manifest>,
    /// Spooled sets from earlier runs that this run uploaded.
    pub resumed: Vec<SetId>,
    /// SHA-256 of the set's `checksums.sha256`: one hash pinning every object.
    pub checksums_sha256: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("{0}")]
    Config(String),
    #[error("{component}: {reason}")]
    Component {
        component: &'static str,
        reason: String,
    },
    #[error("the database dump is only {bytes} bytes (under {MIN_DUMP_BYTES}): too small to be real; check [source].database_url points at the application database")]
    DumpTooSmall { bytes: u64 },
    #[error("database `{database}` has no tables: refusing to record a backup that could not bring the application back; check [source].database_url")]
    NoTables { database: String },
    #[error("upload to {repository} failed: {reason}; the complete set {set_id} is kept locally at {spool} and will be uploaded by `lifeboat backup --resume` or the next backup")]
    Spooled {
        repository: String,
        reason: String,
        set_id: SetId,
        spool: PathBuf,
    },
    #[error("`backup --resume` left sets in the spool: {}; {} spooled set(s) were uploaded; run `lifeboat backup --resume` again", .problems.join("; "), .resumed.len())]
    ResumeIncomplete {
        problems: Vec<String>,
        resumed: Vec<SetId>,
    },
    #[error("{what} in {repository} is {found} bytes, but {expected} were written; the set is left incomplete")]
    SizeMismatch {
        repository: String,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("the backup did not finish within {0:?} (raise [backup].timeout); nothing was marked complete")]
    TimedOut(Duration),
    #[error("cancelled; nothing was marked complete")]
    Cancelled,
}

impl BackupError {
    pub fn status(&self) -> RunStatus {
        match self {
            BackupError::Cancelled => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        }
    }
}

fn object_name(base: &str, codec: &Codec, encrypted: bool) -> String {
    format!(
        "{base}{}{}",
        codec.suffix(),
        if encrypted { ".gpg" } else { "" }
    )
}

/// Runs a backup with its timeout; records the run in the journal whatever happens.
pub async fn run(
    spec: BackupSpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<BackupOutcome, BackupError> {
    let journal = Journal::new(spec.paths.journal());
    let lock = RepoLock::acquire_unless_unreachable::<BackupError>(
        &spec.paths.locks(),
        &spec.repository,
        "backup",
    )
    .await?;
    lock.warnings().into_iter().for_each(|w| reporter.warn(w));
    let started_at = Utc::now();
    let set_id = SetId::new(started_at);
    let mut record = RunRecord {
        run_id: set_id.to_string(),
        kind: RunKind::Backup,
        status: RunStatus::Running,
        initiator: spec.initiator,
        host: this_host(),
        pid: std::process::id(),
        process_start: process_start(std::process::id()),
        started_at,
        finished_at: None,
        set_id: Some(set_id.to_string()),
        bytes: None,
        destination: spec.repository.url.clone(),
        sha256: None,
        error: None,
        spooled_at: None,
        purpose: spec.purpose,
        restore: None,
    };
    if !spec.resume_only {
        journal.append(&JournalEntry::Run(record.clone()))?;
    }

    let job_cancel = cancel.child_token();
    let timeout = spec.timeout;
    let work = run_locked(
        &spec,
        set_id.clone(),
        started_at,
        &reporter,
        job_cancel.clone(),
    );
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        _ = tokio::time::sleep(timeout) => {
            job_cancel.cancel();
            let _ = work.await;
            Err(BackupError::TimedOut(timeout))
        }
    };
    let result = match result {
        Err(_) if cancel.is_cancelled() => Err(BackupError::Cancelled),
        other => other,
    };
    if !spec.resume_only && matches!(&result, Err(e) if !matches!(e, BackupError::Spooled { .. })) {
        discard_spool_copies(&spec, &set_id);
    }

    if !spec.resume_only {
        record.finished_at = Some(Utc::now());
        match &result {
            Ok(outcome) => {
                record.status = RunStatus::Completed;
                if let Some(m) = &outcome.manifest {
                    record.bytes = Some(m.components.iter().map(|c| c.stored_bytes).sum());
                }
                record.sha256 = outcome.checksums_sha256.clone();
            }
            Err(e) => {
                record.status = e.status();
                record.error = Some(e.to_string());
                if let BackupError::Spooled { spool, .. } = e {
                    record.spooled_at = Some(spool.display().to_string());
                }
            }
        }
        journal.append(&JournalEntry::Run(record))?;
    }
    lock.release()
        .await
        .into_iter()
        .for_each(|w| reporter.warn(w));
    result
}

/// A failed set that was not spooled leaves nothing in the spool: without a manifest its
/// copies would never be uploaded nor removed, and each failed night would keep a full backup's
/// worth of disk.
fn discard_spool_copies(spec: &BackupSpec, id: &SetId) {
    for repo in std::iter::once(&spec.repository).chain(spec.secrets_repository.as_ref()) {
        if matches!(parse_location(&repo.url), Ok(Location::Local(_))) {
            continue;
        }
        let dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), &repo.identity());
        let _ = std::fs::remove_dir_all(dir.join(layout::set_dir(id)));
    }
}

struct Repos {
    data: Repository,
    data_spool: Option<(Repository, PathBuf)>,
    secrets: Option<Repository>,
    secrets_spool: Option<(Repository, PathBuf)>,
}

fn open_with_spool(
    spec: &RepositorySpec,
    paths: &LocalPaths,
    spool_override: Option<&PathBuf>,
) -> Result<(Repository, Option<(Repository, PathBuf)>), RepoError> {
    let repo = Repository::open(spec)?;
    if repo.is_local() {
        return Ok((repo, None));
    }
    let dir = spool::spool_dir(paths, spool_override, repo.identity());
    let spool = spool::open_spool(&dir)?;
    Ok((repo, Some((spool, dir))))
}

/// Removes what killed runs left in the spools and local repositories (see `leftovers`).
fn clear_leftovers(spec: &BackupSpec, repos: &Repos, set_id: &SetId, reporter: &Reporter) {
    let spools: Vec<&std::path::Path> = [&repos.data_spool, &repos.secrets_spool]
        .into_iter()
        .flatten()
        .map(|(_, dir)| dir.as_path())
        .collect();
    let locals: Vec<&std::path::Path> = [Some(&repos.data), repos.secrets.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|r| match r.location() {
            Location::Local(dir) => Some(dir.as_path()),
            Location::S3 { .. } => None,
        })
        .collect();
    let journal = Journal::new(spec.paths.journal());
    let cleared = leftovers::clear(&journal, set_id.as_str(), &spools, &locals);
    if !cleared.is_empty() {
        let sets = if cleared.spooled_sets.is_empty() {
            String::new()
        } else {
            format!(
                " (spooled copies of unfinished sets {})",
                cleared.spooled_sets.join(", ")
            )
        };
        reporter.log(format!(
            "removed {} files ({} bytes) left by interrupted runs{sets}",
            cleared.files, cleared.bytes
        ));
    }
}

/// Aborts the multipart uploads killed runs left open in the data repository (see
/// `open_uploads` for which). Never fails the backup: the uploads cost money, not
/// correctness. A server that cannot list them is noted in the log only; `inventory` says so.
async fn abort_open_uploads(
    spec: &BackupSpec,
    set_id: &SetId,
    started_at: DateTime<Utc>,
    reporter: &Reporter,
) {
    let journal = Journal::new(spec.paths.journal());
    let swept = open_uploads::sweep(
        &spec.repository,
        &journal,
        Some(set_id.as_str()),
        started_at,
    )
    .await;
    match swept {
        Ok(swept) => {
            if swept.unsupported {
                tracing::debug!(
                    "repository {}: the server does not list open multipart uploads",
                    spec.repository.url
                );
            }
            // A warning, so the CLI prints it: something was left behind, as a stale lock is.
            for upload in &swept.aborted {
                reporter.warn(format!(
                    "aborted the multipart upload {} left open by an interrupted run",
                    open_uploads::describe(upload)
                ));
            }
            for failure in swept.failures {
                reporter.warn(failure);
            }
        }
        // A server that does not answer fails the upload soon enough, and says so then.
        Err(SweepError::Uploads(e)) if e.unreachable => {
            tracing::info!("open multipart uploads were left as they are: {e}")
        }
        Err(e) => reporter.warn(format!("open multipart uploads were left as they are: {e}")),
    }
}

async fn resume_spooled(repos: &Repos, reporter: &Reporter) -> (Vec<SetId>, Vec<String>) {
    let mut resumed = Vec::new();
    let mut warnings = Vec::new();
    // Secrets first: a data manifest must never point at secrets that are not there yet.
    let pairs = [
        (repos.secrets_spool.as_ref(), repos.secrets.as_ref()),
        (repos.data_spool.as_ref(), Some(&repos.data)),
    ];
    for (spool, remote) in pairs {
        let (Some((spool, _)), Some(remote)) = (spool, remote) else {
            continue;
        };
        let pending = match spool::pending(spool).await {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("cannot read the spool: {e}"));
                continue;
            }
        };
        for id in pending {
            match spool::upload_set(spool, remote, &id, reporter).await {
                Ok(_) => {
                    if remote.url() == repos.data.url() {
                        resumed.push(id);
                    }
                }
                Err(e) => warnings.push(format!("spooled set {id} is still waiting: {e}")),
            }
        }
    }
    (resumed, warnings)
}

struct Snapshot {
    session: PsqlSession,
    id: String,
    time: DateTime<Utc>,
    facts: SourceFacts,
}

fn open_snapshot(mut session: PsqlSession, key_tables: &[String]) -> Result<Snapshot, BackupError> {
    session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    let rows = session.query(
        "SELECT pg_export_snapshot(), \
         to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         current_database(), current_setting('server_version'), \
         pg_database_size(current_database()), \
         (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%')",
    )?;
    let row = match rows.as_slice() {
        [row] if row.len() == 6 => row.clone(),
        _ => {
            return Err(PgError::Unexpected {
                query: "snapshot facts".into(),
                answer: format!("{rows:?}"),
            }
            .into())
        }
    };
    let time = DateTime::parse_from_rfc3339(&row[1])
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| PgError::Unexpected {
            query: "statement_timestamp()".into(),
            answer: format!("{}: {e}", row[1]),
        })?;
    let mut facts = SourceFacts {
        database: row[2].clone(),
        server_version: row[3].clone(),
        database_size_bytes: row[4].parse().unwrap_or(0),
        table_count: row[5].parse().unwrap_or(0),
        ..Default::default()
    };
    // Before the key tables: counting them in an empty database would hide the real problem.
    if facts.table_count == 0 {
        return Err(BackupError::NoTables {
            database: facts.database,
        });
    }
    for table in key_tables {
        let sql = postgres::table_sql(table)?;
        let rows = session.query_one(&format!("SELECT count(*) FROM {sql}"))?;
        facts.key_tables.push(TableCount {
            table: table.clone(),
            rows: rows.parse().unwrap_or(0),
        });
    }
    facts.roles = Some(dump_roles(&mut session)?);
    Ok(Snapshot {
        session,
        id: row[0].clone(),
        time,
        facts,
    })
}

/// The roles that own objects in this database or receive grants in it (pg_shdepend records
/// both; the bootstrap superuser is pinned and so not in it, hence the owners of schemas and
/// relations too), with their attributes. Never passwords: only pg_roles is read. Runs in the
/// snapshot's transaction, so it describes the same moment as the dump.
fn dump_roles(session: &mut PsqlSession) -> Result<Vec<RoleFacts>, PgError> {
    let rows = session.query(
        "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, \
         r.rolinherit, r.rolreplication, r.rolbypassrls, r.rolconnlimit FROM pg_roles r \
         WHERE r.rolname NOT LIKE 'pg\\_%' AND r.oid IN ( \
           SELECT s.refobjid FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
             AND s.deptype IN ('o', 'a') \
             AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           UNION SELECT n.nspowner FROM pg_namespace n \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_%' \
           UNION SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_%') \
         ORDER BY 1",
    )?;
    let t = |v: Option<&String>| v.is_some_and(|v| v == "t");
    Ok(rows
        .iter()
        .filter(|r| r.len() == 9)
        .map(|r| RoleFacts {
            name: r[0].clone(),
            login: t(r.get(1)),
            superuser: t(r.get(2)),
            createdb: t(r.get(3)),
            createrole: t(r.get(4)),
            inherit: t(r.get(5)),
            replication: t(r.get(6)),
            bypassrls: t(r.get(7)),
            connection_limit: r[8].parse().unwrap_or(-1),
        })
        .collect())
}

/// pg_dump into `out`; the child is killed when `stop` is raised.
fn dump_database(
    tools: &PgTools,
    conn: &PgConn,
    snapshot: &str,
    out: &mut dyn std::io::Write,
    pid_slot: &AtomicU32,
) -> std::io::Result<()> {
    let mut cmd = tools.command("pg_dump");
    cmd.args(["--format=custom", "--compress=0", "--no-password"])
        .arg(format!("--snapshot={snapshot}"));
    conn.apply(&mut cmd);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot run {}: {e}", tools.program("pg_dump").display()),
        )
    })?;
    pid_slot.store(child.id(), Ordering::SeqCst);
    let mut stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let copied = match child.stdout.take() {
        Some(mut stdout) => std::io::copy(&mut stdout, out).map(|_| ()),
        None => Err(std::io::Error::other("pg_dump has no stdout")),
    };
    if copied.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    pid_slot.store(0, Ordering::SeqCst);
    let stderr = stderr_reader.join().unwrap_or_default();
    copied?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "pg_dump failed ({status}): {}",
            stderr.trim()
        )));
    }
    Ok(())
}

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

async fn run_locked(
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

fn plan_repo_url(repos: &Repos, role: RepositoryRole) -> String {
    match role {
        RepositoryRole::Data => repos.data.url().to_string(),
        RepositoryRole::Secrets => repos
            .secrets
            .as_ref()
            .map(|r| r.url().to_string())
            .unwrap_or_default(),
    }
}

/// Writes checksums and manifests: the secrets repository first, the data manifest last.
/// Returns the SHA-256 of the data repository's `checksums.sha256`.
async fn finish_set(
    repos: &Repos,
    id: &SetId,
    manifest: &Manifest,
    to_spool: bool,
) -> Result<String, BackupError> {
    let pick = |repo: &Repository, spool: &Option<(Repository, PathBuf)>| -> Repository {
        match (to_spool, spool) {
            (true, Some((s, _))) => s.clone(),
            _ => repo.clone(),
        }
    };
    let data = pick(&repos.data, &repos.data_spool);
    let checksums_for = |role: RepositoryRole| {
        Checksums(
            manifest
                .components
                .iter()
                .filter(|c| c.repository == role)
                .map(|c| (c.object.clone(), c.stored_sha256.clone()))
                .collect(),
        )
        .render()
    };
    let manifest_bytes = manifest.to_json();
    if let Some(secrets) = &repos.secrets {
        if manifest.component(ComponentKind::Secrets).is_some() {
            let target = pick(secrets, &repos.secrets_spool);
            target
                .put(
                    &layout::checksums_path(id),
                    checksums_for(RepositoryRole::Secrets).into_bytes(),
                )
                .await?;
            target
                .put(&layout::manifest_path(id), manifest_bytes.clone())
                .await?;
        }
    }
    let checksums = checksums_for(RepositoryRole::Data);
    let checksums_sha = sha256_hex(checksums.as_bytes());
    data.put(&layout::checksums_path(id), checksums.into_bytes())
        .await?;
    data.put(&layout::manifest_path(id), manifest_bytes).await?;
    data.sync_dir(&layout::set_dir(id));
    Ok(checksums_sha)
}
