//! `lifeboat recover`: disaster recovery on a bare host, with no configuration file. Parses
//! the flags into the job's spec, prints the plan, asks for the typed confirmation (the
//! database's name; `--yes` for scripts; a target that holds data needs its name typed, or
//! `--replace-target NAME`, whatever `--yes` says), runs the runbook (`jobs::recover`) and
//! prints it. `--resume` continues the newest recovery that did not finish. With `--app NAME`
//! the recovered host gets that application's file, `apps/NAME.toml` (and its runbooks live in
//! the application's own state directory), so a host running several applications is rebuilt
//! one application at a time.

use super::codes;
use super::common::{cancel_on_ctrl_c, stderr_reporter};
use crate::app::{apps, config, exit};
use crate::jobs::progress::Reporter;
use crate::jobs::recover::{
    self, KeySource, RecoverError, RecoverSpec, RepoArgs, Runbook, TargetChoice,
};
use crate::report;
use crate::storage::paths::LocalPaths;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The data repository: s3://bucket/prefix, file:///path or /path.
    #[arg(long, value_name = "URL", required_unless_present = "resume")]
    pub repository: Option<String>,
    /// The S3 endpoint (MinIO, Ceph, B2, R2...), for both repositories.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// S3 path-style addressing (default: on when --endpoint is given).
    #[arg(long, value_name = "BOOL")]
    pub path_style: Option<bool>,
    /// The secrets repository, when the set keeps its secrets apart.
    #[arg(long, value_name = "URL")]
    pub secrets_repository: Option<String>,
    /// The file holding the passphrase (default: the gpg keyring's secret key).
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// A set id, or `latest` (default: the newest set whose last verification passed).
    #[arg(long)]
    pub set: Option<String>,
    /// Restore into this database (a libpq URL; the password from PGPASSWORD or ~/.pgpass).
    #[arg(long, value_name = "URL", conflicts_with = "new_cluster")]
    pub target: Option<String>,
    /// Restore into a new local cluster in DATADIR, of the dump's PostgreSQL major version.
    #[arg(long, value_name = "DATADIR")]
    pub new_cluster: Option<PathBuf>,
    /// Put the file roots and secrets under DIR, original paths kept inside it (default:
    /// their original paths).
    #[arg(long, value_name = "DIR")]
    pub files_prefix: Option<PathBuf>,
    /// Where to write this host's configuration (default: the XDG config path, or
    /// apps/NAME.toml beside it with --app NAME). An existing file is never overwritten.
    #[arg(long, value_name = "PATH")]
    pub config_out: Option<PathBuf>,
    /// PostgreSQL's bin directory (default: the dump's major version's, else the newest).
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// pg_restore parallelism (default: the CPUs).
    #[arg(long)]
    pub jobs: Option<u32>,
    /// Create the roles the dump needs that the target server lacks (always for --new-cluster).
    #[arg(long)]
    pub create_roles: bool,
    /// A command run after the restore (repeatable), e.g. starting the application.
    #[arg(long = "post-restore", value_name = "CMD")]
    pub post_restore: Vec<String>,
    /// A health check: a command that must exit 0, or an http:// URL that must answer 2xx.
    #[arg(long, value_name = "CMD|URL")]
    pub health: Option<String>,
    /// SQL returning the newest timestamp in the data, for the measured RPO.
    #[arg(long, value_name = "SQL")]
    pub freshness_query: Option<String>,
    /// A manual step for the checklist (repeatable; default: DNS, start the app, log in).
    #[arg(long = "manual", value_name = "STEP")]
    pub manual: Vec<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rehearse: the whole runbook into a throwaway cluster and file tree under /tmp, torn
    /// down at the end; recorded as a recovery rehearsal; no configuration written.
    #[arg(long, conflicts_with_all = ["target", "new_cluster", "files_prefix", "resume"])]
    pub rehearse: bool,
    /// Continue the newest recovery that did not finish (or --recovery ID).
    #[arg(long)]
    pub resume: bool,
    /// The recovery to resume (its id, as its runbook is named); for a new recovery, the id
    /// to give it (default: a new time-sorted id), as the console does to know its runbook.
    #[arg(long, value_name = "ID")]
    pub recovery: Option<String>,
    /// Confirm the plan without typing the database name.
    #[arg(long)]
    pub yes: bool,
    /// Allow emptying a target that holds data: give the database's name.
    #[arg(long, value_name = "DATABASE")]
    pub replace_target: Option<String>,
    /// Print one JSON document on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

/// `config_out`: where the configuration goes when `--config-out` is not given.
fn spec(args: &RecoverArgs, config_out: PathBuf) -> Result<RecoverSpec, String> {
    let repository = args
        .repository
        .clone()
        .ok_or("--repository URL is required")?;
    let mut files_prefix = args.files_prefix.clone();
    let target = match (&args.target, &args.new_cluster) {
        (Some(url), None) => TargetChoice::Url(url.clone()),
        (None, Some(dir)) => TargetChoice::NewCluster(dir.clone()),
        _ if args.rehearse => {
            let dir = recover::rehearsal_dir().map_err(|e| e.to_string())?;
            files_prefix = Some(dir.join("files"));
            TargetChoice::NewCluster(dir.join("pgdata"))
        }
        _ => return Err("name the target: --target URL, or --new-cluster DATADIR".into()),
    };
    let repo = |url: &str| RepoArgs {
        url: url.to_string(),
        endpoint: args.endpoint.clone().filter(|_| url.starts_with("s3://")),
        region: args.region.clone().filter(|_| url.starts_with("s3://")),
        path_style: args.path_style.filter(|_| url.starts_with("s3://")),
    };
    Ok(RecoverSpec {
        repository: repo(&repository),
        secrets_repository: args.secrets_repository.as_deref().map(repo),
        key: match &args.passphrase_file {
            Some(p) => KeySource::PassphraseFile(p.clone()),
            None => KeySource::Keyring,
        },
        set: args.set.clone(),
        target,
        files_prefix,
        config_out: args.config_out.clone().unwrap_or(config_out),
        pg_bin_dir: args.pg_bin_dir.clone(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(2)
        }),
        create_roles: args.create_roles,
        post_restore: args.post_restore.clone(),
        health: args.health.clone(),
        freshness_query: args.freshness_query.clone(),
        manual: args.manual.clone(),
        rehearse: args.rehearse,
    })
}

/// The spec `lifeboat <argv>` makes for a `recover` line, parsed exactly as the command
/// parses it: the console plans from the line its worker will run.
pub fn spec_of_line(argv: &[String]) -> Result<RecoverSpec, String> {
    use clap::Parser;
    let line = std::iter::once("lifeboat".to_string()).chain(argv.iter().cloned());
    let cli = super::Cli::try_parse_from(line).map_err(|e| e.to_string())?;
    match cli.command {
        Some(super::Command::Recover(args)) => spec(
            &args,
            config_out(cli.app.as_deref()).map_err(|e| e.to_string())?,
        ),
        _ => Err("not a `lifeboat recover` line".into()),
    }
}

/// Where the recovered host's configuration goes: the config file, or with `--app NAME`
/// that application's file.
fn config_out(app: Option<&str>) -> Result<PathBuf, apps::AppsError> {
    match app {
        None => Ok(config::default_path()),
        Some(name) if apps::valid_name(name) => Ok(apps::config_dir()
            .join(apps::APPS_DIR)
            .join(format!("{name}.toml"))),
        Some(name) => Err(apps::AppsError::BadName { name: name.into() }),
    }
}

/// A new recovery's `--recovery ID` names a file: letters, digits, `-`, `_` and `.` (not
/// first), and no recovery of that id yet.
fn new_id_free(args: &RecoverArgs, paths: &LocalPaths) -> Result<(), String> {
    let Some(id) = &args.recovery else {
        return Ok(());
    };
    if id.is_empty()
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "--recovery {id}: use letters, digits, `-`, `_` and `.` (not first) only"
        ));
    }
    let path = Runbook::path_in(&recover::recoveries_dir(paths), id);
    if path.exists() {
        return Err(format!(
            "--recovery {id}: {} exists; give a new id, or add --resume to continue it",
            path.display()
        ));
    }
    Ok(())
}

/// Asks for `name` typed at the prompt (only on a terminal).
fn typed(prompt: &str, name: &str) -> bool {
    if !std::io::stdin().is_terminal() || name.is_empty() {
        return false;
    }
    eprint!("{prompt} Type the database name `{name}` to go on: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == name
}

/// The operator allowed emptying a target that holds `holds`.
fn replace_confirmed(args: &RecoverArgs, name: &str, holds: &str) -> bool {
    args.replace_target.as_deref() == Some(name)
        || typed(
            &format!("The target holds {holds}: it will be DROPPED and restored again."),
            name,
        )
}

fn fail(e: &RecoverError, json: bool, runbook: Option<PathBuf>) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": false, "error": e.to_string(), "runbook": runbook })
        );
    }
    eprintln!("lifeboat: recover: {e}");
    if let Some(p) = runbook.filter(|_| !e.is_refusal()) {
        eprintln!("lifeboat: the runbook is {}; `lifeboat recover --resume` continues from where it stopped", p.display());
    }
    codes::recover(e)
}

/// `app`: the global `--app NAME`, whose file and directories the recovered host gets.
pub async fn run(args: RecoverArgs, base: &LocalPaths, app: Option<&str>) -> i32 {
    let config_out = match config_out(app) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("lifeboat: recover: {e}");
            return exit::CONFIG;
        }
    };
    let paths = match app {
        Some(name) => apps::app_paths(base, name),
        None => base.clone(),
    };
    let cancel = cancel_on_ctrl_c();
    let (rep, printer) = stderr_reporter();
    let code = if args.resume {
        resume(&args, &paths, rep, cancel).await
    } else {
        start(&args, &paths, config_out, rep, cancel).await
    };
    let _ = printer.await;
    code
}

async fn start(
    args: &RecoverArgs,
    paths: &LocalPaths,
    config_out: PathBuf,
    rep: Reporter,
    cancel: CancellationToken,
) -> i32 {
    let spec = match spec(args, config_out).and_then(|s| new_id_free(args, paths).map(|()| s)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: recover: {e}");
            return exit::CONFIG;
        }
    };
    let prepared = match recover::prepare(&spec, paths, &rep, &cancel).await {
        Ok(p) => p,
        Err(e) => return fail(&e, args.json, None),
    };
    let plan = &prepared.plan;
    if !args.json {
        eprint!("{}", report::recover::plan_text(plan));
    }
    let problems = plan.problems();
    if !problems.is_empty() {
        return fail(&RecoverError::PlanFailed(problems), args.json, None);
    }
    if args.dry_run {
        if args.json {
            super::print_json(&serde_json::json!({ "ok": true, "plan": plan }));
        }
        return exit::OK;
    }
    let name = plan.database().to_string();
    // A rehearsal touches nothing but its own throwaway cluster and tree.
    if !args.yes
        && !spec.rehearse
        && !typed(
            "This restores the database, files and secrets above.",
            &name,
        )
    {
        eprintln!("lifeboat: recover: needs --yes, or the database name typed at the prompt; --dry-run shows the plan and changes nothing");
        return exit::CONFIG;
    }
    let mut replace = false;
    if plan.target_state.holds_data() {
        let holds = plan.target_state.describe();
        replace = replace_confirmed(args, &name, &holds);
        if !replace {
            let e = RecoverError::TargetNotEmpty {
                what: format!("the target database {}", plan.target),
                holds,
                name,
            };
            return fail(&e, args.json, None);
        }
    }
    let mut book = recover::begin(&spec, &prepared);
    if let Some(id) = &args.recovery {
        book.id = id.clone();
    }
    let path = Runbook::path_in(&recover::recoveries_dir(paths), &book.id);
    let manifest = prepared.manifest.clone();
    finish(
        recover::run(book, manifest, paths, rep, cancel, replace).await,
        args.json,
        path,
    )
}

async fn resume(
    args: &RecoverArgs,
    paths: &LocalPaths,
    rep: Reporter,
    cancel: CancellationToken,
) -> i32 {
    let r = match recover::resume(paths, args.recovery.as_deref(), &rep).await {
        Ok(r) => r,
        Err(e) => return fail(&e, args.json, None),
    };
    if !args.json {
        eprint!("{}", report::recover::resumption_text(&r));
    }
    let mut replace = false;
    if let Some(holds) = &r.target_holds {
        replace = replace_confirmed(args, &r.book.database, holds);
        if !replace {
            let e = RecoverError::TargetNotEmpty {
                what: format!(
                    "the target database {} (pg_restore was cut off)",
                    r.book.target_url
                ),
                holds: holds.clone(),
                name: r.book.database.clone(),
            };
            return fail(&e, args.json, Some(r.path.clone()));
        }
    }
    let Some(manifest) = r.manifest.clone() else {
        return exit::FAILED;
    };
    finish(
        recover::run(r.book, manifest, paths, rep, cancel, replace).await,
        args.json,
        r.path,
    )
}

fn finish(result: Result<Runbook, RecoverError>, json: bool, path: PathBuf) -> i32 {
    match result {
        Ok(book) => {
            if json {
                super::print_json(&serde_json::json!({ "ok": true, "runbook": book }));
            } else {
                print!("{}", report::recover::runbook_text(&book));
            }
            exit::OK
        }
        Err(e) => fail(&e, json, Some(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &str) -> Vec<String> {
        words.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_consoles_line_parses_into_the_spec_the_command_runs() {
        let spec = spec_of_line(&line(
            "recover --repository s3://b/p --endpoint http://s3:9000 --secrets-repository /srv/sec \
             --passphrase-file /kit/pass --set 20261205T080000.000Z-a1b2 --new-cluster /srv/pg \
             --files-prefix /srv/restored --recovery 20261205T090000.000Z-0001 --yes",
        ))
        .unwrap();
        assert_eq!(spec.repository.endpoint.as_deref(), Some("http://s3:9000"));
        // The endpoint is for S3 only: a directory repository has none.
        assert_eq!(spec.secrets_repository.unwrap().endpoint, None);
        assert_eq!(spec.key, KeySource::PassphraseFile("/kit/pass".into()));
        assert_eq!(spec.set.as_deref(), Some("20261205T080000.000Z-a1b2"));
        assert_eq!(spec.target, TargetChoice::NewCluster("/srv/pg".into()));
        assert_eq!(spec.files_prefix, Some(PathBuf::from("/srv/restored")));

        let err = spec_of_line(&line("recover --repository s3://b/p")).unwrap_err();
        assert!(err.contains("--new-cluster"), "{err}");
        assert!(spec_of_line(&line("list")).is_err());
    }
}
