//! Restore: the dry run (fetch, verify, decrypt to scratch, `pg_restore --list` summary,
//! archive safety checks, preflight, and the plan), and the real restore on top of it (safety
//! backup, pre-restore hooks, pg_restore into a new database swapped in by name (see
//! `restore_db`), files and secrets into place, post-restore hooks, health check). The dry run
//! changes nothing that exists; the real restore stops at the first failing step and says how
//! to go back.

use super::backup::{self, BackupSpec};
use super::fetch::{self, FetchError, Fetched};
use super::preflight::Check;
use super::progress::{Meter, Reporter, Sampler};
use super::readback;
use super::restore_db;
use super::restore_journal::{RestoreJournal, UNTOUCHED};
pub use super::scratch::Scratch;
use super::verify::ObjectStatus;
use crate::storage::archive::{self, Listing};
use crate::storage::gpg::{Crypto, EncryptionSpec};
use crate::storage::manifest::{ComponentKind, Manifest, SetPurpose};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgConn, PgTools};
use crate::storage::repository::{Repository, RepositorySpec};
use crate::storage::roots::{self, Placement, RootsSpec};
use crate::storage::setid::SetId;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub pre_restore: Vec<String>,
    pub post_restore: Vec<String>,
    /// A command (run with `sh -c`) or an http:// URL that must answer 2xx.
    pub health: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RestoreSpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub set: SetId,
    pub encryption: EncryptionSpec,
    pub pg_bin_dir: Option<PathBuf>,
    /// The database to restore into.
    pub target: PgConn,
    /// Where the file and secret archives may go: the operator's roots and destinations,
    /// never the set's (`storage::roots`).
    pub roots: RootsSpec,
    /// Restore owners and set-uid/set-gid bits (`--restore-owners`, `[restore].owners`).
    pub restore_owners: bool,
    /// Where decrypted scratch files go (removed afterwards, whatever happens).
    pub scratch_dir: PathBuf,
    pub jobs: u32,
    pub hooks: Hooks,
    /// `None`: no safety backup.
    pub safety_backup: Option<BackupSpec>,
    pub paths: LocalPaths,
    /// Create the owners and grantees the target server lacks (`--create-roles`).
    pub create_roles: bool,
    /// The target came from `--target-url`, not the configuration: the "to go back" command
    /// must name it too.
    pub target_from_flag: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TocSummary {
    pub entries: usize,
    pub schemas: Vec<String>,
    pub tables: usize,
    pub indexes: usize,
    pub sequences: usize,
    pub extensions: Vec<String>,
    pub owners: Vec<String>,
    /// Roles the dump's ACL entries grant to (or revoke from).
    #[serde(default)]
    pub grantees: Vec<String>,
    /// Owners and grantees the target server lacks, whether or not the target database exists.
    pub missing_roles: Vec<String>,
    pub dumped_by: String,
    pub dumped_from: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanStep {
    pub step: String,
    pub projected_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RestorePlan {
    pub set_id: SetId,
    pub snapshot_time: chrono::DateTime<chrono::Utc>,
    pub target: String,
    pub toc: TocSummary,
    pub dump_bytes: u64,
    pub files: Option<Listing>,
    pub secrets: Option<Listing>,
    pub checks: Vec<Check>,
    pub steps: Vec<PlanStep>,
    pub problems: Vec<String>,
    /// How the database is restored: into a new database, then swapped in by name.
    pub database: Option<DbPlan>,
}

/// The database half of the plan (see `restore_db`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DbPlan {
    pub target_name: String,
    /// pg_restore writes here; renamed to `target_name` at the swap.
    pub new_name: String,
    /// The previous database's name after the swap, until the health check passes.
    pub old_name: String,
    pub server: restore_db::ServerFacts,
    pub existing: Option<restore_db::TargetFacts>,
    pub roles: super::restore_roles::RolePlan,
}

impl RestorePlan {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Repo(#[from] crate::storage::repository::RepoError),
    #[error(transparent)]
    Gpg(#[from] crate::storage::gpg::GpgError),
    #[error("`{object}`: {problem}; nothing was touched")]
    Unreadable { object: String, problem: String },
    /// The stored bytes (or what they decrypt to) are not what the manifest recorded.
    #[error("`{object}`: {problem}; refusing to restore from it, nothing was touched")]
    Damaged { object: String, problem: String },
    /// The stored bytes are intact but gpg cannot decrypt them: a key or passphrase problem,
    /// not a damaged object.
    #[error("`{object}`: {problem}; nothing was touched")]
    Undecryptable { object: String, problem: String },
    #[error("the plan cannot succeed: {}", .0.join("; "))]
    PlanFailed(Vec<String>),
    #[error("the safety backup of the target failed, so nothing was touched: {0}")]
    SafetyBackup(String),
    #[error("hook `{command}` failed ({status}): {output}; {state}")]
    Hook {
        command: String,
        status: String,
        output: String,
        state: String,
    },
    #[error("step `{step}` failed: {reason}. {state}")]
    Step {
        step: String,
        reason: String,
        state: String,
    },
    #[error("scratch directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled; {0}")]
    Cancelled(String),
}

/// The dump's table of contents as `pg_restore --list` prints it (read once per plan: the
/// summary and the roles both come from it).
pub fn list_dump(tools: &PgTools, dump: &Path) -> Result<String, String> {
    let out = tools
        .command("pg_restore")
        .arg("--list")
        .arg(dump)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "pg_restore --list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Summarises `pg_restore --list` output.
pub fn parse_toc(text: &str) -> TocSummary {
    let mut toc = TocSummary::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";") {
            let rest = rest.trim();
            if let Some(v) = rest.strip_prefix("Dumped by pg_dump version:") {
                toc.dumped_by = v.trim().to_string();
            } else if let Some(v) = rest.strip_prefix("Dumped from database version:") {
                toc.dumped_from = v.trim().to_string();
            }
            continue;
        }
        let Some((_, entry)) = line.split_once("; ") else {
            continue;
        };
        // "<tableoid> <oid> <TYPE...> <schema> <name> <owner>"
        let words: Vec<&str> = entry.split_whitespace().skip(2).collect();
        if words.is_empty() {
            continue;
        }
        toc.entries += 1;
        let kind = |k: &str| words.join(" ").starts_with(k);
        if kind("TABLE DATA") || kind("SEQUENCE SET") || kind("SEQUENCE OWNED BY") {
        } else if kind("TABLE ") {
            toc.tables += 1;
        } else if kind("INDEX ") {
            toc.indexes += 1;
        } else if kind("SEQUENCE ") {
            toc.sequences += 1;
        } else if kind("SCHEMA ") {
            if let Some(name) = words.get(2) {
                toc.schemas.push(name.to_string());
            }
        } else if kind("EXTENSION ") {
            if let Some(name) = words.get(2) {
                toc.extensions.push(name.to_string());
            }
        }
        if let Some(owner) = words.last() {
            if words.len() >= 4
                && *owner != "-"
                && !toc.owners.iter().any(|o| o == owner)
                && !kind("TABLE DATA")
                && !kind("SEQUENCE SET")
                && !kind("COMMENT")
                && !kind("EXTENSION")
            {
                toc.owners.push(owner.to_string());
            }
        }
    }
    toc
}

fn check(name: &str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check {
            name: name.into(),
            ok: true,
            detail,
        },
        Err(detail) => Check {
            name: name.into(),
            ok: false,
            detail,
        },
    }
}

/// Decrypts a fetched component and hands its decompressed stream to `consume`, hashing the
/// stored bytes and the plaintext on the way: whatever `consume` made (a dump in scratch) may be
/// used only if this returns Ok. A local object is verified here and nowhere before.
pub fn decrypt_with<T: Send>(
    fetched: &Fetched,
    crypto: &Crypto,
    counter: Arc<AtomicU64>,
    consume: impl FnOnce(Box<dyn std::io::Read + '_>) -> Result<T, String> + Send,
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

/// Bytes handed to the dump writer at a time.
const DUMP_CHUNK: usize = 1 << 20;

/// Writes the decompressed dump to `path`. A writer thread takes the chunks, so decompression
/// never waits for the write calls: on the drill's critical path that was ~0.3 s per GiB.
/// At most four chunks are in flight.
pub fn write_dump(mut from: impl std::io::Read, path: &Path) -> Result<u64, String> {
    use std::io::{Read, Write};
    let named = |e: std::io::Error| format!("{}: {e}", path.display());
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
                Err(e) => break Err(e.to_string()),
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

/// Everything the dry run does. Returns the plan and the scratch space holding the decrypted
/// dump (the real restore continues from it).
/// The decrypted dump, the verified objects and the manifest the real restore continues from.
pub struct Prepared {
    pub scratch: Scratch,
    pub fetched: Vec<Fetched>,
    pub manifest: Manifest,
}

pub async fn dry_run(
    spec: &RestoreSpec,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<(RestorePlan, Prepared), RestoreError> {
    let data = Repository::open(&spec.repository)?;
    let secrets = spec
        .secrets_repository
        .as_ref()
        .map(Repository::open)
        .transpose()?;
    let manifest = fetch::read_manifest(&data, &spec.set).await?;
    let scratch = Scratch::create(&spec.scratch_dir)?;
    reporter.phase("fetch");
    let mut meter = Meter::default();
    let total: u64 = manifest.components.iter().map(|c| c.stored_bytes).sum();
    let sampler = Sampler::start(reporter.clone(), "fetch", meter.clone(), Some(total));
    let fetched = fetch::fetch_set(
        &data,
        secrets.as_ref(),
        &manifest,
        scratch.path(),
        &mut meter,
        cancel,
    )
    .await;
    sampler.stop().await;
    let fetched = fetched?;
    reporter.phase("decrypt");
    let crypto = Arc::new(Crypto::for_decryption(&spec.encryption)?);
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None);
    let plan = {
        let (spec, manifest, fetched, crypto, dump, work) = (
            spec.clone(),
            manifest.clone(),
            fetched.clone(),
            crypto.clone(),
            scratch.dump(),
            scratch.path().to_path_buf(),
        );
        let tools = tools.clone();
        tokio::task::spawn_blocking(move || {
            plan_blocking(&spec, &manifest, &fetched, &crypto, &tools, &dump, &work)
        })
        .await
        .map_err(|e| RestoreError::Step {
            step: "plan".into(),
            reason: e.to_string(),
            state: "nothing was touched".into(),
        })??
    };
    let mut plan = plan;
    project_durations(&mut plan, &data, &spec.paths, reporter).await;
    Ok((
        plan,
        Prepared {
            scratch,
            fetched,
            manifest,
        },
    ))
}

/// Projected durations from this host's history: the safety backup from the last completed
/// backup, pg_restore from the last drill's restore phase scaled by dump size.
async fn project_durations(
    plan: &mut RestorePlan,
    repo: &Repository,
    paths: &LocalPaths,
    reporter: &Reporter,
) {
    let backup_seconds = crate::storage::journal::Journal::new(paths.journal())
        .read()
        .ok()
        .and_then(|j| {
            j.runs
                .iter()
                .filter(|r| {
                    r.kind == crate::storage::journal::RunKind::Backup
                        && r.status == crate::storage::journal::RunStatus::Completed
                        && r.destination == repo.url()
                })
                .max_by_key(|r| r.started_at)
                .and_then(|r| {
                    r.finished_at
                        .map(|f| (f - r.started_at).num_milliseconds() as f64 / 1000.0)
                })
        });
    // Only a projection rides on the drill records: a failure to read them does not stop the
    // restore, but it is said.
    let restore_seconds = match super::drill_record::load_all(repo).await {
        Ok((records, problems)) => {
            for problem in problems {
                reporter.warn(format!(
                    "drill record {problem}; the projected pg_restore time leaves it out"
                ));
            }
            records.iter().find(|r| r.restored_bytes > 0).and_then(|r| {
                let phase = r.phases.iter().find(|p| p.name == "restore" && p.ok)?;
                Some(phase.seconds * plan.dump_bytes as f64 / r.restored_bytes as f64)
            })
        }
        Err(e) => {
            reporter.warn(format!(
                "cannot read the drill records, so pg_restore has no projected time: {e}"
            ));
            None
        }
    };
    for step in &mut plan.steps {
        if step.step.starts_with("safety backup") {
            step.projected_seconds = backup_seconds;
        } else if step.step.starts_with("pg_restore") {
            step.projected_seconds = restore_seconds;
        }
    }
}

fn plan_blocking(
    spec: &RestoreSpec,
    manifest: &Manifest,
    fetched: &[Fetched],
    crypto: &Crypto,
    tools: &PgTools,
    dump: &Path,
    work: &Path,
) -> Result<RestorePlan, RestoreError> {
    let mut plan = RestorePlan {
        set_id: manifest.set_id.clone(),
        snapshot_time: manifest.snapshot_time,
        target: spec.target.display(),
        toc: TocSummary::default(),
        dump_bytes: 0,
        files: None,
        secrets: None,
        checks: vec![check(
            "stored hashes",
            Ok(format!("{} objects match the manifest", fetched.len())),
        )],
        steps: Vec::new(),
        problems: Vec::new(),
        database: None,
    };
    let mut placed: Vec<(ComponentKind, Placement)> = Vec::new();
    for f in fetched {
        let counter = Arc::new(AtomicU64::new(0));
        match f.component.kind {
            ComponentKind::Db => {
                let written =
                    decrypt_with(f, crypto, counter, |decoded| write_dump(decoded, dump))?;
                plan.dump_bytes = written;
            }
            ComponentKind::Files | ComponentKind::Secrets => {
                // The same decision and the same walk as the extraction: what this accepts
                // is exactly what the restore would write.
                let kind = f.component.kind;
                let placement = match roots::place(kind, manifest, &spec.roots) {
                    Ok(p) => p,
                    Err(e) => {
                        plan.checks.push(check(
                            &format!("{} roots", kind.as_str()),
                            Err(e.to_string()),
                        ));
                        continue;
                    }
                };
                plan.checks.push(check(
                    &format!("{} roots", kind.as_str()),
                    Ok(placement.describe()),
                ));
                let listing = decrypt_with(f, crypto, counter, |decoded| {
                    archive::list(decoded, &placement, true).map_err(|e| e.to_string())
                });
                placed.push((kind, placement));
                match listing {
                    Ok(l) => {
                        if f.component.kind == ComponentKind::Files {
                            plan.files = Some(l);
                        } else {
                            plan.secrets = Some(l);
                        }
                    }
                    Err(RestoreError::Unreadable { object, problem }) => {
                        plan.problems.push(format!("{object}: {problem}"))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    plan.checks.push(check(
        "decryption",
        Ok("every component decrypted and its plaintext hash matches".into()),
    ));
    let listing = list_dump(tools, dump);
    match &listing {
        Ok(text) => plan.toc = parse_toc(text),
        Err(e) => plan.problems.push(format!("db.dump: {e}")),
    }
    let restore_version = tools.version("pg_restore").unwrap_or_default();
    plan.checks.push(check(
        "pg_restore version",
        match (
            postgres::major_of(&restore_version),
            postgres::major_of(&plan.toc.dumped_by),
        ) {
            (Some(r), Some(d)) if r < d => Err(format!(
                "pg_restore {restore_version} is older than the pg_dump {} that wrote the dump",
                plan.toc.dumped_by
            )),
            _ => Ok(format!(
                "pg_restore {restore_version} reads a dump by pg_dump {}",
                plan.toc.dumped_by
            )),
        },
    ));
    restore_db::plan_database(
        spec,
        manifest,
        tools,
        listing.ok().as_deref(),
        dump,
        work,
        &mut plan,
    );
    if let Some(files) = &plan.files {
        plan.checks.push(check(
            "file archive",
            Ok(format!(
                "{} entries, {} files, {} MiB; {} existing paths would be overwritten",
                files.entries,
                files.files,
                files.bytes / (1024 * 1024),
                files.existing.len()
            )),
        ));
        if let Some(root) = placed_for(&placed, ComponentKind::Files).and_then(|p| p.roots.first())
        {
            plan.checks
                .push(free_space_check(&root.anchor, files.bytes));
        }
    }
    plan.checks.push(free_space_check(&spec.scratch_dir, 0));
    let jobs = spec.jobs.max(1);
    let mut steps = Vec::new();
    let target_exists = plan
        .checks
        .iter()
        .any(|c| c.name == "target database" && c.detail.starts_with("exists"));
    if spec.safety_backup.is_some() && target_exists {
        steps.push(format!(
            "safety backup of {} (and the file roots) into the repository",
            spec.target.display()
        ));
    }
    steps.extend(
        spec.hooks
            .pre_restore
            .iter()
            .map(|h| format!("pre-restore hook: {h}")),
    );
    if let Some(db) = &plan.database {
        steps.extend(restore_db::steps(
            db,
            jobs,
            plan.dump_bytes,
            plan.toc.tables,
        ));
    }
    let owners = if spec.restore_owners {
        "modes, owners and set-id bits"
    } else {
        "their modes (owners and set-id bits not restored: --restore-owners)"
    };
    if let (Some(files), Some(p)) = (&plan.files, placed_for(&placed, ComponentKind::Files)) {
        steps.push(format!(
            "extract {} files into {} with {owners}",
            files.files,
            p.describe()
        ));
    }
    if let (Some(secrets), Some(p)) = (&plan.secrets, placed_for(&placed, ComponentKind::Secrets)) {
        steps.push(format!(
            "extract {} secret files into {} with {owners}",
            secrets.files,
            p.describe()
        ));
    }
    steps.extend(super::tar_source::restored_links(
        &manifest.source.followed_links,
    ));
    steps.extend(
        spec.hooks
            .post_restore
            .iter()
            .map(|h| format!("post-restore hook: {h}")),
    );
    if let Some(h) = &spec.hooks.health {
        steps.push(format!("health check: {h}"));
    }
    if let Some(db) = plan.database.as_ref().filter(|d| d.existing.is_some()) {
        steps.push(format!(
            "drop {} (the previous database, kept until every step above passed)",
            db.old_name
        ));
    }
    plan.steps = steps
        .into_iter()
        .map(|step| PlanStep {
            step,
            projected_seconds: None,
        })
        .collect();
    for c in &plan.checks {
        if !c.ok {
            plan.problems.push(format!("{}: {}", c.name, c.detail));
        }
    }
    Ok(plan)
}

fn placed_for(placed: &[(ComponentKind, Placement)], kind: ComponentKind) -> Option<&Placement> {
    placed.iter().find(|(k, _)| *k == kind).map(|(_, p)| p)
}

fn free_space_check(dir: &Path, needed: u64) -> Check {
    let name = format!("free space at {}", dir.display());
    match super::preflight::free_bytes(dir) {
        Some(free) if free >= needed => {
            check(&name, Ok(format!("{} MiB free", free / (1024 * 1024))))
        }
        Some(free) => check(
            &name,
            Err(format!(
                "{} MiB free, {} MiB needed",
                free / (1024 * 1024),
                needed / (1024 * 1024)
            )),
        ),
        None => check(&name, Err("cannot measure".into())),
    }
}

/// Runs a hook with `sh -c`; its output goes to the log.
pub fn run_hook(command: &str, env: &[(String, String)]) -> Result<String, (String, String)> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null());
    postgres::inherit_only_stdio(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_string();
            if out.status.success() {
                Ok(text)
            } else {
                Err((out.status.to_string(), text))
            }
        }
        Err(e) => Err(("not started".into(), e.to_string())),
    }
}

/// A health check: an http:// URL that must answer 2xx, or a command that must exit 0.
pub fn health_check(target: &str, timeout: Duration) -> Result<String, String> {
    if let Some(rest) = target.strip_prefix("http://") {
        use std::io::{Read as _, Write as _};
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let addr = std::net::ToSocketAddrs::to_socket_addrs(
            &(if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:80")
            }),
        )
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("{target}: {e}"))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lifeboat\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let n = stream
            .read(&mut head)
            .map_err(|e| format!("{target}: {e}"))?;
        let status_line = String::from_utf8_lossy(&head[..n]);
        let code: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return if (200..300).contains(&code) {
            Ok(format!("{target} answered {code}"))
        } else {
            Err(format!("{target} answered {code}"))
        };
    }
    run_hook(target, &[]).map_err(|(status, out)| format!("`{target}` failed ({status}): {out}"))
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    pub plan: RestorePlan,
    pub safety_backup: Option<String>,
    pub steps_done: Vec<String>,
    pub seconds: f64,
}

/// The real restore. `confirmed` must be true (the caller asked for `--yes` or a typed name).
/// Journaled from start to end, each step that can change the target recorded as it begins
/// (`restore_journal`).
pub async fn run(
    spec: RestoreSpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<RestoreOutcome, RestoreError> {
    let mut journal = RestoreJournal::start(&spec, &reporter);
    let result = run_steps(spec, reporter, cancel, &mut journal).await;
    journal.finish(&result);
    result
}

async fn run_steps(
    spec: RestoreSpec,
    reporter: Reporter,
    cancel: CancellationToken,
    journal: &mut RestoreJournal,
) -> Result<RestoreOutcome, RestoreError> {
    let started = Instant::now();
    let (
        plan,
        Prepared {
            scratch,
            fetched,
            manifest,
        },
    ) = dry_run(&spec, &reporter, &cancel).await?;
    if !plan.ok() {
        return Err(RestoreError::PlanFailed(plan.problems.clone()));
    }
    let mut done = Vec::new();
    let mut safety = None;
    let untouched = "nothing was touched".to_string();
    if let Some(mut backup_spec) = spec.safety_backup.clone() {
        // Marked in its manifest and journal line: never "latest", kept by its own rule.
        backup_spec.purpose = Some(SetPurpose::Safety);
        let target_exists = plan
            .checks
            .iter()
            .any(|c| c.name == "target database" && c.detail.starts_with("exists"));
        if target_exists {
            journal.step("safety backup", UNTOUCHED);
            reporter.phase("safety backup");
            let outcome = backup::run(backup_spec, reporter.clone(), cancel.clone())
                .await
                .map_err(|e| RestoreError::SafetyBackup(e.to_string()))?;
            let id = outcome.set_id.map(|s| s.to_string()).unwrap_or_default();
            reporter.log(format!(
                "safety backup {id} holds the state before the restore"
            ));
            done.push(format!("safety backup {id}"));
            journal.safety_set(&id);
            safety = Some(id);
        }
    }
    let back_out = match &safety {
        // The safety set restores into the configured database unless told otherwise.
        Some(id) if spec.target_from_flag => format!(
            "to go back: lifeboat restore {id} --yes --target-url {}",
            restore_db::shell_word(&spec.target.display())
        ),
        Some(id) => format!("to go back: lifeboat restore {id} --yes"),
        None => "no safety backup was taken".to_string(),
    };
    let env = vec![
        ("LIFEBOAT_SET".to_string(), plan.set_id.to_string()),
        ("LIFEBOAT_TARGET".to_string(), spec.target.display()),
    ];
    if !spec.hooks.pre_restore.is_empty() {
        journal.step(
            "pre-restore hook",
            "the restore has not written to it yet; the pre-restore hooks may have stopped the application",
        );
    }
    run_hooks(
        &spec.hooks.pre_restore,
        "pre-restore hook",
        &env,
        &reporter,
        &mut done,
        &format!("{untouched} by the restore"),
    )
    .await?;
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled(untouched));
    }
    reporter.phase("restore database");
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None).cancelled_by(cancel.clone());
    let Some(db) = plan.database.clone() else {
        return Err(RestoreError::PlanFailed(vec![
            "the plan has no database part".into(),
        ]));
    };
    journal.step(
        "pg_restore",
        &format!(
            "the database {} is untouched until the swap at the end of this step (a partly \
             restored {} may be left beside it: drop it), or swapped with its previous copy \
             kept as {}",
            db.target_name, db.new_name, db.old_name
        ),
    );
    let (t, target, dump, jobs, db2) = (
        tools.clone(),
        spec.target.clone(),
        scratch.dump(),
        spec.jobs.max(1),
        db.clone(),
    );
    let restored = tokio::task::spawn_blocking(move || {
        restore_db::restore_and_swap(&t, &target, &db2, &dump, jobs)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    if let (Err(reason), true) = (&restored, cancel.is_cancelled()) {
        return Err(RestoreError::Cancelled(format!(
            "{reason}; the database {} was not touched",
            db.target_name
        )));
    }
    if let Err(reason) = restored {
        return Err(RestoreError::Step {
            step: "pg_restore".into(),
            reason,
            state: format!(
                "the database {} was not touched; {back_out}",
                db.target_name
            ),
        });
    }
    done.push(format!("roles: {}", db.roles.summary()));
    let back_out = match &db.existing {
        Some(_) => format!(
            "{back_out}; the previous database is kept as {old}: to put it back by hand, on the server's postgres database run `{sql}`",
            old = db.old_name,
            sql = restore_db::swap_back_sql(&db.target_name, &db.old_name)
        ),
        None => back_out,
    };
    done.push("database restored".into());
    let crypto = Crypto::for_decryption(&spec.encryption)?;
    for f in &fetched {
        let label = match f.component.kind {
            ComponentKind::Files => "files",
            ComponentKind::Secrets => "secrets",
            ComponentKind::Db => continue,
        };
        reporter.phase(&format!("restore {label}"));
        let counter = Arc::new(AtomicU64::new(0));
        // Decided again, by the function the dry run used.
        let placement = roots::place(f.component.kind, &manifest, &spec.roots);
        let dest = placement
            .as_ref()
            .map(Placement::describe)
            .unwrap_or_default();
        journal.step(
            &format!("restore {label}"),
            &format!("the database is restored; {label} may be partly extracted into {dest}"),
        );
        let owners = spec.restore_owners;
        let extracted = placement.map_err(|e| e.to_string()).and_then(|placement| {
            decrypt_with(f, &crypto, counter, |decoded| {
                archive::extract(decoded, &placement, owners).map_err(|e| e.to_string())
            })
            .map_err(|e| e.to_string())
        });
        match extracted {
            Ok(l) => done.push(format!("{label}: {} files into {dest}", l.files)),
            Err(e) => {
                return Err(RestoreError::Step {
                    step: format!("restore {label}"),
                    reason: e.to_string(),
                    state: format!(
                    "the database is restored, {label} may be partly extracted into {dest}; {back_out}"
                ),
                })
            }
        }
    }
    if !spec.hooks.post_restore.is_empty() {
        journal.step(
            "post-restore hook",
            "the data is restored; the post-restore hooks may not all have run (the application may still be stopped)",
        );
    }
    run_hooks(
        &spec.hooks.post_restore,
        "post-restore hook",
        &env,
        &reporter,
        &mut done,
        &format!("the data is restored; {back_out}"),
    )
    .await?;
    if let Some(health) = &spec.hooks.health {
        journal.step(
            "health check",
            "the data is restored; the application's health was not confirmed",
        );
        reporter.phase("health check");
        let h = health.clone();
        let verdict =
            tokio::task::spawn_blocking(move || health_check(&h, Duration::from_secs(30)))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
        match verdict {
            Ok(text) => done.push(format!("health: {text}")),
            Err(reason) => {
                return Err(RestoreError::Step {
                    step: "health check".into(),
                    reason,
                    state: format!(
                        "the data is restored but the application is not healthy; {back_out}"
                    ),
                })
            }
        }
    }
    if db.existing.is_some() {
        let (t, target, old) = (tools.clone(), spec.target.clone(), db.old_name.clone());
        match tokio::task::spawn_blocking(move || restore_db::drop_old(&t, &target, &old))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
        {
            Ok(()) => done.push(format!("previous database {} dropped", db.old_name)),
            Err(e) => reporter.warn(format!(
                "the previous database {} could not be dropped ({e}); drop it by hand when done",
                db.old_name
            )),
        }
    }
    drop(scratch);
    Ok(RestoreOutcome {
        plan,
        safety_backup: safety,
        steps_done: done,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The database pg_restore writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetDb {
    /// It exists and may hold the dump's objects: they are dropped first (`--clean --if-exists`).
    Existing,
    /// It does not exist: it is created, then restored into as it is, empty.
    Create,
    /// The caller has just created it empty (a drill's scratch database or cluster).
    Empty,
}

/// Runs hooks in order; the first failure stops with `state` (what was touched so far).
async fn run_hooks(
    hooks: &[String],
    phase: &str,
    env: &[(String, String)],
    reporter: &Reporter,
    done: &mut Vec<String>,
    state: &str,
) -> Result<(), RestoreError> {
    for hook in hooks {
        reporter.phase(phase);
        let (h, e) = (hook.clone(), env.to_vec());
        let failure = |status: String, output: String| RestoreError::Hook {
            command: hook.clone(),
            status,
            output,
            state: state.to_string(),
        };
        match tokio::task::spawn_blocking(move || run_hook(&h, &e)).await {
            Ok(Ok(out)) => reporter.log(format!("{hook}: ok {out}")),
            Ok(Err((status, output))) => return Err(failure(status, output)),
            Err(e) => return Err(failure("panicked".into(), e.to_string())),
        }
        done.push(format!("hook {hook}"));
    }
    Ok(())
}

/// pg_restore into `target`. An empty database is restored into without `--clean`: its
/// statements would fail there (a view dumped as a placeholder plus a rule, e.g. one that
/// selects columns through a GROUP BY on the primary key, is "cleaned" with a
/// `CREATE OR REPLACE VIEW` that needs the view's schema to exist already).
pub fn pg_restore_into(
    tools: &PgTools,
    target: &PgConn,
    dump: &Path,
    jobs: u32,
    into: TargetDb,
    keep_owners: bool,
) -> Result<(), String> {
    if into == TargetDb::Create {
        let name = target_database_name(target)
            .ok_or("cannot tell the target database's name from its URL")?;
        postgres::on_maintenance_db(
            tools,
            target,
            &format!("CREATE DATABASE {}", postgres::quote_identifier(&name)),
        )?;
    }
    let mut cmd = tools.command("pg_restore");
    if into == TargetDb::Existing {
        cmd.args(["--clean", "--if-exists"]);
    }
    if !keep_owners {
        cmd.arg("--no-owner");
    }
    cmd.args(["--exit-on-error", "--no-password"])
        .arg(format!("--jobs={jobs}"));
    target.apply(&mut cmd);
    cmd.arg(dump);
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Killed by a signal (a Ctrl-C reaches the whole process group), pg_restore says nothing.
    Err(if said.is_empty() {
        format!("pg_restore ended without a message ({})", out.status)
    } else {
        said
    })
}

/// The database name in a libpq URL or conninfo (see [`PgConn::database`]).
pub fn target_database_name(conn: &PgConn) -> Option<String> {
    conn.database()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_table_of_contents() {
        let text = ";\n; Archive created at 2026-11-22 00:24:32 UTC\n;     Dumped from database version: 15.18 (Debian)\n;     Dumped by pg_dump version: 15.18 (Debian)\n;\n\
5; 2615 16400 SCHEMA - billing app\n\
215; 1259 16390 TABLE public User app\n\
216; 1259 16391 TABLE billing invoices app\n\
217; 1259 16392 SEQUENCE public User_id_seq app\n\
3360; 0 0 SEQUENCE OWNED BY public User_id_seq app\n\
3400; 0 16390 TABLE DATA public User app\n\
3250; 1259 16410 INDEX public documents_owner app\n\
2; 3079 16384 EXTENSION - pgcrypto \n";
        let toc = parse_toc(text);
        assert_eq!(toc.tables, 2);
        assert_eq!(toc.indexes, 1);
        assert_eq!(toc.sequences, 1);
        assert_eq!(toc.schemas, vec!["billing"]);
        assert_eq!(toc.extensions, vec!["pgcrypto"]);
        assert_eq!(toc.owners, vec!["app"]);
        assert!(toc.dumped_by.starts_with("15.18"));
        assert_eq!(toc.entries, 8);
    }

    #[test]
    fn writes_the_dump_whole_and_reports_either_sides_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.dump");
        let data: Vec<u8> = (0..3 * DUMP_CHUNK + 12_345)
            .map(|i| (i % 253) as u8)
            .collect();
        assert_eq!(write_dump(&data[..], &path), Ok(data.len() as u64));
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(write_dump(&b""[..], &path), Ok(0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

        let missing = dir.path().join("no such folder").join("db.dump");
        let err = write_dump(&data[..], &missing).unwrap_err();
        assert!(err.contains("no such folder"), "{err}");

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
        assert!(err.contains("corrupt block"), "{err}");
    }

    #[test]
    fn finds_the_database_name() {
        assert_eq!(
            target_database_name(&PgConn::new(Some(
                "postgresql://u@h:5/app_x?sslmode=disable"
            )))
            .as_deref(),
            Some("app_x")
        );
        assert_eq!(
            target_database_name(&PgConn::new(Some("host=h dbname=app"))).as_deref(),
            Some("app")
        );
        assert_eq!(
            target_database_name(&PgConn::new(Some("postgresql://u@h:5"))),
            None
        );
    }
}
