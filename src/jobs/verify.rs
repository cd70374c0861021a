//! The verify job: re-hash every object of a set as stored (no keys needed) and compare with
//! `checksums.sha256` and the manifest; optionally decrypt (to nowhere, streaming), check the
//! plaintext hash, decompress, and read the contents back (`pg_restore --list` for the dump, a
//! full tar walk for archives). Every differing or missing object is named; results are
//! remembered in the journal.

use super::download;
use super::inventory;
use super::progress::{Meter, Reporter, Sampler};
use super::readback::{self, ReadBack};
use crate::storage::archive;
use crate::storage::checksums::Checksums;
use crate::storage::gpg::{Crypto, EncryptionSpec};

use crate::storage::journal::{Journal, JournalEntry, VerificationRecord, VerifyLevel};
use crate::storage::layout;
use crate::storage::manifest::Initiator;
use crate::storage::manifest::{
    Component, ComponentKind, Manifest, RepositoryRole, MANIFEST_MAX_BYTES,
};
use crate::storage::paths::LocalPaths;
use crate::storage::pg::PgTools;
use crate::storage::repository::{RepoError, Repository, RepositorySpec};
use crate::storage::roots::{self, Placement, RootsSpec};
use crate::storage::setid::SetId;
use chrono::Utc;
use serde::Serialize;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyTarget {
    Set(SetId),
    Latest,
    All,
}

#[derive(Debug, Clone)]
pub struct DecryptSpec {
    pub encryption: EncryptionSpec,
    pub pg_bin_dir: Option<PathBuf>,
    /// The configured roots: archives are walked as the restore would place them, so a set
    /// the restore would refuse is never recorded as verified.
    pub roots: RootsSpec,
}

#[derive(Debug, Clone)]
pub struct VerifySpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub target: VerifyTarget,
    pub decrypt: Option<DecryptSpec>,
    pub paths: LocalPaths,
    /// Who started it, remembered with each verification in the journal.
    pub initiator: Initiator,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ObjectStatus {
    Ok,
    Missing,
    SizeMismatch,
    HashMismatch,
    /// `checksums.sha256` and the manifest disagree about the object.
    ChecksumsDisagree,
    Unreadable,
    DecryptFailed,
    PlaintextMismatch,
    ContentUnreadable,
    /// Decrypted and readable, but the restore would refuse it (roots that differ from the
    /// configuration, an entry that would escape them).
    Refused,
    NotChecked,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectCheck {
    pub repository: String,
    pub object: String,
    pub status: ObjectStatus,
    pub expected_bytes: u64,
    pub actual_bytes: Option<u64>,
    pub expected_sha256: String,
    pub actual_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub set_id: String,
    pub level: VerifyLevel,
    pub ok: bool,
    pub objects: Vec<ObjectCheck>,
    /// Set-level problems (no manifest, unreadable checksums file, ...).
    pub problems: Vec<String>,
    /// Observations that do not fail the set (an extra object, secrets not checked).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub repository: String,
    pub sets: Vec<SetReport>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        !self.sets.is_empty() && self.sets.iter().all(|s| s.ok)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("no complete set in {0} to verify")]
    NothingToVerify(String),
    #[error("set {set} is not in {repository}")]
    NoSuchSet { set: String, repository: String },
    #[error(transparent)]
    Gpg(#[from] crate::storage::gpg::GpgError),
    #[error("cancelled")]
    Cancelled,
}

pub async fn run(
    spec: VerifySpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<VerifyReport, VerifyError> {
    let data = Repository::open(&spec.repository)?;
    let secrets = match &spec.secrets_repository {
        Some(s) => Some(Repository::open(s)?),
        None => None,
    };
    reporter.phase("list");
    let inventory = inventory::scan(&data).await?;
    let targets: Vec<SetId> = match &spec.target {
        VerifyTarget::Set(id) => {
            if inventory.find(id).is_none() {
                return Err(VerifyError::NoSuchSet {
                    set: id.to_string(),
                    repository: data.url().to_string(),
                });
            }
            vec![id.clone()]
        }
        VerifyTarget::Latest => vec![inventory
            .latest(chrono::Utc::now())
            .ok_or_else(|| VerifyError::NothingToVerify(data.url().to_string()))?
            .id
            .clone()],
        VerifyTarget::All => {
            let ids: Vec<SetId> = inventory.complete().map(|s| s.id.clone()).collect();
            if ids.is_empty() {
                return Err(VerifyError::NothingToVerify(data.url().to_string()));
            }
            ids
        }
    };
    let crypto = match &spec.decrypt {
        Some(d) => Some(Arc::new(Crypto::for_decryption(&d.encryption)?)),
        None => None,
    };
    // A cancelled verify stops its pg_restore --list too; the set's result is then discarded.
    let tools = PgTools::locate(
        spec.decrypt.as_ref().and_then(|d| d.pg_bin_dir.as_deref()),
        None,
    )
    .cancelled_by(cancel.clone());
    let roots = spec
        .decrypt
        .as_ref()
        .map(|d| d.roots.clone())
        .unwrap_or_default();
    let journal = Journal::new(spec.paths.journal());
    let level = if crypto.is_some() {
        VerifyLevel::Decrypt
    } else {
        VerifyLevel::Stored
    };
    let mut report = VerifyReport {
        repository: data.url().to_string(),
        sets: Vec::new(),
    };
    for id in targets {
        if cancel.is_cancelled() {
            return Err(VerifyError::Cancelled);
        }
        reporter.phase(&format!("verify {id}"));
        let set = verify_set(
            &data,
            secrets.as_ref(),
            &id,
            crypto.clone(),
            &tools,
            &roots,
            &reporter,
            &cancel,
        )
        .await;
        if cancel.is_cancelled() {
            return Err(VerifyError::Cancelled);
        }
        let set = SetReport { level, ..set };
        let mut problems = set.problems.clone();
        problems.extend(
            set.objects
                .iter()
                .filter(|o| o.status != ObjectStatus::Ok)
                .map(|o| match (o.status, &o.detail) {
                    (ObjectStatus::Refused, Some(why)) => format!("{}: refused: {why}", o.object),
                    _ => format!("{}: {:?}", o.object, o.status),
                }),
        );
        if let Err(e) = journal.append(&JournalEntry::Verification(VerificationRecord {
            set_id: id.to_string(),
            at: Utc::now(),
            level,
            ok: set.ok,
            repository: data.url().to_string(),
            problems,
            initiator: Some(spec.initiator),
        })) {
            reporter.warn(e.to_string());
        }
        report.sets.push(set);
    }
    Ok(report)
}

fn failed_set(id: &SetId, problem: String) -> SetReport {
    SetReport {
        set_id: id.to_string(),
        level: VerifyLevel::Stored,
        ok: false,
        objects: Vec::new(),
        problems: vec![problem],
        notes: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn verify_set(
    data: &Repository,
    secrets: Option<&Repository>,
    id: &SetId,
    crypto: Option<Arc<Crypto>>,
    tools: &PgTools,
    roots: &RootsSpec,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> SetReport {
    let manifest = match data
        .get_small(&layout::manifest_path(id), MANIFEST_MAX_BYTES as u64)
        .await
    {
        Ok(bytes) => match Manifest::parse(id.as_str(), &bytes) {
            Ok(m) => m,
            Err(e) => return failed_set(id, e.to_string()),
        },
        Err(e) if e.is_not_found() => {
            return failed_set(
                id,
                format!("set {id} has no manifest.json: it is incomplete"),
            )
        }
        Err(e) => return failed_set(id, e.to_string()),
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let checksums = match data
        .get_small(&layout::checksums_path(id), MANIFEST_MAX_BYTES as u64)
        .await
    {
        Ok(bytes) => match Checksums::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("{}: {e}", layout::CHECKSUMS_NAME));
                None
            }
        },
        Err(e) => {
            problems.push(if e.is_not_found() {
                format!("{} is missing", layout::CHECKSUMS_NAME)
            } else {
                e.to_string()
            });
            None
        }
    };
    if let Some(c) = &checksums {
        for name in c.0.keys() {
            if !manifest.components.iter().any(|m| &m.object == name) {
                problems.push(format!(
                    "{} lists `{name}`, which the manifest does not",
                    layout::CHECKSUMS_NAME
                ));
            }
        }
    }
    match data.list(&layout::set_dir(id)).await {
        Ok(listed) => {
            for object in listed {
                let name = object.path.rsplit('/').next().unwrap_or_default();
                let known = name == layout::MANIFEST_NAME
                    || name == layout::CHECKSUMS_NAME
                    || manifest.components.iter().any(|c| c.object == name);
                if !known {
                    notes.push(format!("unexpected object `{name}` in the set folder"));
                }
            }
        }
        // Only the look for extra objects is lost (every listed object is still checked), so
        // the set's verdict stands; but it is said, not swallowed.
        Err(e) => {
            let note = format!("extra objects were not looked for: {e}");
            reporter.warn(format!("set {id}: {note}"));
            notes.push(note);
        }
    }

    let mut meter = Meter::default();
    let total: u64 = manifest.components.iter().map(|c| c.stored_bytes).sum();
    let mut checks = Vec::new();
    for component in &manifest.components {
        let repo = match component.repository {
            RepositoryRole::Data => data.clone(),
            RepositoryRole::Secrets => match secrets {
                Some(s) => s.clone(),
                None => {
                    notes.push(format!(
                        "`{}` lives in the secrets repository, which is not configured here; not checked",
                        component.object
                    ));
                    continue;
                }
            },
        };
        let listed_hash = match component.repository {
            RepositoryRole::Data => checksums
                .as_ref()
                .map(|c| c.0.get(&component.object).cloned()),
            RepositoryRole::Secrets => None,
        };
        // Decrypting, the archives are placed as the restore would place them: a refusal
        // fails the object (and so the set) with the restore's own reason.
        let placement = match (&crypto, component.kind) {
            (Some(_), ComponentKind::Files | ComponentKind::Secrets) => {
                Some(roots::place(component.kind, &manifest, roots).map_err(|e| e.to_string()))
            }
            _ => None,
        };
        checks.push(check_component(
            repo,
            id.clone(),
            component.clone(),
            listed_hash,
            crypto.clone(),
            tools.clone(),
            placement,
            meter.counter(),
            cancel.clone(),
        ));
    }
    let sampler = Sampler::start(
        reporter.clone(),
        &format!("verify {id}"),
        meter,
        Some(total),
    );
    let objects: Vec<ObjectCheck> = futures::future::join_all(checks).await;
    sampler.stop().await;
    let ok = problems.is_empty() && objects.iter().all(|o| o.status == ObjectStatus::Ok);
    SetReport {
        set_id: id.to_string(),
        level: VerifyLevel::Stored,
        ok,
        objects,
        problems,
        notes,
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_component(
    repo: Repository,
    id: SetId,
    component: Component,
    listed_hash: Option<Option<String>>,
    crypto: Option<Arc<Crypto>>,
    tools: PgTools,
    placement: Option<Result<Placement, String>>,
    counter: Arc<AtomicU64>,
    cancel: CancellationToken,
) -> ObjectCheck {
    let path = layout::object_path(&id, &component.object);
    let mut check = ObjectCheck {
        repository: repo.url().to_string(),
        object: component.object.clone(),
        status: ObjectStatus::Ok,
        expected_bytes: component.stored_bytes,
        actual_bytes: None,
        expected_sha256: component.stored_sha256.clone(),
        actual_sha256: None,
        detail: None,
    };
    match repo.stat(&path).await {
        Ok(info) => check.actual_bytes = Some(info.size),
        Err(e) => {
            check.status = if e.is_not_found() {
                ObjectStatus::Missing
            } else {
                ObjectStatus::Unreadable
            };
            check.detail = Some(e.to_string());
            return check;
        }
    }
    let (reader, feeder) = download::open(&repo, &path, cancel.clone());
    let comp = component.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let kind = comp.kind;
        readback::read_back(reader, &comp, crypto.as_deref(), counter, |decoded| {
            inspect(kind, decoded, &tools, placement)
        })
    })
    .await
    .unwrap_or_else(|e| ReadBack::failed(ObjectStatus::Unreadable, e.to_string()));
    if let Ok(Err(e)) = feeder.await {
        check.status = ObjectStatus::Unreadable;
        check.detail = Some(e.to_string());
        return check;
    }
    if let Some(stored) = &outcome.stored {
        check.actual_sha256 = Some(stored.sha256.clone());
        check.actual_bytes = Some(stored.bytes);
    }
    let stored_matches = outcome
        .stored
        .as_ref()
        .is_some_and(|d| d.sha256 == component.stored_sha256 && d.bytes == component.stored_bytes);
    if let Some(stored) = &outcome.stored {
        if stored.bytes != component.stored_bytes {
            check.status = ObjectStatus::SizeMismatch;
            check.detail = Some(format!(
                "{} bytes stored, manifest says {}",
                stored.bytes, component.stored_bytes
            ));
            return check;
        }
        if !stored_matches {
            check.status = ObjectStatus::HashMismatch;
            check.detail = Some("the stored bytes differ from what was written".into());
            return check;
        }
    }
    if let Some(listed) = listed_hash {
        if listed.as_deref() != Some(component.stored_sha256.as_str()) {
            check.status = ObjectStatus::ChecksumsDisagree;
            check.detail = Some(match listed {
                Some(h) => format!("{} says {h}", layout::CHECKSUMS_NAME),
                None => format!("not listed in {}", layout::CHECKSUMS_NAME),
            });
            return check;
        }
    }
    if let Some((status, detail)) = outcome.failure {
        check.status = match detail.strip_prefix(REFUSED) {
            Some(_) => ObjectStatus::Refused,
            None => status,
        };
        check.detail = Some(detail.trim_start_matches(REFUSED).to_string());
        return check;
    }
    if let Some(plain) = outcome.plaintext {
        if plain.sha256 != component.plaintext_sha256 || plain.bytes != component.plaintext_bytes {
            check.status = ObjectStatus::PlaintextMismatch;
            check.detail = Some("decrypted bytes differ from what was encrypted".into());
            return check;
        }
        check.detail = Some(format!(
            "decrypted and read back: {}",
            outcome.consumed.unwrap_or_default()
        ));
    }
    check
}

/// Marks an `inspect` failure that is the restore's refusal, not damage.
const REFUSED: &str = "refused: ";

/// Decompresses and reads the contents through to the end; archives through the restore's
/// own walk when `placement` is given (decrypting), a plain tar walk otherwise.
fn inspect(
    kind: ComponentKind,
    mut decoded: Box<dyn Read + '_>,
    tools: &PgTools,
    placement: Option<Result<Placement, String>>,
) -> Result<String, String> {
    match kind {
        ComponentKind::Db => {
            let mut cmd = tools.command("pg_restore");
            cmd.arg("--list").stdin(std::process::Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| e.to_string())?;
            let mut stdout = child.stdout.take();
            let listing = std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_string(&mut text);
                }
                text
            });
            let mut stdin = child.stdin.take();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = decoded
                    .read(&mut buf)
                    .map_err(|e| format!("decompression failed: {e}"))?;
                if n == 0 {
                    break;
                }
                if let Some(s) = stdin.as_mut() {
                    // pg_restore --list stops after the table of contents: keep decompressing.
                    if s.write_all(&buf[..n]).is_err() {
                        stdin = None;
                    }
                }
            }
            drop(stdin);
            let status = child.wait().map_err(|e| e.to_string())?;
            let text = listing.join().unwrap_or_default();
            if !status.success() {
                return Err(format!(
                    "pg_restore --list failed: {}",
                    child.stderr_text().trim()
                ));
            }
            let entries = text
                .lines()
                .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
                .count();
            Ok(format!("{entries} table-of-contents entries"))
        }
        ComponentKind::Files | ComponentKind::Secrets if placement.is_some() => {
            let placement = placement
                .unwrap_or_else(|| Err("not placed".into()))
                .map_err(|e| format!("{REFUSED}{e}"))?;
            let listing = archive::list(&mut decoded, &placement, false).map_err(|e| match e {
                archive::ArchiveError::Damaged(d) => format!("archive damaged: {d}"),
                refused => format!("{REFUSED}{refused}"),
            })?;
            io::copy(&mut decoded, &mut io::sink())
                .map_err(|e| format!("decompression failed: {e}"))?;
            Ok(format!(
                "{} archive entries, every one inside {}",
                listing.entries,
                placement.describe()
            ))
        }
        ComponentKind::Files | ComponentKind::Secrets => {
            let mut archive = tar::Archive::new(&mut decoded);
            let mut count = 0u64;
            for entry in archive
                .entries()
                .map_err(|e| format!("not a tar archive: {e}"))?
            {
                let mut entry =
                    entry.map_err(|e| format!("archive damaged after {count} entries: {e}"))?;
                io::copy(&mut entry, &mut io::sink())
                    .map_err(|e| format!("archive damaged: {e}"))?;
                count += 1;
            }
            io::copy(&mut decoded, &mut io::sink())
                .map_err(|e| format!("decompression failed: {e}"))?;
            Ok(format!("{count} archive entries"))
        }
    }
}
