//! The PostgreSQL client programs one job uses: where they are, which version they are, and
//! the cancellation token every child started through them obeys.

use super::command::PgCommand;
use super::{bin_dir, PgError};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// Where the PostgreSQL client programs are, and what stops them.
#[derive(Debug, Clone, Default)]
pub struct PgTools {
    pub bin_dir: Option<PathBuf>,
    /// Children started through these tools are killed when it fires (see `command`).
    cancel: Option<CancellationToken>,
}

impl PgTools {
    /// Prefers the configured directory, then Debian's per-major directory for `major`, then the
    /// newest Debian directory, then PATH.
    pub fn locate(configured: Option<&Path>, major: Option<u32>) -> PgTools {
        let bin_dir = match configured {
            Some(dir) => Some(dir.to_path_buf()),
            None => major
                .and_then(|m| bin_dir::debian_major(m, "pg_dump"))
                .or_else(|| bin_dir::newest_debian("pg_dump")),
        };
        PgTools::in_dir(bin_dir)
    }

    /// The programs in `dir`, or on PATH for `None`.
    pub fn in_dir(dir: Option<PathBuf>) -> PgTools {
        PgTools {
            bin_dir: dir,
            cancel: None,
        }
    }

    /// The same programs, killed (with their process group) when `token` fires: a running
    /// pg_restore, pg_dump or psql stops with [`PgError::Cancelled`] instead of running on
    /// after the job was cancelled.
    pub fn cancelled_by(&self, token: CancellationToken) -> PgTools {
        PgTools {
            cancel: Some(token),
            ..self.clone()
        }
    }

    /// The same programs, deaf to cancellation: for the clean-up that must run after a cancel
    /// (dropping a scratch or half-restored database, putting a swapped database back).
    pub fn uncancellable(&self) -> PgTools {
        PgTools {
            cancel: None,
            ..self.clone()
        }
    }

    pub fn cancel_token(&self) -> Option<&CancellationToken> {
        self.cancel.as_ref()
    }

    pub fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// The program `name`, run through the one child runner (see `command`): killed by the
    /// kernel if lifeboat dies, by these tools' token when the job is cancelled.
    pub fn command(&self, name: &str) -> PgCommand {
        PgCommand::new(self.program(name), name, self.cancel.clone())
    }

    /// `pg_dump (PostgreSQL) 15.18 (Debian ...)` -> `15.18`. Asked also after a cancel (a
    /// drill's record names the pg_restore it used), so it never obeys the token.
    pub fn version(&self, name: &str) -> Result<String, PgError> {
        let out = self
            .uncancellable()
            .command(name)
            .arg("--version")
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string())
    }
}

/// The major version of `15.18 (Debian ...)` or `9.6.24`'s first number.
pub fn major_of(version: &str) -> Option<u32> {
    version.split(['.', ' ']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_travels_with_clones_and_is_dropped_on_request() {
        let token = CancellationToken::new();
        let tools = PgTools::locate(None, None).cancelled_by(token.clone());
        assert!(tools.clone().cancel_token().is_some());
        assert!(tools.uncancellable().cancel_token().is_none());
        assert_eq!(
            PgTools::in_dir(Some("/x".into())).program("psql"),
            PathBuf::from("/x/psql")
        );
        assert_eq!(major_of("15.18 (Debian 15.18-1)"), Some(15));
        assert_eq!(major_of("9.6.24"), Some(9));
    }
}
