//! The recovery's steps, run in the runbook's order from the first that did not finish. Each
//! is written down when it starts and when it ends (`runbook`); each reuses the restore's or
//! the drill's piece: `fetch::fetch_set` and a re-hash of what was downloaded, the restore's
//! one-pass decrypt-and-verify, `restore_db::restore_for_drill` into an empty database,
//! `archive::extract` through `roots::place`, the restore's hooks and health check, the
//! drill's checks (row counts, freshness).

use super::plan::{roots_spec, Prepared};
use super::runbook::{FetchedObject, Runbook, StepState};
use super::{record, target, RecoverError, RecoverSpec, DEFAULT_MANUAL_STEPS, HEALTH_TIMEOUT};
use crate::jobs::drill::{run_checks, DrillChecks};
use crate::jobs::drill_record::ManualStep;
use crate::jobs::fetch::{self, Fetched};
use crate::jobs::progress::{Meter, Reporter};
use crate::jobs::restore::{self, decrypt_with, write_dump, RestoreError, Scratch};
use crate::jobs::restore_db;
use crate::storage::archive;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::{ComponentKind, Manifest};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{PgConn, PgTools};
use crate::storage::repository::Repository;
use crate::storage::roots;
use crate::storage::setid::SetId;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A new runbook for a confirmed plan.
pub fn begin(spec: &RecoverSpec, prepared: &Prepared) -> Runbook {
    Runbook::new(
        SetId::new(Utc::now()).to_string(),
        spec.clone(),
        prepared.manifest.set_id.clone(),
        prepared.plan.old_host.database.clone(),
        prepared.conn.display(),
    )
}

/// Runs the runbook's unfinished steps. `replace_confirmed`: the operator typed the target's
/// name (or passed `--replace-target NAME`), so a target that holds data may be emptied.
pub async fn run(
    book: Runbook,
    manifest: Manifest,
    paths: &LocalPaths,
    reporter: Reporter,
    cancel: CancellationToken,
    replace_confirmed: bool,
) -> Result<Runbook, RecoverError> {
    let dir = super::recoveries_dir(paths);
    // Held until this function returns: while it is, the recovery is "running" to anyone
    // asking (`worker::status`), and a second worker for it is refused.
    let _worker = super::worker::hold(&dir, &book.id)?;
    let (conn, tools) = target::resolve(&book.spec, &manifest)?;
    let mut r = Recovery {
        work: Runbook::work_dir(&dir, &book.id),
        dir,
        book,
        manifest,
        tools: tools.cancelled_by(cancel.clone()),
        conn,
        reporter,
        cancel,
        scratch: None,
        replace_confirmed,
    };
    r.save()?;
    for name in super::STEPS {
        if r.book.is_done(name) {
            continue;
        }
        if r.cancel.is_cancelled() {
            return Err(RecoverError::Cancelled { step: name });
        }
        r.start(name)?;
        let result = r.step(name).await;
        match result {
            Ok(detail) => r.end(name, StepState::Done, detail)?,
            Err(e) => {
                let e = if r.cancel.is_cancelled() {
                    RecoverError::Cancelled { step: name }
                } else {
                    e
                };
                r.book.error = Some(e.to_string());
                r.end(name, StepState::Failed, e.to_string())?;
                return Err(e);
            }
        }
    }
    r.scratch = None;
    r.book.error = None;
    r.book.finished_at = Some(Utc::now());
    let record = record::build(&r.book, &r.manifest, &r.tools);
    r.book.record = Some(record.clone());
    r.save()?;
    if let Err(e) = record::store(&r.book.spec, &record).await {
        r.reporter.warn(format!(
            "the recovery record could not be stored in the repository ({e}); it is in the runbook {}",
            Runbook::path_in(&r.dir, &r.book.id).display()
        ));
    }
    if r.book.spec.rehearse {
        teardown(&r.book.spec, &r.tools, &r.reporter);
    }
    if let Err(e) = std::fs::remove_dir_all(&r.work) {
        if e.kind() != std::io::ErrorKind::NotFound {
            r.reporter
                .warn(format!("{}: {e}; remove it by hand", r.work.display()));
        }
    }
    Ok(r.book)
}

/// A rehearsal's end: its cluster stopped, its cluster and files removed (they live in one
/// directory made for it, `rehearsal_dir`).
fn teardown(spec: &RecoverSpec, tools: &PgTools, reporter: &Reporter) {
    let super::TargetChoice::NewCluster(data) = &spec.target else {
        return;
    };
    let bin = tools
        .program("pg_ctl")
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let cluster = crate::storage::local_cluster::LocalCluster {
        data_dir: data.clone(),
        bin_dir: bin,
    };
    if let Err(e) = cluster.stop() {
        reporter.warn(format!(
            "the rehearsal's cluster in {} did not stop: {e}",
            data.display()
        ));
    }
    if let Some(dir) = data.parent() {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => reporter.log(format!("rehearsal torn down: {} removed", dir.display())),
            Err(e) => reporter.warn(format!("{}: {e}; remove it by hand", dir.display())),
        }
    }
}

struct Recovery {
    dir: PathBuf,
    work: PathBuf,
    book: Runbook,
    manifest: Manifest,
    tools: PgTools,
    conn: PgConn,
    reporter: Reporter,
    cancel: CancellationToken,
    /// The decrypted dump: it never outlives this process (`Scratch`).
    scratch: Option<Scratch>,
    replace_confirmed: bool,
}

/// A test build's hook: SIGKILL this process at a step's start or end
/// (`LIFEBOAT_TEST_KILL_AT=pg_restore:start`), after the runbook recorded it. Compiled only
/// with debug assertions, so a release binary has no such switch.
fn kill_point(name: &str, at: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("LIFEBOAT_TEST_KILL_AT").is_ok_and(|v| v == format!("{name}:{at}")) {
        // SAFETY: raise(2) has no preconditions.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (name, at);
}

impl Recovery {
    fn save(&self) -> Result<(), RecoverError> {
        self.book
            .save(&self.dir)
            .map_err(|source| RecoverError::Runbook {
                path: Runbook::path_in(&self.dir, &self.book.id),
                source,
            })
    }

    fn start(&mut self, name: &'static str) -> Result<(), RecoverError> {
        self.reporter.phase(name);
        if let Some(s) = self.book.step_mut(name) {
            s.state = StepState::Running;
            s.started_at = Some(Utc::now());
            s.finished_at = None;
            s.seconds = None;
            s.attempts += 1;
        }
        self.save()?;
        kill_point(name, "start");
        Ok(())
    }

    fn end(
        &mut self,
        name: &'static str,
        state: StepState,
        detail: String,
    ) -> Result<(), RecoverError> {
        let now = Utc::now();
        if let Some(s) = self.book.step_mut(name) {
            s.state = state;
            s.finished_at = Some(now);
            s.seconds = s
                .started_at
                .map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
            s.detail = detail;
        }
        self.save()?;
        kill_point(name, "end");
        Ok(())
    }

    async fn step(&mut self, name: &'static str) -> Result<String, RecoverError> {
        match name {
            "fetch" => self.fetch().await,
            "decrypt" => self.decrypt().await,
            "create target" => self.create_target().await,
            "pg_restore" => self.pg_restore().await,
            "files" => self.archive(ComponentKind::Files).await,
            "secrets" => self.archive(ComponentKind::Secrets).await,
            "post_restore hooks" => self.hooks().await,
            "health check" => self.health().await,
            "manual steps" => Ok(self.manual()),
            "write config" => self.write_config(),
            _ => Ok(String::new()),
        }
    }

    fn failed(step: &'static str, reason: impl std::fmt::Display, state: &str) -> RecoverError {
        RecoverError::Step {
            step,
            reason: reason.to_string(),
            state: state.to_string(),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        step: &'static str,
        f: impl FnOnce() -> Result<T, RecoverError> + Send + 'static,
    ) -> Result<T, RecoverError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Self::failed(step, e, "the step's thread died"))?
    }

    /// Downloads the set's objects into the recovery's folder and re-hashes them there.
    async fn fetch(&mut self) -> Result<String, RecoverError> {
        let untouched = "nothing was changed on the target";
        std::fs::create_dir_all(&self.work).map_err(|e| {
            Self::failed("fetch", format!("{}: {e}", self.work.display()), untouched)
        })?;
        let spec = &self.book.spec;
        let data = Repository::open(&spec.data_repository())?;
        let secrets = spec
            .secrets_repository()
            .as_ref()
            .map(Repository::open)
            .transpose()?;
        let mut meter = Meter::default();
        let fetched = fetch::fetch_set(
            &data,
            secrets.as_ref(),
            &self.manifest,
            &self.work,
            &mut meter,
            &self.cancel,
        )
        .await
        .map_err(|e| match e {
            fetch::FetchError::Damaged {
                object, problem, ..
            } => RecoverError::SetDamaged {
                set: self.manifest.set_id.to_string(),
                problem: format!("`{object}`: {problem}"),
                next: "Name another set with --set (see the sets the plan listed).".into(),
            },
            e => Self::failed("fetch", e, untouched),
        })?;
        let listed = fetched.clone();
        let bad = self
            .blocking("fetch", move || Ok(super::recheck::rehash(&listed)))
            .await?;
        if let Some(problem) = bad {
            return Err(RecoverError::SetDamaged {
                set: self.manifest.set_id.to_string(),
                problem,
                next: "Name another set with --set.".into(),
            });
        }
        self.book.fetched = fetched
            .iter()
            .map(|f| FetchedObject {
                object: f.component.object.clone(),
                path: f.path.clone(),
            })
            .collect();
        let bytes: u64 = fetched.iter().map(|f| f.component.stored_bytes).sum();
        Ok(format!(
            "{} objects, {} bytes, hashes match the manifest",
            fetched.len(),
            bytes
        ))
    }

    fn fetched(&self) -> Vec<Fetched> {
        self.book
            .fetched
            .iter()
            .filter_map(|f| {
                let component = self
                    .manifest
                    .components
                    .iter()
                    .find(|c| c.object == f.object)?;
                Some(Fetched {
                    component: component.clone(),
                    path: f.path.clone(),
                })
            })
            .collect()
    }

    fn crypto(&self) -> Result<Crypto, RecoverError> {
        Crypto::for_decryption(&self.book.spec.encryption(&self.manifest)).map_err(|e| {
            RecoverError::WrongKey {
                object: "(every object)".into(),
                problem: e.to_string(),
            }
        })
    }

    /// Decrypts the dump into scratch, checking the plaintext's hash on the way.
    async fn decrypt(&mut self) -> Result<String, RecoverError> {
        let Some(db) = self
            .fetched()
            .into_iter()
            .find(|f| f.component.kind == ComponentKind::Db)
        else {
            return Err(Self::failed(
                "decrypt",
                "the fetched objects hold no database dump",
                "nothing was changed on the target",
            ));
        };
        let crypto = self.crypto()?;
        let scratch = Scratch::create(&self.work)
            .map_err(|e| Self::failed("decrypt", e, "nothing was changed on the target"))?;
        let dump = scratch.dump();
        let written = self
            .blocking("decrypt", move || {
                decrypt_with(&db, &crypto, Arc::new(AtomicU64::new(0)), |d| {
                    write_dump(d, &dump)
                })
                .map_err(|e| match e {
                    RestoreError::Undecryptable { object, problem } => {
                        RecoverError::WrongKey { object, problem }
                    }
                    e => Self::failed("decrypt", e, "nothing was changed on the target"),
                })
            })
            .await?;
        self.scratch = Some(scratch);
        Ok(format!("dump decrypted and verified, {written} bytes"))
    }

    /// What the target holds now, and whether the operator allowed emptying it.
    async fn empty_target_or_refuse(&self, step: &'static str) -> Result<(), RecoverError> {
        let (spec, tools, conn) = (
            self.book.spec.clone(),
            self.tools.clone(),
            self.conn.clone(),
        );
        let state = self
            .blocking(step, move || {
                target::inspect(&spec, &tools, &conn)
                    .map_err(|e| Self::failed(step, e, "nothing was changed on the target"))
            })
            .await?;
        if !state.holds_data() {
            return Ok(());
        }
        let name = self.book.database.clone();
        if !self.replace_confirmed {
            return Err(RecoverError::TargetNotEmpty {
                what: format!("the target database {}", self.conn.display()),
                holds: state.describe(),
                name,
            });
        }
        self.reporter.log(format!(
            "the target holds {}: dropping and recreating {name}, as confirmed",
            state.describe()
        ));
        let (tools, conn) = (self.tools.clone(), self.conn.clone());
        self.blocking(step, move || {
            target::recreate(&tools, &conn)
                .map_err(|e| Self::failed(step, e, "the target database may be gone: run --resume"))
        })
        .await
    }

    async fn create_target(&mut self) -> Result<String, RecoverError> {
        let (spec, tools, conn) = (
            self.book.spec.clone(),
            self.tools.clone(),
            self.conn.clone(),
        );
        let said = self
            .blocking("create target", move || {
                target::create(&spec, &tools, &conn).map_err(|e| {
                    Self::failed(
                        "create target",
                        e,
                        "the target may be partly created: run --resume",
                    )
                })
            })
            .await?;
        self.empty_target_or_refuse("create target").await?;
        Ok(said)
    }

    /// pg_restore into the empty target, with the restore's role decisions.
    async fn pg_restore(&mut self) -> Result<String, RecoverError> {
        self.empty_target_or_refuse("pg_restore").await?;
        if self.scratch.is_none() {
            // Resumed after decrypt finished in a process that is gone: its plaintext went
            // with it (it never has a name on disk), so it is decrypted again.
            self.reporter
                .log("decrypting the dump again: the decrypted copy never outlives a process");
            self.decrypt().await?;
        }
        let Some(scratch) = &self.scratch else {
            return Err(Self::failed(
                "pg_restore",
                "no decrypted dump",
                "nothing was restored",
            ));
        };
        let (tools, conn, dump, work) = (
            self.tools.clone(),
            self.conn.clone(),
            scratch.dump(),
            scratch.path().to_path_buf(),
        );
        let roles = self.manifest.source.roles.clone().unwrap_or_default();
        let create_roles = self.book.spec.create_roles
            || matches!(self.book.spec.target, super::TargetChoice::NewCluster(_));
        let jobs = self.book.spec.jobs.max(1);
        let summary = self
            .blocking("pg_restore", move || {
                restore_db::restore_for_drill(&tools, &conn, &dump, &work, &roles, create_roles, jobs)
                    .map_err(|e| {
                        Self::failed(
                            "pg_restore",
                            e,
                            "the target database may be partly restored: `lifeboat recover --resume` says what it holds and asks before redoing it",
                        )
                    })
            })
            .await?;
        Ok(format!(
            "restored with pg_restore -j {jobs}; roles: {summary}"
        ))
    }

    /// The files or secrets archive into place, through the same placement as the restore.
    async fn archive(&mut self, kind: ComponentKind) -> Result<String, RecoverError> {
        let step: &'static str = match kind {
            ComponentKind::Secrets => "secrets",
            _ => "files",
        };
        let Some(f) = self
            .fetched()
            .into_iter()
            .find(|f| f.component.kind == kind)
        else {
            return Ok(format!("the set has no {step} archive"));
        };
        let placement = roots::place(
            kind,
            &self.manifest,
            &roots_spec(&self.book.spec, &self.manifest),
        )
        .map_err(|e| Self::failed(step, e, "nothing of it was written"))?;
        let dest = placement.describe();
        let crypto = self.crypto()?;
        let state = format!(
            "{step} may be partly extracted into {dest}; extracting again is safe: run --resume"
        );
        let listing = self
            .blocking(step, move || {
                decrypt_with(&f, &crypto, Arc::new(AtomicU64::new(0)), |d| {
                    archive::extract(d, &placement, false)
                })
                .map_err(|e| Self::failed(step, e, &state))
            })
            .await?;
        Ok(format!("{} files into {dest}", listing.files))
    }

    async fn hooks(&mut self) -> Result<String, RecoverError> {
        let hooks = self.book.spec.post_restore.clone();
        if hooks.is_empty() {
            return Ok("none given (--post-restore CMD)".into());
        }
        let env = vec![
            ("LIFEBOAT_SET".to_string(), self.book.set_id.to_string()),
            ("LIFEBOAT_TARGET".to_string(), self.conn.display()),
        ];
        let n = hooks.len();
        self.blocking("post_restore hooks", move || {
            for h in &hooks {
                restore::run_hook(h, &env).map_err(|e| {
                    Self::failed(
                        "post_restore hooks",
                        format!("`{h}`: {e}"),
                        "the data is restored; fix the hook and run --resume",
                    )
                })?;
            }
            Ok(())
        })
        .await?;
        Ok(format!("{n} hooks ran"))
    }

    /// Key-table row counts against the manifest, the freshness query, the health command.
    async fn health(&mut self) -> Result<String, RecoverError> {
        let (tools, conn, manifest) =
            (self.tools.clone(), self.conn.clone(), self.manifest.clone());
        let checks = DrillChecks {
            checks: Vec::new(),
            freshness_query: self.book.spec.freshness_query.clone(),
            health_command: None,
        };
        let health = self.book.spec.health.clone();
        let (mut results, newest) = self
            .blocking("health check", move || {
                let (mut results, newest) = run_checks(&tools, &conn, &manifest, &checks);
                if let Some(h) = health {
                    let (ok, actual) = match restore::health_check(&h, HEALTH_TIMEOUT) {
                        Ok(out) => (true, if out.is_empty() { "ok".into() } else { out }),
                        Err(e) => (false, e.to_string()),
                    };
                    results.push(crate::jobs::drill_record::CheckResult {
                        name: h,
                        kind: "health".into(),
                        ok,
                        expected: "exit 0 or HTTP 2xx".into(),
                        actual,
                    });
                }
                Ok((results, newest))
            })
            .await?;
        self.book.newest_data = newest;
        let failing: Vec<String> = results
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual))
            .collect();
        let n = results.len();
        self.book.checks = std::mem::take(&mut results);
        if !failing.is_empty() {
            return Err(Self::failed(
                "health check",
                failing.join("; "),
                "the data is restored but does not check out: look at it, then run --resume",
            ));
        }
        self.book.health_green_at = Some(Utc::now());
        Ok(format!("{n} checks green"))
    }

    fn manual(&mut self) -> String {
        let steps: Vec<String> = if self.book.spec.manual.is_empty() {
            DEFAULT_MANUAL_STEPS.iter().map(|s| s.to_string()).collect()
        } else {
            self.book.spec.manual.clone()
        };
        self.book.manual = steps.iter().map(|s| ManualStep::pending(s)).collect();
        format!("for the operator: {}", steps.join("; "))
    }

    /// The new host's configuration; an existing file is never overwritten (one this recovery
    /// wrote before a kill, with the same text, counts as written).
    fn write_config(&mut self) -> Result<String, RecoverError> {
        let spec = &self.book.spec;
        if spec.rehearse {
            return Ok("rehearsal: no configuration written".into());
        }
        let text = super::config_text::render(spec, &self.manifest, &self.conn);
        let path = spec.config_out.clone();
        let fail = |e: std::io::Error| {
            Self::failed(
                "write config",
                format!("{}: {e}", path.display()),
                "everything is restored; only the configuration is missing",
            )
        };
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => {}
            Ok(_) => {
                return Err(Self::failed(
                    "write config",
                    format!("{} exists and is not the one this recovery writes", path.display()),
                    "everything is restored; move the file away and run --resume, or pass the config by hand",
                ))
            }
            Err(_) => write_new(&path, text.as_bytes()).map_err(fail)?,
        }
        self.book.config_written = Some(path.clone());
        Ok(format!("{} written", path.display()))
    }
}

/// Writes `bytes` to `path` only if nothing is there: a temporary file, fsynced, linked into
/// place (which fails when the name exists), then the temporary name removed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    std::fs::File::open(dir)?.sync_all()
}
