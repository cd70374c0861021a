//! The command line: every subcommand and flag, as clap parses them. Each command's runner
//! lives in its own file beside this one; `mod.rs` dispatches.

use crate::storage::manifest::Initiator;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Backups of a PostgreSQL application you can prove you can restore"
)]
pub struct Cli {
    /// Configuration file (default: $XDG_CONFIG_HOME/lifeboat/config.toml, or LIFEBOAT_CONFIG;
    /// with several applications, apps/NAME.toml chosen by --app).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The application to act on: the file apps/NAME.toml in the config directory (needed when
    /// several are configured; `--config` and LIFEBOAT_CONFIG take precedence).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "config")]
    pub app: Option<String>,
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
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every object of a set (no keys needed); --decrypt also decrypts and reads it back.
    Verify {
        /// A set id, or `latest` (default: the newest complete set).
        set: Option<String>,
        /// Verify the newest complete set (the default; the same as the set `latest`).
        #[arg(long, conflicts_with_all = ["set", "all"])]
        latest: bool,
        /// Verify every complete set, oldest first.
        #[arg(long, conflicts_with = "set")]
        all: bool,
        /// Also decrypt, check plaintext hashes, and run pg_restore --list (needs the keys).
        #[arg(long)]
        decrypt: bool,
        /// Who started this verification, as recorded in the journal.
        #[arg(long, value_enum, default_value = "cli")]
        initiator: InitiatorArg,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Restore a set. --dry-run (the default in spirit) verifies, decrypts to scratch, checks
    /// the archives and the target, prints the plan and changes nothing.
    Restore {
        /// A set id, or `latest`.
        set: String,
        /// Verify, decrypt to scratch, check the archives and the target, print the plan;
        /// change nothing.
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
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Disaster recovery on a bare host, with no configuration file: choose a verified set in
    /// the repository, show the plan, restore the database, files and secrets, check them, and
    /// write this host's configuration. Journaled: `recover --resume` continues a recovery
    /// that was cut off.
    Recover(Box<super::recover::RecoverArgs>),
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
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Complete sets, newest first.
    List {
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Every object in the repository, grouped by set; incomplete sets and strays called out.
    Inventory {
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Apply the [retention] policy: every set with why it is kept (or "expired"), garbage, and
    /// bytes freed. Deletes nothing without --yes.
    Prune {
        /// Delete what the preview shows (under the repository lock, manifests first).
        #[arg(long)]
        yes: bool,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Pin a set so prune never deletes it (stored in the repository as pins/<set-id>.json).
    Pin {
        /// The set id.
        set: String,
        /// Why it is pinned; shown as the reason it is kept ("pinned: legal hold").
        #[arg(long)]
        note: String,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Remove a set's pin.
    Unpin {
        /// The set id.
        set: String,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
    /// Retention tools: `retention simulate` projects the policy forward.
    Retention {
        #[command(subcommand)]
        action: super::retention::RetentionAction,
    },
    /// Is the application recoverable? Exit 0 when healthy (codes in the README).
    Status {
        /// The same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// text (default), json (docs/status.schema.json) or prometheus (textfile collector).
        #[arg(long, value_enum)]
        format: Option<super::status::StatusFormat>,
        /// Write to FILE (atomically, mode 0644) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Every configured application (apps/*.toml): one row each, and the worst exit code.
        #[arg(long)]
        all: bool,
    },
    /// Scheduled backups, verifications and drills: systemd timers or a crontab block.
    Schedule {
        #[command(subcommand)]
        action: crate::app::schedule::ScheduleAction,
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
        /// Two more applications beside the first (one whose drill fails, one stale): the
        /// console opens on the fleet screen.
        #[arg(long)]
        fleet: bool,
    },
    /// The console's keys, as a Markdown table generated from the keymap; `keys check`
    /// checks the custody of the encryption keys instead.
    Keys {
        #[command(subcommand)]
        action: Option<crate::app::keys_check::KeysAction>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a shell completion script on stdout (see the README for where to install it).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `lifeboat man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// Render a drill record (`latest` for the newest).
    Report {
        /// A drill id, or `latest`.
        drill: String,
        /// markdown (for an auditor) or json (the record as stored).
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
    },
    /// Drill history, newest first.
    List {
        /// Print one JSON document on stdout instead of the text summary.
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

impl From<InitiatorArg> for Initiator {
    fn from(i: InitiatorArg) -> Initiator {
        match i {
            InitiatorArg::Cli => Initiator::Cli,
            InitiatorArg::Schedule => Initiator::Schedule,
            InitiatorArg::Operator => Initiator::Operator,
        }
    }
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
