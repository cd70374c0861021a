//! The real restore on top of the dry run: safety backup, pre-restore hooks, pg_restore into a
//! new database swapped in by name, files and secrets into place, post-restore hooks, health
//! check, and the previous database dropped. Stops at the first failing step and says how to
//! go back.

use super::hooks::{health_check, run_hooks};
use super::{
    decrypt_with, dry_run, DbPlan, Prepared, RestoreError, RestoreOutcome, RestorePlan, RestoreSpec,
};
use crate::jobs::backup;
use crate::jobs::fetch::Fetched;
use crate::jobs::progress::Reporter;
use crate::jobs::restore_db::{self, DbError};
use crate::jobs::restore_journal::{RestoreJournal, UNTOUCHED};
use crate::storage::archive;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::{ComponentKind, Manifest, SetPurpose};
use crate::storage::postgres::PgTools;
use crate::storage::roots::{self, Placement};
use std::path::PathBuf;
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
    let mut steps = Steps {
        spec: &spec,
        reporter: &reporter,
        journal,
        done: Vec::new(),
    };
    let untouched = "nothing was touched".to_string();
    let safety = steps.safety_backup(&plan, &cancel).await?;
    let back_out = go_back(&spec, safety.as_deref());
    let env = vec![
        ("LIFEBOAT_SET".to_string(), plan.set_id.to_string()),
        ("LIFEBOAT_TARGET".to_string(), spec.target.display()),
    ];
    steps
        .hooks(
            &spec.hooks.pre_restore,
            "pre-restore hook",
            "the restore has not written to it yet; the pre-restore hooks may have stopped the application",
            &env,
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
    steps
        .database(&tools, &db, scratch.dump(), &back_out)
        .await?;
    let back_out = match &db.existing {
        Some(_) => format!(
            "{back_out}; the previous database is kept as {old}: to put it back by hand, on the server's postgres database run `{sql}`",
            old = db.old_name,
            sql = restore_db::swap_back_sql(&db.target_name, &db.old_name)
        ),
        None => back_out,
    };
    steps.done.push("database restored".into());
    steps.archives(&fetched, &manifest, &back_out)?;
    steps
        .hooks(
            &spec.hooks.post_restore,
            "post-restore hook",
            "the data is restored; the post-restore hooks may not all have run (the application may still be stopped)",
            &env,
            &format!("the data is restored; {back_out}"),
        )
        .await?;
    steps.health(&back_out).await?;
    if db.existing.is_some() {
        steps.drop_previous(&tools, &db).await;
    }
    drop(scratch);
    Ok(RestoreOutcome {
        plan,
        safety_backup: safety,
        steps_done: steps.done,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How to go back, as the messages after the safety backup say it.
fn go_back(spec: &RestoreSpec, safety: Option<&str>) -> String {
    match safety {
        // The safety set restores into the configured database unless told otherwise.
        Some(id) if spec.target_from_flag => format!(
            "to go back: lifeboat restore {id} --yes --target-url {}",
            restore_db::shell_word(&spec.target.display())
        ),
        Some(id) => format!("to go back: lifeboat restore {id} --yes"),
        None => "no safety backup was taken".to_string(),
    }
}

/// The steps of one real restore, sharing what each records: the journal's step lines and
/// the steps done so far.
struct Steps<'a> {
    spec: &'a RestoreSpec,
    reporter: &'a Reporter,
    journal: &'a mut RestoreJournal,
    done: Vec<String>,
}

impl Steps<'_> {
    /// A backup of the target as it is, when it exists and one is configured. Returns its id.
    async fn safety_backup(
        &mut self,
        plan: &RestorePlan,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, RestoreError> {
        let Some(mut backup_spec) = self.spec.safety_backup.clone() else {
            return Ok(None);
        };
        // Marked in its manifest and journal line: never "latest", kept by its own rule.
        backup_spec.purpose = Some(SetPurpose::Safety);
        if !plan.target_exists() {
            return Ok(None);
        }
        self.journal.step("safety backup", UNTOUCHED);
        self.reporter.phase("safety backup");
        let outcome = backup::run(backup_spec, self.reporter.clone(), cancel.clone())
            .await
            .map_err(|e| RestoreError::SafetyBackup(Box::new(e)))?;
        let id = outcome.set_id.map(|s| s.to_string()).unwrap_or_default();
        self.reporter.log(format!(
            "safety backup {id} holds the state before the restore"
        ));
        self.done.push(format!("safety backup {id}"));
        self.journal.safety_set(&id);
        Ok(Some(id))
    }

    /// Runs `hooks` in order, journaled as `phase` with `journal_state` when there are any;
    /// a failure stops with `state`.
    async fn hooks(
        &mut self,
        hooks: &[String],
        phase: &str,
        journal_state: &str,
        env: &[(String, String)],
        state: &str,
    ) -> Result<(), RestoreError> {
        if !hooks.is_empty() {
            self.journal.step(phase, journal_state);
        }
        run_hooks(hooks, phase, env, self.reporter, &mut self.done, state).await
    }

    /// pg_restore into a new database, swapped in by name (`restore_db`).
    async fn database(
        &mut self,
        tools: &PgTools,
        db: &DbPlan,
        dump: PathBuf,
        back_out: &str,
    ) -> Result<(), RestoreError> {
        self.journal.step(
            "pg_restore",
            &format!(
                "the database {} is untouched until the swap at the end of this step (a partly \
                 restored {} may be left beside it: drop it), or swapped with its previous copy \
                 kept as {}",
                db.target_name, db.new_name, db.old_name
            ),
        );
        let (t, target, jobs, db2) = (
            tools.clone(),
            self.spec.target.clone(),
            self.spec.jobs.max(1),
            db.clone(),
        );
        let restored = tokio::task::spawn_blocking(move || {
            restore_db::restore_and_swap(&t, &target, &db2, &dump, jobs)
        })
        .await
        .unwrap_or_else(|e| Err(e.into()));
        let cancelled = tools.cancel_token().is_some_and(|c| c.is_cancelled());
        if let (Err(reason), true) = (&restored, cancelled) {
            return Err(RestoreError::Cancelled(format!(
                "{reason}; the database {} was not touched",
                db.target_name
            )));
        }
        if let Err(reason) = restored {
            return Err(RestoreError::Step {
                step: "pg_restore".into(),
                reason: reason.to_string(),
                state: format!(
                    "the database {} was not touched; {back_out}",
                    db.target_name
                ),
            });
        }
        self.done.push(format!("roles: {}", db.roles.summary()));
        Ok(())
    }

    /// The file and secret archives into place, each decided again by the function the dry
    /// run used.
    fn archives(
        &mut self,
        fetched: &[Fetched],
        manifest: &Manifest,
        back_out: &str,
    ) -> Result<(), RestoreError> {
        let crypto = Crypto::for_decryption(&self.spec.encryption)?;
        for f in fetched {
            let label = match f.component.kind {
                ComponentKind::Files => "files",
                ComponentKind::Secrets => "secrets",
                ComponentKind::Db => continue,
            };
            self.reporter.phase(&format!("restore {label}"));
            let counter = Arc::new(AtomicU64::new(0));
            let placement = roots::place(f.component.kind, manifest, &self.spec.roots);
            let dest = placement
                .as_ref()
                .map(Placement::describe)
                .unwrap_or_default();
            self.journal.step(
                &format!("restore {label}"),
                &format!("the database is restored; {label} may be partly extracted into {dest}"),
            );
            let owners = self.spec.restore_owners;
            let extracted = placement.map_err(|e| e.to_string()).and_then(|placement| {
                decrypt_with(f, &crypto, counter, |decoded| {
                    archive::extract(decoded, &placement, owners)
                })
                .map_err(|e| e.to_string())
            });
            match extracted {
                Ok(l) => self
                    .done
                    .push(format!("{label}: {} files into {dest}", l.files)),
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
        Ok(())
    }

    /// The configured health check, when there is one.
    async fn health(&mut self, back_out: &str) -> Result<(), RestoreError> {
        let Some(health) = &self.spec.hooks.health else {
            return Ok(());
        };
        self.journal.step(
            "health check",
            "the data is restored; the application's health was not confirmed",
        );
        self.reporter.phase("health check");
        let h = health.clone();
        let verdict =
            tokio::task::spawn_blocking(move || health_check(&h, Duration::from_secs(30)))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
        match verdict {
            Ok(text) => {
                self.done.push(format!("health: {text}"));
                Ok(())
            }
            Err(reason) => Err(RestoreError::Step {
                step: "health check".into(),
                reason,
                state: format!(
                    "the data is restored but the application is not healthy; {back_out}"
                ),
            }),
        }
    }

    /// Drops the previous database once every step passed; a failure is only a warning.
    async fn drop_previous(&mut self, tools: &PgTools, db: &DbPlan) {
        let (t, target, old) = (tools.clone(), self.spec.target.clone(), db.old_name.clone());
        match tokio::task::spawn_blocking(move || restore_db::drop_old(&t, &target, &old))
            .await
            .map_err(DbError::from)
            .and_then(|dropped| dropped.map_err(DbError::from))
        {
            Ok(()) => self
                .done
                .push(format!("previous database {} dropped", db.old_name)),
            Err(e) => self.reporter.warn(format!(
                "the previous database {} could not be dropped ({e}); drop it by hand when done",
                db.old_name
            )),
        }
    }
}
