//! The console's event loop: terminal input, job reports and the clock become events for
//! `update`; the effects it returns are executed here, as tasks whose results come back as
//! events. Frames are drawn only when state changed, at most ~30 per second.

pub use super::load::{load_snapshot, load_staged};

use super::config::Config;
use super::config::RestoreOptions;
use super::event::{AppEvent, Effect, JobOutcome};
use super::keymap::{KeyResolver, Keymap};
use super::load::LoadJob;
use super::state::AppState;
use super::tui::Tui;
use super::update::update;
use crate::jobs::drill::ManualInput;
use crate::jobs::job::{run_to_end, Ended, Job, CANCEL_GRACE};
use crate::jobs::progress::Reporter;
use crate::jobs::restore;
use crate::jobs::runnable::RestorePlanJob;
use crate::jobs::runnable::{PinChange, PinJob, PreflightJob, PruneJob, PrunePreviewJob};
use crate::jobs::verify::VerifyTarget;
use crate::jobs::{preflight, CancellationToken};
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
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

/// The job's result, or (when it returned none) the outcome that says why.
fn with_result<T>(ended: Ended<T>) -> Result<T, JobOutcome> {
    match ended {
        Ended::Finished(output) => Ok(output),
        Ended::NotStarted(e) => Err(JobOutcome::NotStarted(e)),
        Ended::Abandoned => Err(JobOutcome::Abandoned),
        Ended::Crashed(e) => Err(JobOutcome::Crashed(e)),
    }
}

/// The final event of console job `id`, its result made an outcome by `typed`.
fn job_done<T>(
    id: u64,
    typed: impl FnOnce(T) -> JobOutcome + Send + 'static,
) -> impl FnOnce(Ended<T>) -> AppEvent + Send + 'static {
    move |ended| AppEvent::JobDone {
        id,
        outcome: with_result(ended).map_or_else(|o| o, typed),
    }
}

impl Executor {
    /// Runs every job the console starts. `id` is the Jobs-screen job it is (none for a
    /// load): its reports are forwarded as `AppEvent::Job` and `CancelJob` reaches its token.
    /// Exactly one final event is sent, `finish`'s, whatever happens: the job returns, its spec
    /// could not be made, it panics, or it ignores a cancellation past the grace. Everything
    /// the job reported before it ended arrives before that final event.
    fn spawn<J: Job>(
        &mut self,
        id: Option<u64>,
        job: Result<J, String>,
        finish: impl FnOnce(Ended<J::Output>) -> AppEvent + Send + 'static,
    ) {
        let tx = self.tx.clone();
        let job = match job {
            Ok(job) => job,
            Err(e) => {
                let _ = tx.send(finish(Ended::NotStarted(e)));
                return;
            }
        };
        let token = CancellationToken::new();
        if let Some(id) = id {
            self.cancels.insert(id, token.clone());
        }
        let (reporter, mut reports) = Reporter::channel();
        let forward = move |tx: &UnboundedSender<AppEvent>, event| {
            if let Some(id) = id {
                let _ = tx.send(AppEvent::Job { id, event });
            }
        };
        let task = tokio::spawn(async move {
            let run = run_to_end(job, reporter, token, CANCEL_GRACE);
            tokio::pin!(run);
            let ended = loop {
                tokio::select! {
                    ended = &mut run => break ended,
                    Some(event) = reports.recv() => forward(&tx, event),
                }
            };
            while let Ok(event) = reports.try_recv() {
                forward(&tx, event);
            }
            let _ = tx.send(finish(ended));
        });
        // Quitting waits for jobs to clean up; a load has nothing to clean up.
        if id.is_some() {
            self.tasks.push(task);
        }
    }

    fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Load => self.load(),
            Effect::ReloadConfig => {
                // A small file read, outside `update`; the executor keeps the config jobs use.
                let reloaded = super::reload::reread(&self.config.path).map(|(config, shown)| {
                    self.config = config;
                    shown
                });
                let _ = self.tx.send(AppEvent::ConfigReloaded(reloaded));
            }
            Effect::Preflight => self.preflight(),
            Effect::StartBackup { job } => {
                let spec = self.config.backup_spec(&self.paths, Initiator::Operator);
                let spec = spec.map_err(|e| e.to_string());
                self.spawn(
                    Some(job),
                    spec,
                    job_done(job, |r| JobOutcome::Backup(Box::new(r))),
                );
            }
            Effect::StartVerify {
                job,
                set_id,
                decrypt,
            } => self.start_verify(job, set_id, decrypt),
            Effect::StartDrill { job, set_id } => self.start_drill(job, set_id),
            Effect::LoadRetention => self.load_retention(),
            Effect::Pin { set_id, note } => self.pin(set_id, Some(note)),
            Effect::Unpin { set_id } => self.pin(set_id, None),
            Effect::StartPrune { job } => {
                let spec = self.config.prune_spec(&self.paths, Initiator::Operator);
                let spec = spec.map(PruneJob).map_err(|e| e.to_string());
                self.spawn(
                    Some(job),
                    spec,
                    job_done(job, |r| JobOutcome::Prune(Box::new(r))),
                );
            }
            Effect::StartRestorePlan { job, set_id } => self.start_restore_plan(job, set_id),
            Effect::StartRestore { job, set_id } => {
                let spec = self.console_restore_spec(set_id.clone());
                let done = job_done(job, move |result| JobOutcome::Restore {
                    set_id,
                    result: Box::new(result),
                });
                self.spawn(Some(job), spec, done);
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

    fn load(&mut self) {
        // Only the first load previews: later ones replace a full snapshot on screen.
        let preview = !std::mem::replace(&mut self.loaded_once, true);
        let job = LoadJob {
            config: self.config.clone(),
            paths: self.paths.clone(),
            previews: preview.then(|| self.tx.clone()),
        };
        self.spawn(None, Ok(job), |ended| {
            AppEvent::Loaded(match ended {
                Ended::Finished(loaded) => loaded.map(Box::new),
                Ended::NotStarted(e) | Ended::Crashed(e) => Err(e),
                Ended::Abandoned => Err("the load was abandoned".into()),
            })
        });
    }

    /// A restore from the console: into the configured database, files and secrets in their
    /// original places, with a safety backup first.
    fn console_restore_spec(&self, id: SetId) -> Result<restore::RestoreSpec, String> {
        let options = RestoreOptions {
            safety_backup: true,
            ..Default::default()
        };
        self.config
            .restore_spec(&self.paths, id, options)
            .map_err(|e| e.to_string())
    }

    fn start_verify(&mut self, job: u64, set_id: SetId, decrypt: bool) {
        let target = VerifyTarget::Set(set_id.clone());
        let spec = self
            .config
            .verify_spec(&self.paths, target, decrypt, Initiator::Operator)
            .map_err(|e| e.to_string());
        let done = job_done(job, move |result| JobOutcome::Verify {
            set_id,
            result: Box::new(result),
        });
        self.spawn(Some(job), spec, done);
    }

    fn start_drill(&mut self, job: u64, set_id: Option<SetId>) {
        let spec = self
            .config
            .drill_spec(&self.paths, set_id, Initiator::Operator)
            .map_err(|e| e.to_string());
        let (manual_tx, manual_rx) = tokio::sync::mpsc::unbounded_channel();
        self.manual.insert(job, manual_tx);
        let spec = spec.map(|mut spec| {
            spec.manual_input = Some(manual_rx);
            spec
        });
        self.spawn(
            Some(job),
            spec,
            job_done(job, |r| JobOutcome::Drill(Box::new(r))),
        );
    }

    fn start_restore_plan(&mut self, job: u64, set_id: SetId) {
        let spec = self.console_restore_spec(set_id.clone());
        let database = spec
            .as_ref()
            .ok()
            .and_then(|spec| restore::target_database_name(&spec.target))
            .unwrap_or_default();
        self.spawn(
            Some(job),
            spec.map(RestorePlanJob),
            move |ended| match with_result(ended) {
                Ok(Ok(plan)) => AppEvent::RestorePlanned {
                    id: job,
                    plan: Box::new(plan),
                    database,
                },
                Ok(Err(e)) => AppEvent::JobDone {
                    id: job,
                    outcome: JobOutcome::Restore {
                        set_id,
                        result: Box::new(Err(e)),
                    },
                },
                Err(outcome) => AppEvent::JobDone { id: job, outcome },
            },
        );
    }

    fn preflight(&mut self) {
        let spec = self.config.backup_spec(&self.paths, Initiator::Operator);
        let job = spec.map(PreflightJob).map_err(|e| e.to_string());
        self.spawn(None, job, |ended| {
            let failed = |detail: String| preflight::PreflightReport {
                checks: vec![preflight::Check {
                    name: "configuration".into(),
                    ok: false,
                    detail,
                }],
                ..Default::default()
            };
            AppEvent::Preflight(Box::new(match ended {
                Ended::Finished(report) => report,
                Ended::NotStarted(e) => failed(e),
                Ended::Crashed(e) => failed(format!("the checks stopped unexpectedly: {e}")),
                Ended::Abandoned => failed("the checks were abandoned".into()),
            }))
        });
    }

    fn load_retention(&mut self) {
        let spec = self.config.prune_spec(&self.paths, Initiator::Operator);
        let job = spec.map(PrunePreviewJob).map_err(|e| e.to_string());
        self.spawn(None, job, |ended| {
            AppEvent::RetentionLoaded(match ended {
                Ended::Finished(previewed) => previewed
                    .map(|(plan, candidates)| (Box::new(plan), candidates))
                    .map_err(|e| e.to_string()),
                Ended::NotStarted(e) | Ended::Crashed(e) => Err(e),
                Ended::Abandoned => Err("the preview was abandoned".into()),
            })
        });
    }

    /// Pins `set_id` with `note`, or without a note unpins it.
    fn pin(&mut self, set_id: SetId, note: Option<String>) {
        let locks = self.paths.locks();
        let job = self.config.data_repository().map(|repository| PinJob {
            repository,
            locks,
            set_id,
            note,
        });
        self.spawn(None, job.map_err(|e| e.to_string()), |ended| {
            AppEvent::PinsChanged(match ended {
                Ended::Finished(Ok(PinChange::Pinned(p))) => {
                    format!("✓ pinned {}: {}", p.set_id, p.note)
                }
                Ended::Finished(Ok(PinChange::Unpinned(id))) => format!("✓ unpinned {id}"),
                Ended::Finished(Err(e)) | Ended::NotStarted(e) | Ended::Crashed(e) => {
                    format!("✗ {e}")
                }
                Ended::Abandoned => "✗ the pin was abandoned".into(),
            })
        });
    }
}

/// `update`, except that a snapshot a reload replaces is freed on a blocking thread: freeing
/// 25,000 sets (their manifests, 100,000 objects, the history rows) took 220 ms, a frame's
/// worth of time many times over, on the thread that draws.
pub fn handle(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    // `update` does not look at the snapshot it replaces; a failed load keeps it.
    let replaced = match &event {
        AppEvent::Loaded(Ok(_)) => state.snapshot.take(),
        AppEvent::Partial(..) if state.loading => state.snapshot.take(),
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

/// How a frame of the console is drawn: `ui::render`, handed in by the binary so that `app`
/// decides and `ui` draws without either importing the other's loop (no module cycle).
pub type Draw = fn(&mut ratatui::Frame, &AppState, &Keymap);

pub async fn run_console(
    config: Config,
    paths: LocalPaths,
    no_color: bool,
    draw: Draw,
) -> std::io::Result<()> {
    let keymap = super::keymap_overrides::load(super::keymap_overrides::default_path().as_deref())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut tui = Tui::enter()?;
    let console = Console {
        config,
        paths,
        no_color,
        draw,
        keymap,
        from_fleet: None,
    };
    let (_, pending) = console.run(&mut tui).await?;
    drop(tui);
    pending.finish().await;
    Ok(())
}

/// Jobs a console cancelled when it closed, still cleaning up.
pub struct Pending(Vec<tokio::task::JoinHandle<()>>);

impl Pending {
    /// Cancelled jobs clean up (abort uploads, kill children) before the process leaves;
    /// called after the terminal is restored, so the operator is not left looking at a frozen
    /// screen meanwhile.
    pub async fn finish(self) {
        let _ = tokio::time::timeout(QUIT_GRACE, futures::future::join_all(self.0)).await;
    }
}

/// How an application's console ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEnd {
    Quit,
    /// The back key on the dashboard of a console opened from the fleet screen.
    BackToFleet,
}

/// One application's console, on a terminal someone else entered (the fleet's loop keeps
/// one terminal for the fleet and the consoles it opens).
pub struct Console {
    pub config: Config,
    pub paths: LocalPaths,
    pub no_color: bool,
    pub draw: Draw,
    pub keymap: Keymap,
    /// Opened from the fleet screen (this application's name): the back key on the
    /// dashboard returns there.
    pub from_fleet: Option<String>,
}

impl Console {
    pub async fn run(self, tui: &mut Tui) -> std::io::Result<(ConsoleEnd, Pending)> {
        let Console {
            config,
            paths,
            no_color,
            draw,
            keymap,
            from_fleet,
        } = self;
        let mut resolver = KeyResolver::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut state = AppState::new(
            config.repository.url.clone(),
            config.path.display().to_string(),
            Utc::now(),
        );
        state.no_color = no_color;
        state.fleet_app = from_fleet;
        state.keymap = keymap.clone();
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
                tui.terminal.draw(|frame| draw(frame, &state, &keymap))?;
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
                _ = reload.tick() => Some(AppEvent::ReloadDue),
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
        let end = if state.back_to_fleet {
            ConsoleEnd::BackToFleet
        } else {
            ConsoleEnd::Quit
        };
        Ok((end, Pending(std::mem::take(&mut executor.tasks))))
    }
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
        assert_eq!(preview.set_folders, Some(3));
        assert!(rx.try_recv().is_err(), "one preview only");
        assert_eq!(snapshot.status.complete_sets, 3, "{:#?}", snapshot.status);
        assert_eq!(snapshot.history.len(), 3);
        // Without a channel: the full load alone.
        let snapshot = load_snapshot(&config, &paths).await.unwrap();
        assert_eq!(snapshot.status.complete_sets, 3);
    }

    fn executor(config: Config, paths: LocalPaths, tx: UnboundedSender<AppEvent>) -> Executor {
        Executor {
            config,
            paths,
            tx,
            cancels: HashMap::new(),
            manual: HashMap::new(),
            tasks: Vec::new(),
            loaded_once: false,
        }
    }

    /// A job for the spawn function's tests: says it started, then does what it is told.
    enum Probe {
        Panics,
        StopsWhenCancelled,
        /// Reports this many lines, then returns.
        Chatty(usize),
    }

    impl Job for Probe {
        type Output = &'static str;

        async fn run(self, reporter: Reporter, cancel: CancellationToken) -> &'static str {
            reporter.log("started");
            match self {
                Probe::Panics => panic!("the probe broke"),
                Probe::StopsWhenCancelled => {
                    cancel.cancelled().await;
                    "stopped when cancelled"
                }
                Probe::Chatty(lines) => {
                    for n in 0..lines {
                        reporter.log(format!("line {n}"));
                    }
                    "said everything"
                }
            }
        }
    }

    /// The probe's word, carried in an outcome the test can tell apart.
    fn probe_done(id: u64) -> impl FnOnce(Ended<&'static str>) -> AppEvent + Send + 'static {
        job_done(id, |said: &'static str| JobOutcome::NotStarted(said.into()))
    }

    /// The next event, within a time no contended CI machine needs.
    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<AppEvent>) -> AppEvent {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an event within 30 s")
            .expect("the channel stays open")
    }

    /// A job whose spec cannot be made (this config has no [retention], and prune never
    /// guesses a policy) still ends, with a failure that says why, and is not left running.
    #[tokio::test]
    async fn a_job_that_cannot_be_made_still_sends_its_final_event() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = executor(config, paths, tx);
        executor.run(Effect::StartPrune { job: 4 });
        match next(&mut rx).await {
            AppEvent::JobDone {
                id: 4,
                outcome: JobOutcome::NotStarted(why),
            } => assert!(why.contains("no [retention] table"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(executor.tasks.is_empty(), "nothing was started");
    }

    /// A panic in a job is the job's failure, sent as its final event, never silence.
    #[tokio::test]
    async fn a_panicking_job_ends_as_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = executor(config, paths, tx);
        executor.spawn(Some(7), Ok(Probe::Panics), probe_done(7));
        let outcome = loop {
            match next(&mut rx).await {
                AppEvent::Job { id: 7, .. } => {}
                AppEvent::JobDone { id: 7, outcome } => break outcome,
                other => panic!("{other:?}"),
            }
        };
        assert!(
            matches!(&outcome, JobOutcome::Crashed(text) if text == "the probe broke"),
            "{outcome:?}"
        );
        assert_eq!(
            crate::report::outcome::verdict(&outcome),
            crate::report::outcome::Verdict::Failed(
                "the job stopped unexpectedly: the probe broke".into()
            )
        );
    }

    /// `CancelJob` reaches the token the job was given; the job's own result is its final
    /// event, and its reports arrive before it, under its id.
    #[tokio::test]
    async fn cancel_job_reaches_the_job_and_its_result_is_the_final_event() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = executor(config, paths, tx);
        executor.spawn(Some(3), Ok(Probe::StopsWhenCancelled), probe_done(3));
        match next(&mut rx).await {
            AppEvent::Job {
                id: 3,
                event: crate::jobs::progress::JobEvent::Log(line),
            } => assert_eq!(line, "started"),
            other => panic!("{other:?}"),
        }
        executor.run(Effect::CancelJob { job: 3 });
        match next(&mut rx).await {
            AppEvent::JobDone {
                id: 3,
                outcome: JobOutcome::NotStarted(said),
            } => assert_eq!(said, "stopped when cancelled"),
            other => panic!("{other:?}"),
        }
        let tasks = std::mem::take(&mut executor.tasks);
        assert_eq!(tasks.len(), 1, "quitting waits for the job");
        for task in tasks {
            task.await.expect("the runner's task ends cleanly");
        }
    }

    /// Every report a job made before it returned is shown before its result, in order.
    #[tokio::test]
    async fn a_jobs_reports_arrive_before_its_final_event() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = executor(config, paths, tx);
        executor.spawn(Some(5), Ok(Probe::Chatty(500)), probe_done(5));
        let mut lines = Vec::new();
        loop {
            match next(&mut rx).await {
                AppEvent::Job {
                    id: 5,
                    event: crate::jobs::progress::JobEvent::Log(line),
                } => lines.push(line),
                AppEvent::JobDone { id: 5, .. } => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            lines.len(),
            501,
            "\"started\" and 500 lines, all before the result"
        );
        assert_eq!(lines.last().map(String::as_str), Some("line 499"));
    }

    /// The reload interval is an event: `update` asks for a load unless one is under way, and
    /// asks again once it arrived.
    #[tokio::test]
    async fn the_reload_tick_goes_through_update() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 1);
        let mut state = AppState::new(config.repository.url.clone(), "c".into(), Utc::now());
        assert_eq!(handle(&mut state, AppEvent::ReloadDue), [Effect::Load]);
        assert!(state.loading);
        assert!(
            handle(&mut state, AppEvent::ReloadDue).is_empty(),
            "no second load while one runs"
        );
        let loaded = load_snapshot(&config, &paths).await.map(Box::new);
        handle(&mut state, AppEvent::Loaded(loaded));
        assert!(!state.loading);
        assert_eq!(handle(&mut state, AppEvent::ReloadDue), [Effect::Load]);
    }

    /// Only the console's first load previews: later ones replace a snapshot on screen.
    #[tokio::test]
    async fn only_the_first_load_previews() {
        let dir = tempfile::tempdir().unwrap();
        let (config, paths, _) = console_over(dir.path(), 2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut executor = executor(config, paths, tx);
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
