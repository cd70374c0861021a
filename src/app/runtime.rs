//! The console's event loop: terminal input, job reports and the clock become events for
//! `update`; the effects it returns are executed here, as tasks whose results come back as
//! events. Frames are drawn only when state changed, at most ~30 per second.

use super::config::Config;
use super::config::RestoreOptions;
use super::event::{AppEvent, Effect, JobOutcome};
use super::history;
use super::keymap::{KeyResolver, Keymap};
use super::state::{AppState, Snapshot};
use super::tui::Tui;
use super::update::update;
use crate::jobs::backup::{self, BackupError};
use crate::jobs::drill::{self, ManualInput};
use crate::jobs::progress::Reporter;
use crate::jobs::restore;
use crate::jobs::verify::{self, VerifyTarget};
use crate::jobs::{inventory, preflight, status, status_preview, CancellationToken};
use crate::jobs::{pins, prune};
use crate::storage::journal::Journal;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers, MouseEventKind};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);
pub const TICK_INTERVAL: Duration = Duration::from_millis(250);
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// How long quitting waits for cancelled jobs to clean up.
pub const QUIT_GRACE: Duration = Duration::from_secs(10);

/// Loads what the dashboard, history and inventory show, in one listing.
pub async fn load_snapshot(config: &Config, paths: &LocalPaths) -> Result<Snapshot, String> {
    load_staged(config, paths, None).await
}

/// The console's load. With `previews`, the dashboard's preliminary verdict (a few reads, see
/// `status_preview`) is sent as `AppEvent::Previewed` before the full listing starts: with
/// 10,000 sets the listing takes half a second, the preview a few milliseconds. The journal is
/// read once for both.
pub async fn load_staged(
    config: &Config,
    paths: &LocalPaths,
    previews: Option<&UnboundedSender<AppEvent>>,
) -> Result<Snapshot, String> {
    let spec = config.status_spec(paths).map_err(|e| e.to_string())?;
    let journal = Journal::new(paths.journal())
        .read()
        .map_err(|e| e.to_string())?;
    let (listed, spooled, drill, drills) = match Repository::open(&spec.repository) {
        Ok(repo) => {
            let spooled = status::spooled_sets(&spec, &repo).await;
            if let Some(tx) = previews {
                // No preview (a failed read, too many incomplete folders) is no error: the full
                // load below reports what it finds.
                if let Ok(Some(p)) =
                    status_preview::preview(&spec, &repo, &journal, spooled.clone()).await
                {
                    let _ = tx.send(AppEvent::Previewed(Box::new(p)));
                }
            }
            let listed = inventory::scan(&repo).await;
            let (drill, drills) = match &listed {
                Ok(i) => (
                    status::newest_drill(&repo, i).await,
                    crate::jobs::drill_record::load_listed(&repo, i).await.0,
                ),
                Err(_) => (None, Vec::new()),
            };
            (listed, spooled, drill, drills)
        }
        Err(e) => (Err(e), Vec::new(), None, Vec::new()),
    };
    let mut report = status::evaluate(&spec, listed.as_ref(), &journal, spooled, drill);
    // The archiver's state when the source archives WAL (bounded: a dead source costs at most
    // the probe's timeout, and this runs off the render path).
    if let Some(probe) = &spec.wal {
        status::apply_wal(&mut report, Some(crate::jobs::wal::probe(probe).await));
    }
    let inventory = listed.ok();
    let history = history::rows(inventory.as_ref(), &journal, &spec.repository.url);
    Ok(Snapshot {
        status: report,
        inventory,
        journal,
        history,
        drills,
        loaded_at: Utc::now(),
    })
}

struct Executor {
    config: Config,
    paths: LocalPaths,
    tx: UnboundedSender<AppEvent>,
    cancels: HashMap<u64, CancellationToken>,
    /// The manual-step channel of each running drill.
    manual: HashMap<u64, tokio::sync::mpsc::UnboundedSender<ManualInput>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// A load was started before.
    loaded_once: bool,
}

impl Executor {
    /// A restore from the console: into the configured database, files and secrets in their
    /// original places, with a safety backup first.
    fn console_restore_spec(&self, set_id: &str) -> Result<restore::RestoreSpec, String> {
        let id = SetId::parse(set_id).map_err(|e| e.to_string())?;
        let options = RestoreOptions {
            safety_backup: true,
            ..Default::default()
        };
        self.config
            .restore_spec(&self.paths, id, options)
            .map_err(|e| e.to_string())
    }

    /// The progress reporter and the cancellation token of a new job.
    fn job_channels(&mut self, job: u64) -> (Reporter, CancellationToken) {
        let reporter = self.forward_job_events(job);
        let token = CancellationToken::new();
        self.cancels.insert(job, token.clone());
        (reporter, token)
    }

    fn forward_job_events(&self, id: u64) -> Reporter {
        let (reporter, mut rx) = Reporter::channel();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = tx.send(AppEvent::Job { id, event });
            }
        });
        reporter
    }

    fn run(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Load => {
                let (config, paths) = (self.config.clone(), self.paths.clone());
                // Only the first load previews: later ones replace a full snapshot on screen.
                let preview = !std::mem::replace(&mut self.loaded_once, true);
                tokio::spawn(async move {
                    let previews = preview.then_some(&tx);
                    let loaded = load_staged(&config, &paths, previews).await.map(Box::new);
                    let _ = tx.send(AppEvent::Loaded(loaded));
                });
            }
            Effect::Preflight => match self.config.backup_spec(&self.paths, Initiator::Operator) {
                Ok(spec) => {
                    tokio::spawn(async move {
                        let report = preflight::run(spec).await;
                        let _ = tx.send(AppEvent::Preflight(Box::new(report)));
                    });
                }
                Err(e) => {
                    let _ = tx.send(AppEvent::Preflight(Box::new(preflight::PreflightReport {
                        checks: vec![preflight::Check {
                            name: "configuration".into(),
                            ok: false,
                            detail: e.to_string(),
                        }],
                        ..Default::default()
                    })));
                }
            },
            Effect::StartBackup { job } => {
                let spec = self.config.backup_spec(&self.paths, Initiator::Operator);
                let (reporter, token) = self.job_channels(job);
                self.tasks.push(tokio::spawn(async move {
                    let outcome = match spec {
                        Err(e) => JobOutcome::Failed(e.to_string()),
                        Ok(spec) => match backup::run(spec, reporter, token).await {
                            Ok(o) => JobOutcome::Succeeded {
                                summary: match &o.set_id {
                                    Some(id) => format!("set {id} complete"),
                                    None => "spooled sets uploaded".into(),
                                },
                                set_id: o.set_id.map(|s| s.to_string()),
                            },
                            Err(e @ (BackupError::Cancelled | BackupError::TimedOut(_))) => {
                                JobOutcome::Cancelled(e.to_string())
                            }
                            Err(e) => JobOutcome::Failed(e.to_string()),
                        },
                    };
                    let _ = tx.send(AppEvent::JobDone { id: job, outcome });
                }));
            }
            Effect::StartVerify {
                job,
                set_id,
                decrypt,
            } => {
                let target = SetId::parse(&set_id).map(VerifyTarget::Set);
                let spec = match target {
                    Ok(t) => self
                        .config
                        .verify_spec(&self.paths, t, decrypt, Initiator::Operator)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let (reporter, token) = self.job_channels(job);
                self.tasks.push(tokio::spawn(async move {
                    let outcome = match spec {
                        Err(e) => JobOutcome::Failed(e),
                        Ok(spec) => match verify::run(spec, reporter, token).await {
                            Ok(report) if report.ok() => JobOutcome::Succeeded {
                                summary: format!("set {set_id}: every object matches"),
                                set_id: Some(set_id),
                            },
                            Ok(report) => {
                                let bad: Vec<String> = report
                                    .sets
                                    .iter()
                                    .flat_map(|s| {
                                        s.objects
                                            .iter()
                                            .filter(|o| o.status != verify::ObjectStatus::Ok)
                                            .map(|o| format!("{} {:?}", o.object, o.status))
                                            .chain(s.problems.iter().cloned())
                                    })
                                    .collect();
                                JobOutcome::Failed(format!(
                                    "set {set_id} is DAMAGED: {}",
                                    bad.join("; ")
                                ))
                            }
                            Err(verify::VerifyError::Cancelled) => {
                                JobOutcome::Cancelled("verification cancelled".into())
                            }
                            Err(e) => JobOutcome::Failed(e.to_string()),
                        },
                    };
                    let _ = tx.send(AppEvent::JobDone { id: job, outcome });
                }));
            }
            Effect::StartDrill { job, set_id } => {
                let set = set_id.as_deref().map(SetId::parse).transpose();
                let spec = match set {
                    Ok(set) => self
                        .config
                        .drill_spec(&self.paths, set, Initiator::Operator)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let (reporter, token) = self.job_channels(job);
                let (manual_tx, manual_rx) = tokio::sync::mpsc::unbounded_channel();
                self.manual.insert(job, manual_tx);
                self.tasks.push(tokio::spawn(async move {
                    let outcome = match spec {
                        Err(e) => JobOutcome::Failed(e),
                        Ok(mut spec) => {
                            spec.manual_input = Some(manual_rx);
                            match drill::run(spec, reporter, token.clone()).await {
                                Ok(r) if r.passed => JobOutcome::Succeeded {
                                    summary: format!(
                                        "drill passed: RTO {}, RPO {}",
                                        r.rto_seconds
                                            .map(|s| format!("{s:.1} s"))
                                            .unwrap_or_else(|| "-".into()),
                                        crate::ui::format::age_secs(r.rpo_seconds() as i64)
                                    ),
                                    set_id: Some(r.set_id),
                                },
                                Ok(r) if r.cancelled => JobOutcome::Cancelled(
                                    "drill cancelled (no verdict: the last completed drill counts)"
                                        .into(),
                                ),
                                Ok(r) => JobOutcome::Failed(format!(
                                    "drill FAILED: {}",
                                    r.reasons.join("; ")
                                )),
                                Err(e) => JobOutcome::Failed(e.to_string()),
                            }
                        }
                    };
                    let _ = tx.send(AppEvent::JobDone { id: job, outcome });
                }));
            }
            Effect::LoadRetention => {
                let spec =
                    super::prune_cli::prune_spec(&self.config, &self.paths, Initiator::Operator)
                        .map_err(|e| e.to_string());
                tokio::spawn(async move {
                    let loaded = match spec {
                        Err(e) => Err(e),
                        Ok(spec) => prune::preview(&spec)
                            .await
                            .map(|(plan, candidates)| (Box::new(plan), candidates))
                            .map_err(|e| e.to_string()),
                    };
                    let _ = tx.send(AppEvent::RetentionLoaded(loaded));
                });
            }
            Effect::Pin { set_id, note } => {
                let repo = self.config.data_repository().map_err(|e| e.to_string());
                let locks = self.paths.locks();
                tokio::spawn(async move {
                    let result = async {
                        let spec = repo?;
                        let repo = Repository::open(&spec).map_err(|e| e.to_string())?;
                        let id = SetId::parse(&set_id).map_err(|e| e.to_string())?;
                        let inventory = inventory::scan(&repo).await.map_err(|e| e.to_string())?;
                        let change = pins::pin(&repo, &inventory, &id, &note);
                        pins::locked(&locks, &spec, change)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    .await;
                    let _ = tx.send(AppEvent::PinsChanged(match result {
                        Ok(p) => format!("✓ pinned {}: {}", p.set_id, p.note),
                        Err(e) => format!("✗ {e}"),
                    }));
                });
            }
            Effect::Unpin { set_id } => {
                let repo = self.config.data_repository().map_err(|e| e.to_string());
                let locks = self.paths.locks();
                tokio::spawn(async move {
                    let result = async {
                        let spec = repo?;
                        let repo = Repository::open(&spec).map_err(|e| e.to_string())?;
                        let id = SetId::parse(&set_id).map_err(|e| e.to_string())?;
                        let change = pins::unpin(&repo, &id);
                        pins::locked(&locks, &spec, change)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    .await;
                    let _ = tx.send(AppEvent::PinsChanged(match result {
                        Ok(_) => format!("✓ unpinned {set_id}"),
                        Err(e) => format!("✗ {e}"),
                    }));
                });
            }
            Effect::StartPrune { job } => {
                let spec =
                    super::prune_cli::prune_spec(&self.config, &self.paths, Initiator::Operator)
                        .map_err(|e| e.to_string());
                let (reporter, token) = self.job_channels(job);
                self.tasks.push(tokio::spawn(async move {
                    reporter.phase("prune");
                    let outcome = match spec {
                        Err(e) => JobOutcome::Failed(e),
                        Ok(spec) => match prune::run(&spec, true, token).await {
                            Ok(report) => {
                                let o = report.outcome.unwrap_or_default();
                                for s in &o.deleted_sets {
                                    reporter.log(format!("deleted set {s}"));
                                }
                                for g in &o.deleted_garbage {
                                    reporter.log(format!("deleted garbage {g}"));
                                }
                                JobOutcome::Succeeded {
                                    summary: format!(
                                        "pruned {} set(s) and {} garbage item(s), {} freed",
                                        o.deleted_sets.len(),
                                        o.deleted_garbage.len(),
                                        crate::ui::format::bytes(o.freed.total_bytes())
                                    ),
                                    set_id: None,
                                }
                            }
                            Err(e) => JobOutcome::Failed(e.to_string()),
                        },
                    };
                    let _ = tx.send(AppEvent::JobDone { id: job, outcome });
                }));
            }
            Effect::StartRestorePlan { job, set_id } => {
                let spec = self.console_restore_spec(&set_id);
                let (reporter, token) = self.job_channels(job);
                self.tasks.push(tokio::spawn(async move {
                    match spec {
                        Err(e) => {
                            let _ = tx.send(AppEvent::JobDone {
                                id: job,
                                outcome: JobOutcome::Failed(e),
                            });
                        }
                        Ok(spec) => match restore::dry_run(&spec, &reporter, &token).await {
                            // The scratch space (with the decrypted dump) is dropped here: the
                            // real restore runs the same checks again from the start.
                            Ok((plan, _prepared)) => {
                                let database =
                                    restore::target_database_name(&spec.target).unwrap_or_default();
                                let _ = tx.send(AppEvent::RestorePlanned {
                                    id: job,
                                    plan: Box::new(plan),
                                    database,
                                });
                            }
                            Err(e) => {
                                let _ = tx.send(AppEvent::JobDone {
                                    id: job,
                                    outcome: JobOutcome::Failed(e.to_string()),
                                });
                            }
                        },
                    }
                }));
            }
            Effect::StartRestore { job, set_id } => {
                let spec = self.console_restore_spec(&set_id);
                let (reporter, token) = self.job_channels(job);
                self.tasks.push(tokio::spawn(async move {
                    let outcome = match spec {
                        Err(e) => JobOutcome::Failed(e),
                        Ok(spec) => match restore::run(spec, reporter, token).await {
                            Ok(o) => JobOutcome::Succeeded {
                                summary: format!(
                                    "restored set {set_id} in {:.1} s{}",
                                    o.seconds,
                                    o.safety_backup
                                        .map(|s| format!(" (safety backup {s})"))
                                        .unwrap_or_default()
                                ),
                                set_id: None,
                            },
                            Err(e) => JobOutcome::Failed(e.to_string()),
                        },
                    };
                    let _ = tx.send(AppEvent::JobDone { id: job, outcome });
                }));
            }
            Effect::TickManual { job, index } => {
                if let Some(tx) = self.manual.get(&job) {
                    let _ = tx.send(ManualInput::Tick { index, note: None });
                }
            }
            Effect::FinishManual { job } => {
                if let Some(tx) = self.manual.get(&job) {
                    let _ = tx.send(ManualInput::Finish);
                }
            }
            Effect::CancelJob { job } => {
                if let Some(token) = self.cancels.get(&job) {
                    token.cancel();
                }
            }
            Effect::Quit => {}
        }
    }
}

/// `update`, except that a snapshot a reload replaces is freed on a blocking thread: freeing
/// 25,000 sets (their manifests, 100,000 objects, the history rows) took 220 ms, a frame's
/// worth of time many times over, on the thread that draws.
pub fn handle(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    // `update` does not look at the snapshot it replaces; a failed load keeps it.
    let replaced = match &event {
        AppEvent::Loaded(Ok(_)) => state.snapshot.take(),
        _ => None,
    };
    let effects = update(state, event);
    if let Some(old) = replaced {
        tokio::task::spawn_blocking(move || drop(old));
    }
    effects
}

/// Maps a terminal event to an app event, resolving keys through the keymap. Public so the
/// key-script tests press keys through exactly this path.
pub fn translate(
    state: &AppState,
    keymap: &Keymap,
    resolver: &mut KeyResolver,
    event: Event,
) -> Option<AppEvent> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            if state.text_input_active() && !ctrl {
                match key.code {
                    KeyCode::Char(c) => return Some(AppEvent::FilterChar(c)),
                    KeyCode::Backspace => return Some(AppEvent::FilterBackspace),
                    _ => {}
                }
            }
            resolver.resolve(keymap, &key).map(AppEvent::Action)
        }
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Some(AppEvent::Scroll(-3)),
            MouseEventKind::ScrollDown => Some(AppEvent::Scroll(3)),
            _ => None,
        },
        Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
        _ => None,
    }
}

pub async fn run_console(config: Config, paths: LocalPaths, no_color: bool) -> std::io::Result<()> {
    let keymap = Keymap::default_keymap();
    let mut resolver = KeyResolver::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut state = AppState::new(
        config.repository.url.clone(),
        config.path.display().to_string(),
        Utc::now(),
    );
    state.no_color = no_color;
    state.retention.policy = config.retention_policy().map_err(|e| e.to_string());
    if let Ok((rto, rpo, every)) = config.drill_targets() {
        state.drill_settings = super::state::DrillSettings {
            rto_target_seconds: rto.as_secs_f64(),
            rpo_target_seconds: rpo.as_secs_f64(),
            every_seconds: every.as_secs(),
            manual_steps: config.drill.manual.iter().map(|m| m.step.clone()).collect(),
        };
    }
    let mut executor = Executor {
        config,
        paths,
        tx,
        cancels: HashMap::new(),
        manual: HashMap::new(),
        tasks: Vec::new(),
        loaded_once: false,
    };
    let mut tui = Tui::enter()?;
    let size = tui.terminal.size()?;
    state.width = size.width;
    state.height = size.height;
    state.loading = true;
    executor.run(Effect::Load);

    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK_INTERVAL);
    let mut reload = tokio::time::interval(RELOAD_INTERVAL);
    reload.tick().await;
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME_INTERVAL;
    loop {
        if dirty && last_frame.elapsed() >= FRAME_INTERVAL {
            tui.terminal
                .draw(|frame| crate::ui::render(frame, &state, &keymap))?;
            last_frame = Instant::now();
            dirty = false;
        }
        let wait = FRAME_INTERVAL.saturating_sub(last_frame.elapsed());
        let event = tokio::select! {
            maybe = input.next() => match maybe {
                Some(Ok(e)) => translate(&state, &keymap, &mut resolver, e),
                Some(Err(e)) => return Err(e),
                None => break,
            },
            Some(e) = rx.recv() => Some(e),
            _ = tick.tick() => Some(AppEvent::Tick(Utc::now())),
            _ = reload.tick() => {
                if !state.loading {
                    state.loading = true;
                    executor.run(Effect::Load);
                }
                None
            }
            _ = tokio::time::sleep(wait), if dirty => None,
        };
        if let Some(event) = event {
            for effect in handle(&mut state, event) {
                executor.run(effect);
            }
            dirty = true;
        }
        if state.should_quit {
            break;
        }
    }
    drop(tui);
    // Cancelled jobs clean up (abort uploads, kill children) before the process leaves.
    let pending = std::mem::take(&mut executor.tasks);
    let _ = tokio::time::timeout(QUIT_GRACE, futures::future::join_all(pending)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::layout;
    use crate::storage::manifest::tests::sample;

    /// A config over a local repository of `sets` complete sets; the newest set's id.
    fn console_over(dir: &std::path::Path, sets: usize) -> (Config, LocalPaths, String) {
        let repo = dir.join("repo");
        let mut newest = String::new();
        for n in 0..sets {
            let id = format!("2026112{n}T020000Z-000{n}");
            let path = repo.join(layout::manifest_path(&SetId::parse(&id).unwrap()));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, sample(&id).to_json()).unwrap();
            newest = id;
        }
        let text = format!(
            "[source]\n[repository]\nurl = \"file://{}\"\n[encryption]\nmode = \"none\"\n",
            repo.display()
        );
        let config = Config::parse(&dir.join("config.toml"), &text).unwrap();
        (config, LocalPaths::under(&dir.join("local")), newest)
    }

    /// The preview is sent before the full load finishes, with the newest set; the full load
    /// still reads everything.
    #[tokio::test]
    async fn the_staged_load_sends_the_preview_first() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, newest) = console_over(dir.path(), 3);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let snapshot = load_staged(&config, &paths, Some(&tx)).await.unwrap();
        let Ok(AppEvent::Previewed(preview)) = rx.try_recv() else {
            panic!("no preview was sent before the load returned");
        };
        let shown = preview.status.newest_set.map(|n| n.set_id);
        assert_eq!(shown.as_deref(), Some(newest.as_str()));
        assert_eq!(preview.set_folders, 3);
        assert!(rx.try_recv().is_err(), "one preview only");
        assert_eq!(snapshot.status.complete_sets, 3, "{:#?}", snapshot.status);
        assert_eq!(snapshot.history.len(), 3);
        // Without a channel: the full load alone.
        let snapshot = load_snapshot(&config, &paths).await.unwrap();
        assert_eq!(snapshot.status.complete_sets, 3);
    }

    /// Only the console's first load previews: later ones replace a snapshot on screen.
    #[tokio::test]
    async fn only_the_first_load_previews() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = Executor {
            config,
            paths,
            tx,
            cancels: HashMap::new(),
            manual: HashMap::new(),
            tasks: Vec::new(),
            loaded_once: false,
        };
        let mut events = Vec::new();
        for _ in 0..2 {
            executor.run(Effect::Load);
            loop {
                let event = rx.recv().await.expect("the channel stays open");
                let done = matches!(event, AppEvent::Loaded(_));
                events.push(match event {
                    AppEvent::Previewed(_) => "previewed",
                    AppEvent::Loaded(Ok(_)) => "loaded",
                    other => panic!("unexpected {other:?}"),
                });
                if done {
                    break;
                }
            }
        }
        assert_eq!(events, ["previewed", "loaded", "loaded"]);
    }

    /// A reload's snapshot replaces the shown one (the old one is freed elsewhere); a failed
    /// reload keeps the shown one, as `update` alone does.
    #[tokio::test]
    async fn handling_a_reload_replaces_the_snapshot_and_a_failure_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 2);
        let mut state = AppState::new(config.repository.url.clone(), "c".into(), Utc::now());
        let first = load_snapshot(&config, &paths).await.map(Box::new);
        assert!(handle(&mut state, AppEvent::Loaded(first)).is_empty());
        let shown = |state: &AppState| state.snapshot.as_ref().map(|s| s.status.complete_sets);
        assert_eq!(shown(&state), Some(2));
        handle(&mut state, AppEvent::Loaded(Err("the disk is gone".into())));
        assert_eq!(
            shown(&state),
            Some(2),
            "a failed reload keeps the last snapshot"
        );
        assert_eq!(state.load_error.as_deref(), Some("the disk is gone"));
        let (config, paths, _) = console_over(dir.path(), 3);
        let again = load_snapshot(&config, &paths).await.map(Box::new);
        handle(&mut state, AppEvent::Loaded(again));
        assert_eq!(shown(&state), Some(3));
        assert_eq!(state.load_error, None);
    }
}
