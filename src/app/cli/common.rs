//! What every headless command shares: the one config loader, the one stderr reporter for job
//! events, Ctrl-c as cancellation, JSON printing, opening the data repository and resolving a
//! set named on the command line. Command files import this, never each other.

use crate::app::apps;
use crate::app::config::Config;
use crate::app::exit;
use crate::app::fleet_console::DrawFleet;
use crate::app::runtime::Draw;
use crate::jobs::progress::{JobEvent, Reporter};
use crate::jobs::set_choice;
use crate::jobs::CancellationToken;
use crate::report;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use std::io::IsTerminal;
use std::path::PathBuf;

/// What the command line names: `--config`, `--app`, and the host's directories.
#[derive(Debug, Clone)]
pub struct Target {
    pub config: Option<PathBuf>,
    pub app: Option<String>,
    pub base: LocalPaths,
}

impl Target {
    /// The applications the command line selects (`app::apps` has the precedence); a
    /// problem is printed and becomes the configuration exit code.
    pub fn select(&self) -> Result<apps::Selection, i32> {
        apps::select(self.config.as_deref(), self.app.as_deref(), &self.base).map_err(|e| {
            eprintln!("lifeboat: {e}");
            exit::CONFIG
        })
    }

    /// The one application a command acts on, loaded, with its own directories. Several
    /// configured and none named is a configuration error listing them.
    pub fn load(&self) -> Result<(Config, LocalPaths), i32> {
        let entry = self.select()?.one().map_err(|e| {
            eprintln!("lifeboat: {e}");
            exit::CONFIG
        })?;
        Config::load(&entry.config_path)
            .map(|c| (c, entry.paths))
            .map_err(|e| {
                eprintln!("lifeboat: {e}");
                exit::CONFIG
            })
    }
}

/// Every application the command line selects, loaded (`schedule install` without `--app`
/// installs each one's); a problem is printed and becomes the configuration exit code.
pub fn load_each(target: &Target) -> Result<Vec<crate::app::config::Config>, i32> {
    target
        .select()?
        .all()
        .iter()
        .map(|entry| {
            crate::app::config::Config::load(&entry.config_path).map_err(|e| {
                eprintln!("lifeboat: {e}");
                exit::CONFIG
            })
        })
        .collect()
}

pub fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("lifeboat: cannot render JSON: {e}"),
    }
}

/// Ctrl-c cancels the running job; the job leaves nothing complete-looking behind.
pub fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

/// Prints job events to stderr. Warnings always; on a terminal also phases, log lines and
/// progress (redrawn on one line), which a cron mail or a log collector would only clutter.
pub fn stderr_reporter() -> (Reporter, tokio::task::JoinHandle<()>) {
    let (reporter, mut rx) = Reporter::channel();
    let tty = std::io::stderr().is_terminal();
    // Clears a progress line still on screen so the next line starts clean.
    let clear = if tty { "\r\x1b[2K" } else { "" };
    let task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event {
                JobEvent::Progress(p) if tty => {
                    eprint!("{clear}{}", report::progress::line(&p));
                    if p.finished {
                        eprintln!();
                    }
                }
                JobEvent::Phase(p) if tty => eprintln!("{clear}== {p}"),
                JobEvent::Log(l) if tty => eprintln!("{clear}   {l}"),
                JobEvent::Warning(w) => eprintln!("{clear}warning: {w}"),
                _ => {}
            }
        }
    });
    (reporter, task)
}

/// The configured data repository, opened; a problem is a configuration problem.
pub fn open_data_repository(config: &Config) -> Result<Repository, i32> {
    let opened = config
        .data_repository()
        .map_err(|e| e.to_string())
        .and_then(|spec| Repository::open(&spec).map_err(|e| e.to_string()));
    opened.map_err(|e| {
        eprintln!("lifeboat: {e}");
        exit::CONFIG
    })
}

/// The set named on the command line (an id or `latest`), resolved the same way for
/// `verify`, `restore` and `drill`.
pub async fn resolve_set(config: &Config, text: &str) -> Result<SetId, i32> {
    let repo = open_data_repository(config)?;
    set_choice::resolve(&repo, text).await.map_err(|e| {
        eprintln!("lifeboat: {e}");
        if e.is_usage() {
            exit::CONFIG
        } else {
            exit::FAILED
        }
    })
}

/// The console, on a terminal only (the demo opens it too).
pub async fn open_console(config: Config, paths: LocalPaths, no_color: bool, draw: Draw) -> i32 {
    if !std::io::stdout().is_terminal() {
        eprintln!("lifeboat: the console needs a terminal; use a subcommand (see --help)");
        return exit::CONFIG;
    }
    match crate::app::runtime::run_console(config, paths, no_color, draw).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("lifeboat: the console failed: {e}");
            exit::FAILED
        }
    }
}

/// Several applications and no `--app`: the console opens on the fleet screen.
/// `config_dir`: where the applications' files are (shown on the fleet screen).
pub async fn open_fleet(
    apps: Vec<apps::AppEntry>,
    config_dir: &std::path::Path,
    no_color: bool,
    draw: Draw,
    draw_fleet: DrawFleet,
) -> i32 {
    if !std::io::stdout().is_terminal() {
        eprintln!("lifeboat: the console needs a terminal; use a subcommand (see --help), e.g. `lifeboat status --all`");
        return exit::CONFIG;
    }
    let dir = config_dir.join(apps::APPS_DIR).display().to_string();
    match crate::app::fleet_console::run_fleet(apps, dir, no_color, draw, draw_fleet).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("lifeboat: the console failed: {e}");
            exit::FAILED
        }
    }
}
