//! The restore drill: prove a set brings the application back, and measure how long that
//! takes (RTO) and how much data it would lose (RPO). Timed phases: fetch and verify (one
//! streamed pass), decrypt, restore into a throwaway target (an ephemeral local cluster, or a
//! scratch database `<db>_drill_<timestamp>` on a configured server, never the source),
//! checks, manual steps, teardown. Teardown always runs: no scratch database, cluster or
//! decrypted file is left behind, also when the drill fails or is cancelled.

mod checks;
mod clock;
mod decrypt;
mod target;

use checks::{run_checks, DrillChecks};
use clock::Clock;
use decrypt::decrypt_all;
use target::Target;

use super::drill_record::{DrillRecord, ManualStep, DRILL_FORMAT};
use super::fetch;
use super::inventory;
use super::progress::{Meter, Reporter};
use super::restore::Scratch;
use super::restore_db;
use crate::storage::gpg::{Crypto, EncryptionSpec};
use crate::storage::journal::{Journal, JournalEntry};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgConn, PgTools};
use crate::storage::repository::{Repository, RepositorySpec};
use crate::storage::roots::RootsSpec;
use crate::storage::setid::SetId;
use chrono::Utc;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlCheck {
    pub name: String,
    pub sql: String,
    pub expect: String,
}

/// The operator's answers during the manual phase (from the console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualInput {
    Tick {
        index: usize,
        note: Option<String>,
    },
    /// Stop waiting: steps not ticked are recorded as not done.
    Finish,
}

#[derive(Debug)]
pub struct DrillSpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    /// `None`: the newest complete set.
    pub set: Option<SetId>,
    pub encryption: EncryptionSpec,
    pub pg_bin_dir: Option<PathBuf>,
    /// A server to create the scratch database on; `None`: an ephemeral local cluster.
    pub server: Option<PgConn>,
    pub checks: Vec<SqlCheck>,
    pub freshness_query: Option<String>,
    /// Run with `sh -c`, with LIFEBOAT_DRILL_DATABASE_URL pointing at the restored database.
    pub health_command: Option<String>,
    pub manual: Vec<String>,
    pub manual_input: Option<mpsc::UnboundedReceiver<ManualInput>>,
    pub rto_target: Duration,
    pub rpo_target: Duration,
    pub scratch_dir: PathBuf,
    /// The configured roots the set's archives are checked against, as a restore would.
    pub roots: RootsSpec,
    pub jobs: u32,
    pub initiator: Initiator,
    pub paths: LocalPaths,
}

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Repo(#[from] crate::storage::repository::RepoError),
    #[error("no complete set in {0} to drill")]
    NothingToDrill(String),
    /// The set is not in the repository: a usage error; nothing is recorded.
    #[error(transparent)]
    NoSuchSet(#[from] super::set_choice::SetChoiceError),
    /// The drill could not start (the set's manifest or the drill server out of reach):
    /// nothing was restored, so nothing is recorded as a drill.
    #[error("{0}")]
    Setup(String),
    #[error("the drill record could not be stored in {repository}: {reason}")]
    Store { repository: String, reason: String },
}

/// Runs a drill; the record is returned (and stored) whether it passed or failed. An error
/// means the drill could not even be recorded.
pub async fn run(
    mut spec: DrillSpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<DrillRecord, DrillError> {
    let started = Utc::now();
    let drill_id = SetId::new(started).to_string();
    let data = Repository::open(&spec.repository)?;
    let secrets = spec
        .secrets_repository
        .as_ref()
        .map(Repository::open)
        .transpose()?;
    let listed = inventory::scan(&data).await?;
    let set = match spec.set.clone() {
        Some(s) => super::set_choice::choose(&listed, data.url(), s.as_str())?,
        None => listed
            .latest(started)
            .map(|s| s.id.clone())
            .ok_or_else(|| DrillError::NothingToDrill(data.url().into()))?,
    };
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None);
    // Before the clock starts: without the manifest there is no snapshot time to measure the
    // RPO from, and without the server no target; either way nothing would be restored, so
    // it is a drill that did not run, not a failed one.
    let manifest = fetch::read_manifest(&data, &set)
        .await
        .map_err(|e| DrillError::Setup(format!("cannot read the manifest of set {set}: {e}")))?;
    if let Some(server) = spec.server.clone() {
        let t2 = tools.clone();
        tokio::task::spawn_blocking(move || {
            postgres::on_maintenance_db(&t2, &server, "SELECT 1")
                .map_err(|e| format!("cannot reach the drill server {}: {e}", server.display()))
        })
        .await
        .map_err(|e| DrillError::Setup(e.to_string()))?
        .map_err(|e| DrillError::Setup(format!("{e} (check [drill].server_url)")))?;
    }
    let mut clock = Clock {
        phases: Vec::new(),
        reporter: reporter.clone(),
    };
    let mut reasons: Vec<String> = Vec::new();
    let mut checks = Vec::new();
    let mut newest_data = None;
    let mut rto = None;
    let mut target_text = String::from("not created");
    let mut manual: Vec<ManualStep> = spec
        .manual
        .iter()
        .map(|s| ManualStep {
            step: s.clone(),
            done: false,
            at: None,
            by: None,
            note: None,
        })
        .collect();
    let manifest_snapshot = manifest.snapshot_time;
    let mut restored_bytes = 0u64;
    let mut target: Option<Target> = None;
    let scratch = Scratch::create(&spec.scratch_dir);

    let outcome: Result<(), String> = async {
        let scratch = scratch.as_ref().map_err(|e| e.to_string())?;
        // fetch and verify
        let t = clock.begin("fetch and verify");
        let mut meter = Meter::default();
        let fetched = match fetch::fetch_set(
            &data,
            secrets.as_ref(),
            &manifest,
            scratch.path(),
            &mut meter,
            &cancel,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => {
                clock.end("fetch and verify", t, false, e.to_string());
                return Err(e.to_string());
            }
        };
        let bytes: u64 = fetched.iter().map(|f| f.component.stored_bytes).sum();
        clock.end(
            "fetch and verify",
            t,
            true,
            format!(
                "{} objects, {} MiB, sizes match the manifest (stored SHA-256 checked while decrypting)",
                fetched.len(),
                bytes / (1024 * 1024)
            ),
        );
        if cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        // decrypt, while the throwaway target is prepared (an ephemeral cluster's initdb and
        // start take seconds that would otherwise add to the RTO). gpgme is set up first: it
        // learns about gpg by running gpgconf through a pipe without close-on-exec, which the
        // target's postgres, started meanwhile, would inherit and hold open for good.
        let crypto = Crypto::for_decryption(&spec.encryption).map_err(|e| e.to_string());
        let preparing = tokio::task::spawn_blocking({
            let (server, tools) = (spec.server.clone(), tools.clone());
            let name = format!(
                "{}_drill_{}",
                manifest.source.database,
                started.format("%Y%m%d%H%M%S")
            );
            move || Target::create(server, &tools, name)
        });
        // Whatever happens next, a target that was made is kept for the teardown.
        let settle = |preparing: tokio::task::JoinHandle<Result<Target, String>>| async move {
            preparing.await.map_err(|e| e.to_string()).and_then(|r| r)
        };
        let t = clock.begin("decrypt");
        let decrypted = match crypto {
            Ok(crypto) => {
                let (fetched, dump, manifest) = (fetched.clone(), scratch.dump(), manifest.clone());
                let roots = spec.roots.clone();
                tokio::task::spawn_blocking(move || {
                    decrypt_all(&fetched, &crypto, &dump, &manifest, &roots)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            }
            Err(e) => Err(e),
        };
        match decrypted {
            Ok((detail, bytes)) => {
                restored_bytes = bytes;
                clock.end("decrypt", t, true, detail)
            }
            Err(e) => {
                clock.end("decrypt", t, false, e.clone());
                target = settle(preparing).await.ok();
                return Err(e);
            }
        }
        if cancel.is_cancelled() {
            target = settle(preparing).await.ok();
            return Err("cancelled".into());
        }
        // restore
        let t = clock.begin("restore");
        let made = settle(preparing).await;
        let made = match made {
            Ok(m) => m,
            Err(e) => {
                clock.end(
                    "restore",
                    t,
                    false,
                    format!("cannot create the throwaway target: {e}"),
                );
                return Err(e);
            }
        };
        target_text = made.describe();
        let conn = made.conn();
        target = Some(made);
        if cancel.is_cancelled() {
            clock.end("restore", t, false, "cancelled before pg_restore");
            return Err("cancelled".into());
        }
        // The same role decisions as the real restore; only a throwaway cluster of the
        // drill's own gets the missing roles created.
        let throwaway = target.as_ref().is_some_and(Target::is_cluster);
        let (t2, c2, dump, jobs, roles, work) = (
            tools.clone(),
            conn.clone(),
            scratch.dump(),
            spec.jobs.max(1),
            manifest.source.roles.clone().unwrap_or_default(),
            scratch.path().to_path_buf(),
        );
        let restored = tokio::task::spawn_blocking(move || {
            restore_db::restore_for_drill(&t2, &c2, &dump, &work, &roles, throwaway, jobs)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match restored {
            Ok(roles) => clock.end(
                "restore",
                t,
                true,
                format!("pg_restore -j {} into {target_text}; {roles}", spec.jobs.max(1)),
            ),
            Err(e) => {
                clock.end("restore", t, false, e.clone());
                return Err(e);
            }
        }
        if cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        // checks
        let t = clock.begin("checks");
        let (t2, c2, m2) = (tools.clone(), conn.clone(), manifest.clone());
        let checks_spec = DrillChecks {
            checks: spec.checks.clone(),
            freshness_query: spec.freshness_query.clone(),
            health_command: spec.health_command.clone(),
        };
        let (results, newest) =
            tokio::task::spawn_blocking(move || run_checks(&t2, &c2, &m2, &checks_spec))
                .await
                .unwrap_or_default();
        let failed = results.iter().filter(|c| !c.ok).count();
        clock.end(
            "checks",
            t,
            failed == 0,
            format!("{} checks, {failed} failed", results.len()),
        );
        checks = results;
        newest_data = newest;
        if failed == 0 {
            rto = Some((Utc::now() - started).num_milliseconds() as f64 / 1000.0);
        }
        if cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        // manual steps
        if !manual.is_empty() {
            let t = clock.begin("manual steps");
            match spec.manual_input.as_mut() {
                None => clock.end("manual steps", t, true, "headless: recorded as not done"),
                Some(input) => {
                    loop {
                        let next = tokio::select! {
                            n = input.recv() => n,
                            _ = cancel.cancelled() => None,
                        };
                        match next {
                            Some(ManualInput::Tick { index, note }) => {
                                if let Some(m) = manual.get_mut(index) {
                                    m.done = true;
                                    m.at = Some(Utc::now());
                                    m.by = std::env::var("USER")
                                        .ok()
                                        .or_else(|| Some("operator".into()));
                                    m.note = note;
                                    reporter.log(format!("✓ manual: {}", m.step));
                                }
                                if manual.iter().all(|m| m.done) {
                                    break;
                                }
                            }
                            Some(ManualInput::Finish) | None => break,
                        }
                    }
                    let done = manual.iter().filter(|m| m.done).count();
                    clock.end(
                        "manual steps",
                        t,
                        done == manual.len(),
                        format!("{done} of {} done", manual.len()),
                    );
                    if failed == 0 && done == manual.len() {
                        // The clock kept running through the manual steps.
                        rto = Some((Utc::now() - started).num_milliseconds() as f64 / 1000.0);
                    }
                }
            }
        }
        Ok(())
    }
    .await;

    // teardown: always.
    let t = clock.begin("teardown");
    let mut torn = Vec::new();
    let mut teardown_ok = true;
    if let Some(target) = target.take() {
        let t2 = tools.clone();
        match tokio::task::spawn_blocking(move || target.teardown(&t2))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
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
    clock.end("teardown", t, teardown_ok, torn.join("; "));

    // A cancelled drill never passes, whichever phase the cancellation reached; it is
    // recorded as cancelled, which neither status nor the dashboard counts as a verdict.
    let cancelled = cancel.is_cancelled();
    if cancelled {
        reasons.push("cancelled by the operator".into());
    } else if let Err(e) = &outcome {
        reasons.push(e.clone());
    }
    for c in checks.iter().filter(|c| !c.ok) {
        reasons.push(format!(
            "check `{}` failed: expected {}, got {}",
            c.name, c.expected, c.actual
        ));
    }
    let rpo_snapshot = (started - manifest_snapshot).num_milliseconds() as f64 / 1000.0;
    let rpo_data = newest_data.map(|n| (started - n).num_milliseconds() as f64 / 1000.0);
    let rpo = rpo_data.unwrap_or(rpo_snapshot);
    match rto {
        Some(r) if r > spec.rto_target.as_secs_f64() => reasons.push(format!(
            "RTO {r:.1} s is over the target {} s",
            spec.rto_target.as_secs()
        )),
        None if reasons.is_empty() => reasons.push("the checks never went green".into()),
        _ => {}
    }
    if rpo > spec.rpo_target.as_secs_f64() {
        reasons.push(format!(
            "RPO {rpo:.0} s is over the target {} s",
            spec.rpo_target.as_secs()
        ));
    }
    let record = DrillRecord {
        format: DRILL_FORMAT,
        drill_id: drill_id.clone(),
        set_id: set.to_string(),
        set_snapshot_time: manifest_snapshot,
        started_at: started,
        finished_at: Utc::now(),
        host: this_host(),
        initiator: spec.initiator.as_str().into(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        pg_restore_version: tools.version("pg_restore").unwrap_or_default(),
        target: target_text,
        phases: clock.phases,
        checks,
        manual,
        rto_seconds: rto,
        rpo_data_seconds: rpo_data,
        newest_data,
        rpo_snapshot_seconds: rpo_snapshot,
        restored_bytes,
        rto_target_seconds: spec.rto_target.as_secs_f64(),
        rpo_target_seconds: spec.rpo_target.as_secs_f64(),
        passed: reasons.is_empty(),
        reasons,
        cancelled,
        freshness_query: spec.freshness_query.clone(),
    };
    data.put(
        &format!("{}{drill_id}.json", layout::DRILLS_DIR),
        record.to_json(),
    )
    .await
    .map_err(|e| DrillError::Store {
        repository: data.url().into(),
        reason: e.to_string(),
    })?;
    // The journal's drill summaries stand in for the verdict when the repository's record
    // cannot be read; a cancelled drill reached none.
    if record.cancelled {
        return Ok(record);
    }
    let journal = Journal::new(spec.paths.journal());
    if let Err(e) = journal.append(&JournalEntry::Drill(
        crate::storage::journal::DrillSummary {
            drill_id,
            set_id: record.set_id.clone(),
            at: record.started_at,
            passed: record.passed,
            rto_seconds: record.rto_seconds,
            rpo_seconds: Some(record.rpo_seconds()),
            repository: data.url().into(),
        },
    )) {
        reporter.warn(e.to_string());
    }
    Ok(record)
}
