//! The recovery's plan, before anything is changed: the set (`choose`), what the old host was
//! (from the set's manifest), the target and what it holds now, where the file roots and the
//! secrets go, the checks (pg_restore at least as new as the dump's pg_dump, free space, the
//! key, the config path) and the steps.

use super::choose::{self, CandidateSkipped};
use super::runbook::STEPS;
use super::target::{self, TargetState};
use super::{KeySource, RecoverError, RecoverSpec, TargetChoice};
use crate::jobs::preflight::{free_bytes, Check};
use crate::jobs::progress::Reporter;
use crate::storage::gpg_keys;
use crate::storage::manifest::{ComponentKind, Manifest, RepositoryRole, TableCount};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgConn, PgTools};
use crate::storage::roots::{self, Destination, RootsSpec};
use crate::storage::setid::SetId;
use crate::storage::units;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// What the old host was, from the set's manifest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OldHost {
    pub host: String,
    pub database: String,
    pub server_version: String,
    pub pg_dump_version: String,
    pub database_size_bytes: u64,
    pub table_count: u64,
    pub key_tables: Vec<TableCount>,
    pub file_roots: Vec<String>,
    pub secret_files: Vec<String>,
    pub snapshot_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecoveryPlan {
    pub set_id: SetId,
    /// Why this set.
    pub why: String,
    /// Newer sets passed over because they fail verification.
    pub skipped: Vec<CandidateSkipped>,
    pub old_host: OldHost,
    /// The target (no password: one is refused).
    pub target: String,
    pub target_state: TargetState,
    /// Where each archive goes (`storage::roots`' words).
    pub files_to: Option<String>,
    pub secrets_to: Option<String>,
    pub config_out: PathBuf,
    pub checks: Vec<Check>,
    pub steps: Vec<String>,
}

impl RecoveryPlan {
    pub fn problems(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    /// The database's name: what the operator types to confirm.
    pub fn database(&self) -> &str {
        &self.old_host.database
    }
}

/// The plan, and what the run continues from.
pub struct Prepared {
    pub plan: RecoveryPlan,
    pub manifest: Manifest,
    pub(super) conn: PgConn,
}

/// Chooses the set and makes the plan; changes nothing (a verification of the chosen set is
/// recorded in this host's journal, as `lifeboat verify` would).
pub async fn prepare(
    spec: &RecoverSpec,
    paths: &LocalPaths,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<Prepared, RecoverError> {
    if let Some(dir) = &spec.files_prefix {
        if !dir.is_absolute() {
            return Err(RecoverError::Usage(format!(
                "--files-prefix {}: give an absolute path",
                dir.display()
            )));
        }
    }
    let chosen = choose::choose(spec, paths, reporter, cancel).await?;
    let manifest = chosen.manifest;
    let (conn, tools) = target::resolve(spec, &manifest)?;
    let state = {
        let (s, t, c) = (spec.clone(), tools.clone(), conn.clone());
        tokio::task::spawn_blocking(move || target::inspect(&s, &t, &c))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let mut checks = Vec::new();
    let target_state = match state {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::failed("target", e));
            TargetState::Absent
        }
    };
    checks.push(version_check(&tools, &manifest));
    checks.extend(space_checks(spec, paths, &manifest));
    checks.push(key_check(spec, &manifest));
    if manifest
        .components
        .iter()
        .any(|c| c.repository == RepositoryRole::Secrets)
        && spec.secrets_repository.is_none()
    {
        checks.push(Check::failed(
            "secrets repository",
            "the set keeps its secrets in a separate repository: give it with --secrets-repository URL",
        ));
    }
    if !spec.rehearse && spec.config_out.exists() {
        checks.push(Check::failed(
            "config",
            format!(
                "{} exists; refusing to overwrite a configuration: move it away or pass --config-out PATH",
                spec.config_out.display()
            ),
        ));
    }
    let roots = roots_spec(spec, &manifest);
    let place = |kind| {
        manifest
            .component(kind)
            .map(|_| roots::place(kind, &manifest, &roots).map(|p| p.describe()))
    };
    let mut placed = |kind: ComponentKind| match place(kind) {
        Some(Ok(text)) => Some(text),
        Some(Err(e)) => {
            checks.push(Check::failed(&format!("{} roots", kind.as_str()), e));
            None
        }
        None => None,
    };
    let files_to = placed(ComponentKind::Files);
    let secrets_to = placed(ComponentKind::Secrets);
    let source = &manifest.source;
    let plan = RecoveryPlan {
        set_id: manifest.set_id.clone(),
        why: chosen.why,
        skipped: chosen.skipped,
        old_host: OldHost {
            host: manifest.host.clone(),
            database: source.database.clone(),
            server_version: source.server_version.clone(),
            pg_dump_version: source.pg_dump_version.clone(),
            database_size_bytes: source.database_size_bytes,
            table_count: source.table_count,
            key_tables: source.key_tables.clone(),
            file_roots: source.file_roots.clone(),
            secret_files: source.secret_files.clone(),
            snapshot_time: manifest.snapshot_time,
        },
        target: conn.display(),
        target_state,
        files_to,
        secrets_to,
        config_out: spec.config_out.clone(),
        checks,
        steps: STEPS.iter().map(|s| s.to_string()).collect(),
    };
    Ok(Prepared {
        plan,
        manifest,
        conn,
    })
}

/// The roots the archives may be written to: the set's own (nothing else is known on a bare
/// host), at their paths (never a system location: `roots::system_location`) or under
/// `--files-prefix`.
pub(super) fn roots_spec(spec: &RecoverSpec, manifest: &Manifest) -> RootsSpec {
    let to = match &spec.files_prefix {
        Some(dir) => Destination::Under(dir.clone()),
        None => Destination::SetPaths,
    };
    RootsSpec {
        files: manifest
            .source
            .file_roots
            .iter()
            .map(PathBuf::from)
            .collect(),
        secrets: manifest
            .source
            .secret_files
            .iter()
            .map(PathBuf::from)
            .collect(),
        files_to: to.clone(),
        secrets_to: to,
        map: Vec::new(),
    }
}

/// pg_restore must be at least as new as the pg_dump that wrote the dump.
fn version_check(tools: &PgTools, manifest: &Manifest) -> Check {
    let name = "pg_restore version";
    let dumped = &manifest.source.pg_dump_version;
    let restore = match tools.version("pg_restore") {
        Ok(v) => v,
        Err(e) => return Check::failed(name, format!("cannot run pg_restore: {e}")),
    };
    match (postgres::major_of(&restore), postgres::major_of(dumped)) {
        (Some(r), Some(d)) if r < d => Check::failed(
            name,
            format!(
                "{restore} is older than the {dumped} that wrote the dump; install postgresql-client-{d} (or newer), or point --pg-bin-dir at it"
            ),
        ),
        _ => Check::passed(name, format!("{restore} reads a dump by {dumped}")),
    }
}

/// Room for the downloads and the decrypted dump, the files and secrets, and a new cluster.
fn space_checks(spec: &RecoverSpec, paths: &LocalPaths, manifest: &Manifest) -> Vec<Check> {
    let remote =
        !spec.repository.url.starts_with("file://") && !spec.repository.url.starts_with('/');
    let of = |kind| {
        manifest
            .component(kind)
            .map(|c| c.source_bytes)
            .unwrap_or(0)
    };
    let downloads: u64 = if remote {
        manifest.components.iter().map(|c| c.stored_bytes).sum()
    } else {
        0
    };
    let mut wants: Vec<(PathBuf, u64)> = vec![(
        super::recoveries_dir(paths),
        downloads + of(ComponentKind::Db),
    )];
    let files_dir = spec
        .files_prefix
        .clone()
        .or_else(|| manifest.source.file_roots.first().map(PathBuf::from));
    if let Some(dir) = files_dir {
        wants.push((dir, of(ComponentKind::Files) + of(ComponentKind::Secrets)));
    }
    if let TargetChoice::NewCluster(dir) = &spec.target {
        wants.push((dir.clone(), manifest.source.database_size_bytes));
    }
    wants
        .into_iter()
        .map(|(dir, needed)| free_space(&dir, needed))
        .collect()
}

fn free_space(dir: &Path, needed: u64) -> Check {
    let name = format!("free space at {}", dir.display());
    match free_bytes(dir) {
        Some(free) if free >= needed => Check::passed(
            &name,
            format!(
                "{} free, {} needed",
                units::bytes(free),
                units::bytes(needed)
            ),
        ),
        Some(free) => Check::failed(
            &name,
            format!(
                "{} free, {} needed",
                units::bytes(free),
                units::bytes(needed)
            ),
        ),
        None => Check::failed(&name, "cannot measure"),
    }
}

/// The key is at hand: a readable passphrase file, or a secret key for a recipient.
fn key_check(spec: &RecoverSpec, manifest: &Manifest) -> Check {
    let name = "key";
    let modes: Vec<&str> = manifest
        .components
        .iter()
        .map(|c| c.encryption.mode.as_str())
        .collect();
    if modes.iter().all(|m| *m == "none") {
        return Check::passed(name, "the set is not encrypted".into());
    }
    match &spec.key {
        KeySource::PassphraseFile(path) => {
            if !modes.contains(&"passphrase") {
                return Check::failed(
                    name,
                    "the set is encrypted to gpg recipients, not with a passphrase: drop --passphrase-file to use the keyring",
                );
            }
            match crate::storage::gpg::read_passphrase(path) {
                Ok(_) => Check::passed(name, format!("passphrase file {}", path.display())),
                Err(e) => Check::failed(name, e),
            }
        }
        KeySource::Keyring => {
            let encryption = spec.encryption(manifest);
            let crate::storage::gpg::EncryptionSpec::Recipients { recipients } = encryption else {
                return Check::failed(name, "no recipients");
            };
            if recipients.is_empty() {
                return Check::failed(
                    name,
                    "the set is encrypted with a passphrase: give it with --passphrase-file PATH",
                );
            }
            let found: Vec<String> = recipients
                .iter()
                .map(|r| gpg_keys::inspect(r))
                .filter(|k| k.has_secret)
                .map(|k| k.fingerprint.unwrap_or(k.recipient))
                .collect();
            if found.is_empty() {
                Check::failed(
                    name,
                    format!(
                        "no secret key for the set's recipients ({}) in the gpg keyring; import it (`gpg --import key.asc`) or set GNUPGHOME",
                        recipients.join(", ")
                    ),
                )
            } else {
                Check::passed(
                    name,
                    format!("secret key {} in the keyring", found.join(", ")),
                )
            }
        }
    }
}
