//! The headless commands. Each runs the same job the console runs, prints a human summary (or,
//! with `--json`, one JSON document on stdout), and returns an exit code from the one table
//! (`jobs::exit_code`). One file per command; what they share (the config loader, the stderr
//! reporter, Ctrl-c, set resolution) is `common`, the job-result-to-code mappings are
//! `codes`, and rendering is `crate::report`. This file parses nothing and prints nothing of
//! its own: it dispatches.

mod args;
mod backup;
mod codes;
mod common;
mod config_cmd;
mod docs;
mod drill;
mod list;
mod orphans;
mod pin;
mod prune;
mod recover;
mod restore;
mod retention;
mod status;
mod verify;

pub use args::{Cli, Command};
/// `keys check` and `schedule` print their `--json` the same way.
pub(crate) use common::print_json;
pub use recover::spec_of_line as recover_spec;
pub use retention::RetentionAction;
pub use status::StatusFormat;

use crate::app::config::RestoreOptions;
use crate::app::fleet_console::DrawFleet;
use crate::app::recover_console::{self, DrawRecover};
use crate::app::runtime::Draw;
use crate::app::{apps, demo, exit, keymap, keys_check, schedule};
use crate::jobs::verify::VerifyTarget;
use crate::storage::paths::LocalPaths;
use common::{open_console, open_fleet, Target};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Runs one command line. `draw` is how the console draws a frame (`ui::render`, passed in by
/// the binary), `draw_fleet` the fleet screen (`ui::fleet::render`), `draw_recover` the
/// bare host's "Recover from a repository" screen (`ui::recover::render`).
pub async fn run(
    cli: Cli,
    paths: LocalPaths,
    draw: Draw,
    draw_fleet: DrawFleet,
    draw_recover: DrawRecover,
) -> i32 {
    let no_color = cli.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let opens_state = !matches!(
        cli.command,
        Some(
            Command::Demo { .. }
                | Command::Config { .. }
                | Command::Keys { action: None }
                | Command::Completions { .. }
                | Command::Man
        )
    );
    let target = Target {
        config: cli.config.clone(),
        app: cli.app.clone(),
        base: paths,
    };
    if opens_state {
        if let Ok(selection) = apps::select(cli.config.as_deref(), cli.app.as_deref(), &target.base)
        {
            for app in selection.all() {
                orphans::sweep(Some(&app.config_path), &app.paths);
            }
        }
    }
    let Some(command) = cli.command else {
        // A bare host on a terminal: nothing to open but the recovery. Without a terminal the
        // missing configuration is reported as before.
        if recover_console::bare_host(cli.config.as_deref()) && std::io::stdout().is_terminal() {
            return open_recover(target.base, no_color, draw_recover).await;
        }
        return match target.select() {
            Ok(apps::Selection::Several(apps)) => {
                open_fleet(apps, &apps::config_dir(), no_color, draw, draw_fleet).await
            }
            Ok(_) => match target.load() {
                Ok((config, paths)) => open_console(config, paths, no_color, draw).await,
                Err(code) => code,
            },
            Err(code) => code,
        };
    };
    match command {
        Command::Demo {
            dir,
            no_console,
            fleet,
        } => {
            let console = (!no_console && std::io::stdout().is_terminal()).then_some(Consoles {
                no_color,
                draw,
                draw_fleet,
            });
            run_demo(dir, fleet, console).await
        }
        Command::Keys {
            action: Some(action),
        } => match target.load() {
            Ok((config, _)) => keys_check::run(&config, action),
            Err(code) => code,
        },
        Command::Schedule { action } => {
            let configs = || common::load_each(&target);
            schedule::run(action, configs, target.app.as_deref())
        }
        Command::Keys { action: None } => {
            print!(
                "{}",
                keymap::markdown_table(&keymap::Keymap::default_keymap())
            );
            exit::OK
        }
        Command::Config { action } => config_cmd::run(action, || target.load().map(|(c, _)| c)),
        Command::Completions { shell } => docs::run_completions(shell),
        Command::Man => docs::run_man(),
        Command::Backup {
            resume,
            initiator,
            prune,
            json,
        } => {
            let (config, paths) = match target.load() {
                Ok(c) => c,
                Err(code) => return code,
            };
            if prune {
                return backup::run_then_prune(&config, &paths, initiator.into(), json).await;
            }
            backup::run(&config, &paths, initiator.into(), resume, json).await
        }
        Command::Verify {
            set,
            latest: _,
            all,
            decrypt,
            initiator,
            json,
        } => {
            let (config, paths) = match target.load() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let target = match (set, all) {
                (Some(s), _) => match common::resolve_set(&config, &s).await {
                    Ok(id) => VerifyTarget::Set(id),
                    Err(code) => return code,
                },
                (None, true) => VerifyTarget::All,
                (None, false) => VerifyTarget::Latest,
            };
            verify::run(&config, &paths, target, decrypt, initiator.into(), json).await
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
            let (config, paths) = match target.load() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let options = RestoreOptions {
                target_url,
                files_to,
                secrets_to,
                map_roots: map_root,
                restore_owners,
                jobs,
                safety_backup: !no_safety_backup,
                create_roles,
            };
            restore::run(&config, &paths, &set, options, dry_run, yes, json).await
        }
        Command::Recover(args) => recover::run(*args, &target.base, target.app.as_deref()).await,
        Command::Drill {
            action,
            set,
            initiator,
            json,
        } => match target.load() {
            Ok((config, paths)) => {
                drill::run(&config, &paths, action, set, initiator.into(), json).await
            }
            Err(code) => code,
        },
        Command::List { json } => match target.load() {
            Ok((config, paths)) => list::run(&config, &paths, json, false).await,
            Err(code) => code,
        },
        Command::Inventory { json } => match target.load() {
            Ok((config, paths)) => list::run(&config, &paths, json, true).await,
            Err(code) => code,
        },
        Command::Prune { yes, json } => match target.load() {
            Ok((config, paths)) => prune::run(&config, &paths, yes, json).await,
            Err(code) => code,
        },
        Command::Pin { set, note, json } => match target.load() {
            Ok((config, paths)) => pin::run(&config, &paths, &set, Some(&note), json).await,
            Err(code) => code,
        },
        Command::Unpin { set, json } => match target.load() {
            Ok((config, paths)) => pin::run(&config, &paths, &set, None, json).await,
            Err(code) => code,
        },
        Command::Retention { action } => match target.load() {
            Ok((config, paths)) => retention::run(&config, &paths, action).await,
            Err(code) => code,
        },
        Command::Status {
            json,
            format,
            output,
            all,
        } => {
            let format = match (json, format) {
                (true, _) => StatusFormat::Json,
                (false, f) => f.unwrap_or_default(),
            };
            if all && (target.app.is_some() || target.config.is_some()) {
                eprintln!("lifeboat: status --all reads every application; drop --app and --config (or drop --all)");
                return exit::CONFIG;
            }
            if all {
                return match target.select() {
                    Ok(selection) => status::run_all(selection.all(), format, output).await,
                    Err(code) => code,
                };
            }
            match target.load() {
                Ok((config, paths)) => status::run(&config, &paths, format, output).await,
                Err(code) => code,
            }
        }
    }
}

async fn open_recover(paths: LocalPaths, no_color: bool, draw: DrawRecover) -> i32 {
    match recover_console::run_recover(paths, no_color, draw, recover_spec).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("lifeboat: the console failed: {e}");
            exit::FAILED
        }
    }
}

/// How the demo's console draws, when it opens one.
struct Consoles {
    no_color: bool,
    draw: Draw,
    draw_fleet: DrawFleet,
}

/// `lifeboat demo`: builds the throwaway installation, then opens the console (with `--fleet`
/// the fleet screen) on it, or (with `--no-console`, or without a terminal: `console` is None)
/// prints its sets (the fleet's status) and how to use it.
async fn run_demo(dir: Option<PathBuf>, fleet: bool, console: Option<Consoles>) -> i32 {
    let dir = match dir.map(Ok).unwrap_or_else(demo::fresh_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lifeboat: cannot create the demo directory: {e}");
            return exit::FAILED;
        }
    };
    let demo = match demo::build(dir, fleet, &|line| eprintln!("demo: {line}")).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    let code = match console {
        Some(c) if fleet => {
            open_fleet(
                demo.fleet.clone(),
                &demo.dir,
                c.no_color,
                c.draw,
                c.draw_fleet,
            )
            .await
        }
        Some(c) => open_console(demo.config.clone(), demo.paths.clone(), c.no_color, c.draw).await,
        // The fleet is unhealthy on purpose: its status is shown, the demo itself succeeded.
        None if fleet => {
            status::run_all(demo.fleet.clone(), status::StatusFormat::Text, None).await;
            exit::OK
        }
        None => list::run(&demo.config, &demo.paths, false, false).await,
    };
    let next = demo.next_steps();
    drop(demo);
    print!("{next}");
    code
}
