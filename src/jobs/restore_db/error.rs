//! Why the database half of a restore or a drill failed. Each variant keeps the wording the
//! operator has always read (the restore's step reason, the drill's failed phase); a statement
//! is quoted only as lifeboat wrote it, never with a connection string or a password.

use crate::storage::pg::PgError;
use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// psql, pg_restore or a session could not do what was asked (PostgreSQL says why).
    #[error(transparent)]
    Pg(#[from] PgError),
    /// A statement lifeboat composed (CREATE ROLE, a carried setting or grant) failed.
    #[error("{sql}: {source}")]
    Statement { sql: String, source: PgError },
    #[error("pg_restore --list failed: {0}")]
    List(String),
    #[error("pg_restore of the ACL entries failed: {0}")]
    AclEntries(String),
    /// The list of ACL entries could not be written to scratch.
    #[error("{}: {source}", path.display())]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot tell the target database's name from its URL")]
    NoDatabaseName,
    /// pg_restore exited non-zero; its stderr, on one line.
    #[error("{0}")]
    PgRestore(String),
    /// Killed by a signal (a Ctrl-C reaches the whole process group), pg_restore says nothing.
    #[error("pg_restore ended without a message ({0})")]
    PgRestoreSilent(ExitStatus),
    #[error("a database named {0} already exists (left by an earlier restore?); drop or rename it, then run the restore again")]
    NameTaken(String),
    /// The role plan has a problem the real restore would refuse on (a drill fails on it).
    #[error("the real restore would refuse this set: {0}")]
    WouldRefuse(String),
    #[error("cannot stop new connections to {target}: {source}")]
    StopConnections { target: String, source: PgError },
    #[error("renaming {from} to {to} failed: {source}")]
    Rename {
        from: String,
        to: String,
        source: PgError,
    },
    /// A swap step failed and was undone: the target has its name and connections back.
    #[error("{source}; the database {target} was left as it was and {new_name} was dropped")]
    SwapUndone {
        source: Box<DbError>,
        target: String,
        new_name: String,
    },
    /// Restoring into the new database failed; it was dropped again.
    #[error("{source} (the new database {new_name} was dropped)")]
    NewDropped {
        source: Box<DbError>,
        new_name: String,
    },
    /// Restoring into the new database failed, and so did dropping it.
    #[error(
        "{source} (the new database {new_name} could not be dropped ({drop}): drop it by hand)"
    )]
    NewLeft {
        source: Box<DbError>,
        new_name: String,
        drop: PgError,
    },
    /// The blocking task running the step panicked or was aborted.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> PgError {
        PgError::Failed {
            program: "psql".into(),
            target: "postgresql://h/postgres".into(),
            stderr: "ERROR: permission denied".into(),
        }
    }

    /// The nested failures read as the strings they replaced did, word for word.
    #[test]
    fn nested_failures_keep_their_wording() {
        let pg = "psql failed on postgresql://h/postgres: ERROR: permission denied";
        let undone = DbError::SwapUndone {
            source: Box::new(DbError::Rename {
                from: "app".into(),
                to: "app_lifeboat_old_t".into(),
                source: refused(),
            }),
            target: "app".into(),
            new_name: "app_lifeboat_new_t".into(),
        };
        assert_eq!(
            undone.to_string(),
            format!(
                "renaming app to app_lifeboat_old_t failed: {pg}; the database app was left as \
                 it was and app_lifeboat_new_t was dropped"
            )
        );
        let carried = DbError::Statement {
            sql: "COMMENT ON DATABASE \"n\" IS 'x'".into(),
            source: refused(),
        };
        let left = DbError::NewLeft {
            source: Box::new(carried),
            new_name: "n".into(),
            drop: refused(),
        };
        assert_eq!(
            left.to_string(),
            format!(
                "COMMENT ON DATABASE \"n\" IS 'x': {pg} (the new database n could not be \
                 dropped ({pg}): drop it by hand)"
            )
        );
        let dropped = DbError::NewDropped {
            source: Box::new(DbError::PgRestore("pg_restore: error: boom".into())),
            new_name: "n".into(),
        };
        assert_eq!(
            dropped.to_string(),
            "pg_restore: error: boom (the new database n was dropped)"
        );
        assert_eq!(
            DbError::List("bad archive".into()).to_string(),
            "pg_restore --list failed: bad archive"
        );
    }
}
