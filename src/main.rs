//! The `lifeboat` binary: parses the command line and hands over to `app`. The console (no
//! subcommand) and every headless command run the same jobs.
//!
//! There is no eyre report here on purpose: every error reaches the operator as one
//! `lifeboat: ...` line naming what failed and the fix, with an exit code from the one table
//! (`jobs::exit_code`), which scripts and monitors read. A panic is printed by the standard
//! hook, which `app::tui` chains after restoring the terminal.

use clap::Parser;
use lifeboat::app::{apps, cli, logging};
use lifeboat::storage::paths::LocalPaths;

fn main() {
    // Everything lifeboat writes (repository files, spool, journal) is for its owner only.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe { libc::umask(0o077) };
    let args = cli::Cli::parse();
    let paths = LocalPaths::from_env();
    // The demo logs into its own directory (`app::demo`), not the operator's state directory.
    // One application's runs log into its own state directory (`app::apps`).
    let _log = match &args.command {
        Some(cli::Command::Demo { .. }) => None,
        _ => logging::init(&apps::log_paths(
            args.config.as_deref(),
            args.app.as_deref(),
            &paths,
        )),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat: cannot start the async runtime: {e}");
            std::process::exit(lifeboat::app::exit::FAILED);
        }
    };
    let code = runtime.block_on(cli::run(
        args,
        paths,
        lifeboat::ui::render,
        lifeboat::ui::fleet::render,
        lifeboat::ui::recover::render,
    ));
    drop(runtime);
    std::process::exit(code);
}
