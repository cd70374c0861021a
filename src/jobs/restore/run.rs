//! The real restore on top of the dry run: safety backup, pre-restore hooks, pg_restore into a
//! new database swapped in by name, files and secrets into place, post-restore hooks, health
//! check, and the previous database dropped. Stops at the first failing step and says how to
//! go back.

use super::hooks::{health_check, run_hooks};
use super::{decrypt_with, dry_run, Prepared, RestoreError, RestoreOutcome, RestoreSpec};
use crate::jobs::backup;
use crate::jobs::progress::Reporter;
use crate::jobs::restore_db;
use crate::jobs::restore_journal::{RestoreJournal, UNTOUCHED};
use crate::storage::archive;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::{ComponentKind, SetPurpose};
use crate::storage::postgres::PgTools;
use crate::storage::roots::{self, Placement};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
        ("LIFEBOAT_SET".to_string(), plan.set_id.clone()),
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
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None);
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
