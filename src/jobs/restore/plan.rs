//! The dry run: fetch, verify and decrypt the set to scratch, read the dump's table of
//! contents and the archives through the restore's own checks, and build the plan (checks,
//! problems, steps and their projected durations). Nothing that exists is changed.

use super::{
    decrypt_with, list_dump, parse_toc, write_dump, PlanStep, RestoreError, RestorePlan,
    RestoreSpec, Scratch, TocSummary,
};
use crate::jobs::fetch::{self, Fetched};
use crate::jobs::preflight::Check;
use crate::jobs::progress::{Meter, Reporter, Sampler};
use crate::jobs::restore_db;
use crate::storage::archive;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::{ComponentKind, Manifest};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgTools};
use crate::storage::repository::Repository;
use crate::storage::roots::{self, Placement};
use crate::storage::units;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The decrypted dump, the verified objects and the manifest the real restore continues from.
pub struct Prepared {
    pub scratch: Scratch,
    pub fetched: Vec<Fetched>,
    pub manifest: Manifest,
}

/// Everything the dry run does. Returns the plan and the scratch space holding the decrypted
/// dump (the real restore continues from it).
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
    let restore_seconds = match crate::jobs::drill_record::load_all(repo).await {
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
        checks: vec![Check::passed(
            "stored hashes",
            format!("{} objects match the manifest", fetched.len()),
        )],
        steps: Vec::new(),
        problems: Vec::new(),
        database: None,
    };
    let placed = read_components(spec, manifest, fetched, crypto, dump, &mut plan)?;
    plan.checks.push(Check::passed(
        "decryption",
        "every component decrypted and its plaintext hash matches".into(),
    ));
    let listing = list_dump(tools, dump);
    match &listing {
        Ok(text) => plan.toc = parse_toc(text),
        Err(e) => plan.problems.push(format!("db.dump: {e}")),
    }
    plan.checks.push(version_check(tools, &plan.toc));
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
        plan.checks.push(Check::passed(
            "file archive",
            format!(
                "{} entries, {} files, {}; {} existing paths would be overwritten",
                files.entries,
                files.files,
                units::bytes(files.bytes),
                files.existing.len()
            ),
        ));
        if let Some(root) = placed_for(&placed, ComponentKind::Files).and_then(|p| p.roots.first())
        {
            plan.checks
                .push(free_space_check(&root.anchor, files.bytes));
        }
    }
    plan.checks.push(free_space_check(&spec.scratch_dir, 0));
    plan.steps = plan_steps(spec, manifest, &plan, &placed)
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

/// Decrypts the dump to scratch and lists each archive through the same placement and walk
/// as the extraction: what this accepts is exactly what the restore would write. Returns
/// where each archive would go.
fn read_components(
    spec: &RestoreSpec,
    manifest: &Manifest,
    fetched: &[Fetched],
    crypto: &Crypto,
    dump: &Path,
    plan: &mut RestorePlan,
) -> Result<Vec<(ComponentKind, Placement)>, RestoreError> {
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
                let kind = f.component.kind;
                let placement = match roots::place(kind, manifest, &spec.roots) {
                    Ok(p) => p,
                    Err(e) => {
                        plan.checks
                            .push(Check::failed(&format!("{} roots", kind.as_str()), e));
                        continue;
                    }
                };
                plan.checks.push(Check::passed(
                    &format!("{} roots", kind.as_str()),
                    placement.describe(),
                ));
                let listing = decrypt_with(f, crypto, counter, |decoded| {
                    archive::list(decoded, &placement, true)
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
    Ok(placed)
}

/// pg_restore must be at least as new as the pg_dump that wrote the dump.
fn version_check(tools: &PgTools, toc: &TocSummary) -> Check {
    let restore_version = tools.version("pg_restore").unwrap_or_default();
    let name = "pg_restore version";
    match (
        postgres::major_of(&restore_version),
        postgres::major_of(&toc.dumped_by),
    ) {
        (Some(r), Some(d)) if r < d => Check::failed(
            name,
            format!(
                "pg_restore {restore_version} is older than the pg_dump {} that wrote the dump",
                toc.dumped_by
            ),
        ),
        _ => Check::passed(
            name,
            format!(
                "pg_restore {restore_version} reads a dump by pg_dump {}",
                toc.dumped_by
            ),
        ),
    }
}

/// The steps the real restore would take, in its order (`run`).
fn plan_steps(
    spec: &RestoreSpec,
    manifest: &Manifest,
    plan: &RestorePlan,
    placed: &[(ComponentKind, Placement)],
) -> Vec<String> {
    let jobs = spec.jobs.max(1);
    let mut steps = Vec::new();
    if spec.safety_backup.is_some() && plan.target_exists() {
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
    if let (Some(files), Some(p)) = (&plan.files, placed_for(placed, ComponentKind::Files)) {
        steps.push(format!(
            "extract {} files into {} with {owners}",
            files.files,
            p.describe()
        ));
    }
    if let (Some(secrets), Some(p)) = (&plan.secrets, placed_for(placed, ComponentKind::Secrets)) {
        steps.push(format!(
            "extract {} secret files into {} with {owners}",
            secrets.files,
            p.describe()
        ));
    }
    steps.extend(crate::jobs::tar_source::restored_links(
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
    steps
}

fn placed_for(placed: &[(ComponentKind, Placement)], kind: ComponentKind) -> Option<&Placement> {
    placed.iter().find(|(k, _)| *k == kind).map(|(_, p)| p)
}

fn free_space_check(dir: &Path, needed: u64) -> Check {
    let name = format!("free space at {}", dir.display());
    match crate::jobs::preflight::free_bytes(dir) {
        Some(free) if free >= needed => {
            Check::passed(&name, format!("{} free", units::bytes(free)))
        }
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
