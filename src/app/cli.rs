//! The headless commands. Each runs the same job the console runs, prints a human summary (or,
//! with `--json`, one JSON document on stdout), and returns an exit code from `exit`.

use super::config::{self, Config};
use super::exit;
use crate::jobs::backup::{self, BackupError};
use crate::jobs::progress::{JobEvent, Reporter};
use crate::jobs::verify::{self, VerifyTarget};
use crate::jobs::{inventory, open_uploads, CancellationToken};
use crate::storage::journal::Journal;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::ui::report;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Backups of a PostgreSQL application you can prove you can restore"
)]
pub struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/lifeboat/config.toml, or LIFEBOAT_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// No colour (also honoured: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InitiatorArg {
    Cli,
    Schedule,
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a backup set: database, files and secrets in one streaming pass.
    Backup {
        /// Only upload sets waiting in the local spool; take no new backup.
        #[arg(long)]
        resume: bool,
        /// Who started this run, as recorded in the journal and manifest.
        #[arg(long, value_enum, default_value = "cli")]
        initiator: InitiatorArg,
        /// After a successful backup, apply the [retention] policy (as `prune --yes`).
        #[arg(long, conflicts_with = "resume")]
        prune: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every object of a set (no keys needed); --decrypt also decrypts and reads it back.
    Verify {
        /// A set id, or `latest` (default: the newest complete set).
        set: Option<String>,
        #[arg(long, conflicts_with_all = ["set", "all"])]
        latest: bool,
        #[arg(long, conflicts_with = "set")]
        all: bool,
        /// Also decrypt, check plaintext hashes, and run pg_restore --list (needs the keys).
        #[arg(long)]
        decrypt: bool,
        /// Who started this verification, as recorded in the journal.
        #[arg(long, value_enum, default_value = "cli")]
        initiator: InitiatorArg,
        #[arg(long)]
        json: bool,
    },
    /// Restore a set. --dry-run (the default in spirit) verifies, decrypts to scratch, checks
    /// the archives and the target, prints the plan and changes nothing.
    Restore {
        /// A set id, or `latest`.
        set: String,
        #[arg(long)]
        dry_run: bool,
        /// The database to restore into (default: [source].database_url).
        #[arg(long, value_name = "URL")]
        target_url: Option<String>,
        /// Extract the set's file tree under DIR, original paths kept inside it (default: the
        /// configured [source].files, which must be the set's roots).
        #[arg(long, value_name = "DIR")]
        files_to: Option<PathBuf>,
        /// Extract the set's secrets under DIR (default: the configured [source].secrets).
        #[arg(long, value_name = "DIR")]
        secrets_to: Option<PathBuf>,
        /// Restore the set's root OLD at NEW instead (absolute paths; repeatable). Other roots
        /// of the set must be configured ones.
        #[arg(long, value_name = "OLD=NEW", value_parser = parse_map_root, conflicts_with_all = ["files_to", "secrets_to"])]
        map_root: Vec<(PathBuf, PathBuf)>,
        /// Restore the archived owners and set-uid/set-gid bits (default: the restoring
        /// user's, without set-id bits; also `[restore].owners = true`).
        #[arg(long)]
        restore_owners: bool,
        /// Skip the safety backup of the target taken before anything is touched.
        #[arg(long)]
        no_safety_backup: bool,
        /// pg_restore parallelism.
        #[arg(long)]
        jobs: Option<u32>,
        /// Create the roles that own objects or receive grants in the dump and that the target
        /// server lacks (NOLOGIN unless the set recorded LOGIN; never with a password).
        #[arg(long)]
        create_roles: bool,
        /// Confirm a real restore without the typed confirmation.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// A timed restore drill into a throwaway target, measuring RTO and RPO; `drill report ID`
    /// renders a record for an auditor, `drill list` shows the history.
    #[command(args_conflicts_with_subcommands = true)]
    Drill {
        #[command(subcommand)]
        action: Option<DrillAction>,
        /// A set id, or `latest` (default: the newest complete set).
        set: Option<String>,
        /// Who started this drill, as recorded in the drill record.
        #[arg(long, value_enum, default_value = "cli")]
        initiator: InitiatorArg,
        #[arg(long)]
        json: bool,
    },
    /// Complete sets, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Every object in the repository, grouped by set; incomplete sets and strays called out.
    Inventory {
        #[arg(long)]
        json: bool,
    },
    /// Apply the [retention] policy: every set with why it is kept (or "expired"), garbage, and
    /// bytes freed. Deletes nothing without --yes.
    Prune {
        /// Delete what the preview shows (under the repository lock, manifests first).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Pin a set so prune never deletes it (stored in the repository as pins/<set-id>.json).
    Pin {
        set: String,
        /// Why it is pinned; shown as the reason it is kept ("pinned: legal hold").
        #[arg(long)]
        note: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a set's pin.
    Unpin {
        set: String,
        #[arg(long)]
        json: bool,
    },
    /// Retention tools: `retention simulate` projects the policy forward.
    Retention {
        #[command(subcommand)]
        action: super::prune_cli::RetentionAction,
    },
    /// Is the application recoverable? Exit 0 when healthy (codes in the README).
    Status {
        /// The same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// text (default), json (docs/status.schema.json) or prometheus (textfile collector).
        #[arg(long, value_enum)]
        format: Option<super::status_cli::StatusFormat>,
        /// Write to FILE (atomically, mode 0644) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Scheduled backups, verifications and drills: systemd timers or a crontab block.
    Schedule {
        #[command(subcommand)]
        action: super::schedule::ScheduleAction,
    },
    /// A throwaway installation (real PostgreSQL, sample data, local repositories), two backups
    /// and their verification, to try lifeboat without touching anything.
    Demo {
        /// Where to build it (default: a new /tmp/lifeboat-demo-XXXX).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print a summary instead of opening the console.
        #[arg(long)]
        no_console: bool,
    },
    /// The console's keys, as a Markdown table generated from the keymap; `keys check`
    /// checks the custody of the encryption keys instead.
    Keys {
        #[command(subcommand)]
        action: Option<super::keys_check::KeysAction>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// Render a drill record (`latest` for the newest).
    Report {
        drill: String,
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
    },
    /// Drill history, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print a commented example configuration.
    Example,
    /// Check the configuration file, and the files it names on this host (the passphrase file).
    Check,
}

fn load_config(flag: Option<&PathBuf>) -> Result<Config, i32> {
    let path = config::resolve_path(flag.map(PathBuf::as_path));
    Config::load(&path).map_err(|e| {
        eprintln!("lifeboat: {e}");
        exit::CONFIG
    })
}

pub(super) fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("lifeboat: cannot render JSON: {e}"),
    }
}

/// Ctrl-c cancels the running job; the job leaves nothing complete-looking behind.
pub(super) fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

/// Prints job events to stderr when it is a terminal (progress on one line), else only logs.
pub(super) fn stderr_reporter() -> (Reporter, tokio::task::JoinHandle<()>) {
    let (reporter, mut rx) = Reporter::channel();
    let tty = std::io::stderr().is_terminal();
    let task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event {
                JobEvent::Progress(p) if tty => {
                    eprint!("\r\x1b[2K{}", report::progress_line(&p));
                    if p.finished {
                        eprintln!();
                    }
                }
                JobEvent::Warning(w) => eprintln!("warning: {w}"),
                JobEvent::Phase(p) if tty => eprintln!("\r\x1b[2K== {p}"),
                _ => {}
            }
        }
    });
    (reporter, task)
}

pub async fn run(cli: Cli, paths: LocalPaths) -> i32 {
    let no_color = cli.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let opens_state = !matches!(
        cli.command,
        Some(Command::Demo { .. } | Command::Config { .. } | Command::Keys { action: None })
    );
    if opens_state {
        super::orphans_cli::sweep(cli.config.as_ref(), &paths);
    }
    let Some(command) = cli.command else {
        return match load_config(cli.config.as_ref()) {
            Ok(config) => open_console(config, paths, no_color).await,
            Err(code) => code,
        };
    };
    match command {
        Command::Demo { dir, no_console } => run_demo(dir, no_console, no_color).await,
        Command::Keys {
            action: Some(action),
        } => match load_config(cli.config.as_ref()) {
            Ok(config) => super::keys_check::run(&config, action),
            Err(code) => code,
        },
        Command::Schedule { action } => {
            super::schedule::run(action, load_config(cli.config.as_ref()))
        }
        Command::Keys { action: None } => {
            print!(
                "{}",
                super::keymap::markdown_table(&super::keymap::Keymap::default_keymap())
            );
            exit::OK
        }
        Command::Config { action } => run_config(action, cli.config.as_ref()),
        Command::Backup {
            resume,
            initiator,
            prune,
            json,
        } => {
            let config = match load_config(cli.config.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let initiator = match initiator {
                InitiatorArg::Cli => Initiator::Cli,
                InitiatorArg::Schedule => Initiator::Schedule,
                InitiatorArg::Operator => Initiator::Operator,
            };
            if prune {
                return super::prune_cli::backup_then_prune(&config, &paths, initiator, json).await;
            }
            run_backup(&config, &paths, initiator, resume, json).await
        }
        Command::Verify {
            set,
            latest: _,
            all,
            decrypt,
            initiator,
            json,
        } => {
            let config = match load_config(cli.config.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let target = match (set, all) {
                (Some(s), _) => match super::restore_cli::resolve_set(&config, &s).await {
                    Ok(id) => VerifyTarget::Set(id),
                    Err(code) => return code,
                },
                (None, true) => VerifyTarget::All,
                (None, false) => VerifyTarget::Latest,
            };
            run_verify(&config, &paths, target, decrypt, initiator.into(), json).await
        }
        Command::Restore {
            set,
            dry_run,
            target_url,
            files_to,
            secrets_to,
            map_root,
            restore_owners,
            no_safety_backup,
            jobs,
            create_roles,
            yes,
            json,
        } => {
            let config = match load_config(cli.config.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let options = super::config::RestoreOptions {
                target_url,
                files_to,
                secrets_to,
                map_roots: map_root,
                restore_owners,
                jobs,
                safety_backup: !no_safety_backup,
                create_roles,
            };
            super::restore_cli::run(&config, &paths, &set, options, dry_run, yes, json).await
        }
        Command::Drill {
            action,
            set,
            initiator,
            json,
        } => match load_config(cli.config.as_ref()) {
            Ok(config) => {
                super::drill_cli::run(&config, &paths, action, set, initiator.into(), json).await
            }
            Err(code) => code,
        },
        Command::List { json } => match load_config(cli.config.as_ref()) {
            Ok(config) => run_list(&config, &paths, json, false).await,
            Err(code) => code,
        },
        Command::Inventory { json } => match load_config(cli.config.as_ref()) {
            Ok(config) => run_list(&config, &paths, json, true).await,
            Err(code) => code,
        },
        Command::Prune { yes, json } => match load_config(cli.config.as_ref()) {
            Ok(config) => super::prune_cli::run_prune(&config, &paths, yes, json).await,
            Err(code) => code,
        },
        Command::Pin { set, note, json } => match load_config(cli.config.as_ref()) {
            Ok(config) => super::prune_cli::run_pin(&config, &paths, &set, Some(&note), json).await,
            Err(code) => code,
        },
        Command::Unpin { set, json } => match load_config(cli.config.as_ref()) {
            Ok(config) => super::prune_cli::run_pin(&config, &paths, &set, None, json).await,
            Err(code) => code,
        },
        Command::Retention { action } => match load_config(cli.config.as_ref()) {
            Ok(config) => super::prune_cli::run_retention(&config, &paths, action).await,
            Err(code) => code,
        },
        Command::Status {
            json,
            format,
            output,
        } => match load_config(cli.config.as_ref()) {
            Ok(config) => {
                let format = match (json, format) {
                    (true, _) => super::status_cli::StatusFormat::Json,
                    (false, f) => f.unwrap_or_default(),
                };
                super::status_cli::run(&config, &paths, format, output).await
            }
            Err(code) => code,
        },
    }
}

async fn open_console(config: Config, paths: LocalPaths, no_color: bool) -> i32 {
    if !std::io::stdout().is_terminal() {
        eprintln!("lifeboat: the console needs a terminal; use a subcommand (see --help)");
        return exit::CONFIG;
    }
    match super::runtime::run_console(config, paths, no_color).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("lifeboat: the console failed: {e}");
            exit::FAILED
        }
    }
}

async fn run_demo(dir: Option<PathBuf>, no_console: bool, no_color: bool) -> i32 {
    let dir = match dir.map(Ok).unwrap_or_else(super::demo::fresh_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lifeboat: cannot create the demo directory: {e}");
            return exit::FAILED;
        }
    };
    let demo = match super::demo::build(dir, &|line| eprintln!("demo: {line}")).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    if !no_console && std::io::stdout().is_terminal() {
        let code = open_console(demo.config.clone(), demo.paths.clone(), no_color).await;
        eprintln!(
            "The demo lived in {} (its database is stopped now).",
            demo.dir.display()
        );
        return code;
    }
    let code = run_list(&demo.config, &demo.paths, false, false).await;
    let config = demo.config.path.display().to_string();
    let data = demo.paths.data_dir.display().to_string();
    let state = demo.paths.state_dir.display().to_string();
    println!("\nThe demo lives in {}.", demo.dir.display());
    println!("Its database was a throwaway cluster (stopped now); its repositories, journal and config stay:");
    println!(
        "  export LIFEBOAT_CONFIG={config} LIFEBOAT_DATA_DIR={data} LIFEBOAT_STATE_DIR={state}"
    );
    println!(
        "  lifeboat list; lifeboat inventory; lifeboat status; lifeboat verify --all --decrypt"
    );
    drop(demo);
    code
}

fn run_config(action: ConfigAction, flag: Option<&PathBuf>) -> i32 {
    match action {
        ConfigAction::Example => {
            print!("{}", config::EXAMPLE_CONFIG);
            exit::OK
        }
        ConfigAction::Check => match load_config(flag) {
            Ok(c) => {
                let findings = super::config_check::findings(&c);
                for f in &findings {
                    let mark = if f.fails { "✗" } else { "!" };
                    eprintln!("{mark} {}", f.text);
                }
                if findings.iter().any(|f| f.fails) {
                    eprintln!(
                        "lifeboat: {}: the configuration cannot work on this host (above)",
                        c.path.display()
                    );
                    exit::CONFIG
                } else {
                    println!("{}: ok", c.path.display());
                    exit::OK
                }
            }
            Err(code) => code,
        },
    }
}

pub async fn run_backup(
    config: &Config,
    paths: &LocalPaths,
    initiator: Initiator,
    resume: bool,
    json: bool,
) -> i32 {
    let mut spec = match config.backup_spec(paths, initiator) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    spec.resume_only = resume;
    let (reporter, printer) = stderr_reporter();
    let result = backup::run(spec, reporter, cancel_on_ctrl_c()).await;
    let _ = printer.await;
    let code = match &result {
        Ok(_) => exit::OK,
        Err(BackupError::Lock(_)) => exit::LOCKED,
        Err(BackupError::Spooled { .. } | BackupError::ResumeIncomplete { .. }) => exit::SPOOLED,
        Err(BackupError::Cancelled | BackupError::TimedOut(_)) => exit::INTERRUPTED,
        Err(BackupError::Config(_)) => exit::CONFIG,
        Err(_) => exit::FAILED,
    };
    if json {
        print_json(&report::backup_json(&result));
    } else {
        match &result {
            Ok(outcome) => print!("{}", report::backup_text(outcome)),
            Err(e) => eprintln!("lifeboat: backup failed: {e}"),
        }
    }
    if let Err(e) = &result {
        super::notify::backup_failed(config, e, code).await;
    }
    code
}

impl From<InitiatorArg> for Initiator {
    fn from(i: InitiatorArg) -> Initiator {
        match i {
            InitiatorArg::Cli => Initiator::Cli,
            InitiatorArg::Schedule => Initiator::Schedule,
            InitiatorArg::Operator => Initiator::Operator,
        }
    }
}

pub async fn run_verify(
    config: &Config,
    paths: &LocalPaths,
    target: VerifyTarget,
    decrypt: bool,
    initiator: Initiator,
    json: bool,
) -> i32 {
    let spec = match config.verify_spec(paths, target, decrypt, initiator) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let (reporter, printer) = stderr_reporter();
    let result = verify::run(spec, reporter, cancel_on_ctrl_c()).await;
    let _ = printer.await;
    match result {
        Ok(report) => {
            if json {
                print_json(&report);
            } else {
                print!("{}", report::verify_text(&report));
            }
            for line in report::verify_failures(&report) {
                eprintln!("lifeboat: {line}");
            }
            if report.ok() {
                exit::OK
            } else {
                exit::DAMAGED
            }
        }
        Err(e) => {
            if json {
                print_json(&serde_json::json!({ "ok": false, "error": e.to_string() }));
            }
            eprintln!("lifeboat: verify failed: {e}");
            exit::FAILED
        }
    }
}

async fn run_list(config: &Config, paths: &LocalPaths, json: bool, everything: bool) -> i32 {
    let spec = match config.data_repository() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let scanned = match Repository::open(&spec) {
        Ok(repo) => inventory::scan(&repo).await,
        Err(e) => Err(e),
    };
    let inventory = match scanned {
        Ok(i) => i,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    let journal = Journal::new(paths.journal()).read().unwrap_or_default();
    match (everything, json) {
        (false, true) => print_json(&report::list_json(&inventory, &journal)),
        (false, false) => print!("{}", report::list_text(&inventory, &journal)),
        (true, true) => {
            let mut value = report::inventory_json(&inventory);
            let open = open_uploads::list(&spec).await;
            report::add_open_uploads_json(&mut value, &open);
            print_json(&value);
        }
        (true, false) => {
            print!("{}", report::inventory_text(&inventory));
            print!(
                "{}",
                report::open_uploads_text(&open_uploads::list(&spec).await)
            );
        }
    }
    exit::OK
}

/// `--map-root OLD=NEW`.
fn parse_map_root(text: &str) -> Result<(PathBuf, PathBuf), String> {
    match text.split_once('=') {
        Some((old, new)) if !old.is_empty() && !new.is_empty() => {
            Ok((PathBuf::from(old), PathBuf::from(new)))
        }
        _ => Err(format!(
            "`{text}` is not OLD=NEW (for example /var/lib/app/uploads=/srv/uploads)"
        )),
    }
}
