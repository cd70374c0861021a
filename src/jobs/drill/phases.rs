//! The timed phases of a drill that started: fetch and verify, decrypt (while the throwaway
//! target is prepared), restore, checks and manual steps, each on the clock. What they find
//! is kept in [`Drill`] for the record; the first failure stops them.

use super::checks::{run_checks, DrillChecks};
use super::clock::Clock;
use super::decrypt::decrypt_all;
use super::failure::DrillFailure;
use super::target::{Target, TargetError};
use super::{DrillSpec, ManualInput};
use crate::jobs::drill_record::{CheckResult, ManualStep};
use crate::jobs::fetch::{self, Fetched};
use crate::jobs::progress::{Meter, Reporter};
use crate::jobs::restore::Scratch;
use crate::jobs::restore_db;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::Manifest;
use crate::storage::postgres::{PgConn, PgTools};
use crate::storage::repository::Repository;
use crate::storage::units;
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One drill under way: what it was asked, and what its phases found so far.
pub(super) struct Drill<'a> {
    pub(super) spec: &'a mut DrillSpec,
    pub(super) tools: PgTools,
    pub(super) manifest: &'a Manifest,
    pub(super) started: DateTime<Utc>,
    pub(super) reporter: Reporter,
    pub(super) cancel: CancellationToken,
    pub(super) clock: Clock,
    pub(super) checks: Vec<CheckResult>,
    pub(super) newest_data: Option<DateTime<Utc>>,
    pub(super) rto: Option<f64>,
    pub(super) target_text: String,
    pub(super) manual: Vec<ManualStep>,
    pub(super) restored_bytes: u64,
    /// Kept for the teardown whenever it was made, whatever failed after.
    pub(super) target: Option<Target>,
}

impl Drill<'_> {
    /// The phases in order; the first failure (or a cancellation between phases) stops them.
    pub(super) async fn phases(
        &mut self,
        data: &Repository,
        secrets: Option<&Repository>,
        scratch: &Scratch,
    ) -> Result<(), DrillFailure> {
        let fetched = self.fetch(data, secrets, scratch).await?;
        self.stop_if_cancelled()?;
        // decrypt, while the throwaway target is prepared (an ephemeral cluster's initdb and
        // start take seconds that would otherwise add to the RTO). gpgme is set up first: it
        // learns about gpg by running gpgconf through a pipe without close-on-exec, which the
        // target's postgres, started meanwhile, would inherit and hold open for good.
        let crypto = Crypto::for_decryption(&self.spec.encryption).map_err(DrillFailure::from);
        let preparing = self.prepare_target();
        if let Err(e) = self.decrypt(crypto, fetched, scratch).await {
            self.target = settle(preparing).await.ok();
            return Err(e);
        }
        if self.cancel.is_cancelled() {
            self.target = settle(preparing).await.ok();
            return Err(DrillFailure::Cancelled);
        }
        let conn = self.restore(preparing, scratch).await?;
        self.stop_if_cancelled()?;
        let failed = self.verify_restored(&conn).await;
        self.stop_if_cancelled()?;
        self.manual_steps(failed).await;
        Ok(())
    }

    fn stop_if_cancelled(&self) -> Result<(), DrillFailure> {
        match self.cancel.is_cancelled() {
            true => Err(DrillFailure::Cancelled),
            false => Ok(()),
        }
    }

    async fn fetch(
        &mut self,
        data: &Repository,
        secrets: Option<&Repository>,
        scratch: &Scratch,
    ) -> Result<Vec<Fetched>, DrillFailure> {
        let t = self.clock.begin("fetch and verify");
        let mut meter = Meter::default();
        let fetched = match fetch::fetch_set(
            data,
            secrets,
            self.manifest,
            scratch.path(),
            &mut meter,
            &self.cancel,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => {
                self.clock.end("fetch and verify", t, false, e.to_string());
                return Err(e.into());
            }
        };
        let bytes: u64 = fetched.iter().map(|f| f.component.stored_bytes).sum();
        self.clock.end(
            "fetch and verify",
            t,
            true,
            format!(
                "{} objects, {}, sizes match the manifest (stored SHA-256 checked while decrypting)",
                fetched.len(),
                units::bytes(bytes)
            ),
        );
        Ok(fetched)
    }

    /// Starts making the throwaway target on a blocking thread.
    fn prepare_target(&self) -> JoinHandle<Result<Target, TargetError>> {
        let (server, tools) = (self.spec.server.clone(), self.tools.uncancellable());
        let name = format!(
            "{}_drill_{}",
            self.manifest.source.database,
            self.started.format("%Y%m%d%H%M%S")
        );
        tokio::task::spawn_blocking(move || Target::create(server, &tools, name))
    }

    async fn decrypt(
        &mut self,
        crypto: Result<Crypto, DrillFailure>,
        fetched: Vec<Fetched>,
        scratch: &Scratch,
    ) -> Result<(), DrillFailure> {
        let t = self.clock.begin("decrypt");
        let decrypted = match crypto {
            Ok(crypto) => {
                let (dump, manifest) = (scratch.dump(), self.manifest.clone());
                let roots = self.spec.roots.clone();
                tokio::task::spawn_blocking(move || {
                    decrypt_all(&fetched, &crypto, &dump, &manifest, &roots)
                })
                .await
                .unwrap_or_else(|e| Err(e.into()))
            }
            Err(e) => Err(e),
        };
        match decrypted {
            Ok((detail, bytes)) => {
                self.restored_bytes = bytes;
                self.clock.end("decrypt", t, true, detail);
                Ok(())
            }
            Err(e) => {
                self.clock.end("decrypt", t, false, e.to_string());
                Err(e)
            }
        }
    }

    /// pg_restore into the target once it is made (its making counts in this phase). Returns
    /// the connection to the restored database.
    async fn restore(
        &mut self,
        preparing: JoinHandle<Result<Target, TargetError>>,
        scratch: &Scratch,
    ) -> Result<PgConn, DrillFailure> {
        let t = self.clock.begin("restore");
        let made = match settle(preparing).await {
            Ok(m) => m,
            Err(e) => {
                self.clock.end(
                    "restore",
                    t,
                    false,
                    format!("cannot create the throwaway target: {e}"),
                );
                return Err(e);
            }
        };
        self.target_text = made.describe();
        let conn = made.conn();
        // The same role decisions as the real restore; only a throwaway cluster of the
        // drill's own gets the missing roles created.
        let throwaway = made.is_cluster();
        self.target = Some(made);
        if self.cancel.is_cancelled() {
            self.clock
                .end("restore", t, false, "cancelled before pg_restore");
            return Err(DrillFailure::Cancelled);
        }
        let (t2, c2, dump, jobs, roles, work) = (
            self.tools.clone(),
            conn.clone(),
            scratch.dump(),
            self.spec.jobs.max(1),
            self.manifest.source.roles.clone().unwrap_or_default(),
            scratch.path().to_path_buf(),
        );
        let restored = tokio::task::spawn_blocking(move || {
            restore_db::restore_for_drill(&t2, &c2, &dump, &work, &roles, throwaway, jobs)
        })
        .await
        .unwrap_or_else(|e| Err(e.into()));
        match restored {
            Ok(roles) => {
                self.clock.end(
                    "restore",
                    t,
                    true,
                    format!(
                        "pg_restore -j {} into {}; {roles}",
                        self.spec.jobs.max(1),
                        self.target_text
                    ),
                );
                Ok(conn)
            }
            Err(e) => {
                self.clock.end("restore", t, false, e.to_string());
                Err(DrillFailure::Restore(e))
            }
        }
    }

    /// The checks on the restored database; the RTO is taken when they all pass. Returns how
    /// many failed.
    async fn verify_restored(&mut self, conn: &PgConn) -> usize {
        let t = self.clock.begin("checks");
        let (t2, c2, m2) = (self.tools.clone(), conn.clone(), self.manifest.clone());
        let checks_spec = DrillChecks {
            checks: self.spec.checks.clone(),
            freshness_query: self.spec.freshness_query.clone(),
            health_command: self.spec.health_command.clone(),
        };
        let (results, newest) =
            tokio::task::spawn_blocking(move || run_checks(&t2, &c2, &m2, &checks_spec))
                .await
                .unwrap_or_default();
        let failed = results.iter().filter(|c| !c.ok).count();
        self.clock.end(
            "checks",
            t,
            failed == 0,
            format!("{} checks, {failed} failed", results.len()),
        );
        self.checks = results;
        self.newest_data = newest;
        if failed == 0 {
            self.rto = Some(self.seconds_since_start());
        }
        failed
    }

    fn seconds_since_start(&self) -> f64 {
        (Utc::now() - self.started).num_milliseconds() as f64 / 1000.0
    }

    /// The operator's manual steps, ticked from the console; headless, they are recorded as
    /// not done.
    async fn manual_steps(&mut self, failed: usize) {
        if self.manual.is_empty() {
            return;
        }
        let t = self.clock.begin("manual steps");
        let Some(input) = self.spec.manual_input.as_mut() else {
            self.clock
                .end("manual steps", t, true, "headless: recorded as not done");
            return;
        };
        loop {
            let next = tokio::select! {
                n = input.recv() => n,
                _ = self.cancel.cancelled() => None,
            };
            match next {
                Some(ManualInput::Tick { index, note }) => {
                    if let Some(m) = self.manual.get_mut(index) {
                        m.done = true;
                        m.at = Some(Utc::now());
                        m.by = std::env::var("USER")
                            .ok()
                            .or_else(|| Some("operator".into()));
                        m.note = note;
                        self.reporter.log(format!("✓ manual: {}", m.step));
                    }
                    if self.manual.iter().all(|m| m.done) {
                        break;
                    }
                }
                Some(ManualInput::Finish) | None => break,
            }
        }
        let done = self.manual.iter().filter(|m| m.done).count();
        self.clock.end(
            "manual steps",
            t,
            done == self.manual.len(),
            format!("{done} of {} done", self.manual.len()),
        );
        if failed == 0 && done == self.manual.len() {
            // The clock kept running through the manual steps.
            self.rto = Some(self.seconds_since_start());
        }
    }

    /// Removes the target and the decrypted files; always runs.
    pub(super) async fn teardown(&mut self, scratch: Option<Scratch>) {
        let t = self.clock.begin("teardown");
        let mut torn = Vec::new();
        let mut teardown_ok = true;
        if let Some(target) = self.target.take() {
            let t2 = self.tools.uncancellable();
            match tokio::task::spawn_blocking(move || target.teardown(&t2))
                .await
                .unwrap_or_else(|e| Err(e.into()))
            {
                Ok(text) => torn.push(text),
                Err(e) => {
                    teardown_ok = false;
                    torn.push(format!("✗ {e}"));
                }
            }
        }
        drop(scratch);
        torn.push("decrypted scratch files removed".into());
        self.clock.end("teardown", t, teardown_ok, torn.join("; "));
    }
}

/// Waits for the target being made.
async fn settle(
    preparing: JoinHandle<Result<Target, TargetError>>,
) -> Result<Target, DrillFailure> {
    preparing.await?.map_err(DrillFailure::Target)
}
