//! Logs go to a file in the XDG state directory (never to the terminal, which the console owns),
//! through a non-blocking writer; the level comes from `LIFEBOAT_LOG` (default `info`).

use crate::storage::paths::LocalPaths;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keep the guard alive for the life of the process: dropping it flushes the log.
pub fn init(paths: &LocalPaths) -> Option<WorkerGuard> {
    let dir = paths.logs();
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::never(&dir, "lifeboat.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("LIFEBOAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
