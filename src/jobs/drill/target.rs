//! The throwaway target a drill restores into: an ephemeral local cluster, or a scratch
//! database on a configured server; created, described and torn down here.

use crate::storage::pg_cluster::{ClusterError, ClusterOptions, EphemeralCluster};
use crate::storage::postgres::{self, PgConn, PgError, PgTools};

/// Why the throwaway target could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The drill server refused the CREATE or DROP DATABASE.
    #[error("{0}")]
    Server(PgError),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// The throwaway target.
pub(super) enum Target {
    Cluster(EphemeralCluster),
    Scratch { server: PgConn, name: String },
}

impl Target {
    /// An ephemeral cluster, or a new database on the configured server.
    pub(super) fn create(
        server: Option<PgConn>,
        tools: &PgTools,
        name: String,
    ) -> Result<Target, TargetError> {
        match server {
            None => EphemeralCluster::start(ClusterOptions::default())
                .and_then(|c| c.create_database("drill").map(|_| c))
                .map(Target::Cluster)
                .map_err(TargetError::from),
            Some(server) => {
                postgres::on_maintenance_db(
                    tools,
                    &server,
                    &format!("CREATE DATABASE {}", postgres::quote_identifier(&name)),
                )
                .map_err(TargetError::Server)?;
                Ok(Target::Scratch { server, name })
            }
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    pub(super) fn conn(&self) -> PgConn {
        match self {
            Target::Cluster(c) => PgConn::new(Some(&c.url("drill"))),
            Target::Scratch { server, name } => server.with_database(name),
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Target::Cluster(c) => format!(
                "ephemeral local cluster on the private socket in {} (removed afterwards)",
                c.socket_dir().display()
            ),
            Target::Scratch { server, name } => format!(
                "scratch database {name} on {} (dropped afterwards)",
                server.display()
            ),
        }
    }

    pub(super) fn teardown(self, tools: &PgTools) -> Result<String, TargetError> {
        match self {
            Target::Cluster(c) => c
                .stop()
                .map(|_| "ephemeral cluster stopped and removed".into())
                .map_err(TargetError::from),
            Target::Scratch { server, name } => {
                postgres::on_maintenance_db(
                    tools,
                    &server,
                    &format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        postgres::quote_identifier(&name)
                    ),
                )
                .map_err(TargetError::Server)?;
                Ok(format!("scratch database {name} dropped"))
            }
        }
    }
}
