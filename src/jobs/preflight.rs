//! Preflight for a backup: what would be backed up and where, and whether it can work right
//! now (database reachable, pg_dump new enough, tables present, file roots and secrets
//! readable, repositories reachable, the key usable, room in the spool, no other run). The
//! guided backup shows it before asking to start.

use super::backup::BackupSpec;
use super::spool;
use super::tar_source::{self, TreeSize};
use crate::storage::gpg::{Crypto, EncryptionSpec};
use crate::storage::lock::RepoLock;
use crate::storage::passphrase_file;
use crate::storage::pg::{self, PgConn, PgTools, PsqlSession};
use crate::storage::repository::Repository;
use crate::storage::units;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn passed(name: &str, detail: String) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail,
        }
    }

    pub fn failed(name: &str, why: impl std::fmt::Display) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail: why.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PreflightReport {
    pub database: String,
    pub database_bytes: u64,
    pub server_version: String,
    pub pg_dump_version: String,
    pub file_roots: Vec<(String, TreeSize)>,
    pub secrets: Vec<String>,
    pub repository: String,
    pub secrets_repository: Option<String>,
    pub encryption: String,
    pub checks: Vec<Check>,
}

impl PreflightReport {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    fn check(&mut self, name: &str, result: Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.checks.push(Check {
            name: name.to_string(),
            ok,
            detail,
        });
    }
}

fn mib(bytes: u64) -> String {
    units::bytes(bytes)
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (or its nearest
/// existing ancestor).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        probe = probe.parent()?.to_path_buf();
    }
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes into the struct we own.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then(|| st.f_bavail * st.f_frsize)
}

/// Blocking: runs psql, pg_dump --version and walks the file roots.
pub fn run_blocking(spec: &BackupSpec) -> PreflightReport {
    let mut r = PreflightReport {
        repository: spec.repository.url.clone(),
        secrets_repository: spec.secrets_repository.as_ref().map(|s| s.url.clone()),
        secrets: spec
            .source
            .secrets
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        ..Default::default()
    };
    let tools = PgTools::locate(spec.source.pg_bin_dir.as_deref(), None);
    let conn = PgConn::new(spec.source.database_url.as_deref());
    let db = PsqlSession::open(&tools, &conn).and_then(|mut s| {
        let row = s.query(
            "SELECT current_database(), current_setting('server_version'), pg_database_size(current_database()), \
             (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
              AND n.nspname NOT LIKE 'pg_toast%')",
        )?;
        let _ = s.close();
        Ok(row)
    });
    match db {
        Ok(rows) if rows.first().is_some_and(|r| r.len() == 4) => {
            let row = &rows[0];
            r.database = row[0].clone();
            r.server_version = row[1].clone();
            r.database_bytes = row[2].parse().unwrap_or(0);
            let tables: u64 = row[3].parse().unwrap_or(0);
            r.check(
                "database reachable",
                Ok(format!("{} on PostgreSQL {}", r.database, r.server_version)),
            );
            r.check(
                "tables present",
                if tables > 0 {
                    Ok(format!("{tables} tables"))
                } else {
                    Err(format!("database {} has no tables", r.database))
                },
            );
        }
        Ok(rows) => r.check(
            "database reachable",
            Err(format!("unexpected answer {rows:?}")),
        ),
        Err(e) => r.check("database reachable", Err(e.to_string())),
    }
    match tools.version("pg_dump") {
        Ok(v) => {
            r.pg_dump_version = v.clone();
            let verdict = match (pg::major_of(&v), pg::major_of(&r.server_version)) {
                (Some(c), Some(s)) if c < s => Err(format!(
                    "pg_dump {v} is older than the server {}; install postgresql-client-{s}",
                    r.server_version
                )),
                _ => Ok(format!("pg_dump {v}")),
            };
            r.check("pg_dump version", verdict);
        }
        Err(e) => r.check("pg_dump version", Err(e.to_string())),
    }
    for root in &spec.source.files {
        match tar_source::measure(std::slice::from_ref(root)) {
            Ok(size) => r.file_roots.push((root.display().to_string(), size)),
            Err(e) => r.check("file roots readable", Err(e.to_string())),
        }
    }
    if !spec.source.files.is_empty() && !r.checks.iter().any(|c| c.name == "file roots readable") {
        let files: u64 = r.file_roots.iter().map(|(_, s)| s.files).sum();
        r.check("file roots readable", Ok(format!("{files} files")));
    }
    if !spec.source.secrets.is_empty() {
        let unreadable: Vec<String> = spec
            .source
            .secrets
            .iter()
            .filter(|p| std::fs::File::open(p).is_err())
            .map(|p| p.display().to_string())
            .collect();
        r.check(
            "secrets readable",
            if unreadable.is_empty() {
                Ok(format!("{} files", spec.source.secrets.len()))
            } else {
                Err(format!("cannot read {}", unreadable.join(", ")))
            },
        );
    }
    // The backup refuses a passphrase file others can read; the guided backup says so first.
    let private = match &spec.encryption {
        EncryptionSpec::Passphrase { passphrase_file } => {
            passphrase_file::check_private(passphrase_file)
        }
        _ => Ok(()),
    };
    match private.and_then(|()| Crypto::prepare(&spec.encryption)) {
        Ok(crypto) => {
            r.encryption = crypto.mode_name().to_string();
            if crypto.is_encrypting() {
                let probe = crypto.encrypt_bytes(b"lifeboat preflight").map(|_| {
                    match crypto.recipients().as_slice() {
                        [] => "AES256 with the passphrase file".to_string(),
                        keys => format!("to {}", keys.join(", ")),
                    }
                });
                r.check("encryption key usable", probe.map_err(|e| e.to_string()));
            } else {
                r.check(
                    "encryption key usable",
                    Ok("encryption is off (\"none\")".into()),
                );
            }
        }
        Err(e) => {
            r.encryption = "unusable".into();
            r.check("encryption key usable", Err(e.to_string()));
        }
    }
    if let Some(holder) = RepoLock::host_holder(&spec.paths.locks(), &spec.repository.url) {
        r.check(
            "no other backup running",
            Err(format!("locked by {holder}")),
        );
    }
    r
}

/// The async part: repositories reachable, spool space.
pub async fn run(spec: BackupSpec) -> PreflightReport {
    let blocking_spec = spec.clone();
    let mut r = tokio::task::spawn_blocking(move || run_blocking(&blocking_spec))
        .await
        .unwrap_or_default();
    if RepoLock::host_holder(&spec.paths.locks(), &spec.repository.url).is_none() {
        if let Some(holder) = RepoLock::remote_holder(&spec.repository).await {
            r.check(
                "no other backup running",
                Err(format!("locked by {holder}")),
            );
        }
    }
    for (name, repo_spec) in [
        ("repository reachable", Some(&spec.repository)),
        (
            "secrets repository reachable",
            spec.secrets_repository.as_ref(),
        ),
    ] {
        let Some(repo_spec) = repo_spec else { continue };
        let verdict = match Repository::open(repo_spec) {
            Ok(repo) => match repo.list(crate::storage::layout::SETS_DIR).await {
                Ok(objects) => Ok(format!("{} ({} objects)", repo.url(), objects.len())),
                Err(e) if e.is_not_found() => Ok(format!("{} (empty)", repo.url())),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        r.check(name, verdict);
        if let Ok(repo) = Repository::open(repo_spec) {
            if !repo.is_local() {
                let dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), repo.identity());
                let needed =
                    r.database_bytes + r.file_roots.iter().map(|(_, s)| s.bytes).sum::<u64>();
                let verdict = match free_bytes(&dir) {
                    Some(free) if free >= needed => {
                        Ok(format!("{} free at {}", mib(free), dir.display()))
                    }
                    Some(free) => Err(format!(
                        "{} free at {}, up to {} needed",
                        mib(free),
                        dir.display(),
                        mib(needed)
                    )),
                    None => Err(format!("cannot measure free space at {}", dir.display())),
                };
                r.check("spool space", verdict);
            }
        }
    }
    r
}
