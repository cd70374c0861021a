//! Which set a recovery restores. Named (`--set ID`, or `latest`): that one, if it verifies
//! now. Not named: the newest set whose last verification passed (a passing verification in
//! this host's journal, or a passing drill or recovery in the repository), falling back to the
//! newest set; either way the first that verifies now (every stored object re-hashed, no keys
//! needed). A named set that fails is refused, and the newest set that verifies is named.

use super::{RecoverError, RecoverSpec};
use crate::jobs::inventory::{self, Inventory};
use crate::jobs::progress::Reporter;
use crate::jobs::verify::{self, ObjectStatus, VerifySpec, VerifyTarget};
use crate::jobs::{drill_record, set_choice};
use crate::storage::journal::Journal;
use crate::storage::manifest::{Initiator, Manifest};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use serde::Serialize;
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;

/// A set passed over, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CandidateSkipped {
    pub set: String,
    pub problem: String,
}

pub(super) struct Chosen {
    pub manifest: Manifest,
    /// Why this set: named, or the newest verified one.
    pub why: String,
    pub skipped: Vec<CandidateSkipped>,
}

pub(super) async fn choose(
    spec: &RecoverSpec,
    paths: &LocalPaths,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<Chosen, RecoverError> {
    let data = Repository::open(&spec.data_repository())?;
    let listed = inventory::scan(&data).await?;
    let now = chrono::Utc::now();
    let mut candidates: Vec<&inventory::SetEntry> =
        listed.complete().filter(|s| s.can_be_latest(now)).collect();
    candidates.sort_by(|a, b| b.id.cmp(&a.id));
    if candidates.is_empty() {
        return Err(RecoverError::NoSets(data.url().into()));
    }
    let ctx = Ctx {
        spec,
        paths,
        reporter,
        cancel,
        listed: &listed,
    };
    if let Some(text) = spec.set.as_deref() {
        let id = set_choice::choose(&listed, data.url(), text)
            .map_err(|e| RecoverError::Usage(e.to_string()))?;
        return match ctx.verify(&id).await {
            Ok(manifest) => Ok(Chosen {
                why: format!("named on the command line (`{text}`); its objects verify now"),
                manifest,
                skipped: Vec::new(),
            }),
            Err(problem) => {
                let others: Vec<SetId> = candidates
                    .iter()
                    .map(|s| s.id.clone())
                    .filter(|s| *s != id)
                    .collect();
                let next = match ctx.first_verifying(&others).await.0 {
                    Some((next, _)) => format!(
                        "The newest set that verifies is {next}: run the same command with --set {next}"
                    ),
                    None => "No other set in the repository verifies either.".into(),
                };
                Err(RecoverError::SetDamaged {
                    set: id.to_string(),
                    problem,
                    next,
                })
            }
        };
    }
    let verified = verified_sets(&data, &listed, paths).await;
    let (first, rest): (Vec<SetId>, Vec<SetId>) = candidates
        .iter()
        .map(|s| s.id.clone())
        .partition(|id| verified.contains(id.as_str()));
    let order: Vec<SetId> = first.iter().chain(rest.iter()).cloned().collect();
    let (found, skipped) = ctx.first_verifying(&order).await;
    match found {
        Some((set, manifest)) => Ok(Chosen {
            why: if first.contains(&set) {
                "the newest set whose last verification passed; its objects verify now".into()
            } else {
                "no set has a passing verification on record: the newest set that verifies now"
                    .into()
            },
            manifest,
            skipped,
        }),
        None => Err(RecoverError::SetDamaged {
            set: order.first().map(|s| s.to_string()).unwrap_or_default(),
            problem: skipped
                .first()
                .map(|s| s.problem.clone())
                .unwrap_or_default(),
            next: "No set in the repository verifies.".into(),
        }),
    }
}

struct Ctx<'a> {
    spec: &'a RecoverSpec,
    paths: &'a LocalPaths,
    reporter: &'a Reporter,
    cancel: &'a CancellationToken,
    listed: &'a Inventory,
}

impl Ctx<'_> {
    /// Re-hashes every stored object of `id`; its manifest when all match, else the problems.
    async fn verify(&self, id: &SetId) -> Result<Manifest, String> {
        let spec = VerifySpec {
            repository: self.spec.data_repository(),
            secrets_repository: self.spec.secrets_repository(),
            target: VerifyTarget::Set(id.clone()),
            decrypt: None,
            paths: self.paths.clone(),
            initiator: Initiator::Cli,
        };
        self.reporter.phase(&format!("verify {id}"));
        let report = verify::run(spec, self.reporter.clone(), self.cancel.clone())
            .await
            .map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        for set in &report.sets {
            problems.extend(set.problems.iter().cloned());
            for o in set
                .objects
                .iter()
                .filter(|o| !matches!(o.status, ObjectStatus::Ok | ObjectStatus::NotChecked))
            {
                problems.push(format!(
                    "`{}`: {:?}{}",
                    o.object,
                    o.status,
                    o.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ));
            }
        }
        if !report.ok() && problems.is_empty() {
            problems.push("verification did not pass".into());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        self.listed
            .find(id)
            .and_then(|s| s.manifest.clone())
            .ok_or_else(|| "its manifest could not be read".to_string())
    }

    /// The first of `ids` that verifies, and the ones passed over before it.
    async fn first_verifying(
        &self,
        ids: &[SetId],
    ) -> (Option<(SetId, Manifest)>, Vec<CandidateSkipped>) {
        let mut skipped = Vec::new();
        for id in ids {
            match self.verify(id).await {
                Ok(m) => return (Some((id.clone(), m)), skipped),
                Err(problem) => {
                    self.reporter
                        .warn(format!("set {id} fails verification: {problem}"));
                    skipped.push(CandidateSkipped {
                        set: id.to_string(),
                        problem,
                    });
                }
            }
        }
        (None, skipped)
    }
}

/// Sets whose last verification on record passed: this host's journal, and the repository's
/// drill and recovery records (a bare host has only those).
async fn verified_sets(
    data: &Repository,
    listed: &Inventory,
    paths: &LocalPaths,
) -> BTreeSet<String> {
    let mut ok = BTreeSet::new();
    if let Ok(journal) = Journal::new(paths.journal()).read() {
        let mut last: std::collections::BTreeMap<&str, bool> = Default::default();
        for v in journal
            .verifications
            .iter()
            .filter(|v| v.repository == data.url())
        {
            last.insert(v.set_id.as_str(), v.ok);
        }
        ok.extend(
            last.into_iter()
                .filter(|(_, p)| *p)
                .map(|(s, _)| s.to_string()),
        );
    }
    let (records, _) = drill_record::load_listed(data, listed).await;
    ok.extend(
        records
            .iter()
            .filter(|r| r.passed)
            .map(|r| r.set_id.to_string()),
    );
    ok
}

/// One set of the repository, as the console's remote inventory lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RemoteSet {
    pub id: SetId,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The bytes stored for it in the data repository.
    pub stored_bytes: u64,
    /// Its last verification on record passed (this host's journal, or a passing drill or
    /// recovery in the repository).
    pub verified: bool,
}

/// The sets a recovery could restore, newest first: the same listing and the same notion of
/// "verified" that `choose` uses. No sets is `NoSets`, naming the repository.
pub async fn remote_sets(
    spec: &RecoverSpec,
    paths: &LocalPaths,
) -> Result<Vec<RemoteSet>, RecoverError> {
    let data = Repository::open(&spec.data_repository())?;
    let listed = inventory::scan(&data).await?;
    let now = chrono::Utc::now();
    let verified = verified_sets(&data, &listed, paths).await;
    let mut sets: Vec<RemoteSet> = listed
        .complete()
        .filter(|s| s.can_be_latest(now))
        .map(|s| RemoteSet {
            id: s.id.clone(),
            started_at: s.dated(),
            stored_bytes: s.objects.iter().map(|o| o.size).sum(),
            verified: verified.contains(s.id.as_str()),
        })
        .collect();
    if sets.is_empty() {
        return Err(RecoverError::NoSets(data.url().into()));
    }
    sets.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(sets)
}
