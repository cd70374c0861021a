//! `lifeboat schedule install | status | uninstall`: scheduled backups, verifications and
//! drills as systemd timers (a `Type=oneshot` service and a timer per job) or as one block in a
//! crontab. Each scheduled command is this binary with this configuration, by absolute path,
//! and `--initiator schedule`, so the journal and the drill records say who started it.
//!
//! Installing replaces the whole schedule (a job not asked for any more is removed), so running
//! the same install twice changes nothing. systemd is told (`daemon-reload`, `enable --now`)
//! only when the units go to the real unit directory and systemd runs this machine; otherwise
//! the commands to run are printed.
//!
//! With several applications (`apps/NAME.toml`), each has units (`lifeboat-NAME-backup`) and a
//! crontab block of its own: `--app NAME` installs or removes that application's, no `--app`
//! installs each application's (and removes every lifeboat unit on uninstall).

pub mod calendar;
pub mod crontab;
pub mod systemd;

use super::config::Config;
use super::exit;
use calendar::Calendar;
use chrono::Local;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Backup,
    Verify,
    Drill,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Backup, Job::Verify, Job::Drill];

    pub fn as_str(self) -> &'static str {
        match self {
            Job::Backup => "backup",
            Job::Verify => "verify",
            Job::Drill => "drill",
        }
    }
}

/// One scheduled job: when, and the arguments after `--config PATH`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub job: Job,
    pub calendar: Calendar,
    pub args: Vec<String>,
}

/// Which applications' units or crontab blocks a command touches.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope<'a> {
    /// Every application's, and the lone configuration's.
    Every,
    /// One application of `apps/` (Some), or the lone configuration (None).
    App(Option<&'a str>),
}

impl Scope<'_> {
    pub fn covers(&self, app: Option<&str>) -> bool {
        match self {
            Scope::Every => true,
            Scope::App(mine) => *mine == app,
        }
    }
}

/// The application a configuration file schedules for, when it is one of `apps/`: its units
/// and crontab block carry the name. The lone `config.toml` keeps the plain names.
pub fn app_of(config_path: &Path) -> Option<String> {
    let in_apps = config_path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == super::apps::APPS_DIR);
    let stem = config_path.file_stem()?.to_str()?;
    (in_apps && super::apps::valid_name(stem)).then(|| stem.to_string())
}

/// What every scheduled command runs: this binary, this configuration, this environment.
#[derive(Debug, Clone)]
pub struct Target {
    /// The application of `apps/` it runs for (see [`app_of`]).
    pub app: Option<String>,
    pub binary: PathBuf,
    pub config: PathBuf,
    /// Non-secret variables from the installing shell that change where lifeboat looks.
    pub env: Vec<(String, String)>,
    /// Optional `EnvironmentFile=` for credentials (systemd only).
    pub env_file: Option<PathBuf>,
    /// `ionice` exists (the crontab line uses it like IOSchedulingClass=idle).
    pub ionice: bool,
}

/// Variables copied into the schedule when set: they are paths and names, never secrets, and
/// without them a scheduled run would read another journal, keyring or database.
const CARRIED_ENV: &[&str] = &[
    "LIFEBOAT_DATA_DIR",
    "LIFEBOAT_STATE_DIR",
    "LIFEBOAT_LOG",
    "GNUPGHOME",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
];
/// Never written into a unit or a crontab; the operator is told where they go instead.
const SECRET_ENV: &[&str] = &[
    "PGPASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleAction {
    /// Write systemd timers (or a crontab block) for scheduled backups, verifications and
    /// drills. Without --backup/--verify/--drill: a daily backup (00:00) and a daily
    /// verification 30 minutes later (00:30).
    Install(InstallArgs),
    /// Show the installed schedule and the next fire times.
    Status {
        #[command(flatten)]
        place: Place,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Remove the lifeboat timers and the crontab block.
    Uninstall {
        #[command(flatten)]
        place: Place,
    },
}

#[derive(Debug, clap::Args)]
pub struct Place {
    /// systemd timers (the default where systemd runs the machine).
    #[arg(long, conflicts_with = "cron")]
    pub systemd: bool,
    /// A crontab block.
    #[arg(long, conflicts_with = "unit_dir")]
    pub cron: bool,
    /// Where the units go (default: /etc/systemd/system as root, else ~/.config/systemd/user).
    #[arg(long, value_name = "DIR", conflicts_with = "crontab")]
    pub unit_dir: Option<PathBuf>,
    /// A crontab file to edit (user crontab format) instead of the user's crontab.
    #[arg(long, value_name = "FILE")]
    pub crontab: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub place: Place,
    /// When to back up: hourly, daily, weekly, monthly, or a 5-field cron expression.
    #[arg(long, value_name = "WHEN")]
    pub backup: Option<String>,
    /// When to verify the newest set (decrypting it, except in recipients mode).
    #[arg(long, value_name = "WHEN")]
    pub verify: Option<String>,
    /// When to run a restore drill.
    #[arg(long, value_name = "WHEN")]
    pub drill: Option<String>,
    /// Apply the retention policy after each scheduled backup (`backup --prune`).
    #[arg(long)]
    pub prune: bool,
    /// Print what would be written; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Calendar(#[from] calendar::CalendarError),
    #[error("--prune adds pruning to the scheduled backup: schedule one with --backup WHEN")]
    PruneWithoutBackup,
    #[error("cannot find this lifeboat binary to schedule: {0}")]
    Binary(std::io::Error),
    #[error("the configuration path {path} cannot be made absolute: {source}")]
    ConfigPath {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` contains a line break; a scheduled command cannot carry it")]
    LineBreak(String),
    #[error("cannot write {path}: {source} (check the directory, or pass --unit-dir DIR)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Crontab(String),
    #[error("{0}")]
    Systemctl(String),
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub fn default_unit_dir() -> PathBuf {
    if is_root() {
        PathBuf::from("/etc/systemd/system")
    } else {
        directories::BaseDirs::new()
            .map(|d| d.config_dir().join("systemd/user"))
            .unwrap_or_else(|| PathBuf::from(".config/systemd/user"))
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// systemd runs this machine and can be told about new units.
fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir() && on_path("systemctl")
}

impl Place {
    fn use_systemd(&self) -> bool {
        if self.systemd || self.unit_dir.is_some() {
            true
        } else if self.cron || self.crontab.is_some() {
            false
        } else {
            systemd_running()
        }
    }

    fn unit_dir(&self) -> PathBuf {
        self.unit_dir.clone().unwrap_or_else(default_unit_dir)
    }

    /// The real unit directory of a running systemd: only then is `systemctl` used.
    fn live(&self) -> bool {
        self.unit_dir.is_none() && systemd_running()
    }

    fn crontab(&self) -> crontab::Crontab<'_> {
        match &self.crontab {
            Some(p) => crontab::Crontab::File(p),
            None => crontab::Crontab::User,
        }
    }
}

/// The default verification: daily at 00:30, 30 minutes after `daily` (00:00) backs up.
pub const DEFAULT_VERIFY: &str = "30 0 * * *";

/// The jobs an install asks for (a daily backup and verification when none is named).
pub fn plans(args: &InstallArgs, config: &Config) -> Result<Vec<Plan>, ScheduleError> {
    let none = args.backup.is_none() && args.verify.is_none() && args.drill.is_none();
    let backup = args.backup.clone().or(none.then(|| "daily".to_string()));
    // Daily, half an hour after the default backup, so the verification finds that night's
    // set and the two do not read the database and the bucket in the same minute.
    let verify = args
        .verify
        .clone()
        .or(none.then(|| DEFAULT_VERIFY.to_string()));
    if args.prune && backup.is_none() {
        return Err(ScheduleError::PruneWithoutBackup);
    }
    let schedule = ["--initiator", "schedule"].map(String::from);
    let mut out = Vec::new();
    if let Some(when) = backup {
        let mut a = vec!["backup".to_string()];
        a.extend(schedule.clone());
        if args.prune {
            a.push("--prune".into());
        }
        out.push((Job::Backup, when, a));
    }
    if let Some(when) = verify {
        let mut a = vec!["verify".to_string(), "--latest".into()];
        // Recipients mode is made for hosts that hold only the public key: there a
        // decrypting verification could never pass, so the stored hashes are checked.
        if config.encryption.mode != "recipients" {
            a.push("--decrypt".into());
        }
        a.extend(schedule.clone());
        out.push((Job::Verify, when, a));
    }
    if let Some(when) = &args.drill {
        let mut a = vec!["drill".to_string()];
        a.extend(schedule.clone());
        out.push((Job::Drill, when.clone(), a));
    }
    out.into_iter()
        .map(|(job, when, args)| {
            Ok(Plan {
                job,
                calendar: Calendar::parse(&when)?,
                args,
            })
        })
        .collect()
}

/// Who runs it, with what, from the installing process.
pub fn target(config: &Config, systemd: bool) -> Result<Target, ScheduleError> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(ScheduleError::Binary)?;
    let config_path = std::path::absolute(&config.path)
        .map(|p| p.canonicalize().unwrap_or(p))
        .map_err(|source| ScheduleError::ConfigPath {
            path: config.path.clone(),
            source,
        })?;
    let env: Vec<(String, String)> = CARRIED_ENV
        .iter()
        .filter_map(|k| {
            let v = std::env::var(k).ok().filter(|v| !v.is_empty())?;
            Some((k.to_string(), v))
        })
        .collect();
    for text in [binary.to_string_lossy(), config_path.to_string_lossy()]
        .into_iter()
        .chain(env.iter().map(|(_, v)| v.as_str().into()))
    {
        if text.contains('\n') {
            return Err(ScheduleError::LineBreak(text.into_owned()));
        }
    }
    let env_file = systemd
        .then(|| config_path.parent().map(|d| d.join("lifeboat.env")))
        .flatten()
        .filter(|p| !p.to_string_lossy().contains(char::is_whitespace));
    Ok(Target {
        app: app_of(&config.path),
        binary,
        config: config_path,
        env,
        env_file,
        ionice: on_path("ionice"),
    })
}

/// How much a timer's start is spread: a tenth of the shortest interval, 30 minutes at most.
fn randomized_delay(cal: &Calendar) -> Duration {
    let min_gap = cal
        .gaps(&Local::now(), 48)
        .map(|(min, _)| min)
        .unwrap_or(Duration::from_secs(3600));
    (min_gap / 10).clamp(Duration::from_secs(1), Duration::from_secs(30 * 60))
}

/// Warnings for schedules looser than the status thresholds: they would raise alerts between
/// two runs that went fine.
fn cadence_warnings(plans: &[Plan], config: &Config, systemd: bool) -> Vec<String> {
    let mut out = Vec::new();
    for plan in plans {
        let (key, limit) = match plan.job {
            Job::Backup => ("[status].stale_after", config.stale_after().ok()),
            Job::Verify => (
                "[status].verify_stale_after",
                config.verify_stale_after().ok(),
            ),
            Job::Drill => ("[drill].every", config.drill_targets().ok().map(|t| t.2)),
        };
        let (Some(limit), Some((_, max_gap))) = (limit, plan.calendar.gaps(&Local::now(), 60))
        else {
            continue;
        };
        let worst = if systemd {
            max_gap + randomized_delay(&plan.calendar)
        } else {
            max_gap
        };
        if !limit.is_zero() && worst > limit {
            out.push(format!(
                "{} runs up to {} apart, more than {key} ({}): status will report it overdue between runs",
                plan.job.as_str(),
                days_hours(worst),
                days_hours(limit)
            ));
        }
    }
    out
}

/// "31d 0h 30m": calendar-free (humantime would say "1month 13h" for 31 days).
fn days_hours(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h {minutes}m"),
    }
}

fn next_text(cal: &Calendar) -> String {
    cal.next_after(&Local::now())
        .map(|t| t.format("%Y-%m-%d %H:%M %:z").to_string())
        .unwrap_or_else(|| "never".into())
}

fn write_unit(path: &Path, text: &str) -> Result<(), ScheduleError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |source| ScheduleError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, text).map_err(fail)?;
    // Units hold no secrets, and systemd tools expect to read them.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(fail)
}

pub fn install(args: &InstallArgs, config: &Config) -> Result<(), ScheduleError> {
    let plans = plans(args, config)?;
    let use_systemd = args.place.use_systemd();
    let target = target(config, use_systemd)?;
    for w in cadence_warnings(&plans, config, use_systemd) {
        eprintln!("warning: {w}");
    }
    for k in SECRET_ENV.iter().filter(|k| std::env::var_os(k).is_some()) {
        eprintln!(
            "note: {k} is set here but is not written into the schedule; {}",
            match &target.env_file {
                Some(f) if use_systemd => format!("put it in {} (mode 0600)", f.display()),
                _ => "use ~/.pgpass or ~/.aws/credentials for scheduled runs".into(),
            }
        );
    }
    if use_systemd {
        install_systemd(args, &plans, &target)
    } else {
        install_cron(args, &plans, &target)
    }
}

fn install_systemd(
    args: &InstallArgs,
    plans: &[Plan],
    target: &Target,
) -> Result<(), ScheduleError> {
    let dir = args.place.unit_dir();
    let live = args.place.live();
    let user = !is_root();
    let mut files = Vec::new();
    let app = target.app.as_deref();
    for plan in plans {
        let name = systemd::unit_name(app, plan.job);
        let on_calendar = plan.calendar.on_calendar()?;
        files.push((
            dir.join(format!("{name}.service")),
            systemd::service_text(plan, target),
        ));
        files.push((
            dir.join(format!("{name}.timer")),
            systemd::timer_text(plan, &on_calendar, randomized_delay(&plan.calendar)),
        ));
    }
    let timers: Vec<String> = plans
        .iter()
        .map(|p| format!("{}.timer", systemd::unit_name(app, p.job)))
        .collect();
    if args.dry_run {
        for (path, text) in &files {
            println!("# --- {}\n{text}", path.display());
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|source| ScheduleError::Write {
        path: dir.clone(),
        source,
    })?;
    // This application's jobs that are no longer asked for go, so its schedule is exactly
    // this install; other applications' units stay.
    let stale: Vec<Job> = Job::ALL
        .into_iter()
        .filter(|j| !plans.iter().any(|p| p.job == *j))
        .filter(|j| {
            dir.join(format!("{}.timer", systemd::unit_name(app, *j)))
                .exists()
        })
        .collect();
    for job in &stale {
        let name = systemd::unit_name(app, *job);
        if live {
            let _ = systemd::systemctl(user, &["disable", "--now", &format!("{name}.timer")]);
        }
        for ext in ["timer", "service"] {
            let _ = std::fs::remove_file(dir.join(format!("{name}.{ext}")));
        }
        println!("removed {name} (not in this schedule)");
    }
    for (path, text) in &files {
        write_unit(path, text)?;
    }
    for plan in plans {
        println!(
            "{:<7} {:<16} next {}  {}",
            plan.job.as_str(),
            plan.calendar.text,
            next_text(&plan.calendar),
            dir.join(format!("{}.timer", systemd::unit_name(app, plan.job)))
                .display()
        );
    }
    let u = if user { "--user " } else { "" };
    if live {
        systemd::systemctl(user, &["daemon-reload"]).map_err(ScheduleError::Systemctl)?;
        let mut enable = vec!["enable", "--now"];
        enable.extend(timers.iter().map(String::as_str));
        systemd::systemctl(user, &enable).map_err(ScheduleError::Systemctl)?;
        println!("enabled: {}", timers.join(" "));
        if user {
            println!("user timers run only while you are logged in, unless: loginctl enable-linger $USER");
        }
    } else {
        println!(
            "systemd was not told (the units are not in its running unit directory); to activate them:\n  systemctl {u}link {}\n  systemctl {u}daemon-reload && systemctl {u}enable --now {}",
            files
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            timers.join(" ")
        );
    }
    Ok(())
}

fn install_cron(args: &InstallArgs, plans: &[Plan], target: &Target) -> Result<(), ScheduleError> {
    let tab = args.place.crontab();
    let block = crontab::block(plans, target);
    if args.dry_run {
        print!("{block}");
        return Ok(());
    }
    let existing = tab.read().map_err(ScheduleError::Crontab)?;
    let scope = Scope::App(target.app.as_deref());
    let updated = crontab::replace_block(&existing, &scope, Some(&block));
    if updated != existing {
        tab.write(&updated).map_err(ScheduleError::Crontab)?;
    }
    for plan in plans {
        println!(
            "{:<7} {:<16} next {}  {}",
            plan.job.as_str(),
            plan.calendar.text,
            next_text(&plan.calendar),
            tab.describe()
        );
    }
    Ok(())
}

/// One scheduled job as `schedule status` shows it.
#[derive(Debug, serde::Serialize)]
pub struct Entry {
    pub kind: &'static str,
    /// The application of `apps/` it runs for; null for the lone configuration.
    pub app: Option<String>,
    pub job: String,
    pub expression: Option<String>,
    pub on_calendar: Option<String>,
    pub command: Option<String>,
    pub next: Option<String>,
    /// `systemctl` (list-timers) or `computed` (from the expression).
    pub next_from: &'static str,
    pub location: String,
}

pub fn status_entries(place: &Place) -> Vec<Entry> {
    let mut out = Vec::new();
    let want_systemd = !place.cron && place.crontab.is_none();
    let want_cron = !place.systemd && place.unit_dir.is_none();
    if want_systemd {
        let live = place.live();
        let timers = if live {
            systemd::list_timers(!is_root())
        } else {
            None
        };
        for e in systemd::installed(&place.unit_dir()) {
            let job = Job::ALL.into_iter().find(|j| j.as_str() == e.job);
            let name = job
                .map(|j| format!("{}.timer", systemd::unit_name(e.app.as_deref(), j)))
                .unwrap_or_default();
            let listed = timers
                .as_ref()
                .and_then(|t| t.iter().find(|(u, _)| *u == name).map(|(_, n)| n.clone()));
            let (next, next_from) = match listed {
                Some(n) => (Some(n), "systemctl"),
                None => (
                    systemd::computed_next(&e)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string()),
                    "computed",
                ),
            };
            out.push(Entry {
                kind: "systemd",
                app: e.app.clone(),
                job: e.job.clone(),
                expression: e.expression.clone(),
                on_calendar: e.on_calendar.clone(),
                command: e.exec_start.clone(),
                next,
                next_from,
                location: e.timer.display().to_string(),
            });
        }
    }
    let tab = place.crontab();
    // Without a crontab command there is no user crontab to look at.
    let readable = place.crontab.is_some() || on_path("crontab");
    if want_cron && readable {
        if let Ok(text) = tab.read() {
            for crontab::CronEntry {
                app,
                job,
                expression: expr,
                line,
            } in crontab::entries(&text)
            {
                let next = Calendar::parse(&expr)
                    .ok()
                    .and_then(|c| c.next_after(&Local::now()))
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string());
                out.push(Entry {
                    kind: "cron",
                    app,
                    job,
                    expression: Some(expr),
                    on_calendar: None,
                    command: Some(line),
                    next,
                    next_from: "computed",
                    location: tab.describe(),
                });
            }
        }
    }
    out
}

/// Removes the units and crontab blocks of the applications `scope` covers.
pub fn uninstall(place: &Place, scope: &Scope) -> Result<Vec<String>, ScheduleError> {
    let mut removed = Vec::new();
    if !place.cron && place.crontab.is_none() {
        let dir = place.unit_dir();
        let files = systemd::unit_files(&dir, scope);
        if !files.is_empty() {
            let live = place.live();
            let user = !is_root();
            if live {
                let timers: Vec<String> = files
                    .iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "timer"))
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                let mut disable = vec!["disable", "--now"];
                disable.extend(timers.iter().map(String::as_str));
                if let Err(e) = systemd::systemctl(user, &disable) {
                    eprintln!("warning: {e}");
                }
            }
            for f in files {
                std::fs::remove_file(&f).map_err(|source| ScheduleError::Write {
                    path: f.clone(),
                    source,
                })?;
                removed.push(f.display().to_string());
            }
            if live {
                systemd::systemctl(user, &["daemon-reload"]).map_err(ScheduleError::Systemctl)?;
            }
        }
    }
    let readable = place.crontab.is_some() || on_path("crontab");
    if !place.systemd && place.unit_dir.is_none() && readable {
        let tab = place.crontab();
        let text = tab.read().map_err(ScheduleError::Crontab)?;
        let updated = crontab::replace_block(&text, scope, None);
        if updated != text {
            tab.write(&updated).map_err(ScheduleError::Crontab)?;
            removed.push(format!("the lifeboat block in {}", tab.describe()));
        }
    }
    Ok(removed)
}

/// The `schedule` command. Install needs valid configurations: `configs` loads the selected
/// ones (each application's without `--app`); status and uninstall need none, and `app` (the
/// `--app` given) narrows uninstall to that application.
pub fn run(
    action: ScheduleAction,
    configs: impl FnOnce() -> Result<Vec<Config>, i32>,
    app: Option<&str>,
) -> i32 {
    match action {
        ScheduleAction::Install(args) => {
            let configs = match configs() {
                Ok(c) => c,
                Err(code) => return code,
            };
            for config in &configs {
                if configs.len() > 1 {
                    println!("{}:", config.path.display());
                }
                let code = match install(&args, config) {
                    Ok(()) => continue,
                    Err(e @ (ScheduleError::Calendar(_) | ScheduleError::PruneWithoutBackup)) => {
                        eprintln!("lifeboat: {e}");
                        exit::CONFIG
                    }
                    Err(e) => {
                        eprintln!("lifeboat: {e}");
                        exit::FAILED
                    }
                };
                return code;
            }
            exit::OK
        }
        ScheduleAction::Status { place, json } => {
            let entries = status_entries(&place);
            if json {
                super::cli::print_json(&entries);
            } else if entries.is_empty() {
                println!("no lifeboat schedule installed");
            } else {
                for e in &entries {
                    let job = match &e.app {
                        Some(app) => format!("{app}/{}", e.job),
                        None => e.job.clone(),
                    };
                    println!(
                        "{:<7} {:<7} {:<16} next {} ({})\n        {}\n        {}",
                        e.kind,
                        job,
                        e.expression.as_deref().unwrap_or("?"),
                        e.next.as_deref().unwrap_or("unknown"),
                        e.next_from,
                        e.command.as_deref().unwrap_or("?"),
                        e.location
                    );
                }
            }
            exit::OK
        }
        ScheduleAction::Uninstall { place } => {
            match uninstall(&place, &app.map_or(Scope::Every, |a| Scope::App(Some(a)))) {
                Ok(removed) if removed.is_empty() => {
                    println!("no lifeboat schedule found");
                    exit::OK
                }
                Ok(removed) => {
                    for r in removed {
                        println!("removed {r}");
                    }
                    exit::OK
                }
                Err(e) => {
                    eprintln!("lifeboat: {e}");
                    exit::FAILED
                }
            }
        }
    }
}
