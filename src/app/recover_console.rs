//! The console on a bare host (no configuration file, no `apps/`): the "Recover from a
//! repository" screen. Its loop lists the sets and makes the plan through the jobs
//! (`recover::remote_sets`, `recover::prepare`), and runs the recovery as a separate,
//! detached `lifeboat recover ... --yes` process: its own session (so a SIGHUP of the terminal
//! never reaches it), stdin null, output appended to `<recoveries>/<id>.log`. The screen only
//! watches the runbook file and the worker's lock (`recover::worker`): quitting the console,
//! or losing the terminal, never stops a running recovery; it goes on headless, and the next
//! `lifeboat` opens on it again.

use super::keymap::{KeyResolver, Keymap};
use super::screens::recover::{
    on_action, on_backspace, on_char, on_plan_loaded, on_polled, on_sets_loaded, on_started,
    resume_line, PlanView, RecoverEffect, RecoverState, RunView,
};
use super::tui::Tui;
use crate::jobs::progress::Reporter;
use crate::jobs::recover::{self, worker, RecoverSpec, RemoteSet, Runbook};
use crate::report;
use crate::storage::paths::LocalPaths;
use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the screen is drawn: `ui::recover::render`, handed in by the binary like `Draw`.
pub type DrawRecover = fn(&mut ratatui::Frame, &RecoverState, &Keymap);

/// How often the runbook and the lock are read while a recovery is watched.
const POLL: Duration = Duration::from_millis(250);

/// Turns a `recover ...` line into the spec the command would make from it.
pub type SpecOf = fn(&[String]) -> Result<RecoverSpec, String>;

/// No configuration at all: neither a config file nor an `apps/` directory where lifeboat
/// looks, and none named (`--config`, `LIFEBOAT_CONFIG`).
pub fn bare_host(config_flag: Option<&Path>) -> bool {
    if config_flag.is_some() || std::env::var_os("LIFEBOAT_CONFIG").is_some() {
        return false;
    }
    let dir = super::apps::config_dir();
    !dir.join("config.toml").exists() && !dir.join(super::apps::APPS_DIR).exists()
}

/// Where a new cluster is suggested: beside PostgreSQL's own for root (its server runs as
/// `postgres`, which must reach the directory), else under the state directory.
fn suggested_datadir(paths: &LocalPaths) -> String {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        "/var/lib/postgresql/lifeboat-recovered".into()
    } else {
        paths
            .state_dir
            .join("recovered/pgdata")
            .display()
            .to_string()
    }
}

/// The view of recovery `id`, before its first read.
fn watch(dir: &Path, id: &str, command: String) -> RunView {
    RunView {
        id: id.to_string(),
        runbook_path: Runbook::path_in(dir, id),
        log: worker::log_path(dir, id),
        book: None,
        worker: worker::Worker::Stopped,
        exited: None,
        log_tail: Vec::new(),
        command,
        child_alive: false,
    }
}

/// The last few lines of the log (its last 4 KiB at most).
fn log_tail(path: &Path) -> Vec<String> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    lines[lines.len().saturating_sub(3)..].to_vec()
}

/// Starts `lifeboat <argv>` detached: a new session, stdin null, output appended to the log.
/// Only paths go in argv (the passphrase file's, never the passphrase).
fn spawn_worker(dir: &Path, id: &str, argv: &[String], line: &str) -> std::io::Result<Child> {
    std::fs::create_dir_all(dir)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(worker::log_path(dir, id))?;
    writeln!(
        log,
        "== {} {line}",
        Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid(2) is async-signal-safe, as pre_exec requires; it makes the worker the
    // leader of a new session with no controlling terminal, so the terminal's hang-up (a
    // dropped SSH session, a killed tmux) is never delivered to it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

fn plan_view(prepared: &recover::Prepared) -> PlanView {
    let plan = &prepared.plan;
    PlanView {
        text: report::recover::plan_text(plan),
        problems: plan.problems(),
        database: plan.database().to_string(),
        holds: plan
            .target_state
            .holds_data()
            .then(|| plan.target_state.describe()),
    }
}

fn list(
    spec_of: SpecOf,
    argv: Vec<String>,
    paths: &LocalPaths,
) -> JoinHandle<Result<Vec<RemoteSet>, String>> {
    let paths = paths.clone();
    tokio::spawn(async move {
        // Listing needs only the repository part; a target is named so the line parses as
        // `recover` would take it, and is not used.
        let mut argv = argv;
        argv.extend(["--new-cluster".to_string(), "/".into()]);
        let spec = spec_of(&argv)?;
        recover::remote_sets(&spec, &paths)
            .await
            .map_err(|e| e.to_string())
    })
}

fn plan(
    spec_of: SpecOf,
    argv: Vec<String>,
    paths: &LocalPaths,
) -> JoinHandle<Result<PlanView, String>> {
    let paths = paths.clone();
    tokio::spawn(async move {
        let spec = spec_of(&argv)?;
        recover::prepare(
            &spec,
            &paths,
            &Reporter::silent(),
            &CancellationToken::new(),
        )
        .await
        .map(|p| plan_view(&p))
        .map_err(|e| e.to_string())
    })
}

/// What the loop is waiting for besides keys.
struct Pending {
    sets: Option<JoinHandle<Result<Vec<RemoteSet>, String>>>,
    plan: Option<JoinHandle<Result<PlanView, String>>>,
    child: Option<Child>,
}

pub async fn run_recover(
    paths: LocalPaths,
    no_color: bool,
    draw: DrawRecover,
    spec_of: SpecOf,
) -> std::io::Result<()> {
    let keymap = super::keymap_overrides::load(super::keymap_overrides::default_path().as_deref())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let dir = recover::recoveries_dir(&paths);
    let mut state = RecoverState::new(Utc::now(), suggested_datadir(&paths));
    state.no_color = no_color;
    // An unfinished recovery opens straight on its runbook, running or stopped.
    if let Some((_, Ok(book))) = Runbook::newest_unfinished(&dir) {
        let line = state.shell_line(&resume_line(&book.id, None));
        on_started(&mut state, watch(&dir, &book.id, line));
        poll(&mut state, &dir, &mut None);
    }
    let mut tui = Tui::enter()?;
    let mut resolver = KeyResolver::default();
    let mut input = EventStream::new();
    let mut pending = Pending {
        sets: None,
        plan: None,
        child: None,
    };
    let mut tick = tokio::time::interval(POLL);
    loop {
        tui.terminal.draw(|f| draw(f, &state, &keymap))?;
        let effect = tokio::select! {
            maybe = input.next() => match maybe {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                    match key.code {
                        KeyCode::Char(c) if state.typing() && !ctrl => { on_char(&mut state, c); None }
                        KeyCode::Backspace if state.typing() => { on_backspace(&mut state); None }
                        _ => resolver.resolve(&keymap, &key).map(|a| on_action(&mut state, a)),
                    }
                }
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            sets = async { pending.sets.as_mut().expect("guarded by the select condition").await }, if pending.sets.is_some() => {
                pending.sets = None;
                on_sets_loaded(&mut state, sets.unwrap_or_else(|e| Err(e.to_string())));
                None
            }
            made = async { pending.plan.as_mut().expect("guarded by the select condition").await }, if pending.plan.is_some() => {
                pending.plan = None;
                on_plan_loaded(&mut state, made.unwrap_or_else(|e| Err(e.to_string())));
                None
            }
            _ = tick.tick() => {
                state.now = Utc::now();
                poll(&mut state, &dir, &mut pending.child);
                None
            }
        };
        match effect {
            Some(RecoverEffect::Quit) => return Ok(()),
            Some(RecoverEffect::ListSets(argv)) => {
                pending.sets = Some(list(spec_of, argv, &paths));
            }
            Some(RecoverEffect::Plan(argv)) => {
                pending.plan = Some(plan(spec_of, argv, &paths));
            }
            Some(RecoverEffect::Start { id, argv }) => {
                start(&mut state, &dir, &id, &argv, &mut pending.child)
            }
            Some(RecoverEffect::Resume { id, replace }) => {
                let argv = resume_line(&id, replace.as_deref());
                start(&mut state, &dir, &id, &argv, &mut pending.child);
            }
            Some(RecoverEffect::None) | None => {}
        }
    }
}

fn start(
    state: &mut RecoverState,
    dir: &Path,
    id: &str,
    argv: &[String],
    child: &mut Option<Child>,
) {
    let line = state.shell_line(argv);
    match spawn_worker(dir, id, argv, &line) {
        Ok(c) => {
            *child = Some(c);
            let mut view = watch(dir, id, line);
            // Kept from the last read until the worker rewrites it, so a resume does not
            // blank the steps already done.
            view.book = state
                .run
                .as_ref()
                .filter(|r| r.id == id)
                .and_then(|r| r.book.clone());
            on_started(state, view);
        }
        Err(e) => state.error = Some(format!("cannot start `{line}`: {e}")),
    }
}

/// Reads the runbook, the lock and the log; reaps the worker this console started.
fn poll(state: &mut RecoverState, dir: &Path, child: &mut Option<Child>) {
    let Some(run) = &state.run else {
        return;
    };
    let path: PathBuf = run.runbook_path.clone();
    let book = Runbook::load(&path).ok();
    let status = worker::status(dir, &run.id);
    let exited = match child.as_mut().map(Child::try_wait) {
        Some(Ok(Some(s))) => {
            *child = None;
            Some(s.code().unwrap_or(-1))
        }
        _ => None,
    };
    let tail = log_tail(&run.log);
    on_polled(state, book, status, exited, child.is_some(), tail);
}
