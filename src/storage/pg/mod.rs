//! The one PostgreSQL adapter. lifeboat drives PostgreSQL only through its own client programs
//! (`psql`, `pg_dump`, `pg_restore`), so libpq's conventions hold exactly: URLs, PG* variables,
//! service files, pgpass, unix sockets, sslmode. Everything about that lives here:
//!
//! - [`conninfo`]: connection strings parsed and rewritten the way libpq reads them;
//! - [`conn`]: [`PgConn`], one database (the password kept apart, the database swapped by
//!   [`PgConn::with_database`] and [`PgConn::maintenance`], never by hand);
//! - [`bin_dir`] and [`tools`]: where the client and server programs are, and their versions;
//! - [`command`]: the one child runner (stderr kept, bounded; `PGCONNECT_TIMEOUT`; timeouts;
//!   cancellation that kills the child's process group; the error wording);
//! - [`session`]: `psql` as a query channel ([`PsqlSession`]) and one-statement calls;
//! - [`sql`]: identifiers and table names made safe to splice into SQL.
//!
//! Data flows one way: a job builds a [`PgConn`] and a [`PgTools`] (carrying its cancellation
//! token), and every child it starts goes through [`command::PgCommand`].

pub mod bin_dir;
pub mod command;
pub mod conn;
pub mod conninfo;
pub mod session;
pub mod sql;
pub mod tools;

pub use command::{inherit_only_stdio, PgChild, PgCommand};
pub use conn::PgConn;
pub use session::{on_maintenance_db, PsqlSession};
pub use sql::{quote_identifier, table_sql};
pub use tools::{major_of, PgTools};

use crate::storage::units;
use std::time::Duration;

/// What went wrong running a PostgreSQL program. Never quotes a password: connection strings
/// appear only in their display form.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    #[error("cannot run {program}: {reason} (install the PostgreSQL client: apt-get install postgresql-client, or set [source].pg_bin_dir)")]
    Spawn { program: String, reason: String },
    #[error("{program} failed on {target}: {stderr}")]
    Failed {
        program: String,
        target: String,
        stderr: String,
    },
    /// The job's cancellation token fired: the program (and its process group) was killed.
    #[error("{program} was stopped before it finished")]
    Cancelled { program: String },
    #[error("{program} was stopped after {}: it took longer than lifeboat allows", units::age(*after))]
    TimedOut { program: String, after: Duration },
    #[error("unexpected answer from PostgreSQL to `{query}`: {answer}")]
    Unexpected { query: String, answer: String },
    #[error("`{0}` is not a table name lifeboat accepts in [source].key_tables (use `table`, `schema.table` or quoted names such as '\"User\"')")]
    BadTableName(String),
}

impl PgError {
    /// Whether the program was stopped because its job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PgError::Cancelled { .. })
    }
}

/// For the streaming pipelines, whose stages speak `std::io`.
impl From<PgError> for std::io::Error {
    fn from(e: PgError) -> Self {
        let kind = match e {
            PgError::Cancelled { .. } => std::io::ErrorKind::Interrupted,
            PgError::TimedOut { .. } => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e.to_string())
    }
}
